// Parity with an independent PyTorch implementation of Hugging Face BERT (../shared/fixtures/parity).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, copyFile, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForPreTraining, BertForSequenceClassification, BertModel } from '../src/model/bert.js';
import { loadAuto } from '../src/model/auto.js';
import { toInputs } from '../src/model/inputs.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { assertClose, needsShared, shared } from './shared.js';

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[] };
  last_hidden_state: { shape: number[]; values: number[] };
  pooler_output: { shape: number[]; values: number[] };
  logits: { shape: number[]; values: number[] };
  loss: number;
  gradients_of_loss: Record<string, number[]>;
  mlm_logits_first_8_vocab: { shape: number[]; values: number[] };
  mlm_logits_row_sums: { shape: number[]; values: number[] };
  nsp_logits: { shape: number[]; values: number[] };
}

const clsDir = shared('fixtures/parity/tiny-bert-cls');
const ptDir = shared('fixtures/parity/tiny-bert-pretraining');
const fx = (): Fixture => JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as Fixture;
const inputsOf = (f: Fixture) => ({
  inputIds: f.inputs.input_ids,
  attentionMask: f.inputs.attention_mask,
  tokenTypeIds: f.inputs.token_type_ids,
});
const quiet = { log: () => {} };

test('forward pass matches PyTorch on the classification checkpoint', needsShared, async () => {
  await initBackend();
  const f = fx();
  const model = await BertForSequenceClassification.fromPretrained(clsDir, quiet);
  assert.deepEqual(model.labels, ['LABEL_0', 'LABEL_1', 'LABEL_2']);
  tf.tidy(() => {
    const out = model.forward(toInputs(inputsOf(f), model.config));
    assert.deepEqual(out.lastHiddenState.shape, f.last_hidden_state.shape);
    assertClose(out.lastHiddenState.dataSync(), f.last_hidden_state.values, 'last_hidden_state');
    assertClose(out.poolerOutput.dataSync(), f.pooler_output.values, 'pooler_output');
    assertClose(out.logits.dataSync(), f.logits.values, 'logits');
    const loss = model.loss(toInputs(inputsOf(f), model.config), tf.tensor1d(f.inputs.labels, 'int32'));
    assertClose(loss.dataSync(), [f.loss], 'loss');
  });
  model.dispose();
});

test('gradients of the loss match PyTorch, and the [PAD] row gets none', needsShared, async () => {
  await initBackend();
  const f = fx();
  const model = await BertForSequenceClassification.fromPretrained(clsDir, quiet);
  const inputs = toInputs(inputsOf(f), model.config);
  const labels = tf.tensor1d(f.inputs.labels, 'int32');
  const { grads, value } = tf.variableGrads(() => model.loss(inputs, labels), model.trainableVariables());
  const byName = new Map([...model.p.vars].map(([n, v]) => [n, grads[v.name]]));
  // Linear weights are held transposed; compare in the checkpoint's [out, in] layout.
  const hf = (name: string) => tf.transpose(byName.get(name)!).dataSync();
  const g = f.gradients_of_loss;
  const tol = (a: ArrayLike<number>, e: number[], what: string) => assertClose(a, e, what, 1e-6, 1e-4);
  tol(hf('classifier.weight'), g['classifier.weight'], 'd loss / classifier.weight');
  tol(hf('bert.pooler.dense.weight'), g['bert.pooler.dense.weight'], 'd loss / pooler.dense.weight');
  tol(
    hf('bert.encoder.layer.0.attention.self.query.weight'),
    g['bert.encoder.layer.0.attention.self.query.weight'],
    'd loss / query.weight',
  );
  const rows = tf.gather(byName.get('bert.embeddings.word_embeddings.weight')!, [0, 101, 300, 511]).dataSync();
  tol(rows, g['bert.embeddings.word_embeddings.weight[rows 0,101,300,511]'], 'd loss / word_embeddings rows');
  assert.ok(
    rows.slice(0, 32).every((x) => x === 0),
    'the [PAD] row must get no gradient',
  );
  assertClose(value.dataSync(), [f.loss], 'loss');
  tf.dispose([value, ...Object.values(grads), inputs.inputIds, inputs.attentionMask!, inputs.tokenTypeIds!, labels]);
  model.dispose();
});

