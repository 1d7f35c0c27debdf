import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  BERT_DEFAULTS,
  ConfigError,
  SUPPORTED_ACTIVATIONS,
  parseConfig,
  readConfig,
  writeConfig,
  type BertConfig,
} from '../src/model/config.js';
import { expectError as expectErrorIn, needsShared, shared, withTemp } from './shared.js';

const FILE = '/m/config.json';

function expectError(json: unknown, pattern: RegExp): void {
  expectErrorIn(() => parseConfig(json, FILE), ConfigError, /^config\.json \(\/m\/config\.json\): /, pattern);
}

/** Labels of a classification head: id2label's size (num_labels is folded into id2label on reading). */
const labelCount = (c: BertConfig): number => Object.keys(c.id2label ?? {}).length;

test('reads the parity fixtures and bert-base-uncased', needsShared, async () => {
  for (const name of ['tiny-bert-cls', 'tiny-bert-pretraining']) {
    const cfg = await readConfig(shared('fixtures/parity', name));
    assert.equal(cfg.model_type, 'bert');
    assert.equal(cfg.vocab_size, 512);
    assert.equal(cfg.hidden_size, 32);
    assert.equal(cfg.num_hidden_layers, 2);
    assert.equal(cfg.num_attention_heads, 4);
    assert.equal(cfg.intermediate_size, 64);
    assert.equal(cfg.max_position_embeddings, 64);
  }
  const cls = await readConfig(shared('fixtures/parity/tiny-bert-cls'));
  assert.equal(labelCount(cls), 3);
  assert.deepEqual(cls.label2id, { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 });
  assert.deepEqual(cls.architectures, ['BertForSequenceClassification']);
  assert.equal((await readConfig(shared('fixtures/parity/tiny-bert-pretraining'))).id2label, undefined);
  const base = await readConfig(shared('models/bert-base-uncased'));
  for (const [k, v] of Object.entries(BERT_DEFAULTS)) assert.equal(base[k], v, k);
  assert.deepEqual(base.architectures, ['BertForMaskedLM']);
  assert.equal(base.transformers_version, '4.6.0.dev0', 'unknown fields are kept');
  assert.equal(base.id2label, undefined);
});

