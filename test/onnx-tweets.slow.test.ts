// A fine-tuned model's ONNX export on the lab's tweets: float logits match bert-lab's, the int8
// model agrees on the labels, and transformers.js's pipeline on the folder gives bert-lab's labels
// and scores. Slow tier: it fine-tunes the bundled model first (about 40 s).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { assertClose, needsShared } from './shared.js';
import { tweetsModel, type TweetsModel } from './tweets-model.js';
import { argmaxRows, labLogits, runOnnx } from './onnx-run.js';

let work: string;
before(async () => {
  await initBackend(undefined, () => {});
  work = await mkdtemp(path.join(os.tmpdir(), 'bert-lab-onnx-tweets-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

let tuned: Promise<TweetsModel> | undefined;
const fineTuned = (): Promise<TweetsModel> => (tuned ??= tweetsModel(work));

test(
  'fine-tuned bundled model: float ONNX matches bert-lab on 200 validation tweets; int8 agrees on >= 99% of labels',
  needsShared,
  async (t) => {
    const { model, val, labels, dir } = await fineTuned();
    assert.equal(val.inputIds.length, 200);
    const ref = labLogits(model, val);
    const fp32 = (await runOnnx(path.join(dir, 'onnx/model.onnx'), val)).logits.data as Float32Array;
    assertClose(fp32, ref, 'validation logits', 1e-4);
    const int8 = (await runOnnx(path.join(dir, 'onnx/model_quantized.onnx'), val)).logits.data as Float32Array;
    const a = argmaxRows(ref, 2),
      b = argmaxRows(int8, 2);
    const agree = a.filter((x, i) => x === b[i]).length / a.length;
    assert.ok(new Set(a).size === 2, 'the fine-tuned model predicts both classes (else agreement says little)');
    assert.ok(agree >= 0.99, `int8 labels agree on ${(100 * agree).toFixed(1)}% of validation tweets`);
    const size = (f: string) => readFileSync(path.join(dir, 'onnx', f)).length;
    const worst = fp32.reduce((m, v, i) => Math.max(m, Math.abs(v - ref[i])), 0);
    t.diagnostic(
      `float max |logit diff| ${worst.toExponential(2)}; int8 label agreement ${(100 * agree).toFixed(1)}%; ` +
        `bert-lab accuracy ${((100 * a.filter((x, i) => x === labels[i]).length) / a.length).toFixed(1)}%; files ${size('model.onnx')} / ${size('model_quantized.onnx')} bytes`,
    );
    assert.ok(
      size('model_quantized.onnx') < 0.35 * size('model.onnx'),
      `int8 file ${size('model_quantized.onnx')} B vs float ${size('model.onnx')} B`,
    );
  },
);

test("transformers.js pipeline on the exported folder gives bert-lab's labels and scores", needsShared, async () => {
  const { model, tok, texts, dir } = await fineTuned();
  const { pipeline, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(dir);
  const classify = await pipeline('text-classification', path.basename(dir), { dtype: 'fp32' });
  const some = texts.slice(0, 24);
  const got = (await classify(some)) as { label: string; score: number }[];
  const enc = tok.encodeBatch(some, { truncation: true, maxLength: 512 });
  const logits = labLogits(model, {
    inputIds: enc.inputIds,
    attentionMask: enc.attentionMask,
    tokenTypeIds: enc.tokenTypeIds,
  });
  const probs = tf.tidy(() => tf.softmax(tf.tensor2d(logits, [some.length, 2])).arraySync() as number[][]);
  some.forEach((t, i) => {
    const best = probs[i][0] >= probs[i][1] ? 0 : 1;
    assert.equal(got[i].label, model.labels[best], `label of "${t}"`);
    assert.ok(Math.abs(got[i].score - probs[i][best]) < 1e-4, `score of "${t}": ${got[i].score} vs ${probs[i][best]}`);
  });
  // The tokens transformers.js sees are bert-lab's.
  const jsTok = classify.tokenizer as unknown as { encode(t: string): number[] };
  for (const t of some) assert.deepEqual(jsTok.encode(t), tok.encode(t).ids, `token ids of "${t}"`);
  await classify.dispose();
});
