// Pre-training stopped on request (a notebook's interrupt): it stops after the step it was asked at,
// keeps that step in OUT/checkpoint, and a later run resumes from there to the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { pretrain, PRETRAIN_DEFAULTS, type PretrainConfig } from '../src/training/pretrain.js';
import { withTemp } from './shared.js';

const CFG: PretrainConfig = {
  ...PRETRAIN_DEFAULTS,
  corpus: ['moby-dick'],
  vocabSize: 300,
  layers: 1,
  hidden: 32,
  heads: 2,
  maxLen: 32,
  batchSize: 8,
  steps: 12,
  checkpointEvery: 10,
  warmup: 2,
};

test('pretrain with shouldStop: stops after that step, saves it, says so; the next run resumes to the end', async () => {
  await initBackend(undefined, () => {});
  await withTemp(async (out) => {
    const lines: string[] = [];
    let steps = 0;
    const tensors = tf.memory().numTensors;
    const r = await pretrain(out, CFG, {
      log: (l) => lines.push(l),
      onStep: () => steps++,
      shouldStop: () => steps >= 4,
    });
    assert.equal(r.stoppedAt, 4);
    assert.equal(r.points.length, 4);
    assert.equal(r.modelDir, path.join(out, 'checkpoint'));
    assert.ok(Number.isNaN(r.eval.mlmAccuracy));
    assert.equal(JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')).step, 4);
    assert.ok(!existsSync(path.join(out, 'model')), 'no final model for a stopped run');
    assert.match(
      lines.at(-1)!,
      /stopped on request after step 4 of 12: .*checkpoint; run again with the same settings to resume/,
    );
    assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
    const done = await pretrain(out, CFG, () => {});
    assert.equal(done.stoppedAt, undefined);
    assert.equal(done.points.length, 12);
    assert.deepEqual(
      done.points.slice(0, 4).map((p) => p.loss),
      r.points.map((p) => p.loss),
      'the resumed run keeps the first four steps',
    );
    assert.ok(existsSync(path.join(out, 'model', 'model.safetensors')));
  });
});
