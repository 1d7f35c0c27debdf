// The memory a backend gives a run and what a training run needs, from the model's shape alone (its
// config.json), so a run that cannot fit is refused before any weight is loaded, with the number it
// needs and what to change. The layers above ask here instead of reading the wasm heap's size.
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import { WASM_HEAP_BYTES } from './wasm.js';

/** The config.json fields that set a BERT classifier's size. */
export interface ModelShape {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  /** Classifier outputs (2 when absent). */
  num_labels?: number;
}

/** The backend's own memory cap, below the machine's: the wasm heap (4 GiB) on wasm, none on the others. */
export function backendHeapBytes(backend: string = tf.getBackend()): number | undefined {
  return backend === 'wasm' ? WASM_HEAP_BYTES : undefined;
}

/** The bytes tensors can take on `backend`: the smaller of its own cap and this machine's memory. */
export function memoryLimitBytes(backend: string = tf.getBackend()): number {
  return Math.min(os.totalmem(), backendHeapBytes(backend) ?? Infinity);
}

/** Parameters of BertForSequenceClassification with this shape (encoder, pooler, classifier). */
export function shapeParameters(s: ModelShape): number {
  const h = s.hidden_size,
    i = s.intermediate_size,
    labels = s.num_labels ?? 2;
  const embeddings = (s.vocab_size + s.max_position_embeddings + s.type_vocab_size) * h + 2 * h;
  const layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h;
  return embeddings + s.num_hidden_layers * layer + (h * h + h) + (h * labels + labels);
}

/**
 * Bytes a training step needs on the wasm heap, roughly: weights, gradients and AdamW's two moments
 * (4 floats per parameter; bf16 products keep all four in float32), the activations the backward
 * pass keeps (per token and layer about 10 hidden-size vectors, 2 intermediate-size ones and 2.5
 * rows of attention per head) and one layer's backward workspace (4 intermediate-size vectors per
 * token). From the shape alone, so that a run is checked before its weights load; training/train.ts's
 * estimateTrainingBytes applies it to a loaded model.
 * Measured heap against this estimate: bench/README.md (Memory).
 */
export function estimateTrainingBytesForShape(s: ModelShape, batchSize: number, seqLen: number): number {
  return fixedBytes(s) + batchSize * perRowBytes(s, seqLen);
}

const fixedBytes = (s: ModelShape) => 4 * 4 * shapeParameters(s);
const perRowBytes = (s: ModelShape, seqLen: number) =>
  4 *
  seqLen *
  (s.num_hidden_layers * (10 * s.hidden_size + 2 * s.intermediate_size + 2.5 * s.num_attention_heads * seqLen) +
    4 * s.intermediate_size);

/** What training needs against what the backend has. */
export interface TrainingMemoryPlan {
  needBytes: number;
  limitBytes: number;
  /** The estimate must stay under 95% of the limit (room for the allocator's fragments and the runtime). */
  fits: boolean;
  /** The largest batch size that fits at this length (0: not even one row; the weights alone may not fit). */
  largestBatch: number;
  /** Weights, gradients and optimizer state alone. */
  stateBytes: number;
}

/** The estimate for `batchSize` rows of `seqLen` tokens on `backend`, and the largest batch that fits. */
export function planTrainingMemory(
  s: ModelShape,
  batchSize: number,
  seqLen: number,
  backend: string = tf.getBackend(),
): TrainingMemoryPlan {
  const limitBytes = memoryLimitBytes(backend);
  const room = 0.95 * limitBytes;
  const needBytes = estimateTrainingBytesForShape(s, batchSize, seqLen);
  const stateBytes = fixedBytes(s);
  const largestBatch = Math.max(0, Math.floor((room - stateBytes) / perRowBytes(s, seqLen)));
  return { needBytes, limitBytes, fits: needBytes <= room, largestBatch, stateBytes };
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;

/**
 * Stops at once, before a model is loaded, when training this shape at `batchSize` x `seqLen`
 * cannot fit the backend's memory: the message gives the bytes needed, the bytes there are, and
 * what to change (the largest --batch-size that fits, a shorter --max-len, a native backend).
 * `what` names the model in the message.
 *
 * Example: `checkTrainingFits(await readConfig(dir), 32, 45, { what: 'bert-base-uncased' })`
 */
export function checkTrainingFits(
  s: ModelShape,
  batchSize: number,
  seqLen: number,
  opts: { backend?: string; what?: string } = {},
): TrainingMemoryPlan {
  const backend = opts.backend ?? tf.getBackend();
  const plan = planTrainingMemory(s, batchSize, seqLen, backend);
  if (plan.fits) return plan;
  const heap = backendHeapBytes(backend);
  const where =
    heap !== undefined && heap < os.totalmem()
      ? `the ${backend} backend's ${gb(heap)} heap (this machine has ${gb(os.totalmem())}, which --backend node can use)`
      : `this machine's ${gb(os.totalmem())} of memory`;
  const model = `${opts.what ?? 'this model'} (${shapeParameters(s).toLocaleString('en-US')} parameters)`;
  const fix =
    plan.largestBatch >= 1
      ? `use --batch-size ${plan.largestBatch} or less (the largest that fits at ${seqLen} tokens), or a shorter --max-len`
      : plan.stateBytes > 0.95 * plan.limitBytes
        ? `its weights, gradients and AdamW state alone take ${gb(plan.stateBytes)}, so no batch size fits: use a smaller model${heap !== undefined ? ' or a native backend' : ''}`
        : `not even one row of ${seqLen} tokens fits: use a shorter --max-len or a smaller model`;
  throw new Error(
    `training ${model} with batch ${batchSize} x ${seqLen} tokens needs about ${gb(plan.needBytes)}, more than ${where}: ${fix}`,
  );
}
