// What a model takes: token ids, attention mask and token types, as tensors or as plain arrays, with
// the checks that turn a wrong shape or id into a message naming the row and the config field.
import * as tf from '@tensorflow/tfjs-core';
import type { BertConfig } from './config.js';

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

/**
 * Arrays -> int32 tensors, after checking shapes and ids against the config.
 *
 * Args:
 *   a: input ids (and optional attention mask and token types), rows padded to one length.
 *   cfg: the model's config (vocab_size, type_vocab_size, max_position_embeddings are checked).
 *   source: names the input in errors (e.g. the file it came from).
 *
 * Example: `model.forward(toInputs({ inputIds: enc.inputIds, attentionMask: enc.attentionMask }, model.config))`
 */
export function toInputs(a: BertArrays, cfg: BertConfig, source = 'inputs'): BertInputs {
  const rows = a.inputIds;
  if (!Array.isArray(rows) || rows.length === 0 || !rows.every(Array.isArray)) {
    throw new Error(`${source}: input_ids must be a non-empty array of arrays of token ids`);
  }
  const t = rows[0].length;
  const check = (name: string, m: number[][] | undefined, max: number) => {
    if (!m) return;
    if (m.length !== rows.length)
      throw new Error(`${source}: ${name} has ${m.length} rows but input_ids has ${rows.length}`);
    m.forEach((r, i) => {
      if (!Array.isArray(r) || r.length !== t)
        throw new Error(
          `${source}: ${name}[${i}] has length ${Array.isArray(r) ? r.length : typeof r}, expected ${t} (all rows must be padded to one length)`,
        );
      r.forEach((v, j) => {
        if (!Number.isInteger(v) || v < 0 || v >= max) {
          throw new Error(
            `${source}: ${name}[${i}][${j}] = ${v} is outside [0, ${max - 1}]${name === 'input_ids' ? ` (vocab_size is ${cfg.vocab_size})` : name === 'token_type_ids' ? ` (type_vocab_size is ${cfg.type_vocab_size})` : ''}`,
          );
        }
      });
    });
  };
  check('input_ids', rows, cfg.vocab_size);
  check('attention_mask', a.attentionMask, 2);
  check('token_type_ids', a.tokenTypeIds, cfg.type_vocab_size);
  if (t > cfg.max_position_embeddings) {
    throw new Error(
      `${source}: sequences are ${t} tokens long, more than max_position_embeddings = ${cfg.max_position_embeddings}`,
    );
  }
  return {
    inputIds: tf.tensor2d(rows, [rows.length, t], 'int32'),
    attentionMask: a.attentionMask && tf.tensor2d(a.attentionMask, [rows.length, t], 'int32'),
    tokenTypeIds: a.tokenTypeIds && tf.tensor2d(a.tokenTypeIds, [rows.length, t], 'int32'),
  };
}
