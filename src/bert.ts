// BERT in tfjs with Hugging Face's module and weight names, so a checkpoint loads by a plain
// mapping. One class per idea, as in transformers' modeling_bert.py: embeddings, self-attention,
// layer, encoder, pooler, heads. Parameters live in a ParamStore keyed by checkpoint names.
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BertConfig } from './config.js';
import { readConfig, writeConfig } from './config.js';
import { writeSafetensors, type TensorData } from './safetensors.js';
import { readModelWeights } from './torchbin.js';
import { resolveModel } from './hub.js';
import { attentionProbs, bmm, crossEntropy, dropout, embedding, gatherRows, gelu, layerNorm, linear, matmul2d, view } from './ops.js';

export type { BertConfig } from './config.js';

/** Token ids etc. as tensors, shaped [batch, seq]. */
export interface BertInputs {
  inputIds: tf.Tensor2D;
  attentionMask?: tf.Tensor2D;
  tokenTypeIds?: tf.Tensor2D;
}
/** The same, as plain arrays (what a tokenizer or a JSON file gives). */
export interface BertArrays {
  inputIds: number[][];
  attentionMask?: number[][];
  tokenTypeIds?: number[][];
}

type Init = 'normal' | 'zeros' | 'ones' | 'embedding';
interface ParamSpec {
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

// ---------------------------------------------------------------------------------------------
// The backbone.

interface Ctx { training: boolean; seed: () => number | undefined }

function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu': return gelu;
    case 'relu': return tf.relu;
    case 'tanh': return tf.tanh;
    case 'silu': case 'swish': return (x) => tf.mul(x, tf.sigmoid(x));
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return (x) =>
      tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
    default: throw new Error(`config.json: hidden_act "${name}" is not supported (use gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu or tanh)`);
  }
}

class Linear {
  readonly w: string; readonly b: string;
  constructor(readonly p: ParamStore, prefix: string, inDim: number, outDim: number, from: string) {
    this.w = p.declare(`${prefix}.weight`, [outDim, inDim], 'normal', from, true);
    this.b = p.declare(`${prefix}.bias`, [outDim], 'zeros', from);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.p.get(this.w) as tf.Tensor2D, this.p.get(this.b) as tf.Tensor1D);
  }
}

class LayerNorm {
  readonly w: string; readonly b: string;
  constructor(readonly p: ParamStore, prefix: string, dim: number, readonly eps: number) {
    this.w = p.declare(`${prefix}.weight`, [dim], 'ones', 'hidden_size');
    this.b = p.declare(`${prefix}.bias`, [dim], 'zeros', 'hidden_size');
  }
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.p.get(this.w) as tf.Tensor1D, this.p.get(this.b) as tf.Tensor1D, this.eps, residual);
  }
}

export class BertEmbeddings {
  readonly word: string; readonly position: string; readonly tokenType: string;
  readonly norm: LayerNorm;
  constructor(readonly p: ParamStore, prefix: string, readonly cfg: BertConfig) {
    const h = cfg.hidden_size;
    this.word = p.declare(`${prefix}.word_embeddings.weight`, [cfg.vocab_size, h], 'embedding', 'vocab_size, hidden_size');
    this.position = p.declare(`${prefix}.position_embeddings.weight`, [cfg.max_position_embeddings, h], 'normal', 'max_position_embeddings, hidden_size');
    this.tokenType = p.declare(`${prefix}.token_type_embeddings.weight`, [cfg.type_vocab_size, h], 'normal', 'type_vocab_size, hidden_size');
    this.norm = new LayerNorm(p, `${prefix}.LayerNorm`, h, cfg.layer_norm_eps);
  }
  forward(inputIds: tf.Tensor2D, tokenTypeIds: tf.Tensor2D, ctx: Ctx): tf.Tensor {
    const [, seq] = inputIds.shape;
    const words = embedding(this.p.get(this.word) as tf.Tensor2D, inputIds, this.cfg.pad_token_id);
    const types = embedding(this.p.get(this.tokenType) as tf.Tensor2D, tokenTypeIds);
    const positions = tf.slice(this.p.get(this.position), [0, 0], [seq, this.cfg.hidden_size]);
    const x = this.norm.forward(tf.add(tf.add(words, types), positions));
    return dropout(x, this.cfg.hidden_dropout_prob, ctx.training, ctx.seed());
  }
}

