// Pre-training: the loss against a hand computation, and a killed run that resumes cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForPreTraining } from '../src/model/bert.js';
import { presetConfig } from '../src/model/presets.js';
import { epochBatch } from '../src/training/pretrain.js';
import { cliArgs, killWhen, repoRoot, tinyPretrain } from './shared.js';

test('the pre-training loss is MLM cross-entropy over labelled positions plus NSP cross-entropy', async () => {
  await initBackend();
  const model = new BertForPreTraining(
    presetConfig('tiny', {
      vocab_size: 50,
      hidden_size: 16,
      num_attention_heads: 2,
      intermediate_size: 32,
      num_hidden_layers: 1,
      max_position_embeddings: 16,
    }),
  );
  model.initWeights(3);
  const ids = [
    [2, 7, 8, 9, 3, 10, 11, 3],
    [2, 12, 4, 14, 3, 15, 3, 0],
  ];
  const mlm = [
    [-100, 7, -100, -100, -100, 10, -100, -100],
    [-100, -100, 13, -100, -100, -100, -100, -100],
  ];
  const nsp = [0, 1];
  const inputs = {
    inputIds: tf.tensor2d(ids, undefined, 'int32'),
    attentionMask: tf.tensor2d(
      ids.map((r) => r.map((x) => (x ? 1 : 0))),
      undefined,
      'int32',
    ),
  };
  const r = model.loss(inputs, tf.tensor2d(mlm, undefined, 'int32'), tf.tensor1d(nsp, 'int32'));
  // By hand from the full forward pass: -log softmax at each labelled position, averaged; same for NSP.
  const out = model.forward(inputs);
  const logits = out.mlmLogits.arraySync() as number[][][];
  const nll = (row: number[], y: number) => {
    const m = Math.max(...row);
    const z = row.reduce((s, v) => s + Math.exp(v - m), 0);
    return -(row[y] - m - Math.log(z));
  };
  const terms = mlm.flatMap((row, b) => row.flatMap((y, t) => (y === -100 ? [] : [nll(logits[b][t], y)])));
  const mlmLoss = terms.reduce((a, b) => a + b, 0) / terms.length;
  const nspRows = out.nspLogits.arraySync() as number[][];
  const nspLoss = (nll(nspRows[0], 0) + nll(nspRows[1], 1)) / 2;
  assert.equal(terms.length, 3);
  assert.ok(Math.abs(r.mlmLoss.dataSync()[0] - mlmLoss) < 1e-5, `mlm ${r.mlmLoss.dataSync()[0]} vs ${mlmLoss}`);
  assert.ok(Math.abs(r.nspLoss.dataSync()[0] - nspLoss) < 1e-5);
  assert.ok(Math.abs(r.loss.dataSync()[0] - (mlmLoss + nspLoss)) < 1e-5);
  model.dispose();
});

test('a killed pre-training run resumes from its last checkpoint and finishes', async () => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'bert-pretrain-'));
  const args = cliArgs(['pretrain', '--out', out, ...tinyPretrain()]);
  try {
    // Start, wait for a checkpoint past step 3, kill it hard.
    const state = path.join(out, 'checkpoint', 'state.json');
    const killedAt = (await killWhen(args, state, (s) => (s.step as number) >= 3)).step as number;
    assert.ok(killedAt >= 3 && killedAt < 12, `killed at step ${killedAt}`);
    // Restart: it must continue, not start over, and finish with a usable model.
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Resuming from .* at step ${killedAt} of 12`));
    const final = JSON.parse(readFileSync(state, 'utf8'));
    assert.equal(final.step, 12);
    assert.deepEqual(
      final.points.map((p: { step: number }) => p.step),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    const curve = readFileSync(path.join(out, 'loss.csv'), 'utf8').trim().split('\n');
    assert.equal(curve.length, 13);
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'vocab.txt', 'README.md'])
      assert.ok(existsSync(path.join(out, 'model', f)), f);
    assert.ok(readFileSync(path.join(out, 'loss.html'), 'utf8').includes('Plotly'));
    // The model card states what this run did: a vocabulary trained here, MLM + NSP from scratch.
    const card = readFileSync(path.join(out, 'model', 'README.md'), 'utf8');
    assert.match(card, /pre-trained from scratch with masked-language modelling and next-sentence prediction/);
    assert.match(card, /WordPiece, uncased, \d+ tokens, trained on the corpus/);
    assert.match(card, new RegExp(`\\(${(final.tokensSeen / 1e6).toFixed(2)} M non-padding tokens seen\\)`));
    assert.match(card, /held-out NSP accuracy/);
    const fill = spawnSync(
      process.execPath,
      cliArgs(['fill-mask', '--model', path.join(out, 'model'), '--text', 'the [MASK] of the whale', '--json']),
      { cwd: repoRoot, encoding: 'utf8' },
    );
    assert.equal(fill.status, 0, fill.stderr);
    const preds = JSON.parse(fill.stdout);
    assert.equal(preds.length, 1);
    assert.equal(preds[0].predictions.length, 5);
    const total = preds[0].predictions.reduce((s: number, p: { probability: number }) => s + p.probability, 0);
    assert.ok(total > 0 && total <= 1.0001);
    // Different settings on the same directory are refused, not silently mixed.
    const clash = spawnSync(process.execPath, [...args.slice(0, -2), '--hidden', '64', '--backend', 'wasm'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    assert.notEqual(clash.status, 0);
    assert.match(clash.stderr, /made with different settings \(hidden: 32 there, 64 now\)/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('pre-training runs over many passes of a small corpus (later passes may hold fewer examples)', async () => {
  // Batches of a pass wrap around when the pass is short.
  assert.deepEqual(epochBatch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 2, 4), [8, 9, 0, 1]);
  assert.deepEqual(epochBatch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 4), [4, 5, 6, 7]);
  assert.throws(() => epochBatch([], 0, 4), /no examples/);
  // A corpus of a few short documents: about five batches per pass, forty steps, so eight passes,
  // each pairing sentences afresh (their example counts differ).
  const out = await mkdtemp(path.join(os.tmpdir(), 'bert-pretrain-passes-'));
  try {
    const words = 'the whale ship sea captain harpoon crew storm deck sail ocean night wind wave boat'.split(' ');
    const docs = Array.from({ length: 14 }, (_, d) =>
      Array.from(
        { length: 6 },
        (_, s) =>
          Array.from({ length: 6 + ((d + s) % 5) }, (_, w) => words[(d * 7 + s * 3 + w * 5) % words.length]).join(' ') +
          '.',
      ).join(' '),
    );
    const corpus = path.join(out, 'tiny.txt');
    writeFileSync(corpus, docs.join('\n\n'));
    const r = spawnSync(
      process.execPath,
      cliArgs([
        'pretrain',
        '--out',
        path.join(out, 'run'),
        ...tinyPretrain({ corpus, vocabSize: 120, maxLen: 24, steps: 40, checkpointEvery: 20 }),
      ]),
      { cwd: repoRoot, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const perPass = Number(/([\d,]+) training examples/.exec(r.stdout)?.[1].replace(/,/g, ''));
    assert.ok(perPass >= 8 && perPass / 8 <= 10, `examples per pass: ${perPass}`);
    assert.equal(JSON.parse(readFileSync(path.join(out, 'run', 'checkpoint', 'state.json'), 'utf8')).step, 40);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
