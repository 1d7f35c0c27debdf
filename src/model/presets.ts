// Named BERT shapes, as KerasHub names its presets. Each maps to Google's released miniature of the
// same shape on the Hub (the uncased English models), so `--model bert-mini` downloads that model
// and `--preset mini --random-init` builds the same shape untrained.
import type { BertConfig } from './config.js';
import { BERT_DEFAULTS } from './config.js';

/** A BERT's shape: the three numbers that name it (intermediate size and the rest follow BERT). */
export interface Shape {
  layers: number;
  hidden: number;
  heads: number;
}
export interface Preset extends Shape {
  hubId: string;
}

export const PRESETS: Record<string, Preset> = {
  tiny: { layers: 2, hidden: 128, heads: 2, hubId: 'google/bert_uncased_L-2_H-128_A-2' },
  mini: { layers: 4, hidden: 256, heads: 4, hubId: 'google/bert_uncased_L-4_H-256_A-4' },
  small: { layers: 4, hidden: 512, heads: 8, hubId: 'google/bert_uncased_L-4_H-512_A-8' },
  medium: { layers: 8, hidden: 512, heads: 8, hubId: 'google/bert_uncased_L-8_H-512_A-8' },
  base: { layers: 12, hidden: 768, heads: 12, hubId: 'bert-base-uncased' },
};

/**
 * A config of this shape (intermediate = 4 x hidden, as in BERT), with BERT's defaults otherwise.
 *
 * Example: `configForShape({ layers: 2, hidden: 128, heads: 2 }, { vocab_size: 8192 })`
 */
export function configForShape(shape: Shape, overrides: Partial<BertConfig> = {}): BertConfig {
  return {
    ...BERT_DEFAULTS,
    model_type: 'bert',
    num_hidden_layers: shape.layers,
    hidden_size: shape.hidden,
    num_attention_heads: shape.heads,
    intermediate_size: 4 * shape.hidden,
    ...overrides,
  } as BertConfig;
}

/**
 * A config of the preset's shape (see `configForShape`).
 *
 * Args:
 *   name: tiny | mini | small | medium | base.
 *   overrides: fields to set, e.g. the tokenizer's vocab_size.
 *
 * Example: `new BertForSequenceClassification(presetConfig('mini', { vocab_size: tok.vocabSize }), ['0', '1'])`
 */
export function presetConfig(name: string, overrides: Partial<BertConfig> = {}): BertConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}": use one of ${Object.keys(PRESETS).join(', ')}`);
  return configForShape(p, overrides);
}

/** `bert-mini` -> the Hub id of that preset; anything else unchanged. */
export function presetHubId(nameOrId: string): string {
  const m = /^bert-(tiny|mini|small|medium)$/.exec(nameOrId);
  return m ? PRESETS[m[1]].hubId : nameOrId;
}

/**
 * The number of parameters of a BERT encoder with this config, counted as PyTorch's
 * `sum(p.numel() for p in BertModel(config).parameters())` counts them: embeddings (word, position,
 * token type, LayerNorm), each layer's attention (Q, K, V, output, LayerNorm) and feed-forward
 * (intermediate, output, LayerNorm), and the pooler. Heads are not included.
 *
 * Args:
 *   config: a BertConfig (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
 *     max_position_embeddings, type_vocab_size are used).
 *   opts.pooler: count the pooler's dense layer (default true, as BertModel has one).
 *
 * Example: `parameterCount(presetConfig('base'))` is 109,482,240, bert-base-uncased's count.
 */
export function parameterCount(config: BertConfig, opts: { pooler?: boolean } = {}): number {
  const h = config.hidden_size;
  const i = config.intermediate_size;
  const linear = (inDim: number, outDim: number) => inDim * outDim + outDim; // weight + bias
  const layerNorm = 2 * h; // weight + bias
  const embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * h + layerNorm;
  const layer = 4 * linear(h, h) + layerNorm + linear(h, i) + linear(i, h) + layerNorm;
  const pooler = (opts.pooler ?? true) ? linear(h, h) : 0;
  return embeddings + config.num_hidden_layers * layer + pooler;
}