export class BertSelfAttention {
  readonly query: Linear; readonly key: Linear; readonly value: Linear;
  readonly heads: number; readonly headDim: number;
  constructor(p: ParamStore, prefix: string, readonly cfg: BertConfig) {
    const h = cfg.hidden_size;
    this.query = new Linear(p, `${prefix}.query`, h, h, 'hidden_size');
    this.key = new Linear(p, `${prefix}.key`, h, h, 'hidden_size');
    this.value = new Linear(p, `${prefix}.value`, h, h, 'hidden_size');
    this.heads = cfg.num_attention_heads;
    this.headDim = h / this.heads;
  }
  /** x [b, t, h], additiveMask [b, 1, 1, t] -> context [b, t, h] */
  forward(x: tf.Tensor, additiveMask: tf.Tensor, ctx: Ctx): tf.Tensor {
    const [b, t, h] = x.shape;
    const nh = this.heads, dh = this.headDim;
    // [b, t, h] -> [b*nh, t, dh] (or [b*nh, dh, t] for keys, so scores need no transposed matmul)
    const split = (y: tf.Tensor, perm: number[], shape: [number, number, number]) =>
      view(tf.transpose(view(y, [b, t, nh, dh]), perm), shape) as tf.Tensor3D;
    const q = split(this.query.forward(x), [0, 2, 1, 3], [b * nh, t, dh]);
    const kT = split(this.key.forward(x), [0, 2, 3, 1], [b * nh, dh, t]);
    const v = split(this.value.forward(x), [0, 2, 1, 3], [b * nh, t, dh]);
    let probs = attentionProbs(view(bmm(q, kT), [b, nh, t, t]), additiveMask, Math.sqrt(dh));
    probs = dropout(probs, this.cfg.attention_probs_dropout_prob, ctx.training, ctx.seed());
    const context = bmm(view(probs, [b * nh, t, t]) as tf.Tensor3D, v);
    return view(tf.transpose(view(context, [b, nh, t, dh]), [0, 2, 1, 3]), [b, t, h]);
  }
}

/** Dense + dropout + residual + LayerNorm: BertSelfOutput and BertOutput are this shape. */
class ResidualOutput {
  readonly dense: Linear; readonly norm: LayerNorm;
  constructor(p: ParamStore, prefix: string, inDim: number, readonly cfg: BertConfig, from: string) {
    this.dense = new Linear(p, `${prefix}.dense`, inDim, cfg.hidden_size, from);
    this.norm = new LayerNorm(p, `${prefix}.LayerNorm`, cfg.hidden_size, cfg.layer_norm_eps);
  }
  forward(x: tf.Tensor, residual: tf.Tensor, ctx: Ctx): tf.Tensor {
    const y = dropout(this.dense.forward(x), this.cfg.hidden_dropout_prob, ctx.training, ctx.seed());
    return this.norm.forward(y, residual);
  }
}