test(
  'the pre-training checkpoint (gamma/beta names, tied decoder) matches MLM and NSP logits',
  needsShared,
  async () => {
    await initBackend();
    const f = fx();
    const logs: string[] = [];
    const model = await BertForPreTraining.fromPretrained(ptDir, { log: (s) => logs.push(s) });
    assert.deepEqual(logs, [], 'every weight is found and used');
    tf.tidy(() => {
      const out = model.forward(toInputs(inputsOf(f), model.config));
      assertClose(out.lastHiddenState.dataSync(), f.last_hidden_state.values, 'last_hidden_state');
      assertClose(
        tf.slice(out.mlmLogits, [0, 0, 0], [3, 10, 8]).dataSync(),
        f.mlm_logits_first_8_vocab.values,
        'mlm logits [:, :, :8]',
      );
      assertClose(
        tf.sum(out.mlmLogits, -1).dataSync(),
        f.mlm_logits_row_sums.values,
        'mlm logits row sums',
        1e-3,
        1e-5,
      );
      assertClose(out.nspLogits.dataSync(), f.nsp_logits.values, 'nsp logits');
    });
    model.dispose();
  },
);

test('a classifier from a pre-training checkpoint reports new and unused weights like HF', needsShared, async () => {
  await initBackend();
  const logs: string[] = [];
  const model = await BertForSequenceClassification.fromPretrained(ptDir, {
    log: (s) => logs.push(s),
    labels: ['neg', 'pos'],
  });
  const text = logs.join('\n');
  assert.match(
    text,
    /Some weights of BertForSequenceClassification were not initialized from the model checkpoint at .* and are newly initialized: classifier\.weight, classifier\.bias/,
  );
  assert.match(text, /were not used when initializing BertForSequenceClassification: .*cls\.predictions\.bias/);
  assert.deepEqual(model.config.id2label, { 0: 'neg', 1: 'pos' });
  // New heads: normal(0, initializer_range) weights, zero bias.
  const w = Array.from(model.p.get('classifier.weight').dataSync());
  const std = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / w.length);
  assert.ok(std > 0.01 && std < 0.03, `classifier init std ${std}`);
  assert.ok(
    model.p
      .get('classifier.bias')
      .dataSync()
      .every((x) => x === 0),
  );
  model.dispose();
});

