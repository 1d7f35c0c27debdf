// Matrix products with bfloat16 operands and float32 accumulation (mixed precision), on CPUs with
// AVX-512 BF16 (the avx512_bf16 flag: VDPBF16PS, two bf16 multiply-adds per float32 lane). Inputs
// and output stay float32 in the caller's memory; operands are rounded to bf16 (nearest even) while
// they are packed. Debian's OpenBLAS 0.3.21 is built without cblas_sbgemm, hence a kernel of ours.
#pragma once
#include <cstdint>

namespace bf16 {

// Whether this CPU (and the OS, for the 512-bit registers) runs the kernel; false when
// BERT_LAB_NATIVE_BF16=0 (to test the float32 fallback on a BF16 machine).
bool Supported();

// C[m,n] = op(A) @ op(B), row-major float32. op(A) is A[m,k] (lda >= k), or A stored [k,m]
// transposed when ta (lda >= m); op(B) is B[k,n] (ldb >= n), or B stored [n,k] when tb (ldb >= k).
// The products are those of bf16-rounded operands, summed in float32. Call only when Supported().
// threads > 1 splits the columns over OpenMP threads.
void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B,
          int64_t ldb, float* C, int64_t ldc, int threads);

// Rounds n float32 values to bf16 and back (nearest even, as the kernel does), for tests.
void Round(const float* x, float* y, int64_t n);

}  // namespace bf16
