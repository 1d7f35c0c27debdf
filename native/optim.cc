// AdamW's update and the sum of squares behind gradient clipping, over float32 arrays in the wasm
// heap. In JS these loops run over typed-array views of a 4 GB-maximum wasm memory, which V8
// bounds-checks per access (about 8 ns per element for AdamW); here they stream at memory speed.
#include "optim.h"

#include <omp.h>

#include <cmath>

namespace optim {

void AdamW(float* p, float* m, float* v, const float* g, int64_t n, const AdamWArgs& a, int threads) {
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
    p[i] = p[i] * keep - step * (mi / (std::sqrt(vi) / bc2 + eps));
  }
}

double SumSquares(const float* x, int64_t n, int threads) {
  double s = 0;
#pragma omp parallel for simd num_threads(threads) if (n > (1 << 16)) schedule(static) reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

}  // namespace optim
