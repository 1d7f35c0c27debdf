// BERT as an ONNX graph, op for op what bert.ts (and Hugging Face's modeling_bert.py) computes
// in evaluation mode: embeddings, post-LayerNorm encoder layers with exact-erf GELU and an
// additive attention mask of float32's minimum, tanh pooler on [CLS], and the task head.
// Inputs input_ids, attention_mask, token_type_ids are int64 [batch_size, sequence_length],
// the names and types transformers.js and Optimum's exports use.
import type { AnyBert } from './auto.js';
import type { BertConfig } from './config.js';
import { GraphBuilder } from '../io/onnx/builder.js';
import { DataType, type ModelProto } from '../io/onnx/proto.js';

/** Opset 17 is the first with LayerNormalization; ONNX Runtime 1.14+ and transformers.js run it. */
const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17. */
const ONNX_IR_VERSION = 8;

/** What the graph outputs: `logits` of the classifier, MLM `logits`, or the encoder's states. */
export type OnnxTask = 'text-classification' | 'fill-mask' | 'feature-extraction';

export function taskOf(model: AnyBert): OnnxTask {
  switch (model.architecture) {
    case 'BertForSequenceClassification':
      return 'text-classification';
    case 'BertForPreTraining':
      return 'fill-mask';
    case 'BertModel':
      return 'feature-extraction';
  }
}

const F32_MIN = -3.4028234663852886e38;
const B = 'batch_size',
  T = 'sequence_length';

/** Graph-building context: the builder, the model's weights and its config. */
class Emitter {
  constructor(
    readonly g: GraphBuilder,
    readonly model: AnyBert,
    readonly cfg: BertConfig,
  ) {}

  /** A parameter's values as the ParamStore holds them (Linear weights transposed to [in, out]). */
  values(name: string): Float32Array {
    return this.model.p.get(name).dataSync() as Float32Array;
  }
  vector(name: string): string {
    return this.g.float(name, this.values(name), [this.model.p.specs.get(name)!.shape[0]]);
  }
  /** x @ W + b for the Linear `prefix` (weights [in, out], so one MatMul). */
  linear(path: string, prefix: string, x: string): string {
    const [out, inDim] = this.model.p.specs.get(`${prefix}.weight`)!.shape;
    const w = this.g.matrix(path, `${prefix}.weight`, this.values(`${prefix}.weight`), inDim, out, 1);
    return this.g.op(path, 'Add', [this.g.op(path, 'MatMul', [x, w]), this.vector(`${prefix}.bias`)]);
  }
  layerNorm(path: string, prefix: string, x: string): string {
    return this.g.op(
      path,
      'LayerNormalization',
      [x, this.vector(`${prefix}.weight`), this.vector(`${prefix}.bias`)],
      [
        { name: 'axis', int: -1 },
        { name: 'epsilon', float: this.cfg.layer_norm_eps },
      ],
    );
  }
  scalar(v: number): string {
    return this.g.constant([v], 'float32', []);
  }

  activation(path: string, x: string): string {
    const g = this.g;
    switch (this.cfg.hidden_act) {
      case 'gelu': {
        // 0.5 x (1 + erf(x / sqrt 2)): the pattern ONNX Runtime fuses into one Gelu kernel.
        const erf = g.op(path, 'Erf', [g.op(path, 'Div', [x, this.scalar(Math.SQRT2)])]);
        return g.op(path, 'Mul', [g.op(path, 'Mul', [x, g.op(path, 'Add', [erf, this.scalar(1)])]), this.scalar(0.5)]);
      }
      case 'gelu_new':
      case 'gelu_pytorch_tanh':
      case 'gelu_fast': {
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const cube = g.op(path, 'Mul', [g.op(path, 'Mul', [x, x]), x]);
        const inner = g.op(path, 'Mul', [
          g.op(path, 'Add', [x, g.op(path, 'Mul', [cube, this.scalar(0.044715)])]),
          this.scalar(Math.sqrt(2 / Math.PI)),
        ]);
        return g.op(path, 'Mul', [
          g.op(path, 'Mul', [x, g.op(path, 'Add', [g.op(path, 'Tanh', [inner]), this.scalar(1)])]),
          this.scalar(0.5),
        ]);
      }
      case 'relu':
        return g.op(path, 'Relu', [x]);
      case 'tanh':
        return g.op(path, 'Tanh', [x]);
      case 'silu':
      case 'swish':
        return g.op(path, 'Mul', [x, g.op(path, 'Sigmoid', [x])]);
      default:
        throw new Error(
          `ONNX export: hidden_act "${this.cfg.hidden_act}" is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, tanh)`,
        );
    }
  }

