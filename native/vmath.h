// Element-wise float32 exp/erf backed by glibc's libmvec (see vmath.cc).
#pragma once
#include <cstdint>

namespace vmath {

enum class Op { kExp = 0, kErf = 1 };
enum class Variant { kScalar, kSse, kAvx2, kAvx512 };

// Chooses the implementation: `want` ("avx512" | "avx2" | "sse" | "scalar", or empty for the
// best the CPU and libmvec offer). Returns what is in effect.
Variant Select(const char* want);
Variant Current();
const char* VariantName(Variant v);

// y[i] = op(x[i]) for i < n, on up to `threads` OpenMP threads (large n only).
void Run(Op op, const float* x, float* y, int64_t n, int threads);

}  // namespace vmath
