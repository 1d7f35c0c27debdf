// AdamW, the linear warmup/decay schedule and global-norm clipping, with PyTorch's semantics
// (torch.optim.AdamW, transformers.get_linear_schedule_with_warmup, torch.nn.utils.clip_grad_norm_).
import * as tf from '@tensorflow/tfjs';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Parameter names exempt from weight decay (commonly biases and LayerNorm weights). */
  noDecay?: (name: string) => boolean;
}

/** The wasm backend's view of a tensor's buffer: tfjs keeps wasm tensors in one linear heap. */
interface WasmBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  refCount(id: object): number;
}
function wasmBackend(): WasmBackend | undefined {
  return tf.getBackend() === 'wasm' ? (tf.backend() as unknown as WasmBackend) : undefined;
}
/** A Float32Array over `t`'s wasm buffer (valid until the heap next grows). */
function heapF32(b: WasmBackend, t: tf.Tensor): Float32Array {
  const info = b.dataIdMap.get(t.dataId);
  if (!info || t.dtype !== 'float32') throw new Error(`no float32 wasm buffer for tensor ${t.id} (${t.dtype})`);
  return new Float32Array(b.wasm.HEAPU8.buffer, info.memoryOffset, t.size);
}

export interface OptimizerState { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }

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
    const wasm = wasmBackend();
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      this.init(new Map([[name, p]]));
      const m = this.m.get(name)!, v = this.v.get(name)!;
      const decay = this.opts.noDecay?.(name) ? 0 : this.weightDecay;
      if (wasm && p.dtype === 'float32') {
        // In place on the wasm heap, one pass: no temporaries (tensor ops made about fifteen, each
        // the size of the parameter). A buffer shared with another tensor is copied first.
        if (wasm.refCount(p.dataId) !== 1) { const own = tf.tensor(p.dataSync(), p.shape); p.assign(own); own.dispose(); }
        const P = heapF32(wasm, p), M = heapF32(wasm, m), V = heapF32(wasm, v), G = heapF32(wasm, g);
        const keep = 1 - this.lr * decay, eps = this.eps;
        for (let i = 0; i < P.length; i++) {
          const gi = G[i] * gradScale;
          const mi = (M[i] = b1 * M[i] + (1 - b1) * gi);
          const vi = (V[i] = b2 * V[i] + (1 - b2) * gi * gi);
          P[i] = P[i] * keep - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + eps));
        }
        continue;
      }
      // One tidy per parameter: temporaries are freed before the next one.
      const [mNew, vNew] = tf.tidy(() => {
        const gs = gradScale === 1 ? g : tf.mul(g, gradScale);
        const mNew = tf.add(tf.mul(m!, b1), tf.mul(gs, 1 - b1));
        const vNew = tf.add(tf.mul(v!, b2), tf.mul(tf.square(gs), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), this.eps);
        let pNew = decay ? tf.mul(p, 1 - this.lr * decay) : p;
        pNew = tf.sub(pNew, tf.mul(tf.div(mNew, denom), stepSize));
        p.assign(pNew);
        return [mNew, vNew];
      });
      m.dispose(); v.dispose();
      this.m.set(name, mNew); this.v.set(name, vNew);
    }
  }

  /**
   * Allocates the moments of `params` that have none yet. Called before the first forward pass, the
   * long-lived buffers sit together at the start of the heap instead of between freed activations.
   */
  init(params: Map<string, tf.Variable>): void {
    for (const [name, p] of params) {
      if (this.m.has(name)) continue;
      this.m.set(name, tf.zerosLike(p)); this.v.set(name, tf.zerosLike(p));
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
    this.m.clear(); this.v.clear();
  }
}

/** get_linear_schedule_with_warmup: the factor for the learning rate after `step` scheduler steps. */
export function linearSchedule(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** The global L2 norm of all gradients, as clip_grad_norm_ computes it (before clipping). */
export function gradNorm(grads: Map<string, tf.Tensor>): number {
  const wasm = wasmBackend();
  if (wasm && [...grads.values()].every((g) => g.dtype === 'float32')) {
    // Summed straight off the heap: the tensor route squared every gradient into a temporary.
    let sum = 0;
    for (const g of grads.values()) { const G = heapF32(wasm, g); for (let i = 0; i < G.length; i++) sum += G[i] * G[i]; }
    return Math.sqrt(sum);
  }
  return tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
}

/** clip_grad_norm_'s factor for the gradients: maxNorm / (norm + 1e-6), at most 1. */
export function clipCoef(norm: number, maxNorm: number): number {
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/**
 * clip_grad_norm_: scales all gradients so their global L2 norm is at most maxNorm.
 * Returns the norm before clipping and the (possibly new) gradients; replaced ones are disposed.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { norm: number; grads: Map<string, tf.Tensor> } {
  const norm = gradNorm(grads);
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return { norm, grads };
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) { out.set(k, tf.mul(g, coef)); g.dispose(); }
  return { norm, grads: out };
}
