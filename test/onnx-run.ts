// Running an exported model in ONNX Runtime, and bert-lab's logits for the same rows: what the ONNX
// tests compare.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { toInputs, type BertArrays } from '../src/model/inputs.js';
import type { BertForSequenceClassification } from '../src/model/bert.js';

const int64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

/** Runs an .onnx file (or bytes) on rows of ids; returns the named outputs. */
export async function runOnnx(model: string | Uint8Array, a: BertArrays): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model as string);
  const rows = a.inputIds;
  const out = await session.run({
    input_ids: int64(rows),
    attention_mask: int64(a.attentionMask ?? rows.map((r) => r.map(() => 1))),
    token_type_ids: int64(a.tokenTypeIds ?? rows.map((r) => r.map(() => 0))),
  });
  await session.release();
  return out;
}

export function labLogits(model: BertForSequenceClassification, a: BertArrays): Float32Array {
  return tf.tidy(() => model.forward(toInputs(a, model.config)).logits.dataSync() as Float32Array);
}

export const argmaxRows = (x: ArrayLike<number>, n: number): number[] =>
  Array.from({ length: x.length / n }, (_, i) => {
    let b = 0;
    for (let j = 1; j < n; j++) if (x[i * n + j] > x[i * n + b]) b = j;
    return b;
  });
