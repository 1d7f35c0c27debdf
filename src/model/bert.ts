// BERT in tfjs with Hugging Face's module and weight names, so a checkpoint loads by a plain
// mapping. One class per idea, as in transformers' modeling_bert.py: embeddings, self-attention,
// layer, encoder, pooler, heads. The architecture only: parameters, loading and saving are in
// pretrained.ts, input checks in inputs.ts.
import * as tf from '@tensorflow/tfjs-core';
import type { BertConfig, ProblemType } from './config.js';
import type { BertInputs } from './inputs.js';
import {
  loadInto,
  openCheckpoint,
  PreTrainedModel,
  type Architecture,
  type LoadOptions,
  type ParamStore,
} from './pretrained.js';
import {
  attentionProbs,
  bceWithLogits,
  bmm,
  crossEntropy,
  dropout,
  embedding,
  gatherRows,
  gelu,
  layerNorm,
  linear,
  matmul2d,
  mseLoss,
  view,
} from '../nn/ops.js';

export type { BertConfig } from './config.js';

// ---------------------------------------------------------------------------------------------
// The backbone.

interface Ctx {
  training: boolean;
  seed: () => number | undefined;
  /** Keep each layer's attention probabilities (HF output_attentions=True). */
  outputAttentions?: boolean;
  /** The attention probabilities of the layer that ran last, when outputAttentions is set. */
  attention?: tf.Tensor4D;
  /** Word embeddings [b, t, h] to use instead of looking the input ids up (HF inputs_embeds). */
  inputsEmbeds?: tf.Tensor3D;
}

function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'relu':
      return tf.relu;
    case 'tanh':
      return tf.tanh;
    case 'silu':
    case 'swish':
      return (x) => tf.mul(x, tf.sigmoid(x));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return (x) =>
        tf.mul(
          tf.mul(0.5, x),
          tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
        );
    default:
      throw new Error(
        `config.json: hidden_act "${name}" is not supported (use gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu or tanh)`,
      );
  }
}

class Linear {
  readonly w: string;
  readonly b: string;
  constructor(
    readonly p: ParamStore,
    prefix: string,
    inDim: number,
    outDim: number,
    from: string,
  ) {
    this.w = p.declare(`${prefix}.weight`, [outDim, inDim], 'normal', from, true);
    this.b = p.declare(`${prefix}.bias`, [outDim], 'zeros', from);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.p.get(this.w) as tf.Tensor2D, this.p.get(this.b) as tf.Tensor1D);
  }
}

class LayerNorm {
  readonly w: string;
  readonly b: string;
  constructor(
    readonly p: ParamStore,
    prefix: string,
    dim: number,
    readonly eps: number,
  ) {
    this.w = p.declare(`${prefix}.weight`, [dim], 'ones', 'hidden_size');
    this.b = p.declare(`${prefix}.bias`, [dim], 'zeros', 'hidden_size');
  }
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.p.get(this.w) as tf.Tensor1D, this.p.get(this.b) as tf.Tensor1D, this.eps, residual);
  }
}

class BertEmbeddings {
  readonly word: string;
  readonly position: string;
  readonly tokenType: string;
  readonly norm: LayerNorm;
  constructor(
    readonly p: ParamStore,
    prefix: string,
    readonly cfg: BertConfig,
  ) {
    const h = cfg.hidden_size;
    this.word = p.declare(
      `${prefix}.word_embeddings.weight`,
      [cfg.vocab_size, h],
      'embedding',
      'vocab_size, hidden_size',
    );
    this.position = p.declare(
      `${prefix}.position_embeddings.weight`,
      [cfg.max_position_embeddings, h],
      'normal',
      'max_position_embeddings, hidden_size',
    );
    this.tokenType = p.declare(
      `${prefix}.token_type_embeddings.weight`,
      [cfg.type_vocab_size, h],
      'normal',
      'type_vocab_size, hidden_size',
    );
    this.norm = new LayerNorm(p, `${prefix}.LayerNorm`, h, cfg.layer_norm_eps);
  }
  forward(inputIds: tf.Tensor2D, tokenTypeIds: tf.Tensor2D, ctx: Ctx): tf.Tensor {
    const [, seq] = inputIds.shape;
    const words = ctx.inputsEmbeds ?? embedding(this.p.get(this.word) as tf.Tensor2D, inputIds, this.cfg.pad_token_id);
    const types = embedding(this.p.get(this.tokenType) as tf.Tensor2D, tokenTypeIds);
    const positions = tf.slice(this.p.get(this.position), [0, 0], [seq, this.cfg.hidden_size]);
    const x = this.norm.forward(tf.add(tf.add(words, types), positions));
    return dropout(x, this.cfg.hidden_dropout_prob, ctx.training, ctx.seed());
  }
}

