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

export interface OptimizerState { step: number; m: Map<string, Float32Array>; v: Map<string, Float32Array> }

/** Decoupled weight decay Adam, exactly torch.optim.AdamW's update (amsgrad off). */
export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  step = 0;
  private m = new Map<string, tf.Variable>();
  private v = new Map<string, tf.Variable>();

  constructor(readonly opts: AdamWOptions) {
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
  }

  /** Applies one update to `params` from `grads` (same names). Disposes nothing it did not create. */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): void {
    this.step++;
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const stepSize = this.lr / bc1;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) continue;
      // One tidy per parameter: temporaries are freed before the next one (the word embeddings'
      // alone are tens of MB each).
      tf.tidy(() => {
        let m = this.m.get(name), v = this.v.get(name);
        if (!m || !v) {
          m = tf.variable(tf.zerosLike(p), false); v = tf.variable(tf.zerosLike(p), false);
          this.m.set(name, m); this.v.set(name, v);
        }
        const decay = this.opts.noDecay?.(name) ? 0 : this.weightDecay;
        const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), this.eps);
        let pNew = decay ? tf.mul(p, 1 - this.lr * decay) : p;
        pNew = tf.sub(pNew, tf.mul(tf.div(mNew, denom), stepSize));
        m.assign(mNew); v.assign(vNew); p.assign(pNew);
      });
    }
  }

  /** Moments as plain arrays, for checkpoints that can resume training. */
  state(): OptimizerState {
    const read = (mm: Map<string, tf.Variable>) => new Map([...mm].map(([k, t]) => [k, t.dataSync() as Float32Array]));
    return { step: this.step, m: read(this.m), v: read(this.v) };
  }
  loadState(s: OptimizerState, params: Map<string, tf.Variable>): void {
    this.dispose();
    this.step = s.step;
    for (const [k, data] of s.m) {
      const p = params.get(k);
      if (!p) continue;
      this.m.set(k, tf.variable(tf.tensor(data, p.shape), false));
      this.v.set(k, tf.variable(tf.tensor(s.v.get(k)!, p.shape), false));
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

/**
 * clip_grad_norm_: scales all gradients so their global L2 norm is at most maxNorm.
 * Returns the norm before clipping and the (possibly new) gradients; replaced ones are disposed.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { norm: number; grads: Map<string, tf.Tensor> } {
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]);
  const coef = maxNorm / (norm + 1e-6);
  if (!(coef < 1)) return { norm, grads };
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) { out.set(k, tf.mul(g, coef)); g.dispose(); }
  return { norm, grads: out };
}
