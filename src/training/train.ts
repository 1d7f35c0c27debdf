// The fine-tuning loop: the lab's recipe (AdamW, linear schedule, clipping, best epoch kept) as
// plain functions over a model and encoded arrays.
import * as tf from '@tensorflow/tfjs-core';
import { problemType, type BertForSequenceClassification } from '../model/bert.js';
import type { BertInputs } from '../model/inputs.js';
import { AdamW, linearSchedule, type OptimizerState } from '../nn/optim.js';
import { optimizerStep } from './step.js';
import { batches, batchWidth, lengthSortedBatches, unpaddedLength, type Padding } from '../data/data.js';
import { checkMemory } from '../backend/wasm.js';
import { estimateTrainingBytesForShape } from '../backend/memory.js';
import { report } from '../io/log.js';
import type { LabelledBatchData } from '../data/prepare.js';
import { f1Score } from './metrics.js';

export type { LabelledBatchData };

export interface TrainConfig {
  epochs: number;
  lr: number;
  eps: number;
  weightDecay: number;
  batchSize: number;
  clip: number;
  warmupSteps: number;
  seed: number;
  /**
   * Micro-batches of `batchSize` rows whose gradients are averaged into one optimizer step (Hugging
   * Face's gradient_accumulation_steps; default 1): the step sees batchSize x accumulate rows at the
   * memory cost of one micro-batch. An epoch's last step averages the micro-batches left.
   */
  accumulate?: number;
  /** The validation metric that chooses the best epoch (metric_for_best_model; default accuracy). */
  metricForBestModel?: Metric;
  /**
   * Early stopping: stop after `patience` epochs in a row without a better validation `metric`
   * (higher accuracy or F1, lower loss). Off when absent or 0.
   */
  earlyStopping?: { patience: number; metric: Metric };
  /** Batch width for training and validation: the encoded width ('max_length', the default) or each batch's longest row. */
  padding?: Padding;
  /** Training batches of rows of similar length (Hugging Face's group_by_length); pays off with padding 'longest'. */
  groupByLength?: boolean;
}

/** A validation metric: accuracy, F1 (`f1Score`: the positive class's, or macro) or the loss. */
export type Metric = 'accuracy' | 'f1' | 'loss';
export const METRICS: readonly Metric[] = ['accuracy', 'f1', 'loss'];

type Scored = Pick<EpochStats, 'valAccuracy' | 'valLoss' | 'valF1'>;

/** `s`'s validation value of `metric` (NaN for an F1 an older record does not hold). */
export function metricValue(s: Scored, metric: Metric): number {
  return metric === 'loss' ? s.valLoss : metric === 'f1' ? (s.valF1 ?? NaN) : s.valAccuracy;
}

/** `s`'s value of `metric` as a score to maximise (the loss negated). */
export function metricScore(s: Scored, metric: Metric): number {
  return metric === 'loss' ? -s.valLoss : metricValue(s, metric);
}

/** The lab's defaults: every row padded to the data set's max length, batches in random order. */
export const LAB_TRAIN_CONFIG: TrainConfig = {
  epochs: 4,
  lr: 2e-5,
  eps: 1e-8,
  weightDecay: 0,
  batchSize: 32,
  clip: 1.0,
  warmupSteps: 0,
  seed: 42,
  padding: 'max_length',
  groupByLength: false,
};

export interface EpochStats {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  valAccuracy: number;
  /** Validation F1 (`f1Score`); absent in the records of older runs. */
  valF1?: number;
  trainSeconds: number;
  valSeconds: number;
}

export interface StepInfo {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  elapsed: number;
}