class BertSelfAttention {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly heads: number;
  readonly headDim: number;
  constructor(
    p: ParamStore,
    prefix: string,
    readonly cfg: BertConfig,
  ) {
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
    const nh = this.heads,
      dh = this.headDim;
    // [b, t, h] -> [b*nh, t, dh] (or [b*nh, dh, t] for keys, so scores need no transposed matmul)
    const split = (y: tf.Tensor, perm: number[], shape: [number, number, number]) =>
      view(tf.transpose(view(y, [b, t, nh, dh]), perm), shape) as tf.Tensor3D;
    const q = split(this.query.forward(x), [0, 2, 1, 3], [b * nh, t, dh]);
    const kT = split(this.key.forward(x), [0, 2, 3, 1], [b * nh, dh, t]);
    const v = split(this.value.forward(x), [0, 2, 1, 3], [b * nh, t, dh]);
    let probs = attentionProbs(view(bmm(q, kT), [b, nh, t, t]), additiveMask, Math.sqrt(dh));
    probs = dropout(probs, this.cfg.attention_probs_dropout_prob, ctx.training, ctx.seed());
    // After dropout, as transformers returns them (the same as before it when not training).
    if (ctx.outputAttentions) ctx.attention = probs as tf.Tensor4D;
    const context = bmm(view(probs, [b * nh, t, t]) as tf.Tensor3D, v);
    return view(tf.transpose(view(context, [b, nh, t, dh]), [0, 2, 1, 3]), [b, t, h]);
  }
}

/** Dense + dropout + residual + LayerNorm: BertSelfOutput and BertOutput are this shape. */
class ResidualOutput {
  readonly dense: Linear;
  readonly norm: LayerNorm;
  constructor(
    p: ParamStore,
    prefix: string,
    inDim: number,
    readonly cfg: BertConfig,
    from: string,
  ) {
    this.dense = new Linear(p, `${prefix}.dense`, inDim, cfg.hidden_size, from);
    this.norm = new LayerNorm(p, `${prefix}.LayerNorm`, cfg.hidden_size, cfg.layer_norm_eps);
  }
  forward(x: tf.Tensor, residual: tf.Tensor, ctx: Ctx): tf.Tensor {
    const y = dropout(this.dense.forward(x), this.cfg.hidden_dropout_prob, ctx.training, ctx.seed());
    return this.norm.forward(y, residual);
  }
}

class BertLayer {
  readonly self: BertSelfAttention;
  readonly attentionOutput: ResidualOutput;
  readonly intermediate: Linear;
  readonly output: ResidualOutput;
  readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(p: ParamStore, prefix: string, cfg: BertConfig) {
    this.self = new BertSelfAttention(p, `${prefix}.attention.self`, cfg);
    this.attentionOutput = new ResidualOutput(p, `${prefix}.attention.output`, cfg.hidden_size, cfg, 'hidden_size');
    this.intermediate = new Linear(
      p,
      `${prefix}.intermediate.dense`,
      cfg.hidden_size,
      cfg.intermediate_size,
      'intermediate_size, hidden_size',
    );
    this.output = new ResidualOutput(
      p,
      `${prefix}.output`,
      cfg.intermediate_size,
      cfg,
      'hidden_size, intermediate_size',
    );
    this.act = activation(cfg.hidden_act);
  }
  forward(x: tf.Tensor, additiveMask: tf.Tensor, ctx: Ctx): tf.Tensor {
    const attn = this.attentionOutput.forward(this.self.forward(x, additiveMask, ctx), x, ctx);
    return this.output.forward(this.act(this.intermediate.forward(attn)), attn, ctx);
  }
}

