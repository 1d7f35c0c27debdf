import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parameterCount, presetConfig, PRESETS } from '../src/model/presets.js';
import { readConfig } from '../src/model/config.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { needsShared, repoRoot, shared } from './shared.js';

test('parameterCount: bert-base-uncased has 109,482,240 parameters (PyTorch BertModel)', needsShared, async () => {
  // The count PyTorch prints for BertModel.from_pretrained('bert-base-uncased').
  const cfg = await readConfig(shared('models/bert-base-uncased'));
  assert.equal(parameterCount(cfg), 109_482_240);
  assert.equal(parameterCount(cfg, { pooler: false }), 109_482_240 - (768 * 768 + 768));
  assert.equal(parameterCount(presetConfig('base')), 109_482_240);
});

test('parameterCount matches the tensors of a real checkpoint (the bundled model)', async () => {
  const dir = path.join(repoRoot, 'models/bert-lab-tiny');
  const cfg = await readConfig(dir);
  const tensors = await readSafetensors(path.join(dir, 'model.safetensors'));
  let encoder = 0;
  for (const [name, t] of tensors) {
    // position_ids is a buffer, not a parameter; cls.* is the pre-training head.
    if (name.startsWith('bert.') && !name.endsWith('position_ids')) encoder += t.shape.reduce((a, b) => a * b, 1);
  }
  assert.ok(encoder > 0, 'no bert.* tensors found');
  assert.equal(parameterCount(cfg), encoder);
});

test('parameterCount grows with each preset', () => {
  const counts = Object.keys(PRESETS).map((p) => parameterCount(presetConfig(p)));
  for (let k = 1; k < counts.length; k++) assert.ok(counts[k] > counts[k - 1], `${counts}`);
});