export class BertLayer {
  readonly self: BertSelfAttention; readonly attentionOutput: ResidualOutput;
  readonly intermediate: Linear; readonly output: ResidualOutput;
  readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(p: ParamStore, prefix: string, cfg: BertConfig) {
    this.self = new BertSelfAttention(p, `${prefix}.attention.self`, cfg);
    this.attentionOutput = new ResidualOutput(p, `${prefix}.attention.output`, cfg.hidden_size, cfg, 'hidden_size');
    this.intermediate = new Linear(p, `${prefix}.intermediate.dense`, cfg.hidden_size, cfg.intermediate_size, 'intermediate_size, hidden_size');
    this.output = new ResidualOutput(p, `${prefix}.output`, cfg.intermediate_size, cfg, 'hidden_size, intermediate_size');
    this.act = activation(cfg.hidden_act);
  }
  forward(x: tf.Tensor, additiveMask: tf.Tensor, ctx: Ctx): tf.Tensor {
    const attn = this.attentionOutput.forward(this.self.forward(x, additiveMask, ctx), x, ctx);
    return this.output.forward(this.act(this.intermediate.forward(attn)), attn, ctx);
  }
}

export class BertPooler {
  readonly dense: Linear;
  constructor(p: ParamStore, prefix: string, cfg: BertConfig) {
    this.dense = new Linear(p, `${prefix}.dense`, cfg.hidden_size, cfg.hidden_size, 'hidden_size');
  }
  /** tanh(dense(hidden state of the first token, [CLS])) */
  forward(hidden: tf.Tensor): tf.Tensor2D {
    const [b, , h] = hidden.shape;
    return tf.tanh(this.dense.forward(tf.reshape(tf.slice(hidden, [0, 0, 0], [b, 1, h]), [b, h]))) as tf.Tensor2D;
  }
}

export interface BertOutput { lastHiddenState: tf.Tensor3D; poolerOutput: tf.Tensor2D }

/** Embeddings + encoder + pooler. `prefix` is '' for a bare BertModel and 'bert.' under a head. */
export class Bert {
  readonly embeddings: BertEmbeddings;
  readonly layers: BertLayer[];
  readonly pooler: BertPooler;
  constructor(readonly p: ParamStore, prefix: string, readonly cfg: BertConfig) {
    this.embeddings = new BertEmbeddings(p, `${prefix}embeddings`, cfg);
    this.layers = Array.from({ length: cfg.num_hidden_layers }, (_, i) => new BertLayer(p, `${prefix}encoder.layer.${i}`, cfg));
    this.pooler = new BertPooler(p, `${prefix}pooler`, cfg);
  }
  forward(inputs: BertInputs, ctx: Ctx): BertOutput {
    const { inputIds } = inputs;
    const mask = inputs.attentionMask ?? tf.onesLike(inputIds);
    const types = inputs.tokenTypeIds ?? tf.zerosLike(inputIds);
    // HF's extended mask: 0 where attended, float32's minimum where masked.
    const [b, t] = inputIds.shape;
    const additive = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -3.4028234663852886e38), [b, 1, 1, t]);
    let x = this.embeddings.forward(inputIds, types, ctx);
    // One scope per layer: what a layer makes and the backward pass does not keep is freed at once.
    for (const layer of this.layers) { const input = x; x = tf.tidy(() => layer.forward(input, additive, ctx)); }
    return { lastHiddenState: x as tf.Tensor3D, poolerOutput: this.pooler.forward(x) };
  }
}

// ---------------------------------------------------------------------------------------------
// Task models: a backbone plus heads, with loading and saving.

export type Architecture = 'BertModel' | 'BertForSequenceClassification' | 'BertForPreTraining';

export interface LoadOptions {
  /** Labels for a classification head: names in id order. Overrides config.json's id2label. */
  labels?: string[];
  /** Seed for initialising weights the checkpoint lacks. */
  seed?: number;
  /** Where loading messages go (missing/unexpected weights, the resolved path). */
  log?: (msg: string) => void;
}

