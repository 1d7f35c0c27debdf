// Named BERT shapes, as KerasHub names its presets. Each maps to Google's released miniature of the
// same shape on the Hub (the uncased English models), so `--model bert-mini` downloads that model
// and `--preset mini --random-init` builds the same shape untrained.
import type { BertConfig } from './config.js';
import { BERT_DEFAULTS } from './config.js';

export interface Preset { layers: number; hidden: number; heads: number; hubId: string }

export const PRESETS: Record<string, Preset> = {
  tiny: { layers: 2, hidden: 128, heads: 2, hubId: 'google/bert_uncased_L-2_H-128_A-2' },
  mini: { layers: 4, hidden: 256, heads: 4, hubId: 'google/bert_uncased_L-4_H-256_A-4' },
  small: { layers: 4, hidden: 512, heads: 8, hubId: 'google/bert_uncased_L-4_H-512_A-8' },
  medium: { layers: 8, hidden: 512, heads: 8, hubId: 'google/bert_uncased_L-8_H-512_A-8' },
  base: { layers: 12, hidden: 768, heads: 12, hubId: 'bert-base-uncased' },
};

/** A config of the preset's shape (intermediate = 4 x hidden, as in BERT), with BERT's defaults otherwise. */
export function presetConfig(name: string, overrides: Partial<BertConfig> = {}): BertConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}": use one of ${Object.keys(PRESETS).join(', ')}`);
  return {
    ...BERT_DEFAULTS, model_type: 'bert',
    num_hidden_layers: p.layers, hidden_size: p.hidden, num_attention_heads: p.heads, intermediate_size: 4 * p.hidden,
    ...overrides,
  } as BertConfig;
}

/** `bert-mini` -> the Hub id of that preset; anything else unchanged. */
export function presetHubId(nameOrId: string): string {
  const m = /^bert-(tiny|mini|small|medium)$/.exec(nameOrId);
  return m ? PRESETS[m[1]].hubId : nameOrId;
}
