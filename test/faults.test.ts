// Faults a careless or hostile user meets: runs into a used --out, diverging training, untrusted
// checkpoints, bad options and inputs. Each test fails without the check it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { needsShared, repoRoot, shared } from './shared.js';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/app/cli.ts'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const bertBase = shared('models/bert-base-uncased');
const tweets = shared('data/disaster-tweets/train.csv');
/** A tiny random-init BERT on a few hundred tweets: seconds per run. */
const tinyRun = (out: string, ...extra: string[]) =>
  cli(
    'train',
    '--data',
    tweets,
    '--model',
    bertBase,
    '--random-init',
    'tiny',
    '--limit',
    '300',
    '--epochs',
    '1',
    '--lr',
    '5e-4',
    '--batch-size',
    '32',
    '--out',
    out,
    '--backend',
    'wasm',
    ...extra,
  );
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-faults-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('case 1: a run into a used --out needs --overwrite and never replaces a better best/', needsShared, () =>
  withDir(async (dir) => {
    const out = path.join(dir, 'run');
    const first = tinyRun(out);
    assert.equal(first.code, 0, first.stderr);
    const record = path.join(out, 'best', 'trainer_state.json');
    const rec = readJson(record);
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, rec.best.valAccuracy);
    assert.equal(readJson(path.join(out, 'stats.json')).length, 1);

    const again = tinyRun(out);
    assert.notEqual(again.code, 0, 'a second run into the same --out is refused');
    assert.match(again.stderr, /already holds a previous run \(best\/: epoch 1, validation accuracy .*--overwrite/);

    // An existing best/ that scored higher on the same rows than any epoch can: it stays as it is.
    const weights = readFileSync(path.join(out, 'best', 'model.safetensors'));
    await writeFile(record, JSON.stringify({ ...rec, best: { ...rec.best, valAccuracy: 1 } }));
    const worse = tinyRun(out, '--overwrite', '--lr', '0');
    assert.equal(worse.code, 0, worse.stderr);
    assert.match(worse.stdout, /No epoch beat the existing best \(accuracy 1\.0000\)/);
    assert.ok(readFileSync(path.join(out, 'best', 'model.safetensors')).equals(weights), 'best/ weights unchanged');
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, 1, 'report.json describes best/');
    assert.equal(readJson(record).best.valAccuracy, 1);

    // Other validation rows: the scores do not compare, so this run's best replaces best/.
    const other = tinyRun(out, '--overwrite', '--limit', '320');
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /measured on other validation rows/);
    assert.equal(readJson(record).validation.rows, 64);
    assert.equal(readJson(path.join(out, 'report.json')).best.valAccuracy, readJson(record).best.valAccuracy);
  }),
);

test(
  'case 2: divergence stops with its likely cause and saves nothing; a best below the majority class is said',
  needsShared,
  () =>
    withDir(async (dir) => {
      const high = tinyRun(path.join(dir, 'high'), '--lr', '1e3');
      assert.equal(high.code, 1);
      assert.match(
        high.stderr,
        /training diverged: the mean loss of the last \d+ steps is .* above 3 x ln\(2\) = 2\.08/,
      );
      assert.match(high.stderr, /--lr 1000 too high/);
      assert.ok(!existsSync(path.join(dir, 'high', 'best')), 'a diverged model is not saved as the best');

      const eps = tinyRun(path.join(dir, 'eps'), '--eps', '0');
      assert.equal(eps.code, 1);
      assert.match(eps.stderr, /training diverged: loss is NaN .*likely cause: --eps 0/);
      assert.doesNotMatch(eps.stderr, /--lr/);

      // lr 0 leaves the random init as it is; with seed 2 it scores 0.40 where always "0" scores 0.60.
      const flat = tinyRun(path.join(dir, 'flat'), '--lr', '0', '--seed', '2');
      assert.equal(flat.code, 0, flat.stderr);
      assert.match(
        flat.stdout,
        /Warning: the best validation accuracy 0\.4000 is below the majority-class rate 0\.6000/,
      );
    }),
);
