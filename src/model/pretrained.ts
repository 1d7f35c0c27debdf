// What every BERT task model shares apart from its layers, as transformers' PreTrainedModel: the
// parameter store keyed by checkpoint names, the mapping from the names older checkpoints use,
// Hugging Face's initialisation of weights a checkpoint lacks, and loading from and saving to a
// model directory (config.json + model.safetensors).
import * as tf from '@tensorflow/tfjs-core';
import os from 'node:os';
import path from 'node:path';
import { parameterBreakdown, readConfig, writeConfig, type BertConfig } from './config.js';
import { writeSafetensors, type TensorData } from '../io/safetensors.js';
import { readModelWeights } from '../io/weights.js';
import { MAX_ELEMENTS } from '../io/torchbin.js';
import { resolveModel } from '../io/hub.js';
import { replaceDir } from '../io/atomic.js';
import { log as diagnostics } from '../io/log.js';
import { memoryLimitBytes } from '../backend/memory.js';

export type Architecture = 'BertModel' | 'BertForSequenceClassification' | 'BertForPreTraining';

export type Init = 'normal' | 'zeros' | 'ones' | 'embedding';
export interface ParamSpec {
  shape: number[]; // in the checkpoint's layout
  init: Init;
  linear: boolean; // a Linear weight [out, in], held transposed as [in, out] for fast matmuls
  from: string; // the config fields that set the shape, for error messages
}

/** Named parameters. Linear weights are held transposed; `stateDict()` gives the checkpoint layout. */
export class ParamStore {
  readonly specs = new Map<string, ParamSpec>();
  readonly vars = new Map<string, tf.Variable>();

  declare(name: string, shape: number[], init: Init, from: string, linear = false): string {
    this.specs.set(name, { shape, init, linear, from });
    return name;
  }
  get(name: string): tf.Tensor {
    const v = this.vars.get(name);
    if (!v) throw new Error(`parameter ${name} has not been initialised`);
    return v;
  }
  /** Checkpoint-layout tensors of every parameter (copies the data off the backend). */
  stateDict(): Map<string, TensorData> {
    const out = new Map<string, TensorData>();
    for (const [name, spec] of this.specs) {
      const v = this.get(name);
      const t = spec.linear ? tf.transpose(v) : v;
      out.set(name, { shape: spec.shape, data: t.dataSync() as Float32Array });
      if (t !== v) t.dispose();
    }
    return out;
  }
  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

export interface LoadOptions {
  /** Labels for a classification head: names in id order. Overrides config.json's id2label. */
  labels?: string[];
  /** Seed for initialising weights the checkpoint lacks. */
  seed?: number;
  /** Where loading messages go (missing/unexpected weights, the resolved path). */
  log?: (msg: string) => void;
  /**
   * For inference (eval, predict, forward): refuse a checkpoint that lacks weights the model has (they
   * would be random, e.g. a classifier head never trained) or whose layer count differs from
   * config.json's. Off for fine-tuning, which trains a new head on purpose.
   */
  strict?: boolean;
}

/** Checkpoint names as this project names them: modern LayerNorm names, no buffers, tied decoder dropped. */
function normaliseNames(weights: Map<string, TensorData>, prefix: string): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  const hasPrefixed = [...weights.keys()].some((k) => k.startsWith('bert.'));
  for (const [key, value] of weights) {
    let k = key.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    if (k.endsWith('position_ids')) continue; // a buffer, not a weight
    if (k === 'cls.predictions.decoder.weight') continue; // tied to the word embeddings
    if (k === 'cls.predictions.decoder.bias') {
      if (!weights.has('cls.predictions.bias')) k = 'cls.predictions.bias';
      else continue;
    }
    // A bare BertModel checkpoint has no 'bert.' prefix; a task checkpoint has it.
    if (prefix === 'bert.' && !hasPrefixed && /^(embeddings|encoder|pooler)\./.test(k)) k = prefix + k;
    if (prefix === '' && k.startsWith('bert.')) k = k.slice(5);
    out.set(k, value);
  }
  return out;
}

