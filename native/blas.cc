// Single-precision GEMM over memory owned by JavaScript (typically the tfjs wasm heap), backed by
// OpenBLAS, or by the bf16 kernel of bf16.cc (mixed precision) when asked and the CPU has AVX-512
// BF16. No data is copied: operands are addressed as byte offsets into one typed array.
#include <node_api.h>
#include <cblas.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bf16.h"
#include "fused.h"
#include "optim.h"
#include "vmath.h"

extern "C" {
// OpenBLAS extensions (declared in its cblas.h, repeated here for other cblas.h providers).
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
int openblas_get_parallel(void);
char* openblas_get_config(void);
}

namespace {

int g_threads = 1;
// Matrix products in bf16 (setPrecision('bf16')), only ever true where bf16::Supported().
bool g_bf16 = false;
// Products smaller than this many multiply-adds stay float32 in bf16 mode: rounding and packing the
// operands cost more than they save (45 x 45 x 64, an attention product at the lab's length, measured
// 0.76x of sgemm; 1440 x 768 x 768, a BERT-base projection, 2.5-3x).
constexpr double kBf16MinMnk = 1 << 20;

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, nullptr, "blas addon: N-API call failed: " #call); \
      return nullptr;                                                   \
    }                                                                   \
  } while (0)

bool GetNumber(napi_env env, napi_value v, double* out) {
  return napi_get_value_double(env, v, out) == napi_ok;
}

napi_value Throw(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

// Returns the data pointer and byte length of a TypedArray (offset already applied) or ArrayBuffer.
bool GetBytes(napi_env env, napi_value v, uint8_t** data, size_t* bytes) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) == napi_ok && is_ta) {
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value ab;
    void* p = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &p, &ab, &offset) != napi_ok) return false;
    size_t elem = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elem = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elem = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elem = 8; break;
      default: elem = 1;
    }
    *data = static_cast<uint8_t*>(p);
    *bytes = length * elem;
    return true;
  }
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) == napi_ok && is_ab) {
    void* p = nullptr;
    if (napi_get_arraybuffer_info(env, v, &p, bytes) != napi_ok) return false;
    *data = static_cast<uint8_t*>(p);
    return true;
  }
  return false;
}

