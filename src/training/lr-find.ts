// The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks";
// fastai's lr_find): a short run whose learning rate grows exponentially at every step, from far too
// small to far too large, with the loss recorded at each. The loss first stays flat (too small to
// move anything), then falls, then explodes; the steepest part of the fall is a good learning rate.
// The model's weights are put back afterwards, so the test costs a minute and changes nothing.
import * as tf from '@tensorflow/tfjs-core';
import type { BertForSequenceClassification } from '../model/bert.js';
import { AdamW } from '../nn/optim.js';
import { batches } from '../data/data.js';
import { trainStep, type LabelledBatchData } from './train.js';

export interface LrFindOptions {
  /** The first step's learning rate. Default 1e-7 (fastai's). */
  startLr?: number;
  /** The last step's learning rate. Default 1 (BERT fine-tuning diverges well before). */
  endLr?: number;
  /** Steps from startLr to endLr (fewer when the loss diverges first). Default 100 (fastai's). */
  steps?: number;
  batchSize?: number;
  /** Clip the gradients' global norm to this (the lab's 1.0); 0 turns clipping off. */
  clip?: number;
  /** Seed of the batch order and dropout. Default 42. */
  seed?: number;
  /** Exponential smoothing of the loss for the divergence stop (fastai: 0.98; here 0.9, quicker to see a blow-up). */
  beta?: number;
  /** Stop once the exponentially smoothed loss exceeds this many times its lowest value (fastai: 4). */
  divergeFactor?: number;
  /**
   * Steps in the centered moving average the curve and the suggestion are read from (default a tenth
   * of `steps`, odd). An exponential mean lags: with 0.98 over 100 steps its low point comes
   * decades of learning rate after the raw loss's, which would suggest a rate far too high.
   */
  window?: number;
  /** Asked once per step: true stops the test there, restores the weights and throws `LrFindStopped`. */
  shouldStop?: () => boolean;
  /** After every step. */
  onStep?: (p: LrFindPoint, total: number) => void;
}

export interface LrFindPoint {
  step: number;
  lr: number;
  loss: number;
  /** The centered moving average of the losses around this step (`window` steps). */
  smoothed: number;
}

export interface LrFindResult {
  points: LrFindPoint[];
  /**
   * The learning rate where the smoothed loss falls fastest against log(lr) (fastai's "steep"):
   * the suggestion.
   */
  steepest: number;
  /** The learning rate of the lowest smoothed loss; a tenth of it is fastai's other rule of thumb. */
  minimum: number;
  /** Set when the test ended before `steps` because the loss diverged (the usual end). */
  stopped?: 'diverged';
}

/** The range test stopped on request (`shouldStop`) after `step` of `steps`; the weights were restored. */
export class LrFindStopped extends Error {
  constructor(
    readonly step: number,
    readonly steps: number,
  ) {
    super(`the range test stopped on request after step ${step} of ${steps}; the model's weights are as before it`);
    this.name = 'LrFindStopped';
  }
}

export const LR_FIND_DEFAULTS = {
  startLr: 1e-7,
  endLr: 1,
  steps: 100,
  batchSize: 32,
  clip: 1.0,
  seed: 42,
  beta: 0.9,
  divergeFactor: 4,
} as const;

/**
 * The learning rate at which a smoothed loss curve falls fastest against log(lr): the minimum of its
 * slope, central differences inside, one-sided at the ends (numpy.gradient), taken only over the
 * points before the lowest loss (after it the curve rises) and after the first tenth (where the
 * smoothing has not settled yet).
 *
 * Example: `steepestLr([{ lr: 1e-5, smoothed: 0.7 }, ...])`
 */
export function steepestLr(points: readonly Pick<LrFindPoint, 'lr' | 'smoothed'>[]): number {
  if (points.length === 0) throw new Error('steepestLr: no points');
  if (points.length < 3) return points[0].lr;
  const x = points.map((p) => Math.log(p.lr));
  const y = points.map((p) => p.smoothed);
  const n = points.length;
  const slope = (i: number) =>
    i === 0
      ? (y[1] - y[0]) / (x[1] - x[0])
      : i === n - 1
        ? (y[i] - y[i - 1]) / (x[i] - x[i - 1])
        : (y[i + 1] - y[i - 1]) / (x[i + 1] - x[i - 1]);
  let lowest = 0;
  for (let i = 1; i < n; i++) if (y[i] < y[lowest]) lowest = i;
  const from = Math.min(Math.floor(n / 10), Math.max(0, lowest - 1));
  let best = from;
  for (let i = from; i <= Math.max(from, lowest); i++) if (slope(i) < slope(best)) best = i;
  return points[best].lr;
}

