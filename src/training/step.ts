// One optimizer step, the same for fine-tuning (train.ts) and pre-training (pretrain.ts): the loss
// and gradients of one or more micro-batches (averaged: gradient accumulation), the gradients clipped
// by their global norm, AdamW applied. As in PyTorch's loop: loss.backward() per micro-batch,
// clip_grad_norm_, optimizer.step().
import * as tf from '@tensorflow/tfjs';
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
 * One optimizer step. Every tensor it makes is disposed, so tf.memory().numTensors is the same
 * before and after; the learning rate is the caller's (`opt.lr`, set by its schedule).
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
  opt.init(model.p.vars);
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
    const norm = opts.clip > 0 ? gradNorm(summed) : NaN;
    opt.apply(model.p.vars, summed, opts.clip > 0 ? clipCoef(norm, opts.clip) : 1);
    return { loss, gradNorm: norm };
  } finally {
    tf.dispose([...summed.values()]);
  }
}
