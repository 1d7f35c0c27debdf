// What notebook 02 shows about pre-training, computed here so its cells stay a few plain lines: one
// example whose masking shows all three outcomes, how often whole-word masking leaves a word partly
// masked, the share of a BERT's parameters in its embeddings, and a recorded loss curve read back.
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import type { BertConfig } from '../model/config.js';
import type { BertForPreTraining } from '../model/bert.js';
import { toInputs } from '../model/inputs.js';
import { parameterCount } from '../model/presets.js';
import { rng } from '../nn/random.js';
import {
  buildExamples,
  maskTokens,
  IGNORE_INDEX,
  type NspPair,
  type PretrainExample,
  type SpecialIds,
} from '../data/pretrain-data.js';
import { maskOutcomes } from '../data/masking-stats.js';

/**
 * The example built from `pair` with the first seed whose masking shows all three outcomes of a
 * chosen token ([MASK], a random token, unchanged): most single short examples show one or two.
 *
 * Example: `const ex = exampleShowingAllOutcomes({ a, b, isRandomNext: false }, special)`
 */
export function exampleShowingAllOutcomes(pair: NspPair, special: SpecialIds, maxLen?: number): PretrainExample {
  const len = maxLen ?? pair.a.length + pair.b.length + 3;
  for (let seed = 0; seed < 100_000; seed++) {
    const ex = buildExamples([pair], special, len, rng(seed))[0];
    const o = maskOutcomes(ex, special);
    if (o.includes('[MASK]') && o.includes('random') && o.includes('unchanged')) return ex;
  }
  throw new Error(`exampleShowingAllOutcomes: no seed below 100,000 gives all three outcomes; use a longer pair`);
}

/**
 * What a pre-trained model makes of one example: its top MLM guess at every position, and the
 * probability its NSP head gives to "B follows A".
 *
 * Example: `const { top, isNext } = predictExample(model, example); vocab[top[3]]`
 */
export function predictExample(model: BertForPreTraining, ex: PretrainExample): { top: number[]; isNext: number } {
  let top: number[] = [];
  let isNext = NaN;
  const rows = { inputIds: [ex.inputIds], tokenTypeIds: [ex.tokenTypeIds], attentionMask: [ex.attentionMask] };
  tf.tidy(() => {
    const out = model.forward(toInputs(rows, model.config));
    top = (tf.argMax(out.mlmLogits, -1).arraySync() as number[][])[0]!;
    isNext = tf.softmax(out.nspLogits).dataSync()[0]!;
  });
  return { top, isNext };
}

/**
 * The share of multi-piece words (a token and the `##` pieces after it) that masking chooses only in
 * part, when the examples' original tokens are masked again token by token or by whole words.
 *
 * Example: `partlyMaskedWords(examples, special, (id) => vocab[id].startsWith('##'), true, rng(2))` -> 0
 */
export function partlyMaskedWords(
  examples: readonly PretrainExample[],
  special: SpecialIds,
  isContinuation: (id: number) => boolean,
  wholeWord: boolean,
  rand: () => number,
): number {
  let words = 0,
    partial = 0;
  for (const ex of examples) {
    // The original tokens: a chosen position's label is the token that was there.
    const ids = ex.inputIds.map((id, i) => (ex.mlmLabels[i] === IGNORE_INDEX ? id : ex.mlmLabels[i]));
    const labels = maskTokens(ids, special, rand, wholeWord ? { isContinuation } : {}).labels;
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] === special.cls || ids[i] === special.sep || ids[i] === special.pad) continue;
      let end = i + 1;
      while (end < ids.length && isContinuation(ids[end])) end++;
      if (end - i > 1) {
        const chosen = labels.slice(i, end).filter((l) => l !== IGNORE_INDEX).length;
        words++;
        if (chosen > 0 && chosen < end - i) partial++;
      }
      i = end - 1;
    }
  }
  return words ? partial / words : NaN;
}

/** The share of a BERT's parameters (pooler included) in its embeddings: tables and their LayerNorm. */
export function embeddingShare(cfg: BertConfig): number {
  const tables = cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size;
  return ((tables + 2) * cfg.hidden_size) / parameterCount(cfg);
}

/** A pre-training loss curve as `pretrain` writes it (loss.csv, a model's pretraining-loss.csv). */
export interface LossCurve {
  step: number[];
  loss: number[];
  mlm: number[];
  nsp: number[];
}

/**
 * Reads a loss curve CSV (columns step, loss, mlm_loss, nsp_loss); a missing column or a value that
 * is not a number is named with the file and line.
 *
 * Example: `readLossCurve('models/bert-lab-mini/pretraining-loss.csv').mlm.length`
 */
export function readLossCurve(file: string): LossCurve {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const names = (header ?? '').split(',');
  const col = (name: string) => {
    const k = names.indexOf(name);
    if (k < 0) throw new Error(`${file}: no column "${name}" (columns: ${header})`);
    return lines.map((l, i) => {
      const v = Number(l.split(',')[k]);
      if (Number.isNaN(v)) throw new Error(`${file}, line ${i + 2}: "${name}" is not a number`);
      return v;
    });
  };
  return { step: col('step'), loss: col('loss'), mlm: col('mlm_loss'), nsp: col('nsp_loss') };
}