/** Arrays -> int32 tensors, after checking shapes and ids against the config. */
export function toInputs(a: BertArrays, cfg: BertConfig, source = 'inputs'): BertInputs {
  const rows = a.inputIds;
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every(Array.isArray)) {
    throw new Error(`${source}: input_ids must be a non-empty array of arrays of token ids`);
  }
  const t = rows[0].length;
  const check = (name: string, m: number[][] | undefined, max: number) => {
    if (!m) return;
    if (m.length !== rows.length) throw new Error(`${source}: ${name} has ${m.length} rows but input_ids has ${rows.length}`);
    m.forEach((r, i) => {
      if (!Array.isArray(r) || r.length !== t) throw new Error(`${source}: ${name}[${i}] has length ${Array.isArray(r) ? r.length : typeof r}, expected ${t} (all rows must be padded to one length)`);
      r.forEach((v, j) => {
        if (!Number.isInteger(v) || v < 0 || v >= max) {
          throw new Error(`${source}: ${name}[${i}][${j}] = ${v} is outside [0, ${max - 1}]${name === 'input_ids' ? ` (vocab_size is ${cfg.vocab_size})` : name === 'token_type_ids' ? ` (type_vocab_size is ${cfg.type_vocab_size})` : ''}`);
        }
      });
    });
  };
  check('input_ids', rows, cfg.vocab_size);
  check('attention_mask', a.attentionMask, 2);
  check('token_type_ids', a.tokenTypeIds, cfg.type_vocab_size);
  if (t > cfg.max_position_embeddings) {
    throw new Error(`${source}: sequences are ${t} tokens long, more than max_position_embeddings = ${cfg.max_position_embeddings}`);
  }
  return {
    inputIds: tf.tensor2d(rows, [rows.length, t], 'int32'),
    attentionMask: a.attentionMask && tf.tensor2d(a.attentionMask, [rows.length, t], 'int32'),
    tokenTypeIds: a.tokenTypeIds && tf.tensor2d(a.tokenTypeIds, [rows.length, t], 'int32'),
  };
}

/** Checkpoint names as this project names them: modern LayerNorm names, no buffers, tied decoder dropped. */
function normaliseNames(weights: Map<string, TensorData>, prefix: string): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  const hasPrefixed = [...weights.keys()].some((k) => k.startsWith('bert.'));
  for (const [key, value] of weights) {
    let k = key.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    if (k.endsWith('position_ids')) continue; // a buffer, not a weight
    if (k === 'cls.predictions.decoder.weight') continue; // tied to the word embeddings
    if (k === 'cls.predictions.decoder.bias') { if (!weights.has('cls.predictions.bias')) k = 'cls.predictions.bias'; else continue; }
    // A bare BertModel checkpoint has no 'bert.' prefix; a task checkpoint has it.
    if (prefix === 'bert.' && !hasPrefixed && /^(embeddings|encoder|pooler)\./.test(k)) k = prefix + k;
    if (prefix === '' && k.startsWith('bert.')) k = k.slice(5);
    out.set(k, value);
  }
  return out;
}

const shapeStr = (s: number[]) => `[${s.join(', ')}]`;

let initCounter = 0;

abstract class BertTask {
  readonly p = new ParamStore();
  readonly bert: Bert;
  abstract readonly architecture: Architecture;
  private dropoutSeed = 0;
  private ctx: Ctx;

  constructor(readonly config: BertConfig, prefix: string) {
    this.bert = new Bert(this.p, prefix, config);
    this.ctx = { training: false, seed: () => (this.ctx.training ? this.dropoutSeed++ : undefined) };
  }

  get prefix(): string { return this.architecture === 'BertModel' ? '' : 'bert.'; }
  protected context(training: boolean): Ctx { this.ctx.training = training; return this.ctx; }
  /** Makes dropout masks reproducible from here on. */
  seedDropout(seed: number): void { this.dropoutSeed = seed * 1_000_003; }

