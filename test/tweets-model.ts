// The bundled model fine-tuned briefly on the lab's tweets (800 tweets, two epochs, about 25 s
// here), exported to ONNX with an int8 copy: a real small classifier for the export tests.
import path from 'node:path';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { type BertArrays } from '../src/model/inputs.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { BUNDLED_MODEL } from '../src/app/classifier.js';
import { prepareData } from '../src/data/prepare.js';
import { fineTune, LAB_TRAIN_CONFIG } from '../src/training/train.js';
import { exportOnnx } from '../src/app/export-onnx.js';
import { shared } from './shared.js';

export interface TweetsModel {
  model: BertForSequenceClassification;
  tok: BertTokenizer;
  /** Validation tweets (200) as in the CSV, cleaned, encoded, and their labels. */
  raw: string[];
  texts: string[];
  val: BertArrays;
  labels: number[];
  /** The export folder (onnx/model.onnx and onnx/model_quantized.onnx). */
  dir: string;
}

/** Fine-tunes and exports into `work`/tweets. Call after initBackend. */
export async function tweetsModel(work: string): Promise<TweetsModel> {
  const tok = await BertTokenizer.fromDir(BUNDLED_MODEL);
  // 1,000 tweets: 800 to train on, 200 to check on.
  const prep = await prepareData(shared('data/disaster-tweets/train.csv'), tok, {
    limit: 1000,
    seed: 42,
    log: () => {},
  });
  const model = await BertForSequenceClassification.fromPretrained(BUNDLED_MODEL, {
    labels: prep.data.labelNames,
    log: () => {},
  });
  await fineTune(model, prep.train, prep.val, { ...LAB_TRAIN_CONFIG, epochs: 2, lr: 1e-3 }, { log: () => {} });
  const dir = path.join(work, 'tweets');
  await exportOnnx(model, dir, { quantize: true, tokenizer: tok });
  return {
    model,
    tok,
    raw: prep.valIdx.map((i) => prep.data.texts[i]),
    texts: prep.valIdx.map((i) => prep.cleaned[i]),
    val: prep.val,
    labels: prep.val.labels,
    dir,
  };
}
