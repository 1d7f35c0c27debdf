// Every tfjs-wasm internal the project touches, in one place: the heap and its tensors' offsets,
// kernel replacement, the kernels replaced in plain JS (row gather, shared Identity), and the heap
// budget a training run must fit in.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core holds no backend: the cpu one is registered here, below every module that runs ops
// (nn/ops.ts and nn/optim.ts import this file), so the last fallback of initBackend always exists.
import '@tensorflow/tfjs-backend-cpu';

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
export function overrideWasmKernel(
  name: string,
  make: (orig: tf.KernelConfig) => tf.KernelFunc,
): tf.KernelConfig | undefined {
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
    const simple =
      (axis === 0 || axis === -x.shape.length) &&
      !batchDims &&
      indices.dtype === 'int32' &&
      (x.dtype === 'float32' || x.dtype === 'int32') &&
      x.shape.length >= 1;
    if (!simple) return orig.kernelFunc(args);
    const b = args.backend as unknown as WasmInternals;
    const rows = x.shape[0],
      row = x.shape.slice(1).reduce((p, q) => p * q, 1);
    const count = indices.shape.reduce((p, q) => p * q, 1);
    const ids = new Int32Array(b.wasm.HEAPU8.buffer, heapOffset(b, indices), count).slice();
    for (const k of ids)
      if (!(k >= 0 && k < rows)) throw new Error(`GatherV2: the index value ${k} is not in [0, ${rows - 1}]`);
    const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
    // Views are taken after makeOutput, which may grow (and so move) the heap.
    const heap = new Int32Array(b.wasm.HEAPU8.buffer);
    const src = heapOffset(b, x) / 4,
      dst = heapOffset(b, out) / 4;
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

/** Installs the wasm kernels this file replaces; called once after the wasm backend is ready. */
export function installWasmKernels(): void {
  shareIdentity();
  rowGather();
}

/** The wasm backend's heap is capped at 4 GB; training beyond it would abort mid-run. */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;

/**
 * Stops at once, with what to change, when `needBytes` (an estimate of a run's peak heap) cannot
 * fit the wasm heap. `what` names the run in the message. Other backends have no such cap.
 *
 * Example: `checkMemory(estimateTrainingBytes(model, 32, 128), 'training bert-base with batch 32 x 128 tokens')`
 */
export function checkMemory(needBytes: number, what: string, backend = tf.getBackend()): void {
  if (backend !== 'wasm') return;
  if (needBytes > 0.95 * WASM_HEAP_BYTES) {
    const gb = (b: number) => (b / 2 ** 30).toFixed(1);
    throw new Error(
      `${what} needs about ${gb(needBytes)} GB, more than the wasm backend's ${gb(WASM_HEAP_BYTES)} GB heap: ` +
        'lower --batch-size or --max-len, use a smaller model, or install @tensorflow/tfjs-node',
    );
  }
}