  trainableVariables(): tf.Variable[] { return [...this.p.vars.values()]; }
  numParameters(): number { return [...this.p.specs.values()].reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0); }

  /**
   * Fills every parameter from `weights` (checkpoint names and layout), initialising the rest as
   * Hugging Face does. Returns the names that were initialised and the checkpoint names unused.
   */
  loadWeights(raw: Map<string, TensorData>, file: string, seed = 42 + initCounter++): { missing: string[]; unexpected: string[] } {
    const weights = normaliseNames(raw, this.prefix);
    const missing: string[] = [];
    for (const [name, spec] of this.p.specs) {
      const w = weights.get(name);
      if (w && shapeStr(w.shape) !== shapeStr(spec.shape)) {
        throw new Error(`${file}: tensor "${name}" has shape ${shapeStr(w.shape)} but config.json (${spec.from}) expects ${shapeStr(spec.shape)}`);
      }
    }
    tf.tidy(() => {
      let i = 0;
      for (const [name, spec] of this.p.specs) {
        const w = weights.get(name);
        let t: tf.Tensor;
        if (w) t = tf.tensor(w.data, spec.shape, 'float32');
        else { missing.push(name); t = initTensor(spec, this.config, seed * 7919 + i); }
        i++;
        if (spec.linear) t = tf.transpose(t);
        const old = this.p.vars.get(name);
        if (old) old.assign(t);
        else this.p.vars.set(name, tf.variable(t, true, `${name}#${initCounter}`));
      }
    });
    const unexpected = [...weights.keys()].filter((k) => !this.p.specs.has(k));
    return { missing, unexpected };
  }

  /** Random initialisation of every parameter, as a new model from a config. */
  initWeights(seed = 42): void { this.loadWeights(new Map(), '(no checkpoint)', seed); }

  /** Writes config.json and model.safetensors (plus `extra`, e.g. tokenizer files) as one atomic directory swap. */
  async save(dir: string, opts: { dtype?: 'F32' | 'F16'; extra?: (tmp: string) => Promise<void> } = {}): Promise<void> {
    const parent = path.dirname(path.resolve(dir));
    await mkdir(parent, { recursive: true });
    const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    try {
      const config: BertConfig = { ...this.config, architectures: [this.architecture] };
      await writeConfig(tmp, config);
      await writeSafetensors(path.join(tmp, 'model.safetensors'), this.p.stateDict(), { dtype: opts.dtype ?? 'F32', metadata: { format: 'pt' } });
      if (opts.extra) await opts.extra(tmp);
      // Swap: the previous directory stays intact until the new one is complete.
      const old = `${tmp}.old`;
      if (existsSync(dir)) await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  dispose(): void { this.p.dispose(); }
}

function initTensor(spec: ParamSpec, cfg: BertConfig, seed: number): tf.Tensor {
  switch (spec.init) {
    case 'zeros': return tf.zeros(spec.shape);
    case 'ones': return tf.ones(spec.shape);
    case 'normal': return tf.randomNormal(spec.shape, 0, cfg.initializer_range, 'float32', seed);
    case 'embedding': {
      // nn.Embedding(padding_idx) init: normal, with the padding row zeroed.
      const t = tf.randomNormal(spec.shape, 0, cfg.initializer_range, 'float32', seed);
      const keep = tf.reshape(tf.cast(tf.notEqual(tf.range(0, spec.shape[0], 1, 'int32'), cfg.pad_token_id), 'float32'), [-1, 1]);
      return tf.mul(t, keep);
    }
  }
}

async function loadInto<T extends BertTask>(model: T, file: string, weights: Map<string, TensorData>, opts: LoadOptions, source: string): Promise<T> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const { missing, unexpected } = model.loadWeights(weights, file, opts.seed);
  const name = model.architecture;
  if (unexpected.length) {
    log(`Some weights of the model checkpoint at ${source} were not used when initializing ${name}: ${unexpected.join(', ')}`);
  }
  if (missing.length) {
    log(`Some weights of ${name} were not initialized from the model checkpoint at ${source} and are newly initialized: ${missing.join(', ')}\n` +
      'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.');
  }
  return model;
}