test('a bare BertModel loads a prefixed checkpoint; a head loads an unprefixed one', needsShared, async () => {
  await initBackend();
  const f = fx();
  const base = await BertModel.fromPretrained(clsDir, quiet);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-noprefix-'));
  try {
    await base.save(dir);
    const names = [...(await readSafetensors(path.join(dir, 'model.safetensors'))).keys()];
    assert.ok(names.includes('embeddings.word_embeddings.weight') && !names.some((n) => n.startsWith('bert.')));
    const cls = await BertForSequenceClassification.fromPretrained(dir, quiet);
    tf.tidy(() => {
      const out = cls.forward(toInputs(inputsOf(f), cls.config));
      assertClose(out.poolerOutput.dataSync(), f.pooler_output.values, 'pooler_output via unprefixed checkpoint');
    });
    cls.dispose();
  } finally {
    base.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('save then load gives identical outputs (F32) and close ones (F16)', needsShared, async () => {
  await initBackend();
  const f = fx();
  const model = (await loadAuto(clsDir, quiet)) as BertForSequenceClassification;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-roundtrip-'));
  try {
    await model.save(path.join(dir, 'f32'));
    await model.save(path.join(dir, 'f16'), { dtype: 'F16' });
    const a = await BertForSequenceClassification.fromPretrained(path.join(dir, 'f32'), quiet);
    const b = await BertForSequenceClassification.fromPretrained(path.join(dir, 'f16'), quiet);
    tf.tidy(() => {
      const x = toInputs(inputsOf(f), model.config);
      const ref = model.forward(x).logits.dataSync();
      assert.deepEqual([...a.forward(x).logits.dataSync()], [...ref]);
      assertClose(b.forward(x).logits.dataSync(), ref, 'F16 logits', 5e-2);
    });
    a.dispose();
    b.dispose();
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad checkpoints and inputs give clear errors naming the file and tensor', needsShared, async () => {
  await initBackend();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-bad-'));
  try {
    // A config whose sizes do not match the weights.
    const cfg = JSON.parse(readFileSync(path.join(clsDir, 'config.json'), 'utf8'));
    await mkdir(path.join(dir, 'mismatch'));
    await writeFile(path.join(dir, 'mismatch', 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 128 }));
    await copyFile(path.join(clsDir, 'model.safetensors'), path.join(dir, 'mismatch', 'model.safetensors'));
    await assert.rejects(
      BertForSequenceClassification.fromPretrained(path.join(dir, 'mismatch'), quiet),
      /model\.safetensors: tensor "bert\.encoder\.layer\.0\.intermediate\.dense\.weight" has shape \[64, 32\] but config\.json \(intermediate_size, hidden_size\) expects \[128, 32\]/,
    );
    // Truncated weights.
    await mkdir(path.join(dir, 'truncated'));
    await copyFile(path.join(clsDir, 'config.json'), path.join(dir, 'truncated', 'config.json'));
    const bytes = readFileSync(path.join(clsDir, 'model.safetensors'));
    await writeFile(path.join(dir, 'truncated', 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    await assert.rejects(
      BertForSequenceClassification.fromPretrained(path.join(dir, 'truncated'), quiet),
      /model\.safetensors.*truncated|model\.safetensors.*past the end|model\.safetensors.*tensor/i,
    );
    // No weights at all.
    await mkdir(path.join(dir, 'empty'));
    await copyFile(path.join(clsDir, 'config.json'), path.join(dir, 'empty', 'config.json'));
    await assert.rejects(
      BertForSequenceClassification.fromPretrained(path.join(dir, 'empty'), quiet),
      /no weights found/,
    );
    // Token ids outside the vocabulary, ragged rows, sequences longer than the position table.
    const model = await BertForSequenceClassification.fromPretrained(clsDir, quiet);
    assert.throws(
      () => toInputs({ inputIds: [[101, 512, 102]] }, model.config),
      /input_ids\[0\]\[1\] = 512 is outside \[0, 511\] \(vocab_size is 512\)/,
    );
    assert.throws(
      () => toInputs({ inputIds: [[101, 5, 102]], attentionMask: [[1, 1]] }, model.config),
      /attention_mask\[0\] has length 2, expected 3/,
    );
    assert.throws(
      () => toInputs({ inputIds: [new Array(65).fill(5)] }, model.config),
      /65 tokens long, more than max_position_embeddings = 64/,
    );
    model.dispose();
    // Weights written by the project load back with the tensor names intact.
    const w = await readSafetensors(path.join(clsDir, 'model.safetensors'));
    await writeSafetensors(path.join(dir, 'copy.safetensors'), w);
    assert.equal((await readSafetensors(path.join(dir, 'copy.safetensors'))).size, w.size);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the classification loss follows problem_type as transformers does: CE, MSE, BCE-with-logits', async () => {
  await initBackend();
  const base = {
    model_type: 'bert' as const,
    vocab_size: 30,
    hidden_size: 8,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    intermediate_size: 16,
    max_position_embeddings: 16,
  };
  const { parseConfig } = await import('../src/model/config.js');
  const { problemType } = await import('../src/model/bert.js');
  const { fineTune, LAB_TRAIN_CONFIG } = await import('../src/training/train.js');
  const inputs = () =>
    toInputs(
      {
        inputIds: [
          [2, 5, 7, 3],
          [2, 9, 3, 0],
        ],
        attentionMask: [
          [1, 1, 1, 1],
          [1, 1, 1, 0],
        ],
      },
      parseConfig(base, 'x'),
    );
  const logitsOf = (m: BertForSequenceClassification) => tf.tidy(() => m.forward(inputs()).logits.arraySync());
  const lossOf = (m: BertForSequenceClassification, labels: tf.Tensor) =>
    tf.tidy(() => m.loss(inputs(), labels).dataSync()[0]);

  // regression, one label (inferred as transformers infers it): mean of (logit - target)^2.
  const reg = new BertForSequenceClassification(parseConfig({ ...base, num_labels: 1 }, 'x'));
  reg.initWeights(1);
  assert.equal(problemType(reg.config), 'regression');
  const y = [0.5, -1.25];
  const z = logitsOf(reg).map((r) => r[0]);
  assert.ok(Math.abs(lossOf(reg, tf.tensor1d(y)) - ((z[0] - y[0]) ** 2 + (z[1] - y[1]) ** 2) / 2) < 1e-5);
  // fineTune trains class ids only: a regression head is refused before any step.
  const data = { inputIds: [[2, 5, 3]], attentionMask: [[1, 1, 1]], tokenTypeIds: [[0, 0, 0]], labels: [0] };
  await assert.rejects(
    fineTune(reg, data, data, LAB_TRAIN_CONFIG, { log: () => {} }),
    /a head with 1 label is a regression head in transformers, but fine-tuning here trains classification on class ids/,
  );
  reg.dispose();

  // multi-label: mean over every logit of BCE-with-logits, the stable form checked against the naive one.
  const multi = new BertForSequenceClassification(
    parseConfig({ ...base, num_labels: 3, problem_type: 'multi_label_classification' }, 'x'),
  );
  multi.initWeights(2);
  const t = [
    [1, 0, 1],
    [0, 0, 1],
  ];
  const zs = logitsOf(multi);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  let bce = 0;
  zs.forEach((r, i) =>
    r.forEach((x, j) => {
      bce -= t[i][j] * Math.log(sig(x)) + (1 - t[i][j]) * Math.log(1 - sig(x));
    }),
  );
  assert.ok(Math.abs(lossOf(multi, tf.tensor2d(t)) - bce / 6) < 1e-5);
  // problem_type regression with several labels: MSE over [b, num_labels].
  const regN = new BertForSequenceClassification(
    parseConfig({ ...base, num_labels: 3, problem_type: 'regression' }, 'x'),
  );
  regN.initWeights(2);
  const zr = logitsOf(regN);
  let mse = 0;
  zr.forEach((r, i) =>
    r.forEach((x, j) => {
      mse += (x - t[i][j]) ** 2;
    }),
  );
  assert.ok(Math.abs(lossOf(regN, tf.tensor2d(t)) - mse / 6) < 1e-5);

  // Unset with several labels: int32 labels are class ids (cross-entropy), as before.
  const cls = new BertForSequenceClassification(parseConfig({ ...base, num_labels: 3 }, 'x'));
  cls.initWeights(2);
  assert.equal(problemType(cls.config, 'int32'), 'single_label_classification');
  assert.equal(problemType(cls.config, 'float32'), 'multi_label_classification');
  const zc = logitsOf(cls);
  const lse = (r: number[]) => Math.log(r.reduce((a, x) => a + Math.exp(x), 0));
  const ce = (lse(zc[0]) - zc[0][2] + lse(zc[1]) - zc[1][0]) / 2;
  assert.ok(Math.abs(lossOf(cls, tf.tensor1d([2, 0], 'int32')) - ce) < 1e-5);
  multi.dispose();
  regN.dispose();
  cls.dispose();
});