// gemm(heap, aByteOff, bByteOff, cByteOff, batch, m, n, k, transA, transB,
//      aBatchStride, bBatchStride[, aIndex: Int32Array, bIndex: Int32Array])
// For each i < batch: C_i[m,n] = op(A_i) @ op(B_i), row-major, where A_i starts at element
// (aIndex ? aIndex[i] : i) * aBatchStride of A (stride 0 broadcasts one matrix), likewise B.
// op(A) is A[m,k], or A[k,m] transposed when transA; op(B) is B[k,n], or B[n,k] when transB.
napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 12) return Throw(env, "gemm: expected at least 12 arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[0], &heap, &heap_bytes)) return Throw(env, "gemm: heap must be a TypedArray or ArrayBuffer");
  double d[11];
  for (int i = 0; i < 11; i++) {
    if (i == 7 || i == 8) {  // transA, transB: booleans (or numbers)
      bool bv = false;
      if (napi_get_value_bool(env, argv[1 + i], &bv) == napi_ok) { d[i] = bv ? 1 : 0; continue; }
    }
    if (!GetNumber(env, argv[1 + i], &d[i])) return Throw(env, "gemm: numeric argument expected");
  }
  for (int i = 0; i < 11; i++) {
    if (d[i] < 0 || d[i] != static_cast<double>(static_cast<int64_t>(d[i]))) return Throw(env, "gemm: arguments must be non-negative integers");
  }
  const size_t a_off = static_cast<size_t>(d[0]), b_off = static_cast<size_t>(d[1]), c_off = static_cast<size_t>(d[2]);
  const int64_t batch = static_cast<int64_t>(d[3]);
  const int64_t m = static_cast<int64_t>(d[4]), n = static_cast<int64_t>(d[5]), k = static_cast<int64_t>(d[6]);
  const bool ta = d[7] != 0, tb = d[8] != 0;
  const int64_t a_stride = static_cast<int64_t>(d[9]), b_stride = static_cast<int64_t>(d[10]);
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return Throw(env, "gemm: dimension too large");
  if ((a_off | b_off | c_off) & 3) return Throw(env, "gemm: offsets must be 4-byte aligned");

  const int32_t* a_idx = nullptr;
  const int32_t* b_idx = nullptr;
  for (int j = 0; j < 2; j++) {
    if (argc <= static_cast<size_t>(12 + j)) break;
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[12 + j], &t));
    if (t == napi_undefined || t == napi_null) continue;
    bool is_ta = false;
    CHECK(napi_is_typedarray(env, argv[12 + j], &is_ta));
    if (!is_ta) return Throw(env, "gemm: index must be an Int32Array");
    napi_typedarray_type type;
    size_t length = 0, offset = 0;
    napi_value ab;
    void* p = nullptr;
    CHECK(napi_get_typedarray_info(env, argv[12 + j], &type, &length, &p, &ab, &offset));
    if (type != napi_int32_array || static_cast<int64_t>(length) < batch) return Throw(env, "gemm: index must be an Int32Array of length >= batch");
    (j == 0 ? a_idx : b_idx) = static_cast<const int32_t*>(p);
  }

  // Bounds: every matrix touched must lie inside the heap.
  const int64_t a_size = m * k, b_size = k * n, c_size = m * n;
  int64_t a_max = 0, b_max = 0;
  for (int64_t i = 0; i < batch; i++) {
    const int64_t ai = a_idx ? a_idx[i] : i, bi = b_idx ? b_idx[i] : i;
    if (ai < 0 || bi < 0) return Throw(env, "gemm: negative batch index");
    if (ai > a_max) a_max = ai;
    if (bi > b_max) b_max = bi;
    if (!a_idx && !b_idx) { a_max = batch - 1; b_max = batch - 1; break; }
  }
  auto fits = [&](size_t off, int64_t last_elem) {
    return static_cast<uint64_t>(off) + static_cast<uint64_t>(last_elem) * 4 <= heap_bytes;
  };
  if (batch > 0 && m > 0 && n > 0) {
    if (!fits(c_off, batch * c_size)) return Throw(env, "gemm: output out of bounds");
    if (k > 0) {
      if (!fits(a_off, a_max * a_stride + a_size)) return Throw(env, "gemm: a out of bounds");
      if (!fits(b_off, b_max * b_stride + b_size)) return Throw(env, "gemm: b out of bounds");
    }
  }
  if (batch == 0 || m == 0 || n == 0) return nullptr;

  const float* A = reinterpret_cast<const float*>(heap + a_off);
  const float* B = reinterpret_cast<const float*>(heap + b_off);
  float* C = reinterpret_cast<float*>(heap + c_off);
  const CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n), ldc = static_cast<int>(n);

  if (k == 0) {
    for (int64_t i = 0; i < batch * c_size; i++) C[i] = 0.f;
    return nullptr;
  }
  auto one = [&](int64_t i) {
    const int64_t ai = a_idx ? a_idx[i] : i, bi = b_idx ? b_idx[i] : i;
    cblas_sgemm(CblasRowMajor, TA, TB, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.f,
                A + ai * a_stride, lda, B + bi * b_stride, ldb, 0.f, C + i * c_size, ldc);
  };
  // OpenBLAS runs small GEMMs on one thread; spread such batches over OpenMP threads instead.
  // Only with the OpenMP build of OpenBLAS: inside a parallel region it stays serial, and it is
  // safe to call concurrently (the pthreads and serial builds are left to their own threading).
  const double mnk = static_cast<double>(m) * n * k;
  if (g_bf16 && mnk >= kBf16MinMnk) {
    for (int64_t i = 0; i < batch; i++) {
      const int64_t ai = a_idx ? a_idx[i] : i, bi = b_idx ? b_idx[i] : i;
      bf16::Gemm(ta, tb, m, n, k, A + ai * a_stride, lda, B + bi * b_stride, ldb, C + i * c_size, ldc, g_threads);
    }
    return nullptr;
  }
  const bool split = g_threads > 1 && batch > 1 && mnk <= 262144.0 * 4 && openblas_get_parallel() == 2;
  if (split) {
#pragma omp parallel for num_threads(g_threads) schedule(static)
    for (int64_t i = 0; i < batch; i++) one(i);
  } else {
    for (int64_t i = 0; i < batch; i++) one(i);
  }
  return nullptr;
}

