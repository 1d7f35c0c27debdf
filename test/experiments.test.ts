import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  expandGrid,
  formatMeanSd,
  GridStopped,
  meanSd,
  readResults,
  runGrid,
  runName,
  saveResult,
  summarizeResults,
  type ExperimentGrid,
  type ExperimentResult,
} from '../src/app/experiments.js';
import { initBackend } from '../src/backend/init.js';
import { needsShared, repoRoot, shared, withTemp } from './shared.js';

const GRID: ExperimentGrid = {
  model: [path.join(repoRoot, 'models/bert-lab-tiny')],
  clean: ['lab', 'none'],
  lr: [1e-4],
  epochs: [1],
  batchSize: [16],
  warmupSteps: [0],
  weightDecay: [0, 0.01],
  maxLen: [32],
  seed: [1, 2],
};

test('expandGrid: every combination, seeds fastest; an empty list is an error naming the setting', () => {
  const runs = expandGrid(GRID);
  assert.equal(runs.length, 2 * 2 * 2);
  assert.deepEqual(
    runs.slice(0, 3).map((r) => [r.clean, r.weightDecay, r.seed]),
    [
      ['lab', 0, 1],
      ['lab', 0, 2],
      ['lab', 0.01, 1],
    ],
  );
  assert.equal(new Set(runs.map(runName)).size, runs.length, 'run names must differ');
  assert.throws(() => expandGrid({ ...GRID, lr: [] }), /"lr" needs a list of at least one value/);
});

test('runName spells out the settings', () => {
  const [s] = expandGrid({ ...GRID, maxLen: [undefined] });
  assert.equal(runName(s), 'bert-lab-tiny_clean-lab_lr1e-4_ep1_bs16_wu0_wd0_lenauto_seed1');
});

test('meanSd uses the sample standard deviation', () => {
  const m = meanSd([1, 2, 3, 4]);
  assert.equal(m.mean, 2.5);
  assert.ok(Math.abs(m.sd - 1.2909944487) < 1e-9);
  assert.ok(Number.isNaN(meanSd([3]).sd));
  assert.equal(formatMeanSd({ mean: 0.81234, sd: 0.004 }), '0.8123 ± 0.0040');
  assert.equal(formatMeanSd(meanSd([0.5])), '0.5000');
});

test('the results table: replaced by run name, kept on disk; a broken file is a clear error', async () => {
  await withTemp(async (dir) => {
    const file = path.join(dir, 'results.json');
    assert.deepEqual(await readResults(file), []);
    const [a, b] = expandGrid(GRID);
    const row = (s: typeof a, acc: number): ExperimentResult => ({
      ...s,
      run: runName(s),
      bestEpoch: 1,
      valAccuracy: acc,
      valLoss: 0.5,
      f1: acc - 0.1,
      minutes: 0,
      epochStats: [],
      finishedAt: '',
    });
    await saveResult(file, row(a, 0.6));
    await saveResult(file, row(b, 0.7));
    await saveResult(file, row(a, 0.8)); // the same run again replaces its row
    const rows = await readResults(file);
    assert.deepEqual(
      rows.map((r) => r.valAccuracy),
      [0.7, 0.8],
    );
    const [sum] = summarizeResults(rows);
    assert.deepEqual(sum.seeds, [2, 1]);
    assert.ok(Math.abs(sum.accuracy.mean - 0.75) < 1e-12 && sum.accuracy.n === 2);
    await writeFile(file, '{"not": "a table"}');
    await assert.rejects(readResults(file), /results\.json: a results table is a JSON array; delete it/);
  });
});

test(
  'runGrid: real runs of the bundled model, one folder each, the table grows and finished runs are skipped',
  needsShared,
  async () => {
    await initBackend(undefined, () => {});
    await withTemp(async (out) => {
      const settings = expandGrid({ ...GRID, clean: ['lab'], weightDecay: [0] }); // two seeds
      const lines: string[] = [];
      const o = { data: shared('data/disaster-tweets/train.csv'), out, limit: 80, log: (l: string) => lines.push(l) };
      const rows = await runGrid(settings, o);
      assert.equal(rows.length, 2);
      for (const r of rows) {
        assert.ok(existsSync(path.join(out, r.run, 'best', 'model.safetensors')), `${r.run}/best missing`);
        assert.ok(existsSync(path.join(out, r.run, 'report.json')));
        assert.ok(r.valAccuracy > 0 && r.valAccuracy <= 1 && r.epochStats.length === 1);
        assert.equal(r.maxLen, 32);
      }
      // Different seeds are different runs: their training losses differ.
      assert.notEqual(rows[0].epochStats[0].trainLoss, rows[1].epochStats[0].trainLoss);
      // Re-opening: the table is on disk; running the grid again trains nothing.
      assert.equal((await readResults(path.join(out, 'results.json'))).length, 2);
      lines.length = 0;
      const again = await runGrid(settings, o);
      assert.equal(again.length, 2);
      assert.equal(lines.filter((l) => l.includes('skipped')).length, 2);
      const [sum] = summarizeResults(again);
      assert.equal(sum.accuracy.n, 2);
    });
  },
);

test(
  'runGrid with shouldStop: stopped inside a run, nothing half-done is recorded; stopped between runs, the finished ones are',
  needsShared,
  async () => {
    await initBackend(undefined, () => {});
    await withTemp(async (out) => {
      const settings = expandGrid({ ...GRID, clean: ['lab'], weightDecay: [0] }); // two seeds
      const lines: string[] = [];
      let steps = 0;
      const o = {
        data: shared('data/disaster-tweets/train.csv'),
        out,
        limit: 80,
        log: (l: string) => lines.push(l),
        hooks: () => ({ log: () => {}, onStep: () => steps++ }),
      };
      // Inside the first run, after its second step.
      await assert.rejects(runGrid(settings, { ...o, shouldStop: () => steps >= 2 }), (e: Error) => {
        assert.ok(e instanceof GridStopped);
        assert.match(
          e.message,
          /^the grid stopped on request in run 1 of 2 .* at epoch 1, step 2 of \d+, not recorded; kept: 0 finished/,
        );
        assert.equal(e.rows.length, 0);
        return true;
      });
      assert.equal(steps, 2, 'stopped at the step it was asked');
      assert.deepEqual(await readResults(path.join(out, 'results.json')), []);
      // Between runs: the first finishes and is kept, the second is not started.
      let runs = 0;
      await assert.rejects(
        runGrid(settings, {
          ...o,
          hooks: () => ({ log: () => {}, onBest: () => void runs++ }),
          shouldStop: () => runs >= 1,
        }),
        (e: Error) =>
          e instanceof GridStopped && /before run 2 of 2 .*kept: 1 finished run/.test(e.message) && e.rows.length === 1,
      );
      assert.equal((await readResults(path.join(out, 'results.json'))).length, 1);
      // Again without stopping: only the missing run trains; the grid's own rows come back in order.
      const all = await runGrid(settings, o);
      assert.deepEqual(
        all.map((r) => r.seed),
        [1, 2],
      );
    });
  },
);
