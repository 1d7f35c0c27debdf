// Gradient x input saliency against central finite differences of the logit along each token's embedding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { toInputs } from '../src/model/inputs.js';
import { tokenSaliency } from '../src/training/saliency.js';
import { assertClose, needsShared, shared } from './shared.js';

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][] };
}

test(
  'tokenSaliency equals the directional derivative of the logit along each embedding; inputsEmbeds = the lookup',
  needsShared,
  async () => {
    await initBackend();
    const f = JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as Fixture;
    const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), {
      log: () => {},
    });
    // The fixture's second row has padding.
    const r = f.inputs.attention_mask.findIndex((m) => m.includes(0));
    const row = {
      inputIds: f.inputs.input_ids[r],
      attentionMask: f.inputs.attention_mask[r],
      tokenTypeIds: f.inputs.token_type_ids[r],
    };
    const s = tokenSaliency(model, row, 1);
    const t = row.inputIds.length;
    assert.equal(s.length, t);
    tf.tidy(() => {
      const inputs = toInputs(
        { inputIds: [row.inputIds], attentionMask: [row.attentionMask], tokenTypeIds: [row.tokenTypeIds] },
        model.config,
      );
      const table = model.p.get('bert.embeddings.word_embeddings.weight') as tf.Tensor2D;
      const e = tf.expandDims(tf.gather(table, tf.tensor1d(row.inputIds, 'int32')), 0) as tf.Tensor3D;
      assertClose(
        model.forward(inputs, false, { inputsEmbeds: e }).logits.dataSync(),
        model.forward(inputs).logits.dataSync(),
        'logits from inputsEmbeds',
      );
      const logit = (scaleAt: number, eps: number) => {
        const scale = tf.tensor3d(
          Array.from({ length: t }, (_, i) => (i === scaleAt ? 1 + eps : 1)),
          [1, t, 1],
        );
        return model.forward(inputs, false, { inputsEmbeds: tf.mul(e, scale) as tf.Tensor3D }).logits.dataSync()[1];
      };
      const eps = 1e-2;
      const numeric = Array.from({ length: t }, (_, i) =>
        row.attentionMask[i] ? (logit(i, eps) - logit(i, -eps)) / (2 * eps) : 0,
      );
      assertClose(s, numeric, 'saliency vs finite differences', 2e-2, 2e-3);
    });
    assert.ok(
      s.some((v) => Math.abs(v) > 1e-4),
      'not all zero',
    );
    assert.equal(s[row.attentionMask.indexOf(0)], 0, 'padding gets 0');
    assert.throws(() => tokenSaliency(model, row, 5), /classId must be an integer from 0 to 2, got 5/);
    model.dispose();
  },
);