// unary(op, heap, xByteOff, yByteOff, n[, threads]): y[i] = f(x[i]) for i < n, float32, where
// op 0 = exp, 1 = erf (vmath.cc). threads (default 1) > 1 splits large arrays over OpenMP.
napi_value Unary(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 5) return Throw(env, "unary: expected at least 5 arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[1], &heap, &heap_bytes)) return Throw(env, "unary: heap must be a TypedArray or ArrayBuffer");
  double d[5] = {0, 0, 0, 0, 1};
  const int idx[5] = {0, 2, 3, 4, 5};
  for (int i = 0; i < 5; i++) {
    if (idx[i] >= static_cast<int>(argc)) break;
    if (!GetNumber(env, argv[idx[i]], &d[i])) return Throw(env, "unary: numeric argument expected");
    if (d[i] < 0 || d[i] != static_cast<double>(static_cast<int64_t>(d[i]))) return Throw(env, "unary: arguments must be non-negative integers");
  }
  if (d[0] > 1) return Throw(env, "unary: op must be 0 (exp) or 1 (erf)");
  const size_t x_off = static_cast<size_t>(d[1]), y_off = static_cast<size_t>(d[2]);
  const int64_t n = static_cast<int64_t>(d[3]);
  const int threads = d[4] < 1 ? 1 : d[4] > 256 ? 256 : static_cast<int>(d[4]);
  if ((x_off | y_off) & 3) return Throw(env, "unary: offsets must be 4-byte aligned");
  if (n == 0) return nullptr;
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  if (x_off + bytes > heap_bytes || y_off + bytes > heap_bytes) return Throw(env, "unary: out of bounds");
  vmath::Run(d[0] == 0 ? vmath::Op::kExp : vmath::Op::kErf, reinterpret_cast<const float*>(heap + x_off),
             reinterpret_cast<float*>(heap + y_off), n, threads);
  return nullptr;
}

// Reads `count` non-negative integer byte offsets/lengths from argv[first...] into out.
bool GetOffsets(napi_env env, napi_value* argv, int first, int count, double* out) {
  for (int i = 0; i < count; i++) {
    if (!GetNumber(env, argv[first + i], &out[i]) || out[i] < 0 || out[i] != static_cast<double>(static_cast<int64_t>(out[i]))) return false;
  }
  return true;
}

// adamwStep(heap, pOff, pOutOff, mOff, vOff, gOff, n, gradScale, b1, b2, keep, stepSize, bc2Sqrt, eps):
// m and v in place, the new parameter to pOutOff.
napi_value AdamWStep(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 14) return Throw(env, "adamwStep: expected 14 arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[0], &heap, &heap_bytes)) return Throw(env, "adamwStep: heap must be a TypedArray or ArrayBuffer");
  double o[6];
  if (!GetOffsets(env, argv, 1, 6, o)) return Throw(env, "adamwStep: offsets and length must be non-negative integers");
  double s[7];
  for (int i = 0; i < 7; i++) if (!GetNumber(env, argv[7 + i], &s[i])) return Throw(env, "adamwStep: numeric hyperparameter expected");
  const int64_t n = static_cast<int64_t>(o[5]);
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  for (int i = 0; i < 5; i++) {
    if (static_cast<uint64_t>(o[i]) & 3) return Throw(env, "adamwStep: offsets must be 4-byte aligned");
    if (static_cast<uint64_t>(o[i]) + bytes > heap_bytes) return Throw(env, "adamwStep: out of bounds");
  }
  const optim::AdamWArgs a{s[0], s[1], s[2], s[3], s[4], s[5], s[6]};
  auto f = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<size_t>(o[i])); };
  optim::AdamW(f(0), f(1), f(2), f(3), f(4), n, a, g_threads);
  return nullptr;
}

