// Masked-word prediction with a checkpoint's MLM head, as transformers' fill-mask pipeline.
import * as tf from '@tensorflow/tfjs-core';
import type { BertForPreTraining } from '../model/bert.js';
import { toInputs } from '../model/inputs.js';
import type { BertTokenizer } from '../text/tokenizer.js';

export interface MaskGuess {
  token: string;
  id: number;
  probability: number;
}
export interface MaskPrediction {
  position: number;
  predictions: MaskGuess[];
}

/**
 * The `topK` most likely tokens, with probabilities, at each [MASK] of `text`.
 *
 * Args:
 *   model: a model with an MLM head; tok: its tokenizer; text: with one or more [MASK];
 *   topK: guesses per mask, from 1 to the vocabulary size (else an error starting "top-k").
 *
 * Example: `fillMask(model, tok, 'a [MASK] broke out in the forest')[0].predictions[0].token`
 */
export function fillMask(model: BertForPreTraining, tok: BertTokenizer, text: string, topK = 5): MaskPrediction[] {
  const vocab = model.config.vocab_size;
  // Checked here, not left to tf.topk: its message names neither the option nor the vocabulary.
  if (!Number.isSafeInteger(topK) || topK < 1 || topK > vocab)
    throw new Error(
      `top-k (--top-k) must be a whole number from 1 to the model's vocabulary size, ${vocab.toLocaleString('en-US')} tokens, got ${topK}`,
    );
  const enc = tok.encode(text);
  const positions = enc.ids.flatMap((id, i) => (id === tok.maskId ? [i] : []));
  if (!positions.length) throw new Error(`the text has no [MASK] token: ${JSON.stringify(text)}`);
  return tf.tidy(() => {
    const logits = model.forward(toInputs({ inputIds: [enc.ids] }, model.config)).mlmLogits;
    return positions.map((position) => {
      const probs = tf.softmax(tf.reshape(tf.slice(logits, [0, position, 0], [1, 1, model.config.vocab_size]), [-1]));
      const top = tf.topk(probs, topK);
      const ids = Array.from(top.indices.dataSync());
      const ps = top.values.dataSync();
      return {
        position,
        predictions: ids.map((id, j) => ({ token: tok.convertIdsToTokens([id])[0], id, probability: ps[j] })),
      };
    });
  });
}
