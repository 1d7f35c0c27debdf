// The main job's choices when nothing is given: which model and which data, and why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, mkdir, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultData, runLab } from '../src/app/lab.js';
import { initBackend } from '../src/backend/init.js';
import { BUNDLED_MODEL, defaultModel } from '../src/app/classifier.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { needsShared, shared } from './shared.js';

test('offline and uncached, the main job uses the bundled pre-trained model and says why', async () => {
  const saved = { ...process.env };
  const cache = await mkdtemp(path.join(os.tmpdir(), 'bert-hfcache-'));
  try {
    Object.assign(process.env, { HF_HUB_OFFLINE: '1', HF_HOME: cache, HF_HUB_CACHE: path.join(cache, 'hub') });
    const m = await defaultModel(undefined, () => {});
    assert.equal(m.dir, BUNDLED_MODEL);
    assert.match(m.why, /bert-base-uncased is unavailable .*bundled pre-trained model/);
    const tok = await BertTokenizer.fromDir(m.dir);
    // bert-base-uncased's vocabulary, so the offline lab prints the manual's ids.
    assert.equal(tok.vocabSize, 30522);
    assert.deepEqual(
      tok.encode('deeds reason earthquake may allah forgive us').ids,
      [101, 15616, 3114, 8372, 2089, 16455, 9641, 2149, 102],
    );
    // An explicit model is used as given.
    assert.equal((await defaultModel(BUNDLED_MODEL, () => {})).dir, BUNDLED_MODEL);
  } finally {
    process.env = saved;
    await rm(cache, { recursive: true, force: true });
  }
});

test(
  "the main job's data: --data, else data/train.csv with its test.csv, else the npm spam corpus",
  needsShared,
  async () => {
    const cwd = process.cwd();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-maindata-'));
    try {
      process.chdir(dir);
      const spam = await defaultData(undefined);
      assert.equal(typeof spam.source, 'object');
      const corpus = spam.source as { name: string; data: { texts: string[]; labels: number[]; labelNames: string[] } };
      assert.deepEqual(corpus.data.labelNames, ['ham', 'spam']);
      assert.equal(corpus.data.texts.length, corpus.data.labels.length);
      assert.ok(corpus.data.texts.length > 5000);
      assert.match(spam.why, /SpamAssassin/);
      await mkdir('data');
      await copyFile(shared('data/disaster-tweets/train.csv'), 'data/train.csv');
      await copyFile(shared('data/disaster-tweets/test.csv'), 'data/test.csv');
      const lab = await defaultData(undefined);
      assert.equal(lab.source, 'data/train.csv');
      assert.equal(lab.test, path.join('data', 'test.csv'));
      assert.equal((await defaultData('other.csv')).source, 'other.csv');
    } finally {
      process.chdir(cwd);
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test(
  'runLab: a batch that cannot fit the backend stops before any weight is loaded (a dry run too), naming the batch that fits',
  needsShared,
  async () => {
    await initBackend('wasm', () => {});
    const out = await mkdtemp(path.join(os.tmpdir(), 'bert-lab-fits-'));
    try {
      // bert-base-uncased's config and tokenizer only (no weights in ../shared): the check comes first.
      await assert.rejects(
        runLab({
          data: shared('data/disaster-tweets/train.csv'),
          model: shared('models/bert-base-uncased'),
          out: path.join(out, 'run'),
          limit: 600,
          training: { batchSize: 480 },
          dryRun: true,
          log: () => {},
        }),
        /training .*bert-base-uncased \(109,\d{3},\d{3} parameters\) with batch 480 x \d+ tokens needs about [\d.]+ GB, more than the wasm backend's 4\.0 GB heap .*use --batch-size \d+ or less/,
      );
      // A batch that fits passes the same dry run.
      const ok = await runLab({
        data: shared('data/disaster-tweets/train.csv'),
        model: shared('models/bert-base-uncased'),
        out: path.join(out, 'run'),
        limit: 600,
        training: { batchSize: 16 },
        dryRun: true,
        log: () => {},
      });
      assert.equal(ok.training.config.batchSize, 16);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);