// sumSquares(heap, off, n): sum of squares of n float32 values, as a double.
napi_value SumSquaresFn(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 3) return Throw(env, "sumSquares: expected 3 arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[0], &heap, &heap_bytes)) return Throw(env, "sumSquares: heap must be a TypedArray or ArrayBuffer");
  double o[2];
  if (!GetOffsets(env, argv, 1, 2, o)) return Throw(env, "sumSquares: offset and length must be non-negative integers");
  if (static_cast<uint64_t>(o[0]) & 3) return Throw(env, "sumSquares: offset must be 4-byte aligned");
  if (static_cast<uint64_t>(o[0]) + static_cast<uint64_t>(o[1]) * 4 > heap_bytes) return Throw(env, "sumSquares: out of bounds");
  napi_value out;
  CHECK(napi_create_double(env, optim::SumSquares(reinterpret_cast<const float*>(heap + static_cast<size_t>(o[0])), static_cast<int64_t>(o[1]), g_threads), &out));
  return out;
}

// dropoutMask(heap, off, n, seed, threshold): n bytes of 0/1 at off (see optim.h).
napi_value DropoutMaskFn(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 5) return Throw(env, "dropoutMask: expected 5 arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[0], &heap, &heap_bytes)) return Throw(env, "dropoutMask: heap must be a TypedArray or ArrayBuffer");
  double o[4];
  if (!GetOffsets(env, argv, 1, 4, o)) return Throw(env, "dropoutMask: arguments must be non-negative integers");
  if (o[2] > 4294967295.0 || o[3] > 65536) return Throw(env, "dropoutMask: seed must fit 32 bits and threshold be at most 65536");
  if (static_cast<uint64_t>(o[0]) + static_cast<uint64_t>(o[1]) > heap_bytes) return Throw(env, "dropoutMask: out of bounds");
  optim::DropoutMask(heap + static_cast<size_t>(o[0]), static_cast<int64_t>(o[1]), static_cast<uint32_t>(o[2]), static_cast<uint32_t>(o[3]), g_threads);
  return nullptr;
}

