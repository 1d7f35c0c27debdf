// Fused element-wise kernels: each replaces a chain of small tfjs kernels (LayerNorm forward was
// eleven, its backward nine) with one pass over the data. exp and erf come from vmath (libmvec).
#include "fused.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "vmath.h"

namespace fused {
namespace {

constexpr int64_t kChunk = 2048;         // elements per GELU work item (stays in L1/L2)
constexpr int64_t kMinParallel = 1 << 15;  // below this many elements, one thread

int Threads(int threads, int64_t n) { return n < kMinParallel ? 1 : std::max(1, threads); }

}  // namespace

void LayerNorm(const float* x, const float* r, const float* g, const float* b, float* y, float* xhat,
               float* rstd, int64_t rows, int64_t d, double eps, int threads) {
#pragma omp parallel for num_threads(Threads(threads, rows * d)) schedule(static)
  for (int64_t i = 0; i < rows; i++) {
    const float* xi = x + i * d;
    const float* ri = r ? r + i * d : nullptr;
    float* hi = xhat + i * d;
    // The sum (x + r) is rounded to float first, as a separate add would be.
    double sum = 0;
    for (int64_t j = 0; j < d; j++) {
      const float s = ri ? xi[j] + ri[j] : xi[j];
      hi[j] = s;
      sum += s;
    }
    const double mean = sum / d;
    double var = 0;
    for (int64_t j = 0; j < d; j++) {
      const double c = hi[j] - mean;
      var += c * c;
    }
    const float rs = static_cast<float>(1.0 / std::sqrt(var / d + eps));
    const float m = static_cast<float>(mean);
    rstd[i] = rs;
    float* yi = y + i * d;
    for (int64_t j = 0; j < d; j++) {
      const float h = (hi[j] - m) * rs;
      hi[j] = h;
      yi[j] = h * g[j] + b[j];
    }
  }
}

void LayerNormBackward(const float* dy, const float* xhat, const float* rstd, const float* g, float* dx,
                       float* dgamma, float* dbeta, int64_t rows, int64_t d, int threads) {
  const int nt = Threads(threads, rows * d);
  std::vector<double> part(static_cast<size_t>(nt) * 2 * d, 0.0);
#pragma omp parallel num_threads(nt)
  {
    double* pg = part.data() + static_cast<size_t>(omp_get_thread_num()) * 2 * d;
    double* pb = pg + d;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; i++) {
      const float* dyi = dy + i * d;
      const float* hi = xhat + i * d;
      double m1 = 0, m2 = 0;
      for (int64_t j = 0; j < d; j++) {
        const float dh = dyi[j] * g[j];
        m1 += dh;
        m2 += static_cast<double>(dh) * hi[j];
        pg[j] += static_cast<double>(dyi[j]) * hi[j];
        pb[j] += dyi[j];
      }
      const float a = static_cast<float>(m1 / d), c = static_cast<float>(m2 / d), rs = rstd[i];
      float* dxi = dx + i * d;
      for (int64_t j = 0; j < d; j++) dxi[j] = rs * (dyi[j] * g[j] - a - hi[j] * c);
    }
  }
  for (int64_t j = 0; j < d; j++) {
    double sg = 0, sb = 0;
    for (int t = 0; t < nt; t++) {
      sg += part[static_cast<size_t>(t) * 2 * d + j];
      sb += part[static_cast<size_t>(t) * 2 * d + d + j];
    }
    dgamma[j] = static_cast<float>(sg);
    dbeta[j] = static_cast<float>(sb);
  }
}

void Gelu(const float* x, float* y, int64_t n, int threads) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(Threads(threads, n)) schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
    float t[kChunk];
    for (int64_t j = 0; j < len; j++) t[j] = x[lo + j] * static_cast<float>(M_SQRT1_2);
    vmath::Run(vmath::Op::kErf, t, t, len, 1);
    for (int64_t j = 0; j < len; j++) y[lo + j] = x[lo + j] * (0.5f * (1.0f + t[j]));
  }
}

void GeluBackward(const float* x, const float* dy, float* dx, int64_t n, int threads) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const float inv_sqrt_2pi = static_cast<float>(1.0 / std::sqrt(2.0 * M_PI));
#pragma omp parallel for num_threads(Threads(threads, n)) schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t lo = c * kChunk, len = std::min(kChunk, n - lo);
    float e[kChunk], p[kChunk];
    for (int64_t j = 0; j < len; j++) {
      const float v = x[lo + j];
      e[j] = v * static_cast<float>(M_SQRT1_2);
      p[j] = -0.5f * (v * v);
    }
    vmath::Run(vmath::Op::kErf, e, e, len, 1);
    vmath::Run(vmath::Op::kExp, p, p, len, 1);
    for (int64_t j = 0; j < len; j++) {
      const float v = x[lo + j];
      dx[lo + j] = dy[lo + j] * (0.5f * (1.0f + e[j]) + v * (inv_sqrt_2pi * p[j]));
    }
  }
}

void Softmax(const float* s, const float* mask, float* p, int64_t batches, int64_t rows_per_batch, int64_t d,
             float divisor, int threads) {
  const int64_t rows = batches * rows_per_batch;
#pragma omp parallel for num_threads(Threads(threads, rows * d)) schedule(static)
  for (int64_t i = 0; i < rows; i++) {
    const float* si = s + i * d;
    const float* mi = mask + (i / rows_per_batch) * d;
    float* pi = p + i * d;
    float mx = -INFINITY;
    for (int64_t j = 0; j < d; j++) {
      pi[j] = si[j] / divisor + mi[j];
      mx = std::max(mx, pi[j]);
    }
    for (int64_t j = 0; j < d; j++) pi[j] -= mx;
    vmath::Run(vmath::Op::kExp, pi, pi, d, 1);
    double sum = 0;
    for (int64_t j = 0; j < d; j++) sum += pi[j];
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < d; j++) pi[j] *= inv;
  }
}

void SoftmaxBackward(const float* p, const float* dy, float* ds, int64_t rows, int64_t d, float divisor, int threads) {
#pragma omp parallel for num_threads(Threads(threads, rows * d)) schedule(static)
  for (int64_t i = 0; i < rows; i++) {
    const float* pi = p + i * d;
    const float* dyi = dy + i * d;
    double dot = 0;
    for (int64_t j = 0; j < d; j++) dot += static_cast<double>(dyi[j]) * pi[j];
    const float dt = static_cast<float>(dot);
    float* dsi = ds + i * d;
    for (int64_t j = 0; j < d; j++) dsi[j] = pi[j] * (dyi[j] - dt) / divisor;
  }
}

void MaskScale(const float* x, const uint8_t* mask, float* y, int64_t n, float scale, int threads) {
#pragma omp parallel for simd num_threads(Threads(threads, n)) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = mask[i] ? x[i] * scale : 0.0f;
}

}  // namespace fused
