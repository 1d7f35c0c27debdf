// bf16 x bf16 -> float32 GEMM for AVX-512 BF16 CPUs (see bf16.h). Layout, as in BLIS/OpenBLAS:
// each operand is first rounded to bf16 *pairs* (the two values of k = 2p and 2p + 1 in one 32-bit
// word, the unit VDPBF16PS multiplies), then copied block by block into micro-panels: A as MR rows
// per pair index, B as NR columns per pair index. The micro-kernel keeps an MR x NR tile of C in
// 24 zmm registers, loads two vectors of B per pair and broadcasts one 32-bit pair of A per row.
// Only the functions marked with the target attribute use AVX-512, so the addon still loads and
// runs its float32 paths on CPUs without it (Supported() says false there).
#include "bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace bf16 {
namespace {

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

constexpr int MR = 12;   // rows of the C tile (12 x 2 accumulators + 2 B vectors + 1 broadcast <= 32 registers)
constexpr int NR = 32;   // columns of the C tile (two zmm of 16 floats)
constexpr int64_t KPC = 128;   // pairs per k block (k = 256): a B micro-panel is 16 KB, stays in L1
constexpr int64_t MC = 16 * MR;  // rows per A block (192 x 256 bf16 = 96 KB, in L2)
constexpr int64_t NC = 4096;     // columns per B block

// Round-to-nearest-even float -> bf16 (NaN kept quiet), the rounding VCVTNE2PS2BF16 does.
inline uint32_t ToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

// Pair matrix from an operand whose k runs along its rows (contiguous): out[r * kp + p] holds
// k = 2p, 2p + 1 of row r (the odd k beyond the end is 0).
BF16_TARGET void PairsAlongRows(const float* src, int64_t rows, int64_t k, int64_t ld, uint32_t* out, int threads) {
  const int64_t kp = (k + 1) / 2;
#pragma omp parallel for num_threads(threads) if (threads > 1 && rows * k > (1 << 16)) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* s = src + r * ld;
    uint32_t* o = out + r * kp;
    int64_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m512 lo = _mm512_loadu_ps(s + j), hi = _mm512_loadu_ps(s + j + 16);
      _mm512_storeu_si512(o + j / 2, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
    if (j < k) {
      const int64_t left = k - j;  // 1..31 values, written as (left + 1) / 2 pairs
      const __mmask16 m0 = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
      const __mmask16 m1 = left > 16 ? static_cast<__mmask16>((1u << (left - 16)) - 1) : 0;
      const __m512 lo = _mm512_maskz_loadu_ps(m0, s + j), hi = _mm512_maskz_loadu_ps(m1, s + j + 16);
      const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
      const int64_t pairs = (left + 1) / 2;
      _mm512_mask_storeu_epi32(o + j / 2, static_cast<__mmask16>((1u << pairs) - 1), v);
    }
  }
}

// Pair matrix from an operand whose k runs down its columns (rows of the storage are k): out[p *
// cols + c] holds k = 2p, 2p + 1 of column c. Two storage rows are rounded together and
// interleaved 16-bit-wise.
BF16_TARGET void PairsAcrossRows(const float* src, int64_t k, int64_t cols, int64_t ld, uint32_t* out, int threads) {
  const int64_t kp = (k + 1) / 2;
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kInterleave);
#pragma omp parallel for num_threads(threads) if (threads > 1 && cols * k > (1 << 16)) schedule(static)
  for (int64_t p = 0; p < kp; p++) {
    const float* r0 = src + 2 * p * ld;
    const bool has1 = 2 * p + 1 < k;
    const float* r1 = r0 + ld;
    uint32_t* o = out + p * cols;
    for (int64_t c = 0; c < cols; c += 16) {
      const int64_t left = std::min<int64_t>(16, cols - c);
      const __mmask16 m = left == 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1);
      const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + c);
      const __m512 hi = has1 ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps();
      const __m512i v = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      _mm512_mask_storeu_epi32(o + c, m, v);
    }
  }
}

// C tile (mr <= MR rows, nr <= NR columns) = (first ? 0 : C) + sum over kpc pairs of A panel x B panel.
BF16_TARGET void Kernel(int64_t kpc, const uint32_t* ap, const uint32_t* bp, float* c, int64_t ldc, int mr, int nr,
                        bool first) {
  __m512 acc[MR][2];
#pragma GCC unroll 12
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kpc; p++) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + p * NR);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + p * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(ap[p * MR + r]));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
  }
  const __mmask16 m0 = nr >= 16 ? 0xffff : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1) : 0;
