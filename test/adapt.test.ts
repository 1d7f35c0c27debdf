// Masking across passes (dynamic, whole-word) and task-adaptive pre-training (`bert-lab adapt`)
// that resumes after a hard kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/backend/init.js';
import { BertForPreTraining } from '../src/model/bert.js';
import { presetConfig } from '../src/model/presets.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { buildSingleSegmentExamples, maskTokens, IGNORE_INDEX, type SpecialIds } from '../src/data/pretrain-data.js';
import { passExamples, dedupe, PRETRAIN_DEFAULTS } from '../src/training/pretrain.js';
import { rng } from '../src/nn/random.js';
import { cliArgs, killWhen, needsShared, shared } from './shared.js';

const SPECIAL: SpecialIds = { pad: 0, cls: 1, sep: 2, mask: 3, vocabSize: 1000 };

test("whole-word masking chooses a word's pieces together, at the word rate", () => {
  // Words of 1 to 3 pieces; ids >= 500 are "##" continuations.
  const ids: number[] = [];
  const rand = rng(5);
  for (let w = 0; w < 40_000; w++) {
    ids.push(10 + Math.floor(rand() * 400));
    const extra = Math.floor(rand() * 3);
    for (let k = 0; k < extra; k++) ids.push(500 + Math.floor(rand() * 400));
  }
  const { labels } = maskTokens(ids, SPECIAL, rng(9), { isContinuation: (id) => id >= 500 });
  let words = 0,
    chosenWords = 0;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i]! >= 500) {
      // A continuation is labelled exactly when the piece before it is.
      assert.equal(labels[i] !== IGNORE_INDEX, labels[i - 1] !== IGNORE_INDEX, `piece ${i}`);
      continue;
    }
    words++;
    if (labels[i] !== IGNORE_INDEX) chosenWords++;
  }
  assert.ok(Math.abs(chosenWords / words - 0.15) < 0.01, `word rate ${chosenWords / words}`);
});

test('dynamic masking: every pass masks afresh from (seed, pass), 15% of tokens, reproducibly', () => {
  const docs = Array.from({ length: 400 }, (_, d) => [
    Array.from({ length: 20 }, (_, i) => 10 + ((d * 31 + i * 7) % 900)),
  ]);
  const cfg = { ...PRETRAIN_DEFAULTS, nsp: false, maxLen: 24, batchSize: 8, seed: 3 };
  const key = (e: { inputIds: number[]; mlmLabels: number[] }) => e.inputIds.join(',') + '|' + e.mlmLabels.join(',');
  const p0 = passExamples(docs, SPECIAL, cfg, 0);
  const p1 = passExamples(docs, SPECIAL, cfg, 1);
  assert.deepEqual(passExamples(docs, SPECIAL, cfg, 0).map(key), p0.map(key), 'same seed and pass: same examples');
  // Same token content in both passes (every document once), but the masks differ.
  const content = (p: typeof p0) =>
    p.map((e) => e.inputIds.map((id, i) => (e.mlmLabels[i] === IGNORE_INDEX ? id : e.mlmLabels[i])).join(',')).sort();
  assert.deepEqual(content(p0), content(p1));
  const masked = (p: typeof p0) => new Set(p.map(key));
  const shared0 = [...masked(p0)].filter((k) => masked(p1).has(k)).length;
  assert.ok(shared0 < p0.length * 0.01, `${shared0} of ${p0.length} examples masked identically in two passes`);
  for (const p of [p0, p1]) {
    const tokens = p.reduce((n, e) => n + e.attentionMask.reduce((a, b) => a + b, 0) - 2, 0);
    const labelled = p.reduce((n, e) => n + e.mlmLabels.filter((y) => y !== IGNORE_INDEX).length, 0);
    assert.ok(Math.abs(labelled / tokens - 0.15) < 0.01, `masked share ${labelled / tokens}`);
  }
});