const shapeStr = (s: number[]) => `[${s.join(', ')}]`;

let initCounter = 0;
let modelCounter = 0;

/**
 * A tag no registered tfjs variable carries yet. tfjs variable names are global to the process and
 * outlive the module (a notebook that loads the library again starts its counters at 0 while the
 * engine still holds the first model's variables), so the tag is checked against the engine.
 */
function freshTag(names: Iterable<string>): number {
  const registered = tf.engine().registeredVariables;
  const list = [...names];
  for (;;) {
    const tag = modelCounter++;
    if (!list.some((n) => `${n}#${tag}` in registered)) return tag;
  }
}

/** Parameters, loading and saving; the layers come from the subclass (see bert.ts). */
export abstract class PreTrainedModel {
  readonly p = new ParamStore();
  abstract readonly architecture: Architecture;

  constructor(readonly config: BertConfig) {}

  /** '' for a bare BertModel, 'bert.' for the backbone under a head, as in the checkpoints. */
  get prefix(): string {
    return this.architecture === 'BertModel' ? '' : 'bert.';
  }

  trainableVariables(): tf.Variable[] {
    return [...this.p.vars.values()];
  }
  numParameters(): number {
    return [...this.p.specs.values()].reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  /**
   * Fills every parameter from `weights` (checkpoint names and layout), initialising the rest as
   * Hugging Face does. Returns the names that were initialised and the checkpoint names unused.
   */
  loadWeights(
    raw: Map<string, TensorData>,
    file: string,
    seed = 42 + initCounter++,
  ): { missing: string[]; unexpected: string[] } {
    const weights = normaliseNames(raw, this.prefix);
    const missing: string[] = [];
    for (const [name, spec] of this.p.specs) {
      const w = weights.get(name);
      if (w && shapeStr(w.shape) !== shapeStr(spec.shape)) {
        throw new Error(
          `${file}: tensor "${name}" has shape ${shapeStr(w.shape)} but config.json (${spec.from}) expects ${shapeStr(spec.shape)}`,
        );
      }
    }
    checkSizes(this.config, this.p.specs, weights, file);
    const tag = freshTag(this.p.specs.keys());
    tf.tidy(() => {
      let i = 0;
      for (const [name, spec] of this.p.specs) {
        const w = weights.get(name);
        let t: tf.Tensor;
        if (w) t = tf.tensor(w.data, spec.shape, 'float32');
        else {
          missing.push(name);
          t = initTensor(spec, this.config, seed * 7919 + i);
        }
        i++;
        if (spec.linear) t = tf.transpose(t);
        const old = this.p.vars.get(name);
        if (old) old.assign(t);
        else this.p.vars.set(name, tf.variable(t, true, `${name}#${tag}`));
      }
    });
    const unexpected = [...weights.keys()].filter((k) => !this.p.specs.has(k));
    return { missing, unexpected };
  }

  /** Random initialisation of every parameter, as a new model from a config. */
  initWeights(seed = 42): void {
    this.loadWeights(new Map(), '(no checkpoint)', seed);
  }

  /**
   * Writes config.json and model.safetensors (plus `extra`, e.g. tokenizer files) into `dir`, replacing
   * it as a whole (io/atomic.ts `replaceDir`): a reader finds the previous model or the new one.
   */
  async save(dir: string, opts: { dtype?: 'F32' | 'F16'; extra?: (tmp: string) => Promise<void> } = {}): Promise<void> {
    const state = this.p.stateDict();
    // A diverged model is refused before anything is written: a previous model in `dir` stays as it was.
    for (const [name, t] of state) {
      const i = firstNonFinite(t.data);
      if (i >= 0)
        throw new Error(
          `${dir}: not saved: tensor "${name}" holds ${t.data[i]} at element ${i}; a model with NaN or Inf weights ` +
            'has diverged (lower the learning rate) and would only give NaN; the folder is left as it was',
        );
    }
    await replaceDir(dir, async (tmp) => {
      const config: BertConfig = { ...this.config, architectures: [this.architecture] };
      await writeConfig(tmp, config);
      await writeSafetensors(path.join(tmp, 'model.safetensors'), state, {
        dtype: opts.dtype ?? 'F32',
        metadata: { format: 'pt' },
      });
      if (opts.extra) await opts.extra(tmp);
    });
  }

  dispose(): void {
    this.p.dispose();
  }
}

/**
 * Refuses, before anything is allocated, a config.json whose sizes make the model larger than the
 * memory the backend has (the wasm heap, or this machine's) or a tensor larger than an array holds:
 * a huge vocab_size beside a missing embedding would otherwise run for minutes, then fail inside the
 * backend. Names the config fields behind the size, and how much of it the checkpoint holds.
 */
function checkSizes(
  config: BertConfig,
  specs: Map<string, ParamSpec>,
  weights: Map<string, TensorData>,
  file: string,
): void {
  let total = 0;
  let largest: [string, ParamSpec, number] | undefined;
  for (const [name, spec] of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    total += n;
    if (!largest || n > largest[2]) largest = [name, spec, n];
  }
  const machine = os.totalmem();
  const limit = memoryLimitBytes();
  const wasm = limit < machine; // the backend's own cap (the wasm heap) is the smaller
  if (!largest || (largest[2] <= MAX_ELEMENTS && total * 4 <= limit)) return;
  const [name, spec, n] = largest;
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
  const configFile = path.join(path.dirname(file), 'config.json');
  const mismatch = 'config.json does not match the weights in ' + path.basename(file);
  if (n > MAX_ELEMENTS) {
    const held = weights.has(name) ? 'the checkpoint holds it' : 'the checkpoint does not hold it (it would be random)';
    throw new Error(
      `${configFile}: its sizes (${spec.from}) make "${name}" ${shapeStr(spec.shape)}, ` +
        `${n.toLocaleString('en-US')} numbers, and the whole model ${gb(total * 4)}, more than one array holds; ` +
        `${held}: ${mismatch}`,
    );
  }
  // The whole is too large though every tensor fits: name the part that makes it so (layers, embeddings...).
  const top = parameterBreakdown(config)[0];
  const held =
    top.fields === 'num_hidden_layers'
      ? `the checkpoint holds ${layerCount(weights.keys())} layer(s)`
      : weights.has(name)
        ? `the checkpoint holds "${name}"`
        : `the checkpoint does not hold "${name}" (it would be random)`;
  const room = wasm
    ? `the wasm backend's heap (${gb(limit)}; this machine has ${gb(machine)}, which a native backend, --backend node, can use)`
    : `this machine's memory (${gb(machine)})`;
  throw new Error(
    `${configFile}: its sizes make the model ${total.toLocaleString('en-US')} numbers, ${gb(total * 4)}, more than ${room}; ` +
      `most of it comes from ${top.fields.includes(',') ? 'fields' : 'field'} "${top.fields.split(', ').join('", "')}" ` +
      `(${top.detail}); ${held}`,
  );
}

function initTensor(spec: ParamSpec, cfg: BertConfig, seed: number): tf.Tensor {
  switch (spec.init) {
    case 'zeros':
      return tf.zeros(spec.shape);
    case 'ones':
      return tf.ones(spec.shape);
    case 'normal':
      return tf.randomNormal(spec.shape, 0, cfg.initializer_range, 'float32', seed);
    case 'embedding': {
      // nn.Embedding(padding_idx) init: normal, with the padding row zeroed.
      const t = tf.randomNormal(spec.shape, 0, cfg.initializer_range, 'float32', seed);
      const keep = tf.reshape(
        tf.cast(tf.notEqual(tf.range(0, spec.shape[0], 1, 'int32'), cfg.pad_token_id), 'float32'),
        [-1, 1],
      );
      return tf.mul(t, keep);
    }
  }
}

/**
 * Fills `model` from an opened checkpoint and says, as transformers does, which weights were unused
 * and which were newly initialised. `source` is the name the user gave, for the messages.
 */
export function loadInto<T extends PreTrainedModel>(
  model: T,
  checkpoint: Checkpoint,
  opts: LoadOptions,
  source: string,
): T {
  const { file, weights } = checkpoint;
  const log = opts.log ?? diagnostics.info;
  // Checked on the file's tensors, before any of them reaches the backend.
  const named = normaliseNames(weights, model.prefix);
  checkFinite(named, file);
  if (opts.strict) checkComplete(model, named, file, source);
  const { missing, unexpected } = model.loadWeights(weights, file, opts.seed);
  const name = model.architecture;
  if (unexpected.length) {
    log(
      `Some weights of the model checkpoint at ${source} were not used when initializing ${name}: ${unexpected.join(', ')}`,
    );
  }
  if (missing.length) {
    log(
      `Some weights of ${name} were not initialized from the model checkpoint at ${source} and are newly initialized: ${missing.join(', ')}\n` +
        'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.',
    );
  }
  return model;
}

/** The index of the first NaN or ±Inf in `d`, or -1. */
function firstNonFinite(d: ArrayLike<number>): number {
  // x - x is 0 for every finite x and NaN for NaN and ±Inf.
  for (let i = 0; i < d.length; i++) if (d[i] - d[i] !== 0) return i;
  return -1;
}

/** Refuses NaN or ±Inf in any weight: a model computed from them gives garbage (or NaN) everywhere. */
function checkFinite(weights: Map<string, TensorData>, file: string): void {
  for (const [name, t] of weights) {
    const i = firstNonFinite(t.data);
    if (i >= 0)
      throw new Error(
        `${file}: tensor "${name}" holds ${t.data[i]} at element ${i}: the checkpoint is corrupt (a diverged run saved it?); use another checkpoint`,
      );
  }
}

/** Layers numbered in `names` (encoder.layer.N.*): one more than the highest N, 0 when none. */
function layerCount(names: Iterable<string>): number {
  let n = 0;
  for (const k of names) {
    const m = /(?:^|\.)encoder\.layer\.(\d+)\./.exec(k);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** For inference: every parameter from the checkpoint, and the layer count config.json declares. */
function checkComplete(model: PreTrainedModel, weights: Map<string, TensorData>, file: string, source: string): void {
  const declared = model.config.num_hidden_layers;
  const held = layerCount(weights.keys());
  if (held !== declared)
    throw new Error(
      `${file}: holds ${held} encoder layers but config.json declares num_hidden_layers ${declared}: ` +
        `${held < declared ? `${declared - held} layer(s) would be random` : `${held - declared} layer(s) would be dropped`}; ` +
        `set num_hidden_layers to ${held} in ${path.join(path.dirname(file), 'config.json')}`,
    );
  const missing = [...model.p.specs.keys()].filter((k) => !weights.has(k));
  if (missing.length)
    throw new Error(
      `${source}: the checkpoint has no trained weights for ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? `, ... (${missing.length})` : ''}, ` +
        `so ${model.architecture} would use random ones and its outputs would mean nothing (a pre-trained model not yet ` +
        'fine-tuned?): fine-tune it first (bert-lab train), or pass --allow-untrained to run it anyway',
    );
}

/** A checkpoint read from disk: its directory, config.json, the weights file and its tensors. */
export interface Checkpoint {
  dir: string;
  config: BertConfig;
  file: string;
  weights: Map<string, TensorData>;
}

/** Reads config.json and the weights of a model directory (already resolved: see `openCheckpoint`). */
async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const config = await readConfig(dir);
  const { file, tensors: weights } = await readModelWeights(dir);
  return { dir, config, file, weights };
}

/** Resolves a local directory or Hub id (downloading if needed), then reads it. */
export async function openCheckpoint(nameOrDir: string, opts: LoadOptions = {}): Promise<Checkpoint> {
  return readCheckpoint(await resolveModel(nameOrDir, { log: opts.log }));
}