export interface TrainHooks {
  /** Lines like the lab prints them. */
  log?: (line: string) => void;
  /** After every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /**
   * After each epoch whose validation metric (`metricForBestModel`) beats every earlier epoch (and
   * `bestToBeat`); save the model here. `ev` is that epoch's validation, for a report beside the model.
   */
  onBest?: (stats: EpochStats, ev: Evaluation) => Promise<void> | void;
  /** The score an epoch has to beat to count as the best (`metricScore` of an existing best model). */
  bestToBeat?: number;
  onEpoch?: (stats: EpochStats) => Promise<void> | void;
  /** After every epoch (and its onBest): what `fineTune(..., resume)` needs to continue from there. */
  onCheckpoint?: (state: FineTuneState) => Promise<void> | void;
  /**
   * Asked after every optimizer step: true stops the run there (a notebook's interrupt, Ctrl-C) with
   * a `TrainingStopped` error; the epochs finished before it keep what their hooks saved.
   */
  shouldStop?: () => boolean;
}

/** A run stopped on request (`TrainHooks.shouldStop`) at `epoch`, after `step` of `steps` steps. */
export class TrainingStopped extends Error {
  constructor(
    readonly epoch: number,
    readonly step: number,
    readonly steps: number,
    readonly epochsDone: number,
  ) {
    super(
      `training stopped at epoch ${epoch}, step ${step} of ${steps}, on request; ` +
        (epochsDone ? `the ${epochsDone} whole epoch(s) before it are kept` : 'no whole epoch was finished'),
    );
    this.name = 'TrainingStopped';
  }
}

/** A fine-tuning run after `epoch` epochs: with the model's weights, enough to continue bit for bit. */
export interface FineTuneState {
  epoch: number;
  optimizer: OptimizerState;
  /** The model's dropout counter (see BertTask.dropoutCounter). */
  dropout: number;
  stats: EpochStats[];
  /** The best epoch's `metricScore` so far. */
  best: number;
  /** Early stopping: the best monitored value (null before any) and the epochs since it. */
  bestMonitored: number | null;
  sinceBetter: number;
}