async function openCheckpoint(nameOrDir: string, opts: LoadOptions) {
  const dir = await resolveModel(nameOrDir, { log: opts.log });
  const config = await readConfig(dir);
  const { file, tensors: weights } = await readModelWeights(dir);
  return { dir, config, file, weights };
}

export class BertModel extends BertTask {
  readonly architecture = 'BertModel' as const;
  constructor(config: BertConfig) { super(config, ''); }
  static async fromPretrained(nameOrDir: string, opts: LoadOptions = {}): Promise<BertModel> {
    const c = await openCheckpoint(nameOrDir, opts);
    return loadInto(new BertModel(c.config), c.file, c.weights, opts, nameOrDir);
  }
  forward(inputs: BertInputs, training = false): BertOutput { return this.bert.forward(inputs, this.context(training)); }
}

function labelConfig(config: BertConfig, labels?: string[]): BertConfig {
  const names = labels ?? (config.id2label
    ? Object.keys(config.id2label).map(Number).sort((a, b) => a - b).map((i) => config.id2label![String(i)])
    : Array.from({ length: config.num_labels ?? 2 }, (_, i) => `LABEL_${i}`));
  if (names.length < 1) throw new Error('a classification head needs at least one label');
  return {
    ...config,
    id2label: Object.fromEntries(names.map((n, i) => [String(i), n])),
    label2id: Object.fromEntries(names.map((n, i) => [n, i])),
  };
}

export class BertForSequenceClassification extends BertTask {
  readonly architecture = 'BertForSequenceClassification' as const;
  readonly classifier: Linear;
  readonly labels: string[];
  constructor(config: BertConfig, labels?: string[]) {
    const cfg = labelConfig(config, labels);
    super(cfg, 'bert.');
    this.labels = Object.values(cfg.id2label!);
    this.classifier = new Linear(this.p, 'classifier', cfg.hidden_size, this.labels.length, 'id2label (number of labels), hidden_size');
  }
  get numLabels(): number { return this.labels.length; }
  static async fromPretrained(nameOrDir: string, opts: LoadOptions = {}): Promise<BertForSequenceClassification> {
    const c = await openCheckpoint(nameOrDir, opts);
    return loadInto(new BertForSequenceClassification(c.config, opts.labels), c.file, c.weights, opts, nameOrDir);
  }
  forward(inputs: BertInputs, training = false): BertOutput & { logits: tf.Tensor2D } {
    const ctx = this.context(training);
    const out = this.bert.forward(inputs, ctx);
    const rate = this.config.classifier_dropout ?? this.config.hidden_dropout_prob;
    const logits = this.classifier.forward(dropout(out.poolerOutput, rate, training, ctx.seed())) as tf.Tensor2D;
    return { ...out, logits };
  }
  /** Mean cross-entropy of the logits against `labels` (ids, -100 ignored). */
  loss(inputs: BertInputs, labels: tf.Tensor1D, training = false): tf.Scalar {
    return crossEntropy(this.forward(inputs, training).logits, labels);
  }
}

