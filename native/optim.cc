// AdamW's update and the sum of squares behind gradient clipping, over float32 arrays in the wasm
// heap. In JS these loops run over typed-array views of a 4 GB-maximum wasm memory, which V8
// bounds-checks per access (about 8 ns per element for AdamW); here they stream at memory speed.
#include "optim.h"

#include <omp.h>

#include <cmath>

namespace optim {

void AdamW(const float* p, float* p_out, float* m, float* v, const float* g, int64_t n, const AdamWArgs& a, int threads) {
  const float b1 = static_cast<float>(a.b1), b2 = static_cast<float>(a.b2);
  const float c1 = static_cast<float>(1 - a.b1), c2 = static_cast<float>(1 - a.b2);
  const float scale = static_cast<float>(a.grad_scale), keep = static_cast<float>(a.keep);
  const float step = static_cast<float>(a.step_size), bc2 = static_cast<float>(a.bc2_sqrt), eps = static_cast<float>(a.eps);
#pragma omp parallel for simd num_threads(threads) if (n > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i] * scale;
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p_out[i] = p[i] * keep - step * (mi / (std::sqrt(vi) / bc2 + eps));
  }
}

double SumSquares(const float* x, int64_t n, int threads) {
  double s = 0;
#pragma omp parallel for simd num_threads(threads) if (n > (1 << 16)) schedule(static) reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void DropoutMask(uint8_t* out, int64_t n, uint32_t seed, uint32_t threshold, int threads) {
  const int64_t pairs = n / 2;
#pragma omp parallel for simd num_threads(threads) if (n > (1 << 18)) schedule(static)
  for (int64_t k = 0; k < pairs; k++) {
    uint32_t x = static_cast<uint32_t>(k) * 0x9e3779b9u + seed;
    x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
    out[2 * k] = (x & 0xffffu) >= threshold;
    out[2 * k + 1] = (x >> 16) >= threshold;
  }
  if (n & 1) {
    uint32_t x = static_cast<uint32_t>(pairs) * 0x9e3779b9u + seed;
    x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
    out[n - 1] = (x & 0xffffu) >= threshold;
  }
}

}  // namespace optim