// fused(op, heap, ...args): the kernels of fused.h, addressed by byte offsets into the heap.
//   0 layerNorm(x, r | -1, g, b, y, xhat, rstd, rows, d, eps)
//   1 layerNormBackward(dy, xhat, rstd, g, dx, dgamma, dbeta, rows, d)
//   2 gelu(x, y, n)                      3 geluBackward(x, dy, dx, n)
//   4 softmax(s, mask, p, batches, rowsPerBatch, d, divisor)
//   5 softmaxBackward(p, dy, ds, rows, d, divisor)
//   6 maskScale(x, mask, y, n, scale)    (mask: one byte per element)
napi_value Fused(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  static const int kArgs[] = {10, 9, 3, 4, 7, 6, 5};
  double op = -1;
  if (argc < 2 || !GetNumber(env, argv[0], &op) || op < 0 || op > 6 || op != static_cast<int>(op)) return Throw(env, "fused: op must be 0-6");
  const int k = kArgs[static_cast<int>(op)];
  if (static_cast<int>(argc) < 2 + k) return Throw(env, "fused: too few arguments");
  uint8_t* heap = nullptr;
  size_t heap_bytes = 0;
  if (!GetBytes(env, argv[1], &heap, &heap_bytes)) return Throw(env, "fused: heap must be a TypedArray or ArrayBuffer");
  double a[10];
  for (int i = 0; i < k; i++) if (!GetNumber(env, argv[2 + i], &a[i])) return Throw(env, "fused: numeric argument expected");
  bool bad = false;
  // A float array of `count` elements at byte offset a[i] (4-byte aligned, inside the heap).
  auto f = [&](int i, double count) -> float* {
    if (a[i] < 0 || a[i] != static_cast<double>(static_cast<int64_t>(a[i])) || (static_cast<int64_t>(a[i]) & 3) ||
        a[i] + count * 4 > static_cast<double>(heap_bytes)) { bad = true; return nullptr; }
    return reinterpret_cast<float*>(heap + static_cast<size_t>(a[i]));
  };
  auto n = [&](int i) -> int64_t {
    if (a[i] < 0 || a[i] != static_cast<double>(static_cast<int64_t>(a[i]))) { bad = true; return 0; }
    return static_cast<int64_t>(a[i]);
  };
  const int t = g_threads;
  switch (static_cast<int>(op)) {
    case 0: {
      const int64_t rows = n(7), d = n(8);
      const double sz = static_cast<double>(rows) * d;
      const float* r = a[1] < 0 ? nullptr : f(1, sz);
      float *x = f(0, sz), *g = f(2, d), *b = f(3, d), *y = f(4, sz), *xh = f(5, sz), *rs = f(6, rows);
      if (bad || d == 0) return Throw(env, "fused layerNorm: bad offsets or sizes");
      fused::LayerNorm(x, r, g, b, y, xh, rs, rows, d, a[9], t);
      break;
    }
    case 1: {
      const int64_t rows = n(7), d = n(8);
      const double sz = static_cast<double>(rows) * d;
      float *dy = f(0, sz), *xh = f(1, sz), *rs = f(2, rows), *g = f(3, d), *dx = f(4, sz), *dg = f(5, d), *db = f(6, d);
      if (bad || d == 0) return Throw(env, "fused layerNormBackward: bad offsets or sizes");
      fused::LayerNormBackward(dy, xh, rs, g, dx, dg, db, rows, d, t);
      break;
    }
    case 2: {
      const int64_t m = n(2);
      float *x = f(0, m), *y = f(1, m);
      if (bad) return Throw(env, "fused gelu: bad offsets or sizes");
      fused::Gelu(x, y, m, t);
      break;
    }
    case 3: {
      const int64_t m = n(3);
      float *x = f(0, m), *dy = f(1, m), *dx = f(2, m);
      if (bad) return Throw(env, "fused geluBackward: bad offsets or sizes");
      fused::GeluBackward(x, dy, dx, m, t);
      break;
    }
    case 4: {
      const int64_t batches = n(3), per = n(4), d = n(5);
      const double sz = static_cast<double>(batches) * per * d;
      float *sc = f(0, sz), *mask = f(1, static_cast<double>(batches) * d), *p = f(2, sz);
      if (bad || d == 0 || !(a[6] > 0)) return Throw(env, "fused softmax: bad offsets, sizes or divisor");
      fused::Softmax(sc, mask, p, batches, per, d, static_cast<float>(a[6]), t);
      break;
    }
    case 5: {
      const int64_t rows = n(3), d = n(4);
      const double sz = static_cast<double>(rows) * d;
      float *p = f(0, sz), *dy = f(1, sz), *ds = f(2, sz);
      if (bad || d == 0 || !(a[5] > 0)) return Throw(env, "fused softmaxBackward: bad offsets, sizes or divisor");
      fused::SoftmaxBackward(p, dy, ds, rows, d, static_cast<float>(a[5]), t);
      break;
    }
    case 6: {
      const int64_t m = n(3);
      float *x = f(0, m), *y = f(2, m);
      const bool mask_ok = a[1] >= 0 && a[1] + m <= static_cast<double>(heap_bytes) && a[1] == static_cast<double>(static_cast<int64_t>(a[1]));
      if (bad || !mask_ok) return Throw(env, "fused maskScale: bad offsets or sizes");
      fused::MaskScale(x, heap + static_cast<size_t>(a[1]), y, m, static_cast<float>(a[4]), t);
      break;
    }
  }
  return nullptr;
}

