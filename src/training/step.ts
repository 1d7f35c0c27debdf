// One optimizer step, the same for fine-tuning (train.ts) and pre-training (pretrain.ts): the loss
// and gradients of one or more micro-batches (averaged: gradient accumulation), the gradients clipped
// by their global norm, AdamW applied. As in PyTorch's loop: loss.backward() per micro-batch,
// clip_grad_norm_, optimizer.step(). The three parts are also separate calls (`backward`,
// `clipGradNorm`, `applyGradients`), so a loop written out in a notebook can reorder or change them
// and still compute what `optimizerStep` computes.
import * as tf from '@tensorflow/tfjs-core';
import type { PreTrainedModel } from '../model/pretrained.js';
import { variableGrads } from '../nn/tape.js';
import { clipCoef, gradNorm, type AdamW } from '../nn/optim.js';

export interface StepOptions {
  /** Clip the gradients' global L2 norm to this; 0 turns clipping off (and gradNorm is then NaN). */
  clip: number;
  /** Micro-batches per step (default 1): their gradients are averaged, so the step sees all of them. */
  accumulate?: number;
}

export interface StepResult {
  /** The loss averaged over the micro-batches. */
  loss: number;
  /** The gradients' global norm before clipping (NaN when clipping is off). */
  gradNorm: number;
}

/**
 * The gradients of one step, as PyTorch keeps them in each parameter's `.grad`: by parameter name,
 * with the factor clipping chose (1 until `clipGradNorm` runs). Free them with `dispose()`;
 * `applyGradients` does it for you.
 */
export class Gradients {
  /** The factor the update multiplies every gradient by (clip_grad_norm_'s scaling, applied lazily). */
  scale = 1;
  constructor(
    /** The loss the gradients are of (averaged over the micro-batches). */
    readonly loss: number,
    /** Parameter name -> gradient; a parameter the loss does not reach has none. */
    readonly grads: Map<string, tf.Tensor>,
  ) {}
  dispose(): void {
    tf.dispose([...this.grads.values()]);
    this.grads.clear();
  }
}

/**
 * loss.backward(): runs `lossOf` (the forward pass and loss of micro-batch k) under the gradient tape
 * and returns the loss with the gradient of every parameter it reaches. With `accumulate` > 1 the
 * micro-batches' gradients are averaged.
 *
 * Args:
 *   model: the model whose parameters get gradients.
 *   lossOf: the loss of micro-batch `k` (0 .. accumulate-1) as a scalar, e.g. `() => model.loss(inputs, labels, true)`.
 *   accumulate: micro-batches (default 1).
 *
 * Example:
 *   const g = backward(model, () => model.loss(inputs, labels, true));
 *   console.log(g.loss, g.grads.get('classifier.weight')!.shape);
 */
export function backward(model: PreTrainedModel, lossOf: (k: number) => tf.Scalar, accumulate = 1): Gradients {
  if (!Number.isInteger(accumulate) || accumulate < 1)
    throw new Error(`backward: accumulate must be a positive integer, got ${accumulate}`);
  const vars = model.trainableVariables();
  // Gradients by parameter name; with accumulation each micro-batch adds 1/accumulate of its own.
  let summed = new Map<string, tf.Tensor>();
  let loss = 0;
  try {
    for (let k = 0; k < accumulate; k++) {
      const { value, grads } = variableGrads(() => lossOf(k), vars);
      loss += value.dataSync()[0] / accumulate;
      value.dispose();
      const next = new Map<string, tf.Tensor>();
      for (const [name, v] of model.p.vars) {
        // A parameter the loss does not reach (the NSP head under an MLM-only loss) has no gradient
        // and is left alone, as PyTorch leaves a parameter whose .grad is None.
        const g = grads[v.name];
        if (!g) continue;
        const scaled = accumulate === 1 ? g : tf.tidy(() => tf.mul(g, 1 / accumulate));
        if (scaled !== g) g.dispose();
        const prev = summed.get(name);
        next.set(name, prev ? tf.tidy(() => tf.add(prev, scaled)) : scaled);
        if (prev) {
          prev.dispose();
          scaled.dispose();
        }
      }
      summed = next;
    }
    return new Gradients(loss, summed);
  } catch (e) {
    tf.dispose([...summed.values()]);
    throw e;
  }
}

/**
 * clip_grad_norm_(parameters, maxNorm): the gradients' global L2 norm before clipping; when it is
 * above `maxNorm` the gradients are scaled to that norm (the factor is kept in `g.scale` and applied
 * by the update, which is what the scaled gradients would give). `maxNorm` 0 turns clipping off.
 *
 * Example: `const norm = clipGradNorm(g, 1.0);`
 */
export function clipGradNorm(g: Gradients, maxNorm: number): number {
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be 0 (off) or positive, got ${maxNorm}`);
  if (maxNorm === 0) return NaN;
  const norm = gradNorm(g.grads);
  g.scale *= clipCoef(norm, maxNorm);
  return norm;
}

/**
 * optimizer.step() then optimizer.zero_grad(): AdamW updates `model`'s parameters from `g` at the
 * optimizer's current `lr`, and the gradients are freed.
 *
 * Example: `opt.lr = 2e-5 * linearSchedule(opt.step, 0, total); applyGradients(model, opt, g);`
 */
export function applyGradients(model: PreTrainedModel, opt: AdamW, g: Gradients): void {
  try {
    opt.apply(model.p.vars, g.grads, g.scale);
  } finally {
    g.dispose();
  }
}

/**
 * One optimizer step: `backward`, `clipGradNorm`, `applyGradients`. Every tensor it makes is
 * disposed, so tf.memory().numTensors is the same before and after; the learning rate is the
 * caller's (`opt.lr`, set by its schedule).
 *
 * Args:
 *   model: the model whose parameters are updated.
 *   opt: the optimizer.
 *   lossOf: the loss of micro-batch `k` (0 .. accumulate-1) as a scalar; it runs inside the forward
 *     pass, so input tensors it makes there are freed with the rest of the pass.
 *   opts: `clip` and `accumulate`.
 *
 * Example:
 *   opt.lr = cfg.lr * linearSchedule(opt.step, warmup, total);
 *   const { loss } = optimizerStep(model, opt, () => model.loss(batchTensors(data, idx), labels, true), { clip: 1 });
 */
export function optimizerStep(
  model: PreTrainedModel,
  opt: AdamW,
  lossOf: (k: number) => tf.Scalar,
  opts: StepOptions,
): StepResult {
  const accumulate = opts.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1)
    throw new Error(`optimizerStep: accumulate must be a positive integer, got ${accumulate}`);
  // Moments first: the long-lived buffers sit together at the start of the heap.
  opt.init(model.p.vars);
  const g = backward(model, lossOf, accumulate);
  try {
    const norm = clipGradNorm(g, opts.clip > 0 ? opts.clip : 0);
    applyGradients(model, opt, g);
    return { loss: g.loss, gradNorm: norm };
  } finally {
    g.dispose();
  }
}
