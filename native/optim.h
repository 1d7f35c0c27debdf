// AdamW and sum-of-squares loops for the optimizer (see optim.cc).
#pragma once
#include <cstdint>

namespace optim {

struct AdamWArgs {
  double grad_scale, b1, b2, keep, step_size, bc2_sqrt, eps;
};

// torch.optim.AdamW's step: m, v updated in place from g * grad_scale; p_out = p * keep - step_size *
// m / (sqrt(v) / bc2_sqrt + eps), keep = 1 - lr * weight_decay. p_out may be p.
void AdamW(const float* p, float* p_out, float* m, float* v, const float* g, int64_t n, const AdamWArgs& a, int threads);

// Sum of x[i]^2, accumulated in double.
double SumSquares(const float* x, int64_t n, int threads);

// Dropout keep-mask: out[i] = 1 when the i-th 16-bit draw is >= threshold (rate * 65536). Draws
// come in pairs from a counter hash, h(k) = fmix32(k * 0x9e3779b9 + seed), low half first; the JS
// fallback in src/nn/ops.ts computes the same bits.
void DropoutMask(uint8_t* out, int64_t n, uint32_t seed, uint32_t threshold, int threads);

}  // namespace optim
