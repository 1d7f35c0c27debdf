// Optional native accelerator for the tfjs wasm backend: replaces the wasm BatchMatMul and
// _FusedMatMul kernels with OpenBLAS sgemm, and the float32 Exp and Erf kernels with glibc's
// vectorised libmvec expf/erff (the wasm ones are scalar libm), run by a Node addon (native/,
// built by scripts/build-native.sh). The addon reads and writes the wasm heap in place: operands are
// passed as byte offsets into the heap, so nothing is copied. Missing addon = plain wasm.
import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, overrideWasmKernel, type WasmInternals } from './wasm.js';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../io/paths.js';

interface Addon {
  gemm(
    heap: Uint8Array,
    aOff: number,
    bOff: number,
    cOff: number,
    batch: number,
    m: number,
    n: number,
    k: number,
    transA: boolean,
    transB: boolean,
    aStride: number,
    bStride: number,
    aIndex?: Int32Array | null,
    bIndex?: Int32Array | null,
  ): void;
  /** y = exp (op 0) or erf (op 1) of x, n float32 values; threads > 1 splits large arrays. */
  unary(op: 0 | 1, heap: Uint8Array, xOff: number, yOff: number, n: number, threads?: number): void;
  setThreads(n: number): number;
  /** 'avx512' | 'avx2' | 'sse' | 'scalar' | '' (best); returns the implementation in effect. */
  setMathVariant(name: string): string;
  info(): {
    config: string;
    parallel: string;
    threads: number;
    blasThreads: number;
    vmath: string;
    bf16?: boolean;
    precision?: string;
  };
  /** 'bf16' | 'fp32' for the matrix products; returns the one in effect (fp32 on a CPU without AVX-512 BF16). */
  setPrecision?(name: MatmulPrecision): MatmulPrecision;
  /** AdamW over float32 arrays at byte offsets: m, v in place, the new parameter to pOutOff. */
  adamwStep?(
    heap: Uint8Array,
    pOff: number,
    pOutOff: number,
    mOff: number,
    vOff: number,
    gOff: number,
    n: number,
    gradScale: number,
    b1: number,
    b2: number,
    keep: number,
    stepSize: number,
    bc2Sqrt: number,
    eps: number,
  ): void;
  sumSquares?(heap: Uint8Array, off: number, n: number): number;
  /** n bytes of dropout keep-mask at off, the same bits as dropoutMask in src/nn/ops.ts. */
  dropoutMask?(heap: Uint8Array, off: number, n: number, seed: number, threshold: number): void;
  /** Fused element-wise kernels (native/fused.h): op number, heap, byte offsets, sizes, scalars. */
  fused?(op: FusedOp, heap: Uint8Array, ...args: number[]): void;
}

/** The kernels of native/fused.h, by the number the addon's fused() takes. */
export const FUSED = {
  layerNorm: 0,
  layerNormBackward: 1,
  gelu: 2,
  geluBackward: 3,
  softmax: 4,
  softmaxBackward: 5,
  maskScale: 6,
} as const;
export type FusedOp = (typeof FUSED)[keyof typeof FUSED];

export interface NativeBlasStatus {
  enabled: boolean;
  reason: string;
}
export interface NativeBlasStats {
  batchMatMul: number;
  fusedMatMul: number;
  exp: number;
  erf: number;
  fused: number;
  fallbacks: number;
}

const KERNELS = ['BatchMatMul', '_FusedMatMul', 'Exp', 'Erf'] as const;
/** Where scripts/build-native.sh leaves the addon (BERT_LAB_NATIVE_ADDON overrides). */
export const addonCandidates = [
  process.env.BERT_LAB_NATIVE_ADDON,
  path.join(PACKAGE_ROOT, 'native/build/Release/blas.node'),
].filter((p): p is string => !!p);

let addon: Addon | undefined;
let addonPath = '';
let active: NativeBlasStatus | undefined;
const originals = new Map<string, tf.KernelConfig>();
const stats: NativeBlasStats = { batchMatMul: 0, fusedMatMul: 0, exp: 0, erf: 0, fused: 0, fallbacks: 0 };