export class BertForPreTraining extends BertTask {
  readonly architecture = 'BertForPreTraining' as const;
  readonly transform: Linear; readonly transformNorm: LayerNorm;
  readonly decoderBias: string; readonly seqRelationship: Linear;
  readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(config: BertConfig) {
    super(config, 'bert.');
    const h = config.hidden_size;
    this.transform = new Linear(this.p, 'cls.predictions.transform.dense', h, h, 'hidden_size');
    this.transformNorm = new LayerNorm(this.p, 'cls.predictions.transform.LayerNorm', h, config.layer_norm_eps);
    this.decoderBias = this.p.declare('cls.predictions.bias', [config.vocab_size], 'zeros', 'vocab_size');
    this.seqRelationship = new Linear(this.p, 'cls.seq_relationship', h, 2, 'hidden_size');
    this.act = activation(config.hidden_act);
  }
  static async fromPretrained(nameOrDir: string, opts: LoadOptions = {}): Promise<BertForPreTraining> {
    const c = await openCheckpoint(nameOrDir, opts);
    return loadInto(new BertForPreTraining(c.config), c.file, c.weights, opts, nameOrDir);
  }
  /** MLM logits for hidden states [n, h]: decoder tied to the word embeddings. */
  mlmHead(hidden2d: tf.Tensor2D): tf.Tensor2D {
    const x = this.transformNorm.forward(this.act(this.transform.forward(hidden2d))) as tf.Tensor2D;
    const words = this.p.get(this.bert.embeddings.word) as tf.Tensor2D;
    return tf.add(matmul2d(x, tf.transpose(words)), this.p.get(this.decoderBias)) as tf.Tensor2D;
  }
  forward(inputs: BertInputs, training = false): BertOutput & { mlmLogits: tf.Tensor3D; nspLogits: tf.Tensor2D } {
    const out = this.bert.forward(inputs, this.context(training));
    const [b, t, h] = out.lastHiddenState.shape;
    const mlm = tf.reshape(this.mlmHead(tf.reshape(out.lastHiddenState, [b * t, h]) as tf.Tensor2D), [b, t, this.config.vocab_size]) as tf.Tensor3D;
    return { ...out, mlmLogits: mlm, nspLogits: this.seqRelationship.forward(out.poolerOutput) as tf.Tensor2D };
  }
  /**
   * Pre-training loss: MLM cross-entropy over positions whose label is not -100, plus NSP
   * cross-entropy. The MLM head only runs on the labelled positions, which saves most of the
   * vocabulary projection.
   */
  loss(inputs: BertInputs, mlmLabels: tf.Tensor2D, nspLabels: tf.Tensor1D, training = false): { loss: tf.Scalar; mlmLoss: tf.Scalar; nspLoss: tf.Scalar; mlmLogits: tf.Tensor2D; mlmTargets: tf.Tensor1D; nspLogits: tf.Tensor2D } {
    const out = this.bert.forward(inputs, this.context(training));
    const [b, t, h] = out.lastHiddenState.shape;
    const flatLabels = tf.reshape(mlmLabels, [b * t]) as tf.Tensor1D;
    const labelled = tf.tidy(() => {
      const idx = tf.notEqual(flatLabels, -100).dataSync();
      const keep: number[] = [];
      idx.forEach((v, i) => { if (v) keep.push(i); });
      return tf.tensor1d(keep.length ? keep : [0], 'int32');
    });
    const hidden = gatherRows(tf.reshape(out.lastHiddenState, [b * t, h]) as tf.Tensor2D, labelled);
    const targets = tf.gather(flatLabels, labelled) as tf.Tensor1D;
    const mlmLogits = this.mlmHead(hidden);
    const mlmLoss = crossEntropy(mlmLogits, targets);
    const nspLogits = this.seqRelationship.forward(out.poolerOutput) as tf.Tensor2D;
    const nspLoss = crossEntropy(nspLogits, nspLabels);
    return { loss: tf.add(mlmLoss, nspLoss) as tf.Scalar, mlmLoss, nspLoss, mlmLogits, mlmTargets: targets, nspLogits };
  }
}

export type AnyBert = BertModel | BertForSequenceClassification | BertForPreTraining;

/** Loads whichever architecture config.json names (BertModel when it names none we have). */
export async function loadAuto(nameOrDir: string, opts: LoadOptions = {}): Promise<AnyBert> {
  const c = await openCheckpoint(nameOrDir, opts);
  const arch = c.config.architectures?.[0] ?? '';
  const model = arch === 'BertForSequenceClassification' ? new BertForSequenceClassification(c.config, opts.labels)
    : /PreTraining|MaskedLM/.test(arch) ? new BertForPreTraining(c.config)
    : new BertModel(c.config);
  return loadInto(model, c.file, c.weights, opts, nameOrDir);
}
