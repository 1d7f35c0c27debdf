// Looking inside a classifier, as notebook 01 does: every layer's attention for one input (Hugging
// Face's output_attentions=True) and the pooled [CLS] vector of every row (`pooler_output`).
import * as tf from '@tensorflow/tfjs-core';
import type { BertForSequenceClassification } from '../model/bert.js';
import { toInputs, type BertArrays } from '../model/inputs.js';
import { batches } from '../data/data.js';
import { batchTensors, type LabelledBatchData } from './train.js';

/**
 * The attention probabilities of the first row of `inputs`, dropout off: [layer][head][query][key],
 * over every position (padding included; cut to the real tokens to plot).
 *
 * Example: `const a = attentionOf(model, { inputIds: [ids], attentionMask: [mask], tokenTypeIds: [types] });`
 */
export function attentionOf(model: BertForSequenceClassification, inputs: BertArrays): number[][][][] {
  return tf.tidy(() => {
    const out = model.forward(toInputs(inputs, model.config), false, { outputAttentions: true });
    return out.attentions!.map((a) => a.arraySync()[0]);
  });
}

/**
 * The pooled [CLS] vector of every row of `data` (the last layer's [CLS] through the pooler's dense
 * layer and tanh, what the classifier reads), dropout off: [rows][hidden].
 *
 * Example: `const v = pooledVectors(model, val, 32); v.length === val.labels.length`
 */
export function pooledVectors(
  model: BertForSequenceClassification,
  data: Omit<LabelledBatchData, 'labels'>,
  batchSize: number,
): number[][] {
  const out: number[][] = [];
  for (const idx of batches(data.inputIds.length, batchSize, { shuffle: false }))
    tf.tidy(() => {
      out.push(...model.forward(batchTensors(data, idx), false).poolerOutput.arraySync());
    });
  return out;
}
