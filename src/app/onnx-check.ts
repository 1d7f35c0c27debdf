// An exported ONNX model checked against the model it came from, as notebook 01 shows it: ONNX
// Runtime's logits beside bert-lab's, and the int8 model's labels. ONNX Runtime for Node
// (onnxruntime-node) is optional: installed with the project's development dependencies.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BertForSequenceClassification } from '../model/bert.js';
import { toInputs, type BertArrays } from '../model/inputs.js';

type Ort = {
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => unknown;
  InferenceSession: {
    create(file: string): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>> }>;
  };
};

/**
 * Runs `onnxDir`'s onnx/model.onnx (and onnx/model_quantized.onnx when present) on `rows` and
 * compares with `model`: the largest logit difference of the float32 graph and how many rows the
 * int8 graph labels as `model` does.
 *
 * Example: `const c = await compareOnnx(best, 'runs/lab/onnx', rows); c.maxDiff < 1e-4`
 */
export async function compareOnnx(
  model: BertForSequenceClassification,
  onnxDir: string,
  rows: Required<BertArrays>,
): Promise<{ maxDiff: number; sameLabels: number; rows: number }> {
  let ort: Ort;
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    throw new Error(
      `ONNX Runtime for Node is not installed (${(e as Error).message.split('\n')[0]}): npm install onnxruntime-node`,
    );
  }
  const shape = [rows.inputIds.length, rows.inputIds[0].length];
  const int64 = (m: number[][]) => new ort.Tensor('int64', BigInt64Array.from(m.flat().map(BigInt)), shape);
  const feeds = {
    input_ids: int64(rows.inputIds),
    attention_mask: int64(rows.attentionMask),
    token_type_ids: int64(rows.tokenTypeIds),
  };
  const logitsOf = async (file: string) => {
    const session = await ort.InferenceSession.create(path.join(onnxDir, 'onnx', file));
    return (await session.run(feeds)).logits.data as Float32Array;
  };
  const ref = tf.tidy(() => model.forward(toInputs(rows, model.config), false).logits.dataSync() as Float32Array);
  const fp32 = await logitsOf('model.onnx');
  let maxDiff = 0;
  fp32.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(v - ref[i]))));
  const k = model.numLabels;
  const argmax = (x: ArrayLike<number>, r: number) => {
    let b = 0;
    for (let j = 1; j < k; j++) if (x[r * k + j] > x[r * k + b]) b = j;
    return b;
  };
  let sameLabels = shape[0];
  try {
    const int8 = await logitsOf('model_quantized.onnx');
    sameLabels = Array.from({ length: shape[0] }, (_, r) => argmax(int8, r) === argmax(ref, r)).filter(Boolean).length;
  } catch {
    sameLabels = NaN; // no quantized model exported
  }
  return { maxDiff, sameLabels, rows: shape[0] };
}