/** hh:mm:ss, as the lab's format_time prints elapsed seconds. */
export function formatTime(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * Optimizer steps per epoch over `rows` rows: batches of `batchSize`, `accumulate` of them per step
 * (Hugging Face's num_update_steps_per_epoch).
 */
export function optimizerSteps(rows: number, cfg: Pick<TrainConfig, 'batchSize' | 'accumulate'>): number {
  return Math.ceil(Math.ceil(rows / cfg.batchSize) / (cfg.accumulate ?? 1));
}

/**
 * The rows `idx` of `data` as int32 tensors [batch, width]: the encoded width with 'max_length',
 * the batch's longest row with 'longest' (the cut-off columns are padding in every row).
 *
 * Example: const inputs = batchTensors(enc, [0, 1, 2], 'longest');
 */
export function batchTensors(
  data: Omit<LabelledBatchData, 'labels'>,
  idx: number[],
  padding: Padding = 'max_length',
): BertInputs {
  const width = batchWidth(data.attentionMask, idx, padding);
  const pick = (m: number[][]) =>
    tf.tensor2d(
      idx.map((i) => (m[i].length === width ? m[i] : m[i].slice(0, width))),
      [idx.length, width],
      'int32',
    );
  return {
    inputIds: pick(data.inputIds),
    attentionMask: pick(data.attentionMask),
    tokenTypeIds: pick(data.tokenTypeIds),
  };
}

/**
 * The forward pass and loss of rows `idx` (PyTorch's `outputs = model(**batch); loss = outputs.loss`):
 * a scalar, the mean cross-entropy over the batch. Call it inside `backward` (step.ts) for gradients.
 *
 * Example: `const g = backward(model, () => batchLoss(model, prep.train, [0, 1, 2, 3]));`
 */
export function batchLoss(
  model: BertForSequenceClassification,
  data: LabelledBatchData,
  idx: number[],
  dropout = true,
  padding: Padding = 'max_length',
): tf.Scalar {
  const labels = tf.tensor1d(
    idx.map((i) => data.labels[i]),
    'int32',
  );
  return model.loss(batchTensors(data, idx, padding), labels, dropout);
}

/**
 * One optimizer step on one batch: forward, backward, clip, AdamW (see step.ts). Every tensor it
 * makes is disposed, so tf.memory().numTensors is the same before and after.
 *
 * Example: `const { loss, gradNorm } = trainStep(model, opt, prep.train, [0, 1, 2, 3], 1.0)`
 */
export function trainStep(
  model: BertForSequenceClassification,
  opt: AdamW,
  data: LabelledBatchData,
  idx: number[],
  clip: number,
  dropout = true,
  padding: Padding = 'max_length',
): { loss: number; gradNorm: number } {
  return optimizerStep(model, opt, () => batchLoss(model, data, idx, dropout, padding), { clip });
}

/**
 * Training has diverged when the mean loss of the last DIVERGENCE_WINDOW steps exceeds this many times
 * an untrained classifier's loss, ln(classes): such a model predicts worse than guessing.
 */
const DIVERGENCE_FACTOR = 3;
const DIVERGENCE_WINDOW = 10;

/**
 * Watches the training loss, judged on the mean of a window of steps (or a whole short epoch) so one
 * hard batch is not taken for divergence. Training has diverged when that mean is far above an
 * untrained model's loss ln(classes) (DIVERGENCE_FACTOR times), or when it rose sharply: the model had
 * learned (its lowest mean below half of ln(classes)) and now does worse than guessing (above
 * ln(classes)), which a too-high learning rate does once warm-up ends, long before the loss explodes.
 *
 * Example: `const watch = new DivergenceWatch(2); const why = watch.push(loss, steps); if (why) throw new Error(why)`
 */
export class DivergenceWatch {
  private recent: number[] = [];
  private lowest = Infinity;
  readonly guess: number;
  readonly limit: number;
  constructor(readonly numClasses: number) {
    this.guess = Math.log(Math.max(2, numClasses));
    this.limit = DIVERGENCE_FACTOR * this.guess;
  }
  /**
   * Adds one step's loss; returns why training has diverged, or undefined.
   *
   * Args:
   *   loss: the step's mean loss.
   *   epochSteps: steps in this epoch; an epoch shorter than the window is judged whole at its end.
   *   stepInEpoch: 1-based step within the epoch.
   */
  push(loss: number, epochSteps: number, stepInEpoch: number): string | undefined {
    this.recent.push(loss);
    if (this.recent.length > DIVERGENCE_WINDOW) this.recent.shift();
    const whole = stepInEpoch === epochSteps && this.recent.length === epochSteps;
    if (this.recent.length < DIVERGENCE_WINDOW && !whole) return undefined;
    const n = this.recent.length;
    const mean = this.recent.reduce((a, b) => a + b, 0) / n;
    const ln = `ln(${Math.max(2, this.numClasses)}) = ${this.guess.toFixed(2)}`;
    if (mean > this.limit)
      return `the mean loss of the last ${n} steps is ${mean.toPrecision(5)}, above ${DIVERGENCE_FACTOR} x ${ln} = ${this.limit.toFixed(2)} (an untrained model's loss)`;
    if (this.lowest < this.guess / 2 && mean > this.guess)
      return `the mean loss of the last ${n} steps rose from ${this.lowest.toPrecision(4)} to ${mean.toPrecision(5)}, above an untrained model's ${ln}: the model has unlearned what it learned`;
    this.lowest = Math.min(this.lowest, mean);
    return undefined;
  }
}

/** Names of parameters holding NaN or ±Inf (empty when all are finite). */
function nonFiniteParameters(model: BertForSequenceClassification): string[] {
  return [...model.p.vars]
    .filter(([, v]) => tf.tidy(() => tf.logicalNot(tf.all(tf.isFinite(v))).dataSync()[0] === 1))
    .map(([k]) => k);
}

/** The settings that most often make a loss explode, named with their values. */
function divergenceCauses(cfg: TrainConfig): string {
  const causes: string[] = [];
  if (cfg.eps === 0) causes.push('--eps 0 (AdamW divides by sqrt(v) + eps, infinite where a gradient is 0; use 1e-8)');
  if (cfg.weightDecay > 1) causes.push(`--weight-decay ${cfg.weightDecay} (usually 0 to 0.1)`);
  if (!causes.length)
    causes.push(`--lr ${cfg.lr} too high (fine-tuning uses 1e-5 to 5e-5; small models from scratch about 5e-4)`);
  return causes.join('; or ');
}

/**
 * A model's outputs hold NaN or ±Inf: its weights have diverged (or are corrupt), and whatever it
 * predicts means nothing. Thrown by `evaluate` and `predict` instead of a result built on them.
 */
export class NonFiniteOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteOutputError';
  }
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  predictions: number[];
  probabilities: number[][];
}

