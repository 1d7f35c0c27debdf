// AdamW and sum-of-squares loops for the optimizer (see optim.cc).
#pragma once
#include <cstdint>

namespace optim {

struct AdamWArgs {
  double grad_scale, b1, b2, keep, step_size, bc2_sqrt, eps;
};

// torch.optim.AdamW's step in place: m, v updated from g * grad_scale; p = p * keep - step_size *
// m / (sqrt(v) / bc2_sqrt + eps), keep = 1 - lr * weight_decay.
void AdamW(float* p, float* m, float* v, const float* g, int64_t n, const AdamWArgs& a, int threads);

// Sum of x[i]^2, accumulated in double.
double SumSquares(const float* x, int64_t n, int threads);

}  // namespace optim
