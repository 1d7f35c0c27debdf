// AdamW, the linear warmup/decay schedule and global-norm clipping, with PyTorch's semantics
// (torch.optim.AdamW, transformers.get_linear_schedule_with_warmup, torch.nn.utils.clip_grad_norm_).
import * as tf from '@tensorflow/tfjs-core';
import { nativeOptim } from '../backend/accel.js';
import { heapOffset, wasmInternals, type WasmInternals } from '../backend/wasm.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Parameter names exempt from weight decay (commonly biases and LayerNorm weights). */
  noDecay?: (name: string) => boolean;
}

/** A Float32Array over a float32 tensor's wasm buffer (valid until the heap next grows). */
function heapF32(b: WasmInternals, t: tf.TensorInfo, size = (t as tf.Tensor).size): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`AdamW: a ${t.dtype} tensor where float32 was expected`);
  return new Float32Array(b.wasm.HEAPU8.buffer, heapOffset(b, t), size);
}

/**
 * One AdamW step over flat arrays: M and V in place, the new parameter into Pout (a plain function
 * over typed arrays, so the JIT keeps it monomorphic).
 */
function adamwUpdate(
  P: Float32Array,
  Pout: Float32Array,
  M: Float32Array,
  V: Float32Array,
  G: Float32Array,
  gradScale: number,
  b1: number,
  b2: number,
  keep: number,
  stepSize: number,
  bc2Sqrt: number,
  eps: number,
): void {
  const c1 = 1 - b1,
    c2 = 1 - b2;
  for (let i = 0; i < P.length; i++) {
    const g = G[i] * gradScale;
    const m = b1 * M[i] + c1 * g;
    const v = b2 * V[i] + c2 * g * g;
    M[i] = m;
    V[i] = v;
    Pout[i] = P[i] * keep - stepSize * (m / (Math.sqrt(v) / bc2Sqrt + eps));
  }
}

/** Sum of squares, four accumulators (the JIT does not reassociate a single one). */
function sumSquares(G: Float32Array): number {
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    i = 0;
  for (const n = G.length & ~3; i < n; i += 4) {
    s0 += G[i] * G[i];
    s1 += G[i + 1] * G[i + 1];
    s2 += G[i + 2] * G[i + 2];
    s3 += G[i + 3] * G[i + 3];
  }
  for (; i < G.length; i++) s0 += G[i] * G[i];
  return s0 + s1 + s2 + s3;
}

export interface OptimizerState {
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

/** Decoupled weight decay Adam, exactly torch.optim.AdamW's update (amsgrad off). */
export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  step = 0;
  private m = new Map<string, tf.Tensor>();
  private v = new Map<string, tf.Tensor>();

  constructor(readonly opts: AdamWOptions) {
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  /**
   * Applies one update to `params` from `grads` (same names), each gradient multiplied by
   * `gradScale` first (the clipping coefficient). Disposes nothing it did not create.
   */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, gradScale = 1): void {
    this.step++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const stepSize = this.lr / bc1;
    const wasm = wasmInternals();
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      this.init(new Map([[name, p]]));
      const m = this.m.get(name)!,
        v = this.v.get(name)!;
      const decay = this.opts.noDecay?.(name) ? 0 : this.weightDecay;
      if (wasm && p.dtype === 'float32') {
        // One pass over the wasm heap (native when the accelerator is built) instead of about
        // fifteen tensor ops, each the size of the parameter. The moments are updated in place;
        // the parameter gets a new buffer: wasm kernels cache packed weights by tensor, so a
        // tensor's values must never change under it.
        const out = wasm.makeOutput(p.shape, 'float32');
        const native = nativeOptim(),
          keep = 1 - this.lr * decay;
        if (native) {
          const off = (t: tf.TensorInfo) => heapOffset(wasm, t);
          native.adamwStep(
            wasm.wasm.HEAPU8,
            off(p),
            off(out),
            off(m),
            off(v),
            off(g),
            p.size,
            gradScale,
            b1,
            b2,
            keep,
            stepSize,
            bc2Sqrt,
            this.eps,
          );
        } else {
          adamwUpdate(
            heapF32(wasm, p),
            heapF32(wasm, out, p.size),
            heapF32(wasm, m),
            heapF32(wasm, v),
            heapF32(wasm, g),
            gradScale,
            b1,
            b2,
            keep,
            stepSize,
            bc2Sqrt,
            this.eps,
          );
        }
        const fresh = tf.engine().makeTensorFromTensorInfo(out);
        p.assign(fresh);
        fresh.dispose();
        continue;
      }
      // One tidy per parameter: temporaries are freed before the next one.
      const [mNew, vNew] = tf.tidy(() => {
        const gs = gradScale === 1 ? g : tf.mul(g, gradScale);
        const mNew = tf.add(tf.mul(m, b1), tf.mul(gs, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(gs), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), this.eps);
        let pNew = decay ? tf.mul(p, 1 - this.lr * decay) : p;
        pNew = tf.sub(pNew, tf.mul(tf.div(mNew, denom), stepSize));
        p.assign(pNew);
        return [mNew, vNew];
      });
      m.dispose();
      v.dispose();
      this.m.set(name, mNew);
      this.v.set(name, vNew);
    }
  }

  /**
   * Allocates the moments of `params` that have none yet. Called before the first forward pass, the
   * long-lived buffers sit together at the start of the heap instead of between freed activations.
   */
  init(params: Map<string, tf.Variable>): void {
    for (const [name, p] of params) {
      if (this.m.has(name)) continue;
      this.m.set(name, tf.zerosLike(p));
      this.v.set(name, tf.zerosLike(p));
    }
  }

  /** Moments as plain arrays, for checkpoints that can resume training. */
  state(): OptimizerState {
    const read = (mm: Map<string, tf.Tensor>) => new Map([...mm].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }
  loadState(s: OptimizerState, params: Map<string, tf.Variable>): void {
    this.dispose();
    this.step = s.step;
    for (const [k, data] of s.m) {
      const p = params.get(k);
      if (!p) continue;
      this.m.set(k, tf.tensor(data, p.shape));
      this.v.set(k, tf.tensor(s.v.get(k)!, p.shape));
    }
  }
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** get_linear_schedule_with_warmup: the factor for the learning rate after `step` scheduler steps. */
export function linearSchedule(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/**
 * The learning-rate factor after `step` scheduler steps: linear warm-up, then linear decay to 0
 * (`linearSchedule`) or cosine decay to 0 (get_cosine_schedule_with_warmup with half a cycle).
 */
export function scheduleFactor(step: number, warmup: number, total: number, kind: 'linear' | 'cosine'): number {
  if (kind === 'linear' || step < warmup) return linearSchedule(step, warmup, total);
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** The global L2 norm of all gradients, as clip_grad_norm_ computes it (before clipping). */
export function gradNorm(grads: Map<string, tf.Tensor>): number {
  const wasm = wasmInternals();
  if (wasm && [...grads.values()].every((g) => g.dtype === 'float32')) {
    // Summed straight off the heap: the tensor route squared every gradient into a temporary.
    let sum = 0;
    const native = nativeOptim();
    for (const g of grads.values())
      sum += native ? native.sumSquares(wasm.wasm.HEAPU8, heapOffset(wasm, g), g.size) : sumSquares(heapF32(wasm, g));
    return Math.sqrt(sum);
  }
  return tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
}

/** clip_grad_norm_'s factor for the gradients: maxNorm / (norm + 1e-6), at most 1. */
export function clipCoef(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}
