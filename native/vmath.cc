// Element-wise float32 exp and erf over the wasm heap, vectorised with glibc's libmvec.
//
// libmvec (glibc >= 2.22 for expf, >= 2.35 for erff) holds SIMD versions of libm functions, e.g.
// _ZGVdN8v_expf = expf on 8 lanes with AVX2 (vector-function ABI names: b = SSE, d = AVX2,
// e = AVX-512). GCC only calls them from a `#pragma omp simd` loop when math.h declares them
// SIMD, which glibc does only under -ffast-math; -ffast-math also assumes no inf/NaN and, with
// GCC 12, links crtfastmath.o, which turns on flush-to-zero for the whole process (the wasm
// kernels included). So they are called directly here instead: looked up with dlopen/dlsym (no
// link-time dependency; without libmvec the scalar libm loop runs), picked by the CPU's ISA, and
// fed through unaligned vector loads/stores, with the tail padded into a small buffer. Special
// values (inf, NaN, overflow, underflow) are handled inside libmvec, which falls back to the
// scalar routine for such lanes.
#include "vmath.h"

#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace vmath {
namespace {

typedef __m128 (*Fn4)(__m128);
typedef __m256 (*Fn8)(__m256);
typedef __m512 (*Fn16)(__m512);

struct Table {
  Variant variant = Variant::kScalar;
  void* f[2] = {nullptr, nullptr};  // per Op, signature depends on variant
};
Table g_table;

void Scalar(Op op, const float* x, float* y, int64_t n) {
  if (op == Op::kExp) {
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
  }
}

void Sse(void* fp, const float* x, float* y, int64_t n) {
  Fn4 f = reinterpret_cast<Fn4>(fp);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, f(_mm_loadu_ps(x + i)));
  if (i < n) {
    float buf[4] = {0, 0, 0, 0};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    _mm_storeu_ps(buf, f(_mm_loadu_ps(buf)));
    std::memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

__attribute__((target("avx2,fma"))) void Avx2(void* fp, const float* x, float* y, int64_t n) {
  Fn8 f = reinterpret_cast<Fn8>(fp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    _mm256_storeu_ps(buf, f(_mm256_loadu_ps(buf)));
    std::memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

__attribute__((target("avx512f"))) void Avx512(void* fp, const float* x, float* y, int64_t n) {
  Fn16 f = reinterpret_cast<Fn16>(fp);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    float buf[16] = {0};
    std::memcpy(buf, x + i, (n - i) * sizeof(float));
    _mm512_storeu_ps(buf, f(_mm512_loadu_ps(buf)));
    std::memcpy(y + i, buf, (n - i) * sizeof(float));
  }
}

void Chunk(Op op, const float* x, float* y, int64_t n) {
  void* f = g_table.f[static_cast<int>(op)];
  switch (g_table.variant) {
    case Variant::kAvx512: Avx512(f, x, y, n); break;
    case Variant::kAvx2: Avx2(f, x, y, n); break;
    case Variant::kSse: Sse(f, x, y, n); break;
    default: Scalar(op, x, y, n);
  }
}

bool Load(Variant v) {
  static void* lib = dlopen("libmvec.so.1", RTLD_NOW | RTLD_LOCAL);
  if (v == Variant::kScalar) { g_table = Table(); return true; }
  if (!lib) return false;
  const char* names[3][2] = {
      {"_ZGVbN4v_expf", "_ZGVbN4v_erff"}, {"_ZGVdN8v_expf", "_ZGVdN8v_erff"}, {"_ZGVeN16v_expf", "_ZGVeN16v_erff"}};
  const int row = v == Variant::kSse ? 0 : v == Variant::kAvx2 ? 1 : 2;
  void* e = dlsym(lib, names[row][0]);
  void* r = dlsym(lib, names[row][1]);
  if (!e || !r) return false;
  g_table.variant = v;
  g_table.f[0] = e;
  g_table.f[1] = r;
  return true;
}

bool Supported(Variant v) {
  __builtin_cpu_init();
  switch (v) {
    case Variant::kAvx512: return __builtin_cpu_supports("avx512f");
    case Variant::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default: return true;  // SSE2 is baseline on x86-64
  }
}

}  // namespace

const char* VariantName(Variant v) {
  switch (v) {
    case Variant::kAvx512: return "libmvec-avx512";
    case Variant::kAvx2: return "libmvec-avx2";
    case Variant::kSse: return "libmvec-sse";
    default: return "scalar-libm";
  }
}

Variant Current() { return g_table.variant; }

Variant Select(const char* want) {
  // Best first. AVX-512 is not preferred: measured no faster than AVX2 for these functions
  // here, and 512-bit code can lower the clock of the other core's work.
  Variant order[] = {Variant::kAvx2, Variant::kSse, Variant::kScalar};
  if (want && *want) {
    Variant v = Variant::kScalar;
    if (!std::strcmp(want, "avx512")) v = Variant::kAvx512;
    else if (!std::strcmp(want, "avx2")) v = Variant::kAvx2;
    else if (!std::strcmp(want, "sse")) v = Variant::kSse;
    if (Supported(v) && Load(v)) return v;
  }
  for (Variant v : order) {
    if (Supported(v) && Load(v)) return v;
  }
  Load(Variant::kScalar);
  return Variant::kScalar;
}

void Run(Op op, const float* x, float* y, int64_t n, int threads) {
  // Splitting pays only for large arrays (a thread wake-up costs tens of microseconds).
  const int64_t kMinPerThread = 1 << 17;
  int t = threads;
  if (t > 1 && n / kMinPerThread < t) t = static_cast<int>(n / kMinPerThread);
  if (t <= 1) {
    Chunk(op, x, y, n);
    return;
  }
#pragma omp parallel num_threads(t)
  {
    const int id = omp_get_thread_num(), nt = omp_get_num_threads();
    // Chunk boundaries on multiples of 16 floats, so only the last chunk has a tail.
    const int64_t per = ((n + nt - 1) / nt + 15) & ~int64_t(15);
    const int64_t lo = per * id;
    const int64_t hi = lo + per < n ? lo + per : n;
    if (lo < hi) Chunk(op, x + lo, y + lo, hi - lo);
  }
}

}  // namespace vmath