  embeddings(path: string, prefix: string, ids: string, types: string): string {
    const { g, cfg } = this;
    const h = cfg.hidden_size;
    const words = g.embedding(
      `${path}/word_embeddings`,
      `${prefix}.word_embeddings.weight`,
      this.values(`${prefix}.word_embeddings.weight`),
      cfg.vocab_size,
      h,
      ids,
    );
    const tt = g.embedding(
      `${path}/token_type_embeddings`,
      `${prefix}.token_type_embeddings.weight`,
      this.values(`${prefix}.token_type_embeddings.weight`),
      cfg.type_vocab_size,
      h,
      types,
      false,
    );
    // Positions 0..t-1: the first t rows of the table ([t, h], broadcast over the batch).
    const t = g.op(
      path,
      'Shape',
      [ids],
      [
        { name: 'start', int: 1 },
        { name: 'end', int: 2 },
      ],
    );
    const table = g.float(`${prefix}.position_embeddings.weight`, this.values(`${prefix}.position_embeddings.weight`), [
      cfg.max_position_embeddings,
      h,
    ]);
    const pos = g.op(`${path}/position_embeddings`, 'Slice', [
      table,
      g.constant([0], 'int64'),
      t,
      g.constant([0], 'int64'),
    ]);
    const sum = g.op(path, 'Add', [g.op(path, 'Add', [words, tt]), pos]);
    return this.layerNorm(`${path}/LayerNorm`, `${prefix}.LayerNorm`, sum);
  }