/**
 * Mean loss and exact accuracy over `data` with dropout off. With padding 'longest' the rows are
 * batched longest first and each batch is cut to its longest row; results come back in input order.
 * Throws `NonFiniteOutputError` when any logit or the loss is NaN or ±Inf: argmax over NaN picks
 * class 0, so such a model would otherwise score the majority rate and pass for a trained one.
 *
 * Example: `const { accuracy, predictions } = evaluate(model, prep.val, 32);`
 */
export function evaluate(
  model: BertForSequenceClassification,
  data: LabelledBatchData,
  batchSize: number,
  padding: Padding = 'max_length',
): Evaluation {
  const { probabilities, lossSum } = run(model, data, batchSize, padding, data.labels);
  const loss = lossSum / data.labels.length;
  if (!Number.isFinite(loss))
    throw new NonFiniteOutputError(
      `the mean loss over ${data.labels.length} rows is ${loss} though every logit is finite: the logits are so large ` +
        'that their softmax overflows; the weights have diverged',
    );
  const predictions = probabilities.map(argmax);
  const correct = predictions.reduce((n, p, i) => n + (p === data.labels[i] ? 1 : 0), 0);
  return { loss, accuracy: correct / data.labels.length, predictions, probabilities };
}

/**
 * Class probabilities and predicted ids for unlabelled data, in input order (padding as in evaluate);
 * throws `NonFiniteOutputError` when any logit is NaN or ±Inf.
 */
export function predict(
  model: BertForSequenceClassification,
  data: Omit<LabelledBatchData, 'labels'>,
  batchSize: number,
  padding: Padding = 'max_length',
): { predictions: number[]; probabilities: number[][] } {
  const { probabilities } = run(model, data, batchSize, padding);
  return { predictions: probabilities.map(argmax), probabilities };
}

function run(
  model: BertForSequenceClassification,
  data: Omit<LabelledBatchData, 'labels'>,
  batchSize: number,
  padding: Padding,
  labels?: number[],
) {
  const n = data.inputIds.length;
  const probabilities: number[][] = new Array<number[]>(n);
  let lossSum = 0;
  // Sorting by length only pays when each batch is cut to its own longest row.
  const order =
    padding === 'longest'
      ? lengthSortedBatches(data.attentionMask.map(unpaddedLength), batchSize)
      : batches(n, batchSize, { shuffle: false });
  let nonFinite = 0,
    firstNonFinite = -1;
  for (const idx of order) {
    tf.tidy(() => {
      const logits = model.forward(batchTensors(data, idx, padding)).logits;
      const finite = tf.all(tf.isFinite(logits), 1).dataSync();
      finite.forEach((ok, k) => {
        if (ok) return;
        nonFinite++;
        if (firstNonFinite < 0 || idx[k] < firstNonFinite) firstNonFinite = idx[k];
      });
      const probs = tf.softmax(logits).arraySync();
      idx.forEach((i, k) => {
        probabilities[i] = probs[k];
      });
      if (labels) {
        // Sum of per-example losses, so the mean is exact over uneven batches.
        const y = tf.oneHot(
          tf.tensor1d(
            idx.map((i) => labels[i]),
            'int32',
          ),
          logits.shape[1],
        );
        lossSum += tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), y))).dataSync()[0];
      }
    });
  }
  if (nonFinite)
    throw new NonFiniteOutputError(
      `the model's logits hold NaN or Inf for ${nonFinite} of ${n} rows (the first is row ${firstNonFinite}): ` +
        'its weights have diverged or are corrupt, so its predictions mean nothing',
    );
  return { probabilities, lossSum };
}

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/**
 * Bytes a training step of `model` needs: `estimateTrainingBytesForShape` (backend/memory.ts, the
 * formula and its measurements) of the model's shape. Wasm heap measured vs this estimate at batch
 * 32 x 64, MiB: tiny 145 / 124, mini 412 / 366, small 830 / 831, base 2988 / 3243.
 */
