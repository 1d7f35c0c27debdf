// ONNX export: ONNX Runtime's logits match bert-lab's forward pass (and PyTorch's on the parity
// fixture); int8 quantization; export errors. A fine-tuned model's export on the lab's tweets (int8
// labels, transformers.js) is in onnx-tweets.slow.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForPreTraining, BertForSequenceClassification } from '../src/model/bert.js';
import { toInputs, type BertArrays } from '../src/model/inputs.js';
import { EXPORT_MARKER, exportOnnx } from '../src/app/export-onnx.js';
import { BUNDLED_MODEL } from '../src/app/classifier.js';
import { bertToOnnx } from '../src/model/onnx-graph.js';
import { encodeModel } from '../src/io/onnx/proto.js';
import { quantizeInt8 } from '../src/io/onnx/quantize.js';
import { assertClose, needsShared, shared } from './shared.js';
import { labLogits, runOnnx } from './onnx-run.js';

const clsDir = shared('fixtures/parity/tiny-bert-cls');
const ptDir = shared('fixtures/parity/tiny-bert-pretraining');
const quiet = { log: () => {} };
let work: string;

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][] };
  logits: { values: number[] };
}
const fixture = (): Fixture => JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as Fixture;

before(async () => {
  await initBackend(undefined, () => {});
  work = await mkdtemp(path.join(os.tmpdir(), 'bert-lab-onnx-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test(
  'exported classifier: ONNX Runtime logits match bert-lab and PyTorch on the parity fixture (incl. a sentence pair)',
  needsShared,
  async () => {
    const f = fixture();
    const a: BertArrays = {
      inputIds: f.inputs.input_ids,
      attentionMask: f.inputs.attention_mask,
      tokenTypeIds: f.inputs.token_type_ids,
    };
    assert.ok(
      a.tokenTypeIds!.some((r) => r.includes(1)),
      'the fixture holds a sentence pair (token type 1)',
    );
    const model = await BertForSequenceClassification.fromPretrained(clsDir, quiet);
    const out = path.join(work, 'fixture-cls');
    const r = await exportOnnx(model, out, { quantize: true });
    assert.equal(r.task, 'text-classification');
    const logits = (await runOnnx(path.join(out, 'onnx/model.onnx'), a)).logits;
    assert.deepEqual(logits.dims, [3, 3]);
    assertClose(logits.data as Float32Array, labLogits(model, a), 'ONNX vs bert-lab logits', 1e-4);
    assertClose(logits.data as Float32Array, f.logits.values, 'ONNX vs PyTorch logits', 1e-4);
    // Padding must not matter: row 0 alone, unpadded, gives the same logits.
    const alone = (await runOnnx(path.join(out, 'onnx/model.onnx'), { inputIds: [a.inputIds[0].slice(0, 5)] })).logits;
    assertClose(alone.data as Float32Array, f.logits.values.slice(0, 3), 'row 0 without padding', 1e-4);
    const config = JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['BertForSequenceClassification']);
    assert.deepEqual(config.id2label, { 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
    assert.deepEqual(config.label2id, { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 });
    model.dispose();
  },
);

test(
  'a pre-training checkpoint with a fresh 5-class head, and its fill-mask head, export with parity',
  needsShared,
  async () => {
    const f = fixture();
    const a: BertArrays = {
      inputIds: f.inputs.input_ids,
      attentionMask: f.inputs.attention_mask,
      tokenTypeIds: f.inputs.token_type_ids,
    };
    const labels = ['a', 'b', 'c', 'd', 'e'];
    const cls = await BertForSequenceClassification.fromPretrained(ptDir, { labels, seed: 7, ...quiet });
    const logits = (await runOnnx(encodeModel(bertToOnnx(cls)), a)).logits;
    assert.deepEqual(logits.dims, [3, 5]);
    assertClose(logits.data as Float32Array, labLogits(cls, a), 'fresh-head logits', 1e-4);
    cls.dispose();

    const mlm = await BertForPreTraining.fromPretrained(ptDir, quiet);
    const out = path.join(work, 'fixture-mlm');
    assert.equal((await exportOnnx(mlm, out)).task, 'fill-mask');
    const onnx = (await runOnnx(path.join(out, 'onnx/model.onnx'), a)).logits;
    assert.deepEqual(onnx.dims, [3, 10, mlm.config.vocab_size]);
    const ref = tf.tidy(() => mlm.forward(toInputs(a, mlm.config)).mlmLogits.dataSync());
    assertClose(onnx.data as Float32Array, ref, 'MLM logits', 1e-4);
    assert.deepEqual(JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8')).architectures, [
      'BertForMaskedLM',
    ]);
    mlm.dispose();
  },
);

test('int8 quantization: per-channel scales, symmetric range, error on non-finite weights', () => {
  const w = Float32Array.from([127, 1, -63.5, -4, 62.5, 0]); // [3, 2]
  const { q, scales } = quantizeInt8(w, 3, 2, 1);
  assertClose(scales, [1, 4 / 127], 'column scales', 1e-9);
  // Ties round to even, as ONNX Runtime's quantizer (numpy rint) does: -63.5 -> -64, 62.5 -> 62.
  assert.deepEqual([...q], [127, 32, -64, -127, 62, 0]);
  const rows = quantizeInt8(Float32Array.from([0, 0, 3, -1]), 2, 2, 0);
  assert.deepEqual(
    [...rows.scales].map((s) => +s.toFixed(6)),
    [1, +(3 / 127).toFixed(6)],
  ); // all-zero row: scale 1
  assert.throws(() => quantizeInt8(Float32Array.from([1, NaN]), 1, 2, 1), /value \[0, 1\] is NaN/);
  assert.throws(() => quantizeInt8(new Float32Array(5), 2, 2, 1), /5 values do not make a \[2, 2\] matrix/);
});

// ---------------------------------------------------------------------------------------------
// The bundled model fine-tuned briefly on the lab's tweets: float parity on validation tweets,
// int8 label agreement, and transformers.js on the exported folder.

test(
  'export errors: output over the model folder, a tokenizer of another vocabulary; a failed export keeps the old folder',
  needsShared,
  async () => {
    await assert.rejects(exportOnnx(clsDir, clsDir), /is the model's own folder/);
    const model = await BertForSequenceClassification.fromPretrained(clsDir, quiet);
    await assert.rejects(
      exportOnnx(model, path.join(work, 'x'), { tokenizer: BUNDLED_MODEL }),
      /\d+ tokens but the model's config.json has vocab_size 512/,
    );
    const out = path.join(work, 'keep');
    await mkdir(out);
    await writeFile(path.join(out, 'marker'), 'old');
    // An earlier export (its marker lists what it wrote), so the new one may replace it.
    await writeFile(path.join(out, EXPORT_MARKER), JSON.stringify({ files: ['marker'] }));
    // Fails half-way (while writing the graph): the old folder stays, no temporary folder is left.
    (model.config as { hidden_act: string }).hidden_act = 'softplus';
    await assert.rejects(exportOnnx(model, out), /hidden_act "softplus"/);
    assert.equal(readFileSync(path.join(out, 'marker'), 'utf8'), 'old');
    assert.deepEqual(
      (await readdir(work)).filter((n) => n.includes('.tmp-')),
      [],
    );
    model.dispose();
  },
);
