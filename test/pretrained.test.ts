// Parameter names of several model instances in one process, as a notebook makes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { needsShared, shared } from './shared.js';

const dir = () => shared('fixtures/parity/tiny-bert-cls');

test(
  'loading a model again, with the same seed or a second copy of the library, never reuses a tfjs variable name',
  needsShared,
  async () => {
    await initBackend();
    // A notebook kernel that loads the library bundle again gets fresh module counters while tfjs
    // still holds the first copy's variables: those names are taken here, as that copy would.
    const taken = Array.from({ length: 50 }, (_, t) =>
      tf.variable(tf.scalar(0), false, `bert.embeddings.word_embeddings.weight#${t}`),
    );
    const a = await BertForSequenceClassification.fromPretrained(dir(), { seed: 42, log: () => {} });
    const b = await BertForSequenceClassification.fromPretrained(dir(), { seed: 42, log: () => {} });
    const c = await BertForSequenceClassification.fromPretrained(dir(), { seed: 42, log: () => {} });
    const names = [a, b, c].map((m) => m.trainableVariables().map((v) => v.name));
    assert.equal(new Set(names.flat()).size, names.flat().length, 'all variable names distinct');
    // The same weights under different names.
    tf.tidy(() => {
      const x = a.p.get('classifier.weight').dataSync();
      assert.deepEqual(c.p.get('classifier.weight').dataSync(), x);
    });
    [a, b, c].forEach((m) => m.dispose());
    taken.forEach((v) => v.dispose());
  },
);