export function estimateTrainingBytes(model: BertForSequenceClassification, batchSize: number, seqLen: number): number {
  return estimateTrainingBytesForShape({ ...model.config, num_labels: model.numLabels }, batchSize, seqLen);
}

/** Stops at once, with what to change, when training `model` at this batch shape cannot fit the wasm heap. */
export function checkTrainingMemory(
  model: BertForSequenceClassification,
  batchSize: number,
  seqLen: number,
  backend = tf.getBackend(),
): void {
  checkMemory(
    estimateTrainingBytes(model, batchSize, seqLen),
    `training this model (${model.numParameters().toLocaleString('en-US')} parameters) with batch ${batchSize} x ${seqLen} tokens`,
    backend,
  );
}

/**
 * Stops with what to change unless `model` trains on class ids (single_label_classification): the
 * loop's batches, accuracy and best epoch are those of a classifier.
 */
function checkSingleLabel(model: BertForSequenceClassification): void {
  const kind = problemType(model.config);
  if (kind === 'single_label_classification') return;
  const why = model.config.problem_type
    ? `config.json sets problem_type "${kind}"`
    : `a head with ${model.numLabels} label is a ${kind} head in transformers`;
  throw new Error(
    `${why}, but fine-tuning here trains classification on class ids: give the model two or more labels, or ` +
      'set problem_type to "single_label_classification" (the model\'s loss() computes the other losses for a loop of your own)',
  );
}

/**
 * One epoch's validation, refusing a model that diverged where the training-loss watch cannot see it
 * (a step near the epoch's end): NaN/Inf logits or loss, or NaN/Inf weights (which may sit in rows no
 * validation text reaches, e.g. unused embeddings). Such an epoch stops the run before it is recorded,
 * reported as the best or saved.
 */
function validateEpoch(
  model: BertForSequenceClassification,
  val: LabelledBatchData,
  cfg: TrainConfig,
  padding: Padding,
  epoch: number,
): Evaluation {
  const diverged = (what: string) =>
    new Error(
      `training diverged at epoch ${epoch}: ${what}; this epoch is not saved, nor anything after it; ` +
        `likely cause: ${divergenceCauses(cfg)}`,
    );
  let ev: Evaluation;
  try {
    ev = evaluate(model, val, cfg.batchSize, padding);
  } catch (e) {
    if (e instanceof NonFiniteOutputError) throw diverged(`on the validation rows, ${e.message}`);
    throw e;
  }
  const bad = nonFiniteParameters(model);
  if (bad.length)
    throw diverged(
      `the weights hold NaN or Inf after the epoch's last step (${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ', ...' : ''})`,
    );
  return ev;
}

/**
 * Fine-tunes `model` on `train`, validating on `val` after each epoch; prints the lab's lines.
 * The best epoch by validation accuracy (across all epochs) is handed to `hooks.onBest`. A run whose
 * training loss, validation loss, logits or weights become NaN/Inf stops with an error naming the
 * likely cause; that epoch reaches no hook.
 *
 * Args:
 *   model: a single-label classifier.
 *   train, val: encoded rows with class ids (e.g. `prepareData(...).train` / `.val`).
 *   cfg: epochs, lr, batch size, clipping, warm-up, seed, padding, early stopping.
 *   hooks: `log`, `onStep`, `onEpoch`, `onBest` (save the model there).
 *
 * Example: `const stats = await fineTune(model, prep.train, prep.val, LAB_TRAIN_CONFIG, { onBest: () => model.save('best') });`
 */