/** The centered moving average of `xs` over `window` points (fewer at the ends). */
function centeredMean(xs: readonly number[], window: number): number[] {
  const h = Math.max(0, Math.floor(window / 2));
  return xs.map((_, i) => {
    const a = Math.max(0, i - h),
      b = Math.min(xs.length, i + h + 1);
    let sum = 0;
    for (let j = a; j < b; j++) sum += xs[j];
    return sum / (b - a);
  });
}

/**
 * Runs the range test on `model` with `data` and restores the model's weights (and dropout counter)
 * afterwards, whatever happens. Each step draws a batch (a new random order each pass), sets
 * lr = startLr * (endLr / startLr)^(step / (steps - 1)), and makes one AdamW step (no weight decay,
 * gradients clipped as in training). It stops when the smoothed loss passes `divergeFactor` times its
 * lowest value or is not finite.
 *
 * Example:
 *   const r = await lrFind(model, prep.train, { batchSize: 32 });
 *   console.log(`suggested lr ${r.steepest.toExponential(1)}`);
 */
export async function lrFind(
  model: BertForSequenceClassification,
  data: LabelledBatchData,
  opts: LrFindOptions = {},
): Promise<LrFindResult> {
  const o = { ...LR_FIND_DEFAULTS, ...opts };
  if (!(o.startLr > 0) || !(o.endLr > o.startLr))
    throw new Error(`lrFind: need 0 < startLr < endLr, got startLr ${o.startLr}, endLr ${o.endLr}`);
  if (!Number.isInteger(o.steps) || o.steps < 5)
    throw new Error(`lrFind: steps must be an integer >= 5, got ${o.steps}`);
  if (!(o.beta >= 0 && o.beta < 1)) throw new Error(`lrFind: beta must be in [0, 1), got ${o.beta}`);
  const n = data.labels.length;
  if (n === 0) throw new Error('lrFind: no training rows');
  const batchSize = Math.min(o.batchSize, n);
  // Snapshot: copies of every weight, put back in `finally`.
  const saved = new Map([...model.p.vars].map(([k, v]) => [k, tf.clone(v)]));
  const dropout = model.dropoutCounter;
  const opt = new AdamW({ lr: o.startLr, weightDecay: 0 });
  const points: LrFindPoint[] = [];
  let stopped: LrFindResult['stopped'];
  try {
    model.seedDropout(o.seed);
    let pass = 0;
    let order: number[][] = [];
    let avg = 0;
    let lowest = Infinity;
    for (let step = 0; step < o.steps; step++) {
      if (o.shouldStop?.()) throw new LrFindStopped(step, o.steps);
      if (order.length === 0) order = batches(n, batchSize, { shuffle: true, seed: o.seed, epoch: ++pass });
      const idx = order.shift()!;
      opt.lr = o.startLr * (o.endLr / o.startLr) ** (step / (o.steps - 1));
      const { loss } = trainStep(model, opt, data, idx, o.clip);
      avg = o.beta * avg + (1 - o.beta) * loss;
      const smoothed = avg / (1 - o.beta ** (step + 1)); // for the stop only (see `window`)
      const p = { step: step + 1, lr: opt.lr, loss, smoothed };
      points.push(p);
      o.onStep?.(p, o.steps);
      // Yield every step: a notebook can repaint, and an interrupt can reach shouldStop.
      await new Promise((r) => setImmediate(r));
      if (!Number.isFinite(smoothed) || smoothed > o.divergeFactor * lowest) {
        stopped = 'diverged';
        break;
      }
      lowest = Math.min(lowest, smoothed);
    }
  } finally {
    opt.dispose();
    for (const [k, v] of model.p.vars) {
      const s = saved.get(k)!;
      v.assign(s);
      s.dispose();
    }
    model.dropoutCounter = dropout;
  }
  if (points.length === 0) return { points, steepest: NaN, minimum: NaN, stopped };
  // The curve and the suggestion: the finite losses, averaged around each step (no lag).
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const window = o.window ?? Math.max(3, 2 * Math.floor(o.steps / 20) + 1);
  const centered = centeredMean(
    finite.map((p) => p.loss),
    window,
  );
  finite.forEach((p, i) => (p.smoothed = centered[i]!));
  for (const p of points) if (!Number.isFinite(p.loss)) p.smoothed = NaN;
  let min = finite[0];
  for (const p of finite) if (p.smoothed < min.smoothed) min = p;
  return { points, steepest: steepestLr(finite), minimum: min.lr, stopped };
}