#pragma GCC unroll 12
  for (int r = 0; r < MR; r++) {
    if (r >= mr) break;
    float* row = c + r * ldc;
    if (!first) {
      acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(m0, row));
      acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(m1, row + 16));
    }
    _mm512_mask_storeu_ps(row, m0, acc[r][0]);
    _mm512_mask_storeu_ps(row + 16, m1, acc[r][1]);
  }
}

// A pair matrix addressed as (outer index, pair index) with strides, whichever layout it has.
struct Pairs {
  const uint32_t* p;
  int64_t so, sp;  // strides of the outer index and of the pair index, in 32-bit words
  uint32_t at(int64_t o, int64_t q) const { return p[o * so + q * sp]; }
};

// Micro-panels of `width` outer indices [o0, o0 + count) x pairs [q0, q0 + qn): panel j holds
// pair q's `width` words contiguously; outer indices past count are zero.
void PackPanels(const Pairs& s, int64_t o0, int64_t count, int64_t q0, int64_t qn, int width, uint32_t* out) {
  const int64_t panels = (count + width - 1) / width;
  for (int64_t j = 0; j < panels; j++) {
    uint32_t* dst = out + j * qn * width;
    const int64_t ob = o0 + j * width;
    const int w = static_cast<int>(std::min<int64_t>(width, o0 + count - ob));
    if (s.so == 1) {
      // Outer index contiguous: a row of `w` words per pair.
      for (int64_t q = 0; q < qn; q++) {
        const uint32_t* src = s.p + ob + (q0 + q) * s.sp;
        std::memcpy(dst + q * width, src, w * 4);
        if (w < width) std::memset(dst + q * width + w, 0, (width - w) * 4);
      }
    } else {
      // Pair index contiguous: a strided gather per outer index.
      if (w < width) std::memset(dst, 0, qn * width * 4);
      for (int i = 0; i < w; i++) {
        const uint32_t* src = s.p + (ob + i) * s.so + q0;
        for (int64_t q = 0; q < qn; q++) dst[q * width + i] = src[q];
      }
    }
  }
}

template <typename T>
T* Buffer(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

bool Supported() {
  // BERT_LAB_NATIVE_BF16=0 makes a BF16 CPU behave as one without it (tests of the fp32 fallback).
  static const bool ok = [] {
    const char* off = std::getenv("BERT_LAB_NATIVE_BF16");
    if (off && std::string(off) == "0") return false;
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
}

void Round(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const uint32_t u = ToBf16(x[i]) << 16;
    std::memcpy(&y[i], &u, 4);
  }
}

void Gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc, int threads) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; i++) std::memset(C + i * ldc, 0, n * 4);
    return;
  }
  if (threads < 1) threads = 1;
  const int64_t kp = (k + 1) / 2;
  // Scratch kept per thread between calls (a training step makes hundreds of these products).
  thread_local std::vector<uint32_t> abuf, bbuf, apack, bpack;
  uint32_t* ap = Buffer(abuf, static_cast<size_t>(m * kp));
  uint32_t* bq = Buffer(bbuf, static_cast<size_t>(n * kp));
  Pairs pa{ap, 0, 0}, pb{bq, 0, 0};
  if (!ta) {
    PairsAlongRows(A, m, k, lda, ap, threads);  // A[m,k]: k along rows
    pa.so = kp, pa.sp = 1;
  } else {
    PairsAcrossRows(A, k, m, lda, ap, threads);  // A stored [k,m]
    pa.so = 1, pa.sp = m;
  }
  if (tb) {
    PairsAlongRows(B, n, k, ldb, bq, threads);  // B stored [n,k]
    pb.so = kp, pb.sp = 1;
  } else {
    PairsAcrossRows(B, k, n, ldb, bq, threads);  // B[k,n]
    pb.so = 1, pb.sp = n;
  }
  uint32_t* bp = Buffer(bpack, static_cast<size_t>(std::min<int64_t>(NC, (n + NR - 1) / NR * NR) * KPC));
  uint32_t* apk = Buffer(apack, static_cast<size_t>(MC * KPC));
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    const int64_t jpanels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < kp; pc += KPC) {
      const int64_t qn = std::min(KPC, kp - pc);
      PackPanels(pb, jc, nc, pc, qn, NR, bp);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        PackPanels(pa, ic, mc, pc, qn, MR, apk);
        const int64_t ipanels = (mc + MR - 1) / MR;
#pragma omp parallel for num_threads(threads) if (threads > 1 && jpanels > 1) schedule(static)
        for (int64_t j = 0; j < jpanels; j++) {
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - j * NR));
          for (int64_t i = 0; i < ipanels; i++) {
            const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i * MR));
            Kernel(qn, apk + i * qn * MR, bp + j * qn * NR, C + (ic + i * MR) * ldc + jc + j * NR, ldc, mr, nr,
                   pc == 0);
          }
        }
      }
    }
  }
}

}  // namespace bf16