export async function fineTune(
  model: BertForSequenceClassification,
  train: LabelledBatchData,
  val: LabelledBatchData,
  cfg: TrainConfig,
  hooks: TrainHooks = {},
  resume?: FineTuneState,
): Promise<EpochStats[]> {
  const log = hooks.log ?? report;
  checkSingleLabel(model);
  const accumulate = cfg.accumulate ?? 1;
  if (!Number.isInteger(accumulate) || accumulate < 1)
    throw new Error(`--accumulate must be an integer >= 1, got ${JSON.stringify(cfg.accumulate)}`);
  const metric = cfg.metricForBestModel ?? 'accuracy';
  const stepsPerEpoch = optimizerSteps(train.labels.length, cfg);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  checkTrainingMemory(model, Math.min(cfg.batchSize, train.labels.length), train.inputIds[0]?.length ?? 0);
  const opt = new AdamW({ lr: cfg.lr, eps: cfg.eps, weightDecay: cfg.weightDecay });
  const padding = cfg.padding ?? 'max_length';
  const lengths = cfg.groupByLength ? train.attentionMask.map(unpaddedLength) : undefined;
  model.seedDropout(cfg.seed);
  const bad = nonFiniteParameters(model);
  if (bad.length)
    throw new Error(
      `the model's weights hold NaN or Inf before training (${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ', ...' : ''}): the checkpoint is corrupt; load another one`,
    );
  const watch = new DivergenceWatch(model.numLabels);
  const stats: EpochStats[] = [...(resume?.stats ?? [])];
  let best = Math.max(hooks.bestToBeat ?? -Infinity, resume?.best ?? -Infinity);
  const stop = cfg.earlyStopping && cfg.earlyStopping.patience > 0 ? cfg.earlyStopping : undefined;
  let bestMonitored = resume?.bestMonitored ?? Infinity,
    sinceBetter = resume?.sinceBetter ?? 0;
  if (resume) {
    opt.loadState(resume.optimizer, model.p.vars);
    model.dropoutCounter = resume.dropout;
    log(`Resuming after epoch ${resume.epoch} of ${cfg.epochs} (step ${resume.optimizer.step})`);
  }
  if (accumulate > 1)
    log(
      `Gradient accumulation: ${accumulate} batches of ${cfg.batchSize} per optimizer step (${accumulate * cfg.batchSize} rows)`,
    );
  if (padding !== 'max_length' || cfg.groupByLength) {
    log(
      `Batches: ${padding === 'longest' ? 'each padded to its longest row' : 'padded to the encoded length'}${cfg.groupByLength ? '; training batches grouped by length' : ''}`,
    );
  }
  if (cfg.warmupSteps > totalSteps)
    log(
      `Warning: --warmup ${cfg.warmupSteps} steps is longer than the whole run (${totalSteps} steps): the learning rate never reaches --lr ${cfg.lr}`,
    );
  const t0 = performance.now();
  try {
    for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= cfg.epochs; epoch++) {
      log('');
      log(`======== Epoch ${epoch} / ${cfg.epochs} ========`);
      log('Training...');
      const tStart = performance.now();
      let lossSum = 0;
      const micro = batches(train.labels.length, cfg.batchSize, { shuffle: true, seed: cfg.seed, epoch, lengths });
      // Optimizer steps: `accumulate` micro-batches each (the last one takes what is left).
      const order = Array.from({ length: Math.ceil(micro.length / accumulate) }, (_, k) =>
        micro.slice(k * accumulate, (k + 1) * accumulate),
      );
      for (const [i, group] of order.entries()) {
        opt.lr = cfg.lr * linearSchedule(opt.step, cfg.warmupSteps, totalSteps);
        const lr = opt.lr;
        const { loss, gradNorm } = optimizerStep(model, opt, (k) => batchLoss(model, train, group[k], true, padding), {
          clip: cfg.clip,
          accumulate: group.length,
        });
        if (!Number.isFinite(loss))
          throw new Error(
            `training diverged: loss is ${loss} at epoch ${epoch}, step ${i + 1}; likely cause: ${divergenceCauses(cfg)}`,
          );
        const why = watch.push(loss, order.length, i + 1);
        if (why)
          throw new Error(
            `training diverged at epoch ${epoch}, step ${i + 1}: ${why}; nothing more is saved; likely cause: ${divergenceCauses(cfg)}`,
          );
        lossSum += loss;
        hooks.onStep?.({
          epoch,
          epochs: cfg.epochs,
          step: i + 1,
          steps: order.length,
          loss,
          lr,
          gradNorm,
          elapsed: (performance.now() - t0) / 1000,
        });
        if ((i + 1) % 40 === 0 && i + 1 < order.length) {
          log(
            `  Batch ${String(i + 1).padStart(5)}  of  ${String(order.length).padStart(5)}.    Elapsed: ${formatTime((performance.now() - tStart) / 1000)}.`,
          );
        }
        // Yield so a notebook or terminal can repaint progress between steps (and a signal arrive).
        await new Promise((r) => setImmediate(r));
        if (hooks.shouldStop?.()) throw new TrainingStopped(epoch, i + 1, order.length, epoch - 1);
      }
      const trainSeconds = (performance.now() - tStart) / 1000;
      const trainLoss = lossSum / order.length;
      log('');
      log(`  Average training loss: ${trainLoss.toFixed(2)}`);
      log(`  Training epoch took: ${formatTime(trainSeconds)}`);
      log('');
      log('Running Validation...');
      const vStart = performance.now();
      const ev = validateEpoch(model, val, cfg, padding, epoch);
      const valSeconds = (performance.now() - vStart) / 1000;
      const valF1 = f1Score(val.labels, ev.predictions, model.numLabels);
      log(`  Accuracy: ${ev.accuracy.toFixed(2)}`);
      if (metric === 'f1' || stop?.metric === 'f1') log(`  F1: ${valF1.toFixed(2)}`);
      log(`  Validation Loss: ${ev.loss.toFixed(2)}`);
      log(`  Validation took: ${formatTime(valSeconds)}`);
      const s: EpochStats = {
        epoch,
        trainLoss,
        valLoss: ev.loss,
        valAccuracy: ev.accuracy,
        valF1,
        trainSeconds,
        valSeconds,
      };
      stats.push(s);
      await hooks.onEpoch?.(s);
      if (metricScore(s, metric) > best) {
        best = metricScore(s, metric);
        await hooks.onBest?.(s, ev);
      }
      if (stop) {
        // Monitored as a number to minimise: the loss, or the accuracy or F1 negated.
        const m = -metricScore(s, stop.metric);
        if (m < bestMonitored) {
          bestMonitored = m;
          sinceBetter = 0;
        } else sinceBetter++;
      }
      await hooks.onCheckpoint?.({
        epoch,
        optimizer: opt.state(),
        dropout: model.dropoutCounter,
        stats: [...stats],
        best,
        bestMonitored: Number.isFinite(bestMonitored) ? bestMonitored : null,
        sinceBetter,
      });
      if (stop) {
        if (sinceBetter >= stop.patience && epoch < cfg.epochs) {
          log('');
          log(
            `Early stopping: no better validation ${stop.metric} for ${sinceBetter} epoch(s) (patience ${stop.patience}); ${cfg.epochs - epoch} epoch(s) not run`,
          );
          break;
        }
      }
    }
  } finally {
    opt.dispose();
  }
  log('');
  log('Training complete!');
  log(`Total training took ${formatTime((performance.now() - t0) / 1000)} (h:mm:ss)`);
  return stats;
}
