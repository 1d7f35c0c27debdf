// Picks the fastest tfjs backend that actually loads here: tfjs-node-gpu (with a visible GPU) >
// tfjs-node > wasm > cpu. Native backends are optional dependencies, so each is probed at run time.
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export interface BackendChoice { name: string; reason: string }

let chosen: BackendChoice | undefined;
let nativeNote: { enabled: boolean; reason: string } | undefined;

async function tryNode(pkg: string): Promise<string | undefined> {
  try {
    await import(pkg);
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

async function useWasm(): Promise<string | undefined> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const dir = require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace(/package\.json$/, 'dist/');
    wasm.setWasmPaths(dir);
    // Threads need SharedArrayBuffer workers, which tfjs cannot start in Node; SIMD is used when present.
    if (!(await tf.setBackend('wasm'))) return 'setBackend("wasm") returned false';
    await tf.ready();
    shareIdentity();
    rowGather();
    // The optional OpenBLAS addon takes over the wasm matmul kernels where it is built.
    const { enableNativeBlas } = await import('./accel.js');
    nativeNote = enableNativeBlas();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** The parts of tfjs's wasm backend that kernels written in JS use: tensors live in one heap. */
export interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  incRef(id: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** The wasm backend's internals, when it is the active backend. */
export function wasmInternals(): WasmInternals | undefined {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmInternals) : undefined;
}

/** Byte offset of a tensor's buffer in the wasm heap. */
export function heapOffset(b: WasmInternals, t: tf.TensorInfo): number {
  const info = b.dataIdMap.get(t.dataId);
  if (!info) throw new Error(`tensor data ${JSON.stringify(t.dataId)} is not on the wasm backend`);
  return info.memoryOffset >>> 0; // unsigned: the heap can pass 2 GB
}

/**
 * Replaces a wasm kernel with `make(original)`, keeping the original's setup and dispose (its
 * fallback path may need them). Returns the original, or undefined when no such kernel exists.
 */
export function overrideWasmKernel(name: string, make: (orig: tf.KernelConfig) => tf.KernelFunc): tf.KernelConfig | undefined {
  const orig = tf.getKernel(name, 'wasm');
  if (!orig) return undefined;
  tf.unregisterKernel(name, 'wasm');
  tf.registerKernel({ ...orig, kernelFunc: make(orig) });
  return orig;
}

/**
 * GatherV2 along axis 0 (embedding lookups) as row copies in the heap: the wasm kernel's general
 * strided loop took 23 ms for 2,048 rows of 256 floats. Other gathers use the wasm kernel.
 */
function rowGather(): void {
  overrideWasmKernel('GatherV2', (orig) => (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims?: number };
    const simple = (axis === 0 || axis === -x.shape.length) && !batchDims && indices.dtype === 'int32' &&
      (x.dtype === 'float32' || x.dtype === 'int32') && x.shape.length >= 1;
    if (!simple) return orig.kernelFunc(args);
    const b = args.backend as unknown as WasmInternals;
    const rows = x.shape[0], row = x.shape.slice(1).reduce((p, q) => p * q, 1);
    const count = indices.shape.reduce((p, q) => p * q, 1);
    const ids = new Int32Array(b.wasm.HEAPU8.buffer, heapOffset(b, indices), count).slice();
    for (const k of ids) if (!(k >= 0 && k < rows)) throw new Error(`GatherV2: the index value ${k} is not in [0, ${rows - 1}]`);
    const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views are taken after makeOutput, which may grow (and so move) the heap.
    const heap = new Int32Array(b.wasm.HEAPU8.buffer);
    const src = heapOffset(b, x) / 4, dst = heapOffset(b, out) / 4;
    for (let i = 0; i < count; i++) heap.copyWithin(dst + i * row, src + ids[i] * row, src + (ids[i] + 1) * row);
    return out;
  });
}

/**
 * The wasm Identity kernel copies its input. tfjs clones every tensor a gradient needs through
 * Identity, so a training step held a second copy of most activations (a third of the peak heap).
 * Sharing the buffer by reference count, as the cpu and webgl backends do, is safe: no tfjs kernel
 * writes into its inputs, and a variable's assign swaps buffers instead of overwriting one.
 */
function shareIdentity(): void {
  overrideWasmKernel('Identity', (orig) => ({ inputs, backend }) => {
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return orig.kernelFunc({ inputs, backend, attrs: {} });
    (backend as unknown as WasmInternals).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}

/**
 * Selects the backend once per process. `preferred` (or env BERT_LAB_BACKEND) forces one:
 * gpu | node | wasm | cpu. Prints the choice and why, once.
 */
export async function initBackend(preferred?: string, log: (s: string) => void = (s) => console.error(s)): Promise<BackendChoice> {
  if (chosen && !preferred) return chosen;
  const want = (preferred ?? process.env.BERT_LAB_BACKEND ?? 'auto').toLowerCase();
  const notes: string[] = [];
  const attempt = async (name: string): Promise<boolean> => {
    if (name === 'gpu') {
      const err = await tryNode('@tensorflow/tfjs-node-gpu');
      if (err) { notes.push(`tfjs-node-gpu unavailable (${err})`); return false; }
      await tf.setBackend('tensorflow'); await tf.ready();
      return true;
    }
    if (name === 'node') {
      const err = await tryNode('@tensorflow/tfjs-node');
      if (err) { notes.push(`tfjs-node unavailable (${err})`); return false; }
      await tf.setBackend('tensorflow'); await tf.ready();
      return true;
    }
    if (name === 'wasm') {
      const err = await useWasm();
      if (err) { notes.push(`wasm unavailable (${err})`); return false; }
      return true;
    }
    if (name === 'cpu') { await tf.setBackend('cpu'); await tf.ready(); return true; }
    throw new Error(`Unknown backend "${name}": use gpu, node, wasm or cpu (flag --backend or env BERT_LAB_BACKEND)`);
  };
  const order = want === 'auto' ? ['gpu', 'node', 'wasm', 'cpu'] : [want];
  for (const name of order) {
    if (await attempt(name)) {
      const reason = want === 'auto'
        ? (notes.length ? `fastest that loads; ${notes.join('; ')}` : 'fastest available')
        : `requested by ${preferred ? '--backend' : 'BERT_LAB_BACKEND'}`;
      chosen = { name: tf.getBackend(), reason };
      const matmul = chosen.name === 'wasm' && nativeNote ? `; matmul: ${nativeNote.enabled ? nativeNote.reason : `plain wasm (${nativeNote.reason})`}` : '';
      log(`[bert-lab] backend: ${chosen.name} (${reason})${matmul}`);
      return chosen;
    }
  }
  throw new Error(`Backend "${want}" could not be loaded: ${notes.join('; ')}`);
}
