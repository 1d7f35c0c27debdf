// Fused element-wise kernels for BERT's layers, forward and backward (see fused.cc). All arrays are
// float32 in the wasm heap, row-major; `threads` splits rows or chunks when the work is large.
#pragma once
#include <cstdint>

namespace fused {

// s = x (+ r when r is not null); per row of d: xhat = (s - mean) * rstd, rstd = 1 / sqrt(var + eps)
// (biased variance); y = xhat * g + b.
void LayerNorm(const float* x, const float* r, const float* g, const float* b, float* y, float* xhat,
               float* rstd, int64_t rows, int64_t d, double eps, int threads);

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * g, per row;
// dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy.
void LayerNormBackward(const float* dy, const float* xhat, const float* rstd, const float* g, float* dx,
                       float* dgamma, float* dbeta, int64_t rows, int64_t d, int threads);

// Exact GELU, y = x * 0.5 * (1 + erf(x / sqrt 2)), and its gradient dx = dy * (Phi(x) + x * phi(x)).
void Gelu(const float* x, float* y, int64_t n, int threads);
void GeluBackward(const float* x, const float* dy, float* dx, int64_t n, int threads);

// p = softmax(s / divisor + mask[batch]) over rows of d; s holds batches of rows_per_batch rows,
// mask holds one additive row of d per batch.
void Softmax(const float* s, const float* mask, float* p, int64_t batches, int64_t rows_per_batch, int64_t d,
             float divisor, int threads);
// ds = p * (dy - sum(dy * p)) / divisor, per row.
void SoftmaxBackward(const float* p, const float* dy, float* ds, int64_t rows, int64_t d, float divisor, int threads);

// y = mask ? x * scale : 0 (dropout, forward and backward).
void MaskScale(const float* x, const uint8_t* mask, float* y, int64_t n, float scale, int threads);

}  // namespace fused
