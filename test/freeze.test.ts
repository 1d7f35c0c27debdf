// Freezing: a frozen encoder keeps its weights through training steps while the head learns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { AdamW } from '../src/nn/optim.js';
import { trainStep } from '../src/training/train.js';
import { freeze, freezeEncoder, unfreeze } from '../src/training/freeze.js';
import { repoRoot } from './shared.js';

test('freezeEncoder: training steps change the classifier head only; unfreeze trains everything again', async () => {
  await initBackend(undefined, () => {});
  const model = await BertForSequenceClassification.fromPretrained(path.join(repoRoot, 'models/bert-lab-tiny'), {
    labels: ['0', '1'],
    seed: 1,
    log: () => {},
  });
  try {
    const rows = 8,
      len = 12;
    const data = {
      inputIds: Array.from({ length: rows }, (_, i) => [
        2,
        ...Array.from({ length: len - 2 }, (_, j) => 10 + ((i * 7 + j) % 50)),
        3,
      ]),
      attentionMask: Array.from({ length: rows }, () => Array(len).fill(1)),
      tokenTypeIds: Array.from({ length: rows }, () => Array(len).fill(0)),
      labels: Array.from({ length: rows }, (_, i) => i % 2),
    };
    const snapshot = () => new Map([...model.p.vars].map(([k, v]) => [k, v.dataSync().slice()]));
    const { frozen, trainable } = freezeEncoder(model);
    assert.equal(trainable, 128 * 2 + 2, 'the head: a 128 x 2 weight and 2 biases');
    assert.equal(frozen + trainable, model.numParameters());
    assert.equal(model.trainableVariables().length, 2);
    const before = snapshot();
    const opt = new AdamW({ lr: 1e-2 });
    const tensors = tf.memory().numTensors;
    for (let s = 0; s < 3; s++) trainStep(model, opt, data, [0, 1, 2, 3, 4, 5, 6, 7], 1.0);
    const after = snapshot();
    for (const [k, v] of after) {
      const same = v.every((x, i) => x === before.get(k)![i]);
      assert.equal(same, k.startsWith('bert.'), `${k} ${same ? 'did not change' : 'changed'}`);
    }
    unfreeze(model);
    assert.equal(model.trainableVariables().length, model.p.vars.size);
    trainStep(model, opt, data, [0, 1, 2, 3], 1.0);
    const moved = snapshot();
    assert.ok(
      [...moved].some(([k, v]) => k.startsWith('bert.encoder') && v.some((x, i) => x !== after.get(k)![i])),
      'after unfreeze the encoder trains',
    );
    opt.dispose();
    assert.equal(tf.memory().numTensors, tensors, 'no tensors leaked');
    assert.throws(() => freeze(model, () => false), /no parameter name matched/);
  } finally {
    model.dispose();
  }
});