function loadAddon(): string | undefined {
  if (addon) return undefined;
  const found = addonCandidates.find((p) => existsSync(p));
  if (!found) return `native addon not built (run scripts/build-native.sh; looked for ${addonCandidates.join(', ')})`;
  try {
    // OpenMP builds of OpenBLAS: idle worker threads must sleep, not spin, or they steal the
    // core that the (single-threaded) wasm kernels run on between two matmuls. Read by libgomp
    // when it is loaded, i.e. with the addon.
    // Restored afterwards so that child processes (PyTorch, notebooks) keep their defaults.
    const saved = process.env.OMP_WAIT_POLICY;
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    try {
      addon = createRequire(import.meta.url)(found) as Addon;
    } finally {
      if (saved === undefined) delete process.env.OMP_WAIT_POLICY;
    }
    addonPath = found;
    return undefined;
  } catch (e) {
    return `native addon at ${found} failed to load (${(e as Error).message.split('\n')[0]})`;
  }
}

/** Batch-dimension broadcasting (numpy rules); returns per-output-matrix indices when needed. */
function batchPlan(
  aOuter: number[],
  bOuter: number[],
): { outer: number[]; batch: number; aStride1: boolean; bStride1: boolean; aIndex?: Int32Array; bIndex?: Int32Array } {
  const outer = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  const batch = size(outer),
    aN = size(aOuter),
    bN = size(bOuter);
  // Common cases: same batch, or one side a single matrix (stride 0). Anything else: index lists.
  if (aN === batch && bN === batch) return { outer, batch, aStride1: true, bStride1: true };
  if (aN === batch && bN === 1) return { outer, batch, aStride1: true, bStride1: false };
  if (aN === 1 && bN === batch) return { outer, batch, aStride1: false, bStride1: true };
  const index = (src: number[]) => {
    const idx = new Int32Array(batch);
    const r = outer.length,
      pad = r - src.length;
    const coord = new Array<number>(r).fill(0);
    for (let i = 0; i < batch; i++) {
      let flat = 0;
      for (let d = 0; d < src.length; d++) flat = flat * src[d] + (src[d] === 1 ? 0 : coord[d + pad]);
      idx[i] = flat;
      for (let d = r - 1; d >= 0; d--) {
        if (++coord[d] < outer[d]) break;
        coord[d] = 0;
      }
    }
    return idx;
  };
  return { outer, batch, aStride1: true, bStride1: true, aIndex: index(aOuter), bIndex: index(bOuter) };
}

