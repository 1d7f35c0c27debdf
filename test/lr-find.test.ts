// The learning-rate range test: on the bundled tiny model and real tweets its loss curve falls, then
// rises; the suggestion lies inside the range, before the loss blows up; the weights come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
// Through the public API: the data-preparation functions' module may move.
import { loadClassifier, prepareData } from '../src/index.js';
import { lrFind, steepestLr, LrFindStopped } from '../src/training/lr-find.js';

const LR_STOP_MESSAGE = "the range test stopped on request after step 3 of 50; the model's weights are as before it";
import { needsShared, repoRoot, shared } from './shared.js';

test('steepestLr: the steepest fall before the lowest point, not the rise after it', () => {
  const lrs = Array.from({ length: 50 }, (_, i) => 10 ** (-6 + i / 10));
  // Flat at 1, a fall steepest at lr 1e-4 (i = 20), the lowest point at i = 30, then a climb.
  const loss = lrs.map((_, i) => (i <= 30 ? 1 - 0.5 / (1 + Math.exp(-(i - 20) / 2)) : 0.5 + 0.2 * (i - 30)));
  const got = steepestLr(lrs.map((lr, i) => ({ lr, smoothed: loss[i] })));
  assert.ok(Math.abs(Math.log10(got) + 4) < 0.15, `steepest at ${got}, expected about 1e-4`);
  assert.throws(() => steepestLr([]), /no points/);
});

test(
  'lrFind on bert-lab-tiny: the loss falls then rises, the suggestion is inside the range, the weights are restored',
  needsShared,
  async () => {
    await initBackend(undefined, () => {});
    const choice = await loadClassifier(path.join(repoRoot, 'models/bert-lab-tiny'), ['0', '1'], {
      seed: 1,
      log: () => {},
    });
    const model = choice.model;
    try {
      const prep = await prepareData(shared('data/disaster-tweets/train.csv'), choice.tokenizer, {
        limit: 300,
        maxLen: 32,
        log: () => {},
      });
      const before = new Map([...model.p.vars].map(([k, v]) => [k, v.dataSync().slice()]));
      const dropout = model.dropoutCounter;
      const tensors = tf.memory().numTensors;
      const seen: number[] = [];
      const r = await lrFind(model, prep.train, {
        startLr: 1e-5,
        endLr: 10,
        steps: 40,
        batchSize: 32,
        beta: 0.9,
        onStep: (p) => seen.push(p.step),
      });
      assert.equal(r.stopped, 'diverged', 'an lr of 10 must blow the loss up before the last step');
      assert.ok(r.points.length < 40 && r.points.length > 15, `${r.points.length} steps`);
      assert.deepEqual(
        seen,
        r.points.map((p) => p.step),
      );
      // Exponential steps: a constant ratio between successive learning rates.
      const ratio = r.points[1].lr / r.points[0].lr;
      assert.ok(Math.abs(r.points[10].lr / r.points[9].lr - ratio) < 1e-9 * ratio);
      assert.ok(Math.abs(ratio - (10 / 1e-5) ** (1 / 39)) < 1e-9);
      // The smoothed curve falls below where it started, then climbs above its lowest point.
      const sm = r.points.map((p) => p.smoothed);
      const low = sm.indexOf(Math.min(...sm));
      assert.ok(low > 0 && low < sm.length - 1, `lowest smoothed loss at step ${low + 1} of ${sm.length}`);
      assert.ok(sm[low] < sm[0] - 0.01, `fell from ${sm[0]} to ${sm[low]}`);
      assert.ok(sm.at(-1)! > sm[low] * 1.5, `rose from ${sm[low]} to ${sm.at(-1)}`);
      // The suggestion: inside the range, before the lowest point.
      assert.ok(r.steepest >= 1e-5 && r.steepest <= 10, `steepest ${r.steepest}`);
      assert.ok(r.steepest <= r.minimum, `steepest ${r.steepest} after the minimum ${r.minimum}`);
      // Nothing changed: every weight, the dropout counter, the tensor count.
      for (const [k, v] of model.p.vars) assert.deepEqual(v.dataSync(), before.get(k), `${k} was not restored`);
      assert.equal(model.dropoutCounter, dropout);
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
      // Asked to stop: it stops at the next step and says so, the weights restored all the same.
      let calls = 0;
      await assert.rejects(
        lrFind(model, prep.train, { steps: 50, batchSize: 16, shouldStop: () => ++calls > 3 }),
        (e: Error) => e instanceof LrFindStopped && e.message === LR_STOP_MESSAGE,
      );
      for (const [k, v] of model.p.vars) assert.deepEqual(v.dataSync(), before.get(k), `${k} was not restored`);
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
      await assert.rejects(lrFind(model, prep.train, { startLr: 1, endLr: 1e-3 }), /startLr < endLr/);
    } finally {
      model.dispose();
    }
  },
);
