// The training step taken apart (forward+loss, backward, clipping, update) against the one-call step
// and the whole loop: the same numbers, bit for bit, and against PyTorch's trajectory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { AdamW, linearSchedule } from '../src/nn/optim.js';
import { backward, clipGradNorm, applyGradients, Gradients } from '../src/training/step.js';
import { batchLoss, fineTune, evaluate, LAB_TRAIN_CONFIG, type LabelledBatchData } from '../src/training/train.js';
import { batches } from '../src/data/data.js';
import { assertClose, needsShared, shared } from './shared.js';

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[] };
  finetune_trajectory: { steps: { step: number; loss: number; grad_norm_before_clip: number; lr: number }[] };
}
const fixture = () => JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as Fixture;
const quiet = { log: () => {} };
const load = () => BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), quiet);

/** 24 rows from the fixture's 3, labelled by row. */
function data24(f: Fixture): LabelledBatchData {
  const rows = Array.from({ length: 24 }, (_, i) => i % 3);
  return {
    inputIds: rows.map((r) => f.inputs.input_ids[r]),
    attentionMask: rows.map((r) => f.inputs.attention_mask[r]),
    tokenTypeIds: rows.map((r) => f.inputs.token_type_ids[r]),
    labels: rows.map((r) => f.inputs.labels[r]),
  };
}

test('the separate calls reproduce the PyTorch trajectory (loss, grad norm before clipping)', needsShared, async () => {
  await initBackend();
  const f = fixture();
  const model = await load();
  const data = data24(f);
  const opt = new AdamW({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  for (const expected of f.finetune_trajectory.steps) {
    opt.lr = 1e-2 * linearSchedule(opt.step, 0, 3);
    const g = backward(model, () => batchLoss(model, data, [0, 1, 2], false));
    const norm = clipGradNorm(g, 1.0);
    applyGradients(model, opt, g);
    assertClose([g.loss], [expected.loss], `loss at step ${expected.step}`);
    assertClose([norm], [expected.grad_norm_before_clip], `grad norm at step ${expected.step}`, 1e-4, 1e-5);
    assert.equal(g.grads.size, 0, 'applyGradients frees the gradients');
  }
  model.dispose();
  opt.dispose();
});

test('a loop written out with the separate calls gives fineTune numbers bit for bit', needsShared, async () => {
  await initBackend();
  const data = data24(fixture());
  const cfg = { ...LAB_TRAIN_CONFIG, epochs: 2, batchSize: 8, lr: 1e-3, warmupSteps: 2 };

  const a = await load();
  const libLosses: number[] = [];
  const libNorms: number[] = [];
  const stats = await fineTune(a, data, data, cfg, {
    log: () => {},
    onStep: (s) => {
      libLosses.push(s.loss);
      libNorms.push(s.gradNorm);
    },
  });

  // The notebook's loop: epochs -> batches -> forward+loss -> backward -> clip -> step -> schedule.
  const b = await load();
  const opt = new AdamW({ lr: cfg.lr, eps: cfg.eps, weightDecay: cfg.weightDecay });
  const total = Math.ceil(data.labels.length / cfg.batchSize) * cfg.epochs;
  b.seedDropout(cfg.seed);
  const losses: number[] = [];
  const norms: number[] = [];
  const valAcc: number[] = [];
  for (let epoch = 1; epoch <= cfg.epochs; epoch++) {
    for (const idx of batches(data.labels.length, cfg.batchSize, { shuffle: true, seed: cfg.seed, epoch })) {
      opt.lr = cfg.lr * linearSchedule(opt.step, cfg.warmupSteps, total);
      const g = backward(b, () => batchLoss(b, data, idx));
      norms.push(clipGradNorm(g, cfg.clip));
      applyGradients(b, opt, g);
      losses.push(g.loss);
    }
    valAcc.push(evaluate(b, data, cfg.batchSize).accuracy);
  }
  opt.dispose();
  assert.equal(losses.length, 6);
  assert.deepEqual(losses, libLosses, 'same losses as fineTune');
  assert.deepEqual(norms, libNorms, 'same gradient norms as fineTune');
  assert.deepEqual(
    valAcc,
    stats.map((s) => s.valAccuracy),
  );
  const wa = a.p.stateDict();
  const wb = b.p.stateDict();
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, `${name} after training`);
  a.dispose();
  b.dispose();
});

test('clipGradNorm scales only gradients above the limit; 0 turns it off; bad limits are refused', () => {
  const g = new Gradients(0, new Map([['w', tf.tensor1d([3, 4])]]));
  assert.equal(clipGradNorm(g, 10), 5);
  assert.equal(g.scale, 1);
  assert.ok(Math.abs(clipGradNorm(g, 1) - 5) < 1e-6);
  assert.ok(Math.abs(g.scale - 1 / (5 + 1e-6)) < 1e-9);
  assert.ok(Number.isNaN(clipGradNorm(g, 0)));
  assert.throws(() => clipGradNorm(g, -1), /maxNorm must be 0 \(off\) or positive, got -1/);
  g.dispose();
  assert.equal(g.grads.size, 0);
});