class BertPooler {
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

export interface BertOutput {
  lastHiddenState: tf.Tensor3D;
  poolerOutput: tf.Tensor2D;
  /** With `outputAttentions`: per layer, the attention probabilities [batch, heads, query, key]. */
  attentions?: tf.Tensor4D[];
}

/** What a forward pass returns besides the hidden states. */
export interface ForwardOptions {
  /** Also return every layer's attention probabilities, as transformers' output_attentions=True. */
  outputAttentions?: boolean;
  /**
   * Word embeddings [b, t, h] in place of the lookup of the input ids (transformers' inputs_embeds;
   * position and segment embeddings are still added): gradients with respect to the input.
   */
  inputsEmbeds?: tf.Tensor3D;
}

/** Embeddings + encoder + pooler. `prefix` is '' for a bare BertModel and 'bert.' under a head. */
export class Bert {
  readonly embeddings: BertEmbeddings;
  readonly layers: BertLayer[];
  readonly pooler: BertPooler;
  constructor(
    readonly p: ParamStore,
    prefix: string,
    readonly cfg: BertConfig,
  ) {
    this.embeddings = new BertEmbeddings(p, `${prefix}embeddings`, cfg);
    this.layers = Array.from(
      { length: cfg.num_hidden_layers },
      (_, i) => new BertLayer(p, `${prefix}encoder.layer.${i}`, cfg),
    );
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
    const attentions: tf.Tensor4D[] = [];
    for (const layer of this.layers) {
      const input = x;
      const [y, probs] = tf.tidy(() => {
        const out = layer.forward(input, additive, ctx);
        return ctx.outputAttentions ? [out, ctx.attention!] : [out];
      });
      ctx.attention = undefined;
      x = y;
      if (probs) attentions.push(probs);
    }
    const out: BertOutput = { lastHiddenState: x as tf.Tensor3D, poolerOutput: this.pooler.forward(x) };
    if (ctx.outputAttentions) out.attentions = attentions;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Task models: a backbone plus heads.

/** A backbone under a task head (or alone, for BertModel), with reproducible dropout. */
abstract class BertTask extends PreTrainedModel {
  readonly bert: Bert;
  private dropoutSeed = 0;
  private ctx: Ctx;

  constructor(config: BertConfig, prefix: string) {
    super(config);
    this.bert = new Bert(this.p, prefix, config);
    this.ctx = { training: false, seed: () => (this.ctx.training ? this.dropoutSeed++ : undefined) };
  }

  protected context(training: boolean, opts: ForwardOptions = {}): Ctx {
    this.ctx.training = training;
    this.ctx.outputAttentions = opts.outputAttentions ?? false;
    this.ctx.inputsEmbeds = opts.inputsEmbeds;
    return this.ctx;
  }
  /** Makes dropout masks reproducible from here on. */
  seedDropout(seed: number): void {
    this.dropoutSeed = seed * 1_000_003;
  }
  /** The seed of the next dropout mask: a checkpoint keeps it so a resumed run draws the masks an uninterrupted one would. */
  get dropoutCounter(): number {
    return this.dropoutSeed;
  }
  set dropoutCounter(n: number) {
    this.dropoutSeed = n;
  }
}

export type { Architecture };

export class BertModel extends BertTask {
  readonly architecture = 'BertModel' as const;
  constructor(config: BertConfig) {
    super(config, '');
  }
  static async fromPretrained(nameOrDir: string, opts: LoadOptions = {}): Promise<BertModel> {
    const c = await openCheckpoint(nameOrDir, opts);
    return loadInto(new BertModel(c.config), c, opts, nameOrDir);
  }
  /** Hidden states [b, t, h] and pooled [CLS] [b, h]; `opts.outputAttentions` adds each layer's attention. */
  forward(inputs: BertInputs, training = false, opts: ForwardOptions = {}): BertOutput {
    return this.bert.forward(inputs, this.context(training, opts));
  }
}

function labelConfig(config: BertConfig, labels?: string[]): BertConfig {
  const names =
    labels ??
    (config.id2label
      ? Object.keys(config.id2label)
          .map(Number)
          .sort((a, b) => a - b)
          .map((i) => config.id2label![String(i)])
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
    this.classifier = new Linear(
      this.p,
      'classifier',
      cfg.hidden_size,
      this.labels.length,
      'id2label (number of labels), hidden_size',
    );
  }
  get numLabels(): number {
    return this.labels.length;
  }
  /**
   * A classifier from a checkpoint (directory or Hub id), as transformers' from_pretrained: weights
   * the checkpoint lacks (a new head) are initialised and reported.
   *
   * Args:
   *   nameOrDir: a model directory or a Hub id.
   *   opts: `labels` (class names in id order; default config.json's id2label), `seed`, `log`.
   *
   * Example: `const model = await BertForSequenceClassification.fromPretrained('bert-base-uncased', { labels: ['0', '1'] });`
   */
  static async fromPretrained(nameOrDir: string, opts: LoadOptions = {}): Promise<BertForSequenceClassification> {
    const c = await openCheckpoint(nameOrDir, opts);
    return loadInto(new BertForSequenceClassification(c.config, opts.labels), c, opts, nameOrDir);
  }
  /**
   * Logits [b, labels] with the backbone's outputs.
   *
   * Example: `const { logits, attentions } = model.forward(inputs, false, { outputAttentions: true });`
   */
  forward(inputs: BertInputs, training = false, opts: ForwardOptions = {}): BertOutput & { logits: tf.Tensor2D } {
    const ctx = this.context(training, opts);
    const out = this.bert.forward(inputs, ctx);
    const rate = this.config.classifier_dropout ?? this.config.hidden_dropout_prob;
    const logits = this.classifier.forward(dropout(out.poolerOutput, rate, training, ctx.seed())) as tf.Tensor2D;
    return { ...out, logits };
  }
  /**
   * The loss of the logits against `labels`, chosen by config.json's problem_type as transformers'
   * BertForSequenceClassification chooses it: single_label_classification, mean cross-entropy
   * against class ids [b] (-100 ignored); regression, mean squared error against float targets [b]
   * (one label) or [b, num_labels]; multi_label_classification, BCE-with-logits against 0/1 targets
   * [b, num_labels]. Without problem_type: regression for one label, else by the labels' dtype
   * (int32 single-label, float32 multi-label).
   */
  loss(inputs: BertInputs, labels: tf.Tensor, training = false): tf.Scalar {
    const logits = this.forward(inputs, training).logits;
    switch (problemType(this.config, labels.dtype)) {
      case 'regression':
        return mseLoss(this.numLabels === 1 ? tf.reshape(logits, [-1]) : logits, tf.cast(labels, 'float32'));
      case 'multi_label_classification':
        return bceWithLogits(logits, tf.cast(labels, 'float32'));
      default:
        return crossEntropy(logits, labels as tf.Tensor1D);
    }
  }
}

/** The problem type a classification head trains for: config.json's, else inferred as transformers does. */
export function problemType(config: BertConfig, labelsDtype: tf.DataType = 'int32'): ProblemType {
  if (config.problem_type) return config.problem_type as ProblemType;
  const n = config.id2label ? Object.keys(config.id2label).length : (config.num_labels ?? 2);
  if (n === 1) return 'regression';
  return labelsDtype === 'int32' ? 'single_label_classification' : 'multi_label_classification';
}

export class BertForPreTraining extends BertTask {
  readonly architecture = 'BertForPreTraining' as const;
  readonly transform: Linear;
  readonly transformNorm: LayerNorm;
  readonly decoderBias: string;
  readonly seqRelationship: Linear;
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
    return loadInto(new BertForPreTraining(c.config), c, opts, nameOrDir);
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
    const mlm = tf.reshape(this.mlmHead(tf.reshape(out.lastHiddenState, [b * t, h]) as tf.Tensor2D), [
      b,
      t,
      this.config.vocab_size,
    ]) as tf.Tensor3D;
    return { ...out, mlmLogits: mlm, nspLogits: this.seqRelationship.forward(out.poolerOutput) as tf.Tensor2D };
  }
  /**
   * Pre-training loss: MLM cross-entropy over positions whose label is not -100, plus NSP
   * cross-entropy. The MLM head only runs on the labelled positions, which saves most of the
   * vocabulary projection.
   */
  loss(
    inputs: BertInputs,
    mlmLabels: tf.Tensor2D,
    nspLabels: tf.Tensor1D,
    training = false,
  ): {
    loss: tf.Scalar;
    mlmLoss: tf.Scalar;
    nspLoss: tf.Scalar;
    mlmLogits: tf.Tensor2D;
    mlmTargets: tf.Tensor1D;
    nspLogits: tf.Tensor2D;
  } {
    const out = this.bert.forward(inputs, this.context(training));
    const [b, t, h] = out.lastHiddenState.shape;
    const flatLabels = tf.reshape(mlmLabels, [b * t]) as tf.Tensor1D;
    const labelled = tf.tidy(() => {
      const idx = tf.notEqual(flatLabels, -100).dataSync();
      const keep: number[] = [];
      idx.forEach((v, i) => {
        if (v) keep.push(i);
      });
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
