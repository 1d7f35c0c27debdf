// Pre-training stopped on request (a notebook's interrupt): it stops after the step it was asked at,
// keeps that step in OUT/checkpoint, and a later run resumes from there to the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { pretrain, PretrainStopped, PRETRAIN_DEFAULTS, type PretrainConfig } from '../src/training/pretrain.js';
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
    const points: number[] = [];
    await assert.rejects(
      pretrain(out, CFG, {
        log: (l) => lines.push(l),
        onStep: (p) => {
          steps++;
          points.push(p.loss);
        },
        shouldStop: () => steps >= 4,
      }),
      (e: Error) =>
        e instanceof PretrainStopped &&
        /^pre-training stopped on request after step 4 of 12; .*checkpoint: run again with the same settings to resume/.test(
          e.message,
        ),
    );
    assert.equal(JSON.parse(readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')).step, 4);
    assert.ok(!existsSync(path.join(out, 'model')), 'no final model for a stopped run');
    assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
    const done = await pretrain(out, CFG, () => {});
    assert.equal(done.points.length, 12);
    assert.deepEqual(
      done.points.slice(0, 4).map((p) => p.loss),
      points,
      'the resumed run keeps the first four steps',
    );
    assert.ok(existsSync(path.join(out, 'model', 'model.safetensors')));
  });
});