// setMathVariant(name): 'avx512' | 'avx2' | 'sse' | 'scalar' | '' (best); returns the one in effect.
napi_value SetMathVariant(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char buf[32] = {0};
  size_t len = 0;
  if (argc >= 1) napi_get_value_string_utf8(env, argv[0], buf, sizeof(buf), &len);
  napi_value out;
  CHECK(napi_create_string_utf8(env, vmath::VariantName(vmath::Select(buf)), NAPI_AUTO_LENGTH, &out));
  return out;
}

// setThreads(n): threads for OpenBLAS and for splitting batches. Returns the value in effect.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t n = 1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1) return Throw(env, "setThreads: positive integer expected");
  // OpenMP would try to start that many threads at the next product and crash the process.
  if (n > 4096) return Throw(env, "setThreads: at most 4096 threads");
  g_threads = n;
  openblas_set_num_threads(n);
  napi_value out;
  CHECK(napi_create_int32(env, g_threads, &out));
  return out;
}

// setPrecision(name): 'bf16' (where bf16::Supported()) or 'fp32' for the matrix products; returns
// the one in effect ('fp32' when the CPU lacks AVX-512 BF16).
napi_value SetPrecision(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char buf[16] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], buf, sizeof(buf), &len) != napi_ok ||
      (std::string(buf) != "bf16" && std::string(buf) != "fp32"))
    return Throw(env, "setPrecision: 'bf16' or 'fp32' expected");
  g_bf16 = std::string(buf) == "bf16" && bf16::Supported();
  napi_value out;
  CHECK(napi_create_string_utf8(env, g_bf16 ? "bf16" : "fp32", NAPI_AUTO_LENGTH, &out));
  return out;
}

// info(): { config, parallel: 'sequential' | 'pthreads' | 'openmp', threads, blasThreads, vmath, bf16 (CPU support),
//          precision ('fp32' | 'bf16', in effect) }
napi_value Info(napi_env env, napi_callback_info info) {
  napi_value obj, v;
  CHECK(napi_create_object(env, &obj));
  const char* cfg = openblas_get_config();
  CHECK(napi_create_string_utf8(env, cfg ? cfg : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "config", v));
  const int par = openblas_get_parallel();
  const char* pname = par == 0 ? "sequential" : par == 1 ? "pthreads" : par == 2 ? "openmp" : "unknown";
  CHECK(napi_create_string_utf8(env, pname, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "parallel", v));
  CHECK(napi_create_int32(env, g_threads, &v));
  CHECK(napi_set_named_property(env, obj, "threads", v));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &v));
  CHECK(napi_set_named_property(env, obj, "blasThreads", v));
  CHECK(napi_create_string_utf8(env, vmath::VariantName(vmath::Current()), NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "vmath", v));
  CHECK(napi_get_boolean(env, bf16::Supported(), &v));
  CHECK(napi_set_named_property(env, obj, "bf16", v));
  CHECK(napi_create_string_utf8(env, g_bf16 ? "bf16" : "fp32", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "precision", v));
  return obj;
}

napi_value Init(napi_env env, napi_value exports) {
  g_threads = openblas_get_num_threads();
  if (g_threads < 1) g_threads = 1;
  // BERT_LAB_NATIVE_VMATH=avx512|avx2|sse|scalar forces an exp/erf implementation (default: best).
  vmath::Select(std::getenv("BERT_LAB_NATIVE_VMATH"));
  napi_property_descriptor props[] = {
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setMathVariant", nullptr, SetMathVariant, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamwStep", nullptr, AdamWStep, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSquares", nullptr, SumSquaresFn, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"dropoutMask", nullptr, DropoutMaskFn, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"fused", nullptr, Fused, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setPrecision", nullptr, SetPrecision, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