test('single-segment MLM examples: [CLS] piece [SEP], long documents cut, nothing lost', () => {
  const doc = [Array.from({ length: 25 }, (_, i) => 100 + i)];
  const ex = buildSingleSegmentExamples([doc], SPECIAL, 12, rng(1), { mlmProbability: 0 });
  assert.equal(ex.length, 3); // 10 + 10 + 5 tokens
  assert.deepEqual(ex[0]!.inputIds, [1, ...doc[0]!.slice(0, 10), 2]);
  assert.deepEqual(ex[2]!.inputIds, [1, ...doc[0]!.slice(20), 2, 0, 0, 0, 0, 0]);
  assert.deepEqual(ex[2]!.attentionMask, [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  assert.ok(ex.every((e) => e.tokenTypeIds.every((t) => t === 0) && e.nspLabel === 0));
});

test('dedupe drops repeats and empty documents after cleaning', () => {
  const docs = [
    { id: 'a', text: 'Fire in the forest!' },
    { id: 'b', text: 'fire   forest' },
    { id: 'c', text: '@@@' },
    { id: 'd', text: 'Flood warning' },
  ];
  assert.deepEqual(
    dedupe(docs, 'lab').map((d) => [d.id, d.text]),
    [
      ['a', 'fire forest'],
      ['d', 'flood warning'],
    ],
  );
  assert.equal(dedupe(docs, 'none').length, 4);
});

test(
  'adapt continues MLM from a model on a CSV column, resumes after kill -9, reuses a finished run',
  needsShared,
  async () => {
    await initBackend();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-adapt-'));
    try {
      // A small model with bert-base-uncased's vocabulary, saved as a pre-training checkpoint.
      const tok = await BertTokenizer.fromDir(shared('models/bert-base-uncased'));
      const model = new BertForPreTraining(
        presetConfig('tiny', {
          vocab_size: tok.vocabSize,
          hidden_size: 32,
          num_attention_heads: 2,
          intermediate_size: 64,
          num_hidden_layers: 1,
        }),
      );
      model.initWeights(7);
      const start = path.join(dir, 'start');
      await model.save(start, { extra: (tmp) => tok.save(tmp) });
      model.dispose();
      // The first 399 lines: line 400 opens a quoted tweet that runs over several lines, and a cut
      // inside it is a CSV error (a quoted field never closed), not the 400 rows it looks like.
      const csv =
        readFileSync(shared('data/disaster-tweets/train.csv'), 'utf8').split('\n').slice(0, 399).join('\n') + '\n';
      writeFileSync(path.join(dir, 'tweets.csv'), csv);
      const out = path.join(dir, 'adapted');
      const args = cliArgs([
        'adapt',
        '--model',
        start,
        '--corpus',
        `${path.join(dir, 'tweets.csv')}:text`,
        '--out',
        out,
        '--steps',
        '12',
        '--checkpoint-every',
        '3',
        '--batch-size',
        '8',
        '--max-len',
        '32',
        '--lr',
        '1e-3',
        '--backend',
        'wasm',
      ]);
      const state = path.join(out, 'checkpoint', 'state.json');
      const killedAt = (await killWhen(args, state, (s) => (s.step as number) >= 3, { cwd: dir, timeoutMs: 600_000 }))
        .step as number;
      assert.ok(killedAt >= 3 && killedAt < 12, `killed at step ${killedAt}`);
      const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Resuming from .* at step ${killedAt} of 12`));
      assert.match(r.stdout, /Adapted model in /);
      const final = JSON.parse(readFileSync(state, 'utf8'));
      assert.equal(final.step, 12);
      assert.deepEqual(
        final.points.map((p: { step: number }) => p.step),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      // MLM only: the NSP loss is not part of the objective, and the losses are finite.
      assert.ok(
        final.points.every(
          (p: { loss: number; mlmLoss: number }) => Number.isFinite(p.loss) && Math.abs(p.loss - p.mlmLoss) < 1e-6,
        ),
      );
      for (const f of ['model.safetensors', 'config.json', 'vocab.txt', 'tokenizer.json', 'adapt.json'])
        assert.ok(existsSync(path.join(out, 'model', f)), f);
      // Its card names where it started and its vocabulary, and no NSP (not trained here).
      const card = readFileSync(path.join(out, 'model', 'README.md'), 'utf8');
      assert.match(card, /continued from `.+` with masked-language modelling on the corpus below/);
      assert.match(card, /tokens, from `/);
      assert.doesNotMatch(card, /NSP|trained on the corpus/);
      // The same command again finds the finished model; other settings are refused.
      const again = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, /Using the adapted model in .* \(same settings\)/);
      const other = spawnSync(process.execPath, [...args.slice(0, -2), '--lr', '5e-4', '--backend', 'wasm'], {
        cwd: dir,
        encoding: 'utf8',
      });
      assert.notEqual(other.status, 0);
      assert.match(other.stderr, /holds a model adapted with other settings/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
