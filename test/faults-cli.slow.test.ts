// Faults of the run folder that need real (tiny) training runs (issue 25, second pass): a best/
// no better than the majority class is said in report.json and on the run's last line; --overwrite
// on other validation rows keeps the old best/ as best.previous/; a run marks its folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cli, needsShared, repoRoot, shared, tinyTrain } from './shared.js';

const tweets = shared('data/disaster-tweets/train.csv');
const tiny = path.join(repoRoot, 'models/bert-lab-tiny');
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-faults-cli-slow-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One epoch on the first 300 tweets with the tiny model, into `out`: options after it are added. */
const train = (out: string, ...extra: string[]) =>
  cli(
    'train',
    '--data',
    tweets,
    '--model',
    tiny,
    '--limit',
    '300',
    '--epochs',
    '1',
    '--out',
    out,
    '--backend',
    'wasm',
    ...extra,
  );

test("case 1: a best/ below the majority class is said in report.json and on the run's last line", needsShared, () =>
  withDir(async (dir) => {
    // lr 0 leaves the random init as it is; with seed 2 it scores 0.40 where always "0" scores 0.60.
    const out = path.join(dir, 'flat');
    const r = cli(...tinyTrain(out, {}, '--lr', '0', '--seed', '2'));
    assert.equal(r.code, 0, r.stderr);
    const rep = readJson(path.join(out, 'report.json'));
    assert.equal(rep.beats_majority, false);
    assert.deepEqual(rep.majority_class, { label: 'not a disaster', accuracy: 0.6 });
    assert.equal(rep.best.valAccuracy, 0.4);
    const last = r.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(
      last,
      /^Warning: .*flat\/best \(validation accuracy 0\.4000\) is below the majority-class rate 0\.6000 \(always "not a disaster"\): it has learned nothing useful/,
    );
  }),
);

test(
  'case 9 (and 8): --overwrite on other validation rows keeps the old best/ as best.previous/ and says so',
  needsShared,
  () =>
    withDir(async (dir) => {
      const out = path.join(dir, 'run');
      const first = train(out, '--lr', '1e-3');
      assert.equal(first.code, 0, first.stderr);
      const rec1 = readJson(path.join(out, 'best', 'bert_lab_best.json'));
      const weights1 = readFileSync(path.join(out, 'best', 'model.safetensors'));

      // Other rows (another split seed), and a run that learns nothing: the old best/ is not lost.
      const second = train(out, '--overwrite', '--split-seed', '1', '--lr', '0');
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /was measured on other validation rows: .* it is kept as .*run\/best\.previous/);
      assert.match(
        second.stdout,
        /Kept the previous .*run\/best \(epoch 1, validation accuracy [\d.]+ on 60 other rows\) as /,
      );
      assert.match(
        second.stdout,
        /The previous best\/, measured on other validation rows, is kept in .*best\.previous/,
      );
      const prev = path.join(out, 'best.previous');
      assert.deepEqual(readJson(path.join(prev, 'bert_lab_best.json')), rec1);
      assert.ok(readFileSync(path.join(prev, 'model.safetensors')).equals(weights1), 'best.previous/ is the old best/');
      assert.notEqual(readJson(path.join(out, 'best', 'bert_lab_best.json')).validation.sha256, rec1.validation.sha256);
      assert.equal(readJson(path.join(out, 'report.json')).previous_best, prev);

      // A best.previous/ that is not ours is never replaced: refused before any training.
      await rm(path.join(prev, 'bert_lab_best.json'));
      await rm(path.join(prev, 'trainer_state.json'));
      const best2 = readFileSync(path.join(out, 'best', 'model.safetensors'));
      const third = train(out, '--overwrite', '--split-seed', '2');
      assert.equal(third.code, 1);
      assert.match(third.stderr, /best\.previous was not written by bert-lab \(no bert_lab_best\.json\)/);
      assert.doesNotMatch(third.stdout, /Epoch 1/);
      assert.ok(readFileSync(path.join(out, 'best', 'model.safetensors')).equals(best2), 'best/ unchanged');
      // Case 8: the run marked its folder, so that a later --overwrite knows it for a run.
      assert.ok(existsSync(path.join(out, '.bert-lab-run')), 'the run wrote its mark');
    }),
);
