// Token saliency by gradient x input: how much each token's word embedding pushes a class's logit,
// the dot product of the embedding with the logit's gradient with respect to it.
import * as tf from '@tensorflow/tfjs-core';
import type { BertForSequenceClassification } from '../model/bert.js';
import { toInputs } from '../model/inputs.js';

/** One encoded text (no batch dimension). */
export interface EncodedRow {
  inputIds: number[];
  attentionMask: number[];
  tokenTypeIds: number[];
}

/**
 * Gradient x input saliency of every position of `row` for the logit of class `classId`, dropout
 * off: sum over the hidden size of (d logit / d embedding) * embedding. Positive values push the
 * class up. Padding positions get 0.
 *
 * Args:
 *   model: the classifier.
 *   row: one encoded text (e.g. row i of `prep.val`).
 *   classId: the class whose logit is explained (e.g. the predicted one).
 *
 * Example: `const s = tokenSaliency(model, { inputIds: val.inputIds[i], attentionMask: val.attentionMask[i], tokenTypeIds: val.tokenTypeIds[i] }, 1);`
 */
export function tokenSaliency(model: BertForSequenceClassification, row: EncodedRow, classId: number): number[] {
  if (!Number.isInteger(classId) || classId < 0 || classId >= model.numLabels)
    throw new Error(`tokenSaliency: classId must be an integer from 0 to ${model.numLabels - 1}, got ${classId}`);
  const t = row.inputIds.length;
  if (row.attentionMask.length !== t || row.tokenTypeIds.length !== t)
    throw new Error(
      `tokenSaliency: inputIds has ${t} positions but attentionMask ${row.attentionMask.length} and tokenTypeIds ${row.tokenTypeIds.length}`,
    );
  return tf.tidy(() => {
    const inputs = toInputs(
      { inputIds: [row.inputIds], attentionMask: [row.attentionMask], tokenTypeIds: [row.tokenTypeIds] },
      model.config,
    );
    const table = model.p.get(`${model.prefix}embeddings.word_embeddings.weight`) as tf.Tensor2D;
    const embeds = tf.expandDims(tf.gather(table, tf.tensor1d(row.inputIds, 'int32')), 0) as tf.Tensor3D; // [1, t, h]
    const logitOf = (e: tf.Tensor) =>
      tf.squeeze(
        tf.slice(model.forward(inputs, false, { inputsEmbeds: e as tf.Tensor3D }).logits, [0, classId], [1, 1]),
      );
    const grad = tf.grad(logitOf)(embeds);
    const s = tf.sum(tf.mul(grad, embeds), -1).dataSync() as Float32Array; // [t]
    return Array.from(s, (v, i) => (row.attentionMask[i] ? v : 0));
  });
}