  /** x [b, t, h], mask [b, 1, 1, t] -> [b, t, h] */
  selfAttention(path: string, prefix: string, x: string, mask: string): string {
    const { g, cfg } = this;
    const nh = cfg.num_attention_heads,
      dh = cfg.hidden_size / nh;
    const heads = (name: string, perm: number[]) =>
      g.op(
        `${path}/${name}`,
        'Transpose',
        [
          g.op(`${path}/${name}`, 'Reshape', [
            this.linear(`${path}/${name}`, `${prefix}.${name}`, x),
            g.constant([0, 0, nh, dh], 'int64'),
          ]),
        ],
        [{ name: 'perm', ints: perm }],
      );
    const q = heads('query', [0, 2, 1, 3]); // [b, nh, t, dh]
    const kT = heads('key', [0, 2, 3, 1]); // [b, nh, dh, t]
    const v = heads('value', [0, 2, 1, 3]); // [b, nh, t, dh]
    const scores = g.op(path, 'Add', [
      g.op(path, 'Div', [g.op(path, 'MatMul', [q, kT]), this.scalar(Math.sqrt(dh))]),
      mask,
    ]); // [b, nh, t, t]
    const probs = g.op(path, 'Softmax', [scores], [{ name: 'axis', int: -1 }]);
    const context = g.op(path, 'Transpose', [g.op(path, 'MatMul', [probs, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]); // [b, t, nh, dh]
    return g.op(path, 'Reshape', [context, g.constant([0, 0, cfg.hidden_size], 'int64')]);
  }

  /** Dense, then LayerNorm of it plus the residual (BertSelfOutput, BertOutput). */
  residualOutput(path: string, prefix: string, x: string, residual: string): string {
    const y = this.linear(`${path}/dense`, `${prefix}.dense`, x);
    return this.layerNorm(`${path}/LayerNorm`, `${prefix}.LayerNorm`, this.g.op(path, 'Add', [y, residual]));
  }

  layer(path: string, prefix: string, x: string, mask: string): string {
    const attn = this.residualOutput(
      `${path}/attention/output`,
      `${prefix}.attention.output`,
      this.selfAttention(`${path}/attention/self`, `${prefix}.attention.self`, x, mask),
      x,
    );
    const inter = this.activation(
      `${path}/intermediate`,
      this.linear(`${path}/intermediate/dense`, `${prefix}.intermediate.dense`, attn),
    );
    return this.residualOutput(`${path}/output`, `${prefix}.output`, inter, attn);
  }

  /** HF's extended mask: 0 where attended, float32's minimum where masked; [b, t] -> [b, 1, 1, t]. */
  additiveMask(mask: string): string {
    const g = this.g;
    const m = g.op('/bert', 'Cast', [mask], [{ name: 'to', int: DataType.FLOAT }]);
    const inv = g.op('/bert', 'Sub', [this.scalar(1), m]);
    return g.op('/bert', 'Unsqueeze', [g.op('/bert', 'Mul', [inv, this.scalar(F32_MIN)]), g.constant([1, 2], 'int64')]);
  }
}

/**
 * The model's forward pass in evaluation mode as an ONNX model (opset 17).
 *
 * Args:
 *   model: a loaded bert-lab model; its task decides the outputs (`taskOf`).
 *   opts.quantize: int8 weights with per-channel scales for every MatMul and the word embeddings.
 *
 * Example:
 *   const bytes = encodeModel(bertToOnnx(await BertForSequenceClassification.fromPretrained('runs/lab/best')));
 */
export function bertToOnnx(model: AnyBert, opts: { quantize?: boolean } = {}): ModelProto {
  const cfg = model.config;
  if (cfg.hidden_size % cfg.num_attention_heads !== 0)
    throw new Error(
      `config.json: hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`,
    );
  const g = new GraphBuilder('bert', { quantize: opts.quantize });
  const e = new Emitter(g, model, cfg);
  const p = model.prefix; // 'bert.' under a head, '' for a bare BertModel
  const ids = g.input('input_ids', DataType.INT64, [B, T]);
  const mask = g.input('attention_mask', DataType.INT64, [B, T]);
  const types = g.input('token_type_ids', DataType.INT64, [B, T]);

  const emit = (): void => {
    const additive = e.additiveMask(mask);
    let x = e.embeddings('/bert/embeddings', `${p}embeddings`, ids, types);
    for (let i = 0; i < cfg.num_hidden_layers; i++)
      x = e.layer(`/bert/encoder/layer.${i}`, `${p}encoder.layer.${i}`, x, additive);
    const task = taskOf(model);
    if (task === 'fill-mask') {
      // cls.predictions: transform (dense, activation, LayerNorm), decoder tied to the word embeddings.
      const h = e.layerNorm(
        '/cls/predictions/transform/LayerNorm',
        'cls.predictions.transform.LayerNorm',
        e.activation(
          '/cls/predictions/transform',
          e.linear('/cls/predictions/transform/dense', 'cls.predictions.transform.dense', x),
        ),
      );
      const words = g.table('/cls/predictions/decoder', `${p}embeddings.word_embeddings.weight`);
      const decoder = g.op('/cls/predictions/decoder', 'Transpose', [words], [{ name: 'perm', ints: [1, 0] }]);
      const logits = g.op('/cls/predictions/decoder', 'Add', [
        g.op('/cls/predictions/decoder', 'MatMul', [h, decoder]),
        e.vector('cls.predictions.bias'),
      ]);
      g.output(logits, 'logits', DataType.FLOAT, [B, T, cfg.vocab_size]);
      return;
    }
    // Pooler: tanh(dense(hidden state of [CLS])).
    const cls = g.op('/bert/pooler', 'Gather', [x, g.constant([0], 'int64', [])], [{ name: 'axis', int: 1 }]); // [b, h]
    const pooled = g.op('/bert/pooler', 'Tanh', [e.linear('/bert/pooler/dense', `${p}pooler.dense`, cls)]);
    if (task === 'feature-extraction') {
      g.output(x, 'last_hidden_state', DataType.FLOAT, [B, T, cfg.hidden_size]);
      g.output(pooled, 'pooler_output', DataType.FLOAT, [B, cfg.hidden_size]);
      return;
    }
    const n = model.p.specs.get('classifier.weight')!.shape[0];
    g.output(e.linear('/classifier', 'classifier', pooled), 'logits', DataType.FLOAT, [B, n]);
  };
  emit();

  return {
    irVersion: ONNX_IR_VERSION,
    opsetImports: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'bert-lab',
    docString: `${model.architecture} (${cfg.num_hidden_layers} layers, hidden ${cfg.hidden_size})${opts.quantize ? ', int8 weights' : ''}`,
    graph: g.build(),
  };
}