test('fills defaults and normalizes labels', () => {
  const cfg = parseConfig({ model_type: 'bert', hidden_size: 64, num_attention_heads: 8 }, FILE);
  assert.equal(cfg.vocab_size, 30522);
  assert.equal(cfg.hidden_act, 'gelu');
  assert.equal(cfg.layer_norm_eps, 1e-12);
  assert.equal(cfg.position_embedding_type, 'absolute');

  const n = parseConfig({ model_type: 'bert', num_labels: 3 }, FILE);
  assert.deepEqual(n.id2label, { 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
  assert.deepEqual(n.label2id, { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 });
  assert.equal(n.num_labels, undefined);
  assert.equal(labelCount(n), 3);

  const l = parseConfig({ model_type: 'bert', id2label: { ' 1': 'real', '0': 'fake' } }, FILE);
  assert.deepEqual(l.id2label, { 0: 'fake', 1: 'real' });
  assert.deepEqual(l.label2id, { fake: 0, real: 1 });
  // Pre-2.x configs have no model_type.
  assert.equal(parseConfig({ vocab_size: 100 }, FILE).model_type, 'bert');
  for (const act of SUPPORTED_ACTIVATIONS) assert.equal(parseConfig({ hidden_act: act }, FILE).hidden_act, act);
  // The model implements tanh (transformers' ACT2FN has it), so the config accepts it.
  assert.equal(parseConfig({ hidden_act: 'tanh' }, FILE).hidden_act, 'tanh');
  assert.equal(
    parseConfig({ classifier_dropout: null, problem_type: 'multi_label_classification' }, FILE).classifier_dropout,
    null,
  );
});

test('bad configs name the file, the field and the problem', () => {
  expectError([1], /expected a JSON object, got an array/);
  expectError(null, /expected a JSON object, got null/);
  expectError({ model_type: 'roberta' }, /model_type "roberta" is not supported: bert-lab loads model_type "bert"/);
  expectError(
    { architectures: ['RobertaForMaskedLM'] },
    /model_type is missing and architectures \["RobertaForMaskedLM"\] are not BERT/,
  );
  expectError({ hidden_size: '768' }, /field "hidden_size" must be a positive integer, got "768"/);
  expectError({ num_hidden_layers: 0 }, /field "num_hidden_layers" must be a positive integer, got 0/);
  expectError({ vocab_size: 10.5 }, /field "vocab_size" must be a positive integer, got 10\.5/);
  expectError({ hidden_dropout_prob: 1 }, /field "hidden_dropout_prob" must be a number in \[0, 1\), got 1/);
  expectError({ layer_norm_eps: 0 }, /field "layer_norm_eps" must be a positive number, got 0/);
  expectError({ pad_token_id: -1 }, /field "pad_token_id" must be a non-negative integer, got -1/);
  expectError({ pad_token_id: 600, vocab_size: 512 }, /pad_token_id 600 is not below vocab_size 512/);
  expectError(
    { hidden_size: 100, num_attention_heads: 12 },
    /hidden_size 100 is not a multiple of num_attention_heads 12/,
  );
  expectError({ hidden_act: 'mish' }, /hidden_act "mish" is not supported \(supported: gelu, gelu_new/);
  expectError(
    { position_embedding_type: 'relative_key' },
    /position_embedding_type "relative_key" is not supported: only "absolute" is/,
  );
  expectError({ architectures: 'BertModel' }, /field "architectures" must be an array of strings/);
  expectError({ classifier_dropout: 2 }, /field "classifier_dropout" must be null or a number in \[0, 1\), got 2/);
  expectError({ problem_type: 'ranking' }, /problem_type "ranking" is not one of regression/);
  expectError({ num_labels: 0 }, /field "num_labels" must be a positive integer, got 0/);
  expectError({ id2label: { a: 'x' } }, /id2label key "a" is not a non-negative integer/);
  expectError({ id2label: { 0: 1 } }, /id2label\["0"\] must be a string, got 1/);
  expectError({ id2label: { 0: 'a', 2: 'b' } }, /id2label ids must be 0\.\.1, but 1 is missing/);
  expectError({ id2label: { 0: 'a', '00': 'b' } }, /id2label has id 0 twice/);
  expectError({ id2label: { 0: 'a', 1: 'a' } }, /id2label gives label "a" to ids 0 and 1/);
  expectError({ id2label: {} }, /id2label is empty/);
  expectError(
    { id2label: { 0: 'a', 1: 'b' }, num_labels: 3 },
    /num_labels 3 disagrees with id2label, which has 2 labels/,
  );
  expectError({ id2label: { 0: 'a', 1: 'b' }, label2id: { a: 1, b: 0 } }, /label2id\["a"\] is 1 but id2label gives 0/);
  expectError({ id2label: { 0: 'a', 1: 'b' }, label2id: { a: 0 } }, /label2id has no entry for id2label's label "b"/);
  expectError({ label2id: { a: 0 } }, /label2id is given without id2label/);
});

test('readConfig and writeConfig: errors, atomic pretty output in HF key order, round trip', async () => {
  await withTemp(async (dir) => {
    await assert.rejects(
      readConfig(dir),
      (e: unknown) => e instanceof ConfigError && /config\.json \(.*\): not found/.test(e.message),
    );
    await writeFile(path.join(dir, 'config.json'), '{"model_type": "bert",');
    await assert.rejects(readConfig(dir), /config\.json \(.*\): not valid JSON/);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', hidden_act: 'mish' }));
    await assert.rejects(readConfig(dir), /config\.json \(.*config\.json\): hidden_act "mish" is not supported/);

    const cfg: BertConfig = {
      ...parseConfig({ num_labels: 12 }, 'x'),
      architectures: ['BertForSequenceClassification'],
      custom: { z: 1, a: 2 },
    };
    await writeConfig(dir, cfg);
    const text = await readFile(path.join(dir, 'config.json'), 'utf8');
    assert.ok(text.endsWith('}\n'));
    assert.match(
      text,
      /^{\n {2}"architectures": \[\n {4}"BertForSequenceClassification"\n {2}\],\n {2}"attention_probs_dropout_prob": 0\.1,/,
    );
    const keys = Object.keys(JSON.parse(text) as Record<string, unknown>);
    assert.deepEqual(keys, [...keys].sort());
    assert.ok(
      text.indexOf('"10": "LABEL_10"') < text.indexOf('"2": "LABEL_2"'),
      'id2label keys sorted as strings, like Python',
    );
    assert.ok(text.includes('"layer_norm_eps": 1e-12'));
    assert.deepEqual(Object.keys((JSON.parse(text) as { custom: object }).custom), ['a', 'z']);
    const back = await readConfig(dir);
    assert.deepEqual(back, parseConfig(cfg, 'x'));
    assert.equal(labelCount(back), 12);
    assert.deepEqual(await readdir(dir), ['config.json'], 'no temp file left behind');

    await assert.rejects(writeConfig(dir, { ...cfg, hidden_size: 7 }), /hidden_size 7 is not a multiple/);
    assert.equal(
      await readFile(path.join(dir, 'config.json'), 'utf8'),
      text,
      'an invalid config does not replace the file',
    );
    await assert.rejects(
      writeConfig(path.join(dir, 'missing'), cfg),
      /config\.json \(.*missing.config\.json\): cannot write/,
    );
  });
});

test('bert-base-uncased config survives a write and read', needsShared, async () => {
  await withTemp(async (dir) => {
    const original = JSON.parse(await readFile(shared('models/bert-base-uncased/config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeConfig(dir, await readConfig(shared('models/bert-base-uncased')));
    const written = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, original, 'nothing added or lost');
  });
});
