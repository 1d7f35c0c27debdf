// Attention probabilities on request (transformers' output_attentions=True). The parity fixture has
// no attentions, so they are checked against a recomputation from layer 0's query and key weights
// (written here with plain tensor ops, not the model's fused softmax) and as masked softmax rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { toInputs } from '../src/model/inputs.js';
import { assertClose, needsShared, shared } from './shared.js';

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][] };
  logits: { values: number[] };
}
const fixture = () => JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as Fixture;

test(
  'attentions: one [batch, heads, t, t] per layer, masked softmax rows equal to a recomputation from Q and K; logits unchanged',
  needsShared,
  async () => {
    await initBackend();
    const f = fixture();
    const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), {
      log: () => {},
    });
    const cfg = model.config;
    const rows = {
      inputIds: f.inputs.input_ids,
      attentionMask: f.inputs.attention_mask,
      tokenTypeIds: f.inputs.token_type_ids,
    };
    const [b, t] = [rows.inputIds.length, rows.inputIds[0].length];
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const inputs = toInputs(rows, cfg);
      const out = model.forward(inputs, false, { outputAttentions: true });
      assert.equal(out.attentions!.length, cfg.num_hidden_layers);
      for (const a of out.attentions!) assert.deepEqual(a.shape, [b, cfg.num_attention_heads, t, t]);
      assertClose(out.logits.dataSync(), f.logits.values, 'logits with attentions on (PyTorch)');
      assert.equal(model.forward(inputs).attentions, undefined, 'off by default');

      const probs = out.attentions![0].arraySync();
      rows.attentionMask.forEach((mask, i) =>
        probs[i].forEach((head) =>
          head.forEach((row) => {
            assert.ok(Math.abs(row.reduce((s, p) => s + p, 0) - 1) < 1e-5, 'a row sums to 1');
            row.forEach((p, k) => {
              if (mask[k] === 0) assert.equal(p, 0, 'no attention to padding');
            });
          }),
        ),
      );

      // Layer 0 by hand: softmax(Q K^T / sqrt(d) + mask) per head, from the embeddings' output.
      const ctx = { training: false, seed: () => undefined };
      const emb = model.bert.embeddings.forward(inputs.inputIds, inputs.tokenTypeIds!, ctx);
      const self = model.bert.layers[0].self;
      const nh = cfg.num_attention_heads,
        dh = cfg.hidden_size / nh;
      const heads = (y: tf.Tensor) => tf.transpose(tf.reshape(y, [b, t, nh, dh]), [0, 2, 1, 3]);
      const q = heads(self.query.forward(emb));
      const k = heads(self.key.forward(emb));
      const scores = tf.div(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D, false, true), Math.sqrt(dh));
      const maskAdd = tf.reshape(tf.mul(tf.sub(1, tf.tensor2d(rows.attentionMask)), -1e9), [b, 1, 1, t]);
      const expected = tf.softmax(tf.add(scores, maskAdd));
      assertClose(out.attentions![0].dataSync(), expected.dataSync(), 'layer 0 attention', 1e-5, 1e-6);
    });
    assert.equal(tf.memory().numTensors, before, 'no tensor outlives the tidy');
    model.dispose();
  },
);