/** Runs op(a) @ op(b) into a new output. Returns undefined when the case is not handled here. */
function gemmOutput(
  backend: WasmInternals,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transA: boolean,
  transB: boolean,
): tf.TensorInfo | undefined {
  if (!addon || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2)
    return undefined;
  const ar = a.shape.length,
    br = b.shape.length;
  const m = transA ? a.shape[ar - 1] : a.shape[ar - 2];
  const ka = transA ? a.shape[ar - 2] : a.shape[ar - 1];
  const kb = transB ? b.shape[br - 1] : b.shape[br - 2];
  const n = transB ? b.shape[br - 2] : b.shape[br - 1];
  if (ka !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${ka}) and (${kb}) of Tensors with shapes ${a.shape} and ` +
        `${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`,
    );
  }
  const plan = batchPlan(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = backend.makeOutput([...plan.outer, m, n], 'float32');
  // Offsets are read after makeOutput: allocation may grow the heap (new buffer, old views detached).
  const heap = backend.wasm.HEAPU8;
  const off = (t: tf.TensorInfo) => heapOffset(backend, t);
  addon.gemm(
    heap,
    off(a),
    off(b),
    off(out),
    plan.batch,
    m,
    n,
    ka,
    transA,
    transB,
    plan.aStride1 ? m * ka : 0,
    plan.bStride1 ? ka * n : 0,
    plan.aIndex ?? null,
    plan.bIndex ?? null,
  );
  return out;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function fallback(name: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  stats.fallbacks++;
  return originals.get(name)!.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
}

function batchMatMul(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
  const out = gemmOutput(args.backend as WasmInternals, a, b, !!transposeA, !!transposeB);
  if (!out) return fallback('BatchMatMul', args);
  stats.batchMatMul++;
  return out;
}

// _FusedMatMul = matmul + optional bias + activation. The matmul runs natively; bias and the
// activation reuse the backend's own kernels, so their semantics stay exactly those of tfjs.
function fusedMatMul(args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: tf.TensorInfo;
    b: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const attrs = (args.attrs ?? {}) as {
    transposeA?: boolean;
    transposeB?: boolean;
    activation?: string;
    leakyreluAlpha?: number;
  };
  const activation = attrs.activation ?? 'linear';
  const backend = args.backend as WasmInternals & tf.KernelBackend;
  const simple = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'];
  if (!simple.includes(activation) || (activation === 'prelu' && !preluActivationWeights))
    return fallback('_FusedMatMul', args);
  const mm = gemmOutput(backend, a, b, !!attrs.transposeA, !!attrs.transposeB);
  if (!mm) return fallback('_FusedMatMul', args);
  stats.fusedMatMul++;
  const run = (kernel: string, inputs: tf.NamedTensorInfoMap, kattrs: tf.NamedAttrMap = {}) => {
    const cfg = tf.getKernel(kernel, 'wasm');
    if (!cfg) throw new Error(`wasm kernel ${kernel} missing`);
    return cfg.kernelFunc({ inputs, backend, attrs: kattrs }) as tf.TensorInfo;
  };
  const dispose = (t: tf.TensorInfo) => backend.disposeData(t.dataId);
  let y = mm;
  if (bias) {
    const t = run('Add', { a: y, b: bias });
    dispose(y);
    y = t;
  }
  let z: tf.TensorInfo;
  switch (activation) {
    case 'linear':
      return y;
    case 'relu':
      z = run('Relu', { x: y });
      break;
    case 'relu6':
      z = run('Relu6', { x: y });
      break;
    case 'elu':
      z = run('Elu', { x: y });
      break;
    case 'sigmoid':
      z = run('Sigmoid', { x: y });
      break;
    case 'leakyrelu':
      z = run('LeakyRelu', { x: y }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
      break;
    default:
      z = run('Prelu', { x: y, alpha: preluActivationWeights! });
  }
  dispose(y);
  return z;
}

// Exp and Erf: float32 only (anything else goes to the wasm kernel). One thread: the loop is
// memory-bound (about 1 ms for 2M floats with AVX2), and a second thread measured no faster on
// this 2-core machine while it competes with other work.
function unaryKernel(name: 'Exp' | 'Erf', op: 0 | 1, key: 'exp' | 'erf') {
  return (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (!addon || x.dtype !== 'float32') return fallback(name, args);
    const backend = args.backend as WasmInternals;
    const out = backend.makeOutput(x.shape, 'float32');
    stats[key]++;
    const n = tf.util.sizeFromShape(x.shape);
    if (n === 0) return out;
    // As for gemm: heap view and offsets only after makeOutput (which may grow the heap).
    addon.unary(op, backend.wasm.HEAPU8, heapOffset(backend, x), heapOffset(backend, out), n, 1);
    return out;
  };
}

const kernelFuncs: Record<(typeof KERNELS)[number], (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Exp: unaryKernel('Exp', 0, 'exp'),
  Erf: unaryKernel('Erf', 1, 'erf'),
};

/** The machine's cores, as Node counts them (at least 1). */
function coreCount(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/**
 * BERT_LAB_NATIVE_THREADS read like a command-line option: undefined when unset (or empty), else a
 * whole number from 1 to 4x the cores. Anything else throws a message naming the variable: a
 * non-number or 0 used to be ignored silently (the count then followed the load, which breaks
 * seeded runs' reproducibility), and 100000 made OpenMP start threads until the process crashed.
 *
 * Example: `parseNativeThreads('2')` -> 2; `parseNativeThreads('abc')` throws.
 */
export function parseNativeThreads(
  value: string | undefined = process.env.BERT_LAB_NATIVE_THREADS,
  cores = coreCount(),
): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const max = 4 * cores;
  const n = Number(value.trim());
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new Error(
      `BERT_LAB_NATIVE_THREADS=${JSON.stringify(value)} is not a thread count: give a whole number from 1 to ${max} ` +
        `(4x this machine's ${cores} core${cores > 1 ? 's' : ''}), or unset it to use the cores not busy`,
    );
  return n;
}

/** Why BERT_LAB_NATIVE_THREADS is unusable (the message parseNativeThreads throws), or undefined when it is fine or unset. */
export function nativeThreadsProblem(
  value: string | undefined = process.env.BERT_LAB_NATIVE_THREADS,
): string | undefined {
  try {
    parseNativeThreads(value);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * BLAS threads: BERT_LAB_NATIVE_THREADS (validated, see parseNativeThreads), else the cores not
 * already busy (core count minus the cores other processes use now, at least 1). A thread that has
 * to share its core with another process stalls every parallel GEMM, which measured 1.5-2x slower
 * than one thread on 2 loaded cores.
 */
function threadCount(): { n: number; why: string } {
  const env = parseNativeThreads();
  if (env !== undefined) return { n: env, why: 'BERT_LAB_NATIVE_THREADS' };
  const cores = coreCount();
  const busy = busyCores(cores);
  if (busy !== undefined)
    return {
      n: Math.max(1, Math.min(cores, cores - Math.round(busy))),
      why: `${cores} cores, ${busy.toFixed(1)} busy`,
    };
  const load = os.loadavg()[0];
  return { n: Math.max(1, Math.min(cores, cores - Math.round(load))), why: `${cores} cores, load ${load.toFixed(1)}` };
}

/**
 * Cores that other processes keep busy right now, from /proc/stat over 100 ms (Linux). The load
 * average would count the run that just finished for a minute and leave a core idle.
 */
function busyCores(cores: number): number | undefined {
  const sample = () => readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  try {
    const a = sample();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    const b = sample();
    const total = (x: number[]) => x.slice(0, 8).reduce((s, v) => s + v, 0);
    const idle = (x: number[]) => x[3] + (x[4] ?? 0); // idle + iowait
    const dt = total(b) - total(a);
    if (!(dt > 0) || a.some((v) => !Number.isFinite(v))) return undefined;
    return Math.max(0, cores * (1 - (idle(b) - idle(a)) / dt));
  } catch {
    return undefined;
  }
}

/**
 * Replaces the wasm BatchMatMul and _FusedMatMul kernels with OpenBLAS ones, and Exp and Erf
 * with vectorised libmvec ones (float32; BERT_LAB_NATIVE_VMATH=avx512|avx2|sse|scalar picks the
 * variant), when the addon is built. Never throws: returns whether it is on and why. BERT_LAB_NATIVE=0 turns it off;
 * BERT_LAB_NATIVE_THREADS sets the BLAS threads (default: the cores not busy now). The wasm backend
 * must be registered (imported) first; it need not be initialised yet.
 */
export function enableNativeBlas(): NativeBlasStatus {
  try {
    if (active?.enabled) return active;
    const flag = (process.env.BERT_LAB_NATIVE ?? '').toLowerCase();
    if (['0', 'false', 'off', 'no'].includes(flag))
      return (active = { enabled: false, reason: `disabled by BERT_LAB_NATIVE=${process.env.BERT_LAB_NATIVE}` });
    // An invalid thread count is the caller's error, not a reason to run slower: initBackend stops on it.
    const badThreads = nativeThreadsProblem();
    if (badThreads) return (active = { enabled: false, reason: badThreads });
    const err = loadAddon();
    if (err) return (active = { enabled: false, reason: err });
    for (const name of KERNELS) {
      if (!tf.getKernel(name, 'wasm')) {
        return (active = {
          enabled: false,
          reason: `wasm kernel ${name} is not registered (import @tensorflow/tfjs-backend-wasm first)`,
        });
      }
    }
    const want = threadCount();
    const threads = addon!.setThreads(want.n);
    const precision = applyPrecision();
    for (const name of KERNELS)
      originals.set(
        name,
        overrideWasmKernel(name, () => kernelFuncs[name])!,
      );
    const info = addon!.info();
    return (active = {
      enabled: true,
      reason: `native kernels ${KERNELS.join(', ')}: OpenBLAS sgemm for BatchMatMul/_FusedMatMul (${info.config.split(' ').slice(0, 2).join(' ')}, ${info.parallel}, ${threads} thread${threads > 1 ? 's' : ''} (${want.why})), ${info.vmath} for Exp/Erf; ${precision}; ${addonPath}`,
    });
  } catch (e) {
    return (active = { enabled: false, reason: `native BLAS setup failed (${(e as Error).message.split('\n')[0]})` });
  }
}

/** Puts the original wasm kernels back. */
export function disableNativeBlas(): void {
  for (const [name, orig] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(orig);
  }
  originals.clear();
  active = undefined;
  effectivePrecision = 'fp32';
}

/** Precision of the matrix products: float32 throughout, or bf16 operands with float32 sums. */
export type MatmulPrecision = 'fp32' | 'bf16';
/** The precision asked for and the one in effect, with why they differ. */
export interface PrecisionStatus {
  requested: MatmulPrecision;
  precision: MatmulPrecision;
  reason: string;
}

let requestedPrecision: MatmulPrecision | undefined;
let effectivePrecision: MatmulPrecision = 'fp32';
let precisionReason = 'fp32 matrix products';

/**
 * BERT_LAB_BF16 read like an option: 1/true/on asks for bf16 matrix products, 0/false/off (or
 * unset, empty) for fp32; anything else throws a message naming the variable.
 */
export function parseBf16Env(value: string | undefined = process.env.BERT_LAB_BF16): MatmulPrecision | undefined {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return undefined;
  if (['1', 'true', 'on', 'yes'].includes(v)) return 'bf16';
  if (['0', 'false', 'off', 'no'].includes(v)) return 'fp32';
  throw new Error(
    `BERT_LAB_BF16=${JSON.stringify(value)} is not a switch: give 1 for bf16 matrix products or 0 for fp32, or unset it`,
  );
}

/** Gives the addon the precision asked for (setMatmulPrecision, else BERT_LAB_BF16); returns the note for the backend line. */
function applyPrecision(): string {
  const want = requestedPrecision ?? parseBf16Env() ?? 'fp32';
  if (want === 'fp32' || !addon) {
    effectivePrecision = 'fp32';
    precisionReason = 'fp32 matrix products';
  } else if (!addon.setPrecision) {
    effectivePrecision = 'fp32';
    precisionReason =
      'bf16 asked for, but the native addon predates bf16 support (rebuild it: npm run build:native); fp32 matrix products';
  } else {
    effectivePrecision = addon.setPrecision('bf16');
    precisionReason =
      effectivePrecision === 'bf16'
        ? 'bf16 matrix products (AVX-512 BF16; float32 sums, weights, optimizer, LayerNorm, softmax and loss)'
        : 'bf16 asked for, but this CPU lacks AVX-512 BF16 (no avx512_bf16 flag in /proc/cpuinfo); fp32 matrix products';
  }
  if (addon?.setPrecision && effectivePrecision === 'fp32') addon.setPrecision('fp32');
  return precisionReason;
}

/**
 * Sets the precision of the matrix products (forward and backward) for the rest of the process:
 * 'bf16' rounds both operands of every large product to bfloat16 and sums in float32 (mixed
 * precision: weights, gradients, AdamW's state, LayerNorm, softmax and the loss stay float32), on
 * CPUs with AVX-512 BF16 through the native kernels; 'fp32' is the default. Where bf16 cannot run
 * (no native addon, a CPU without BF16, another backend) the products stay fp32 and the returned
 * reason says why: print it. Before the backend starts, the request is kept and applied when the
 * native kernels load. BERT_LAB_BF16=1 asks for the same without a call.
 *
 * Example: `const s = setMatmulPrecision('bf16'); if (s.precision !== s.requested) console.warn(s.reason);`
 */
export function setMatmulPrecision(precision: MatmulPrecision): PrecisionStatus {
  if (precision !== 'bf16' && precision !== 'fp32')
    throw new Error(`matmul precision ${JSON.stringify(precision)}: use 'bf16' or 'fp32'`);
  requestedPrecision = precision;
  if (active?.enabled) applyPrecision();
  return matmulPrecision();
}

/**
 * Whether bf16 products can run here, without changing the precision in effect (for doctor): the
 * native kernels must be on, the addon recent enough, and the CPU must have AVX-512 BF16.
 */
export function bf16Available(): { available: boolean; reason: string } {
  if (!active?.enabled || !addon)
    return { available: false, reason: `needs the native kernels (${active?.reason ?? 'not started'})` };
  if (!addon.setPrecision)
    return { available: false, reason: 'the native addon predates bf16 support: npm run build:native' };
  return addon.info().bf16
    ? { available: true, reason: 'AVX-512 BF16 (avx512_bf16): setMatmulPrecision("bf16") or BERT_LAB_BF16=1' }
    : { available: false, reason: 'this CPU lacks AVX-512 BF16 (no avx512_bf16 flag in /proc/cpuinfo)' };
}

/** The matrix products' precision asked for and in effect now, with the reason (see setMatmulPrecision). */
export function matmulPrecision(): PrecisionStatus {
  const requested = requestedPrecision ?? parseBf16Env() ?? 'fp32';
  if (active?.enabled) return { requested, precision: effectivePrecision, reason: precisionReason };
  if (requested === 'fp32') return { requested, precision: 'fp32', reason: 'fp32 matrix products' };
  const why = active
    ? `the native kernels are off (${active.reason}), and bf16 needs them (npm run build:native, on a CPU with AVX-512 BF16)`
    : 'only the wasm backend with the native kernels has bf16 products, and they are not running (yet)';
  return { requested, precision: 'fp32', reason: `bf16 asked for, but ${why}: fp32 matrix products` };
}

/** Whether the native kernels are registered (matmuls with transposed operands are then free). */
export function nativeBlasEnabled(): boolean {
  return !!active?.enabled;
}

/** Kernel calls served natively and fallbacks to wasm, since the process started. */
export function nativeBlasStats(): NativeBlasStats {
  return { ...stats };
}

/** The addon's training loops (AdamW, sum of squares, dropout masks), when the accelerator is on and has them. */
export function nativeOptim(): Pick<Required<Addon>, 'adamwStep' | 'sumSquares' | 'dropoutMask'> | undefined {
  return active?.enabled && addon?.adamwStep && addon.sumSquares && addon.dropoutMask
    ? (addon as Required<Addon>)
    : undefined;
}

const fusedNames = Object.fromEntries(Object.entries(FUSED).map(([k, v]) => [v, k])) as Record<FusedOp, string>;
const fusedTimes = new Map<string, { ms: number; calls: number }>();
const fusedApi: Pick<Required<Addon>, 'fused'> = {
  fused: (op, heap, ...args) => {
    stats.fused++;
    const t0 = performance.now();
    addon!.fused!(op, heap, ...args);
    const e = fusedTimes.get(fusedNames[op]) ?? { ms: 0, calls: 0 };
    e.ms += performance.now() - t0;
    e.calls++;
    fusedTimes.set(fusedNames[op], e);
  },
};
/** Time spent in each fused kernel since the process started (for profiles: tf.profile cannot see them). */
export function nativeFusedTimes(): Map<string, { ms: number; calls: number }> {
  return new Map([...fusedTimes].map(([k, v]) => [k, { ...v }]));
}
/** The addon's fused element-wise kernels, when the accelerator is on and has them. */
export function nativeFused(): Pick<Required<Addon>, 'fused'> | undefined {
  return active?.enabled && addon?.fused ? fusedApi : undefined;
}
