// One backend's half of scripts/gpu-smoke.sh: the parity fixture model's forward and backward pass
// checked against PyTorch, and bert-base training steps (the first one's numbers kept for the
// comparison with the other backend, the later ones timed). Writes a JSON summary.
//
//   node --import tsx scripts/gpu-smoke.ts --backend gpu|node|wasm|cpu --out FILE
//        [--fixtures DIR] [--batch 8] [--len 128] [--steps 3]
//
// Dropout is off so that two backends compute the same function; the bert-base weights are a
// seeded random initialisation (no download), identical on every backend.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { toInputs } from '../src/model/inputs.js';
import { presetConfig } from '../src/model/presets.js';
import { AdamW } from '../src/nn/optim.js';
import { rng } from '../src/nn/random.js';
import { trainStep } from '../src/training/train.js';

export interface SmokeResult {
  backend: string;
  fixture: { maxAbsDiff: Record<string, number>; loss: number } | { skipped: string };
  bertBase: {
    batch: number;
    len: number;
    firstLoss: number;
    firstGradNorm: number;
    /** The batch's logits after the first step (no dropout): they depend on every updated weight. */
    logitsAfter: number[];
    /** Seconds per step after the first (which includes kernel compilation and uploads). */
    secondsPerStep: number[];
  };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

interface Fixture {
  inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[] };
  logits: { values: number[] };
  loss: number;
  gradients_of_loss: Record<string, number[]>;
}

async function fixtureCheck(dir: string): Promise<SmokeResult['fixture']> {
  const f = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Fixture;
  const model = await BertForSequenceClassification.fromPretrained(path.join(dir, 'tiny-bert-cls'), { log: () => {} });
  const inputs = toInputs(
    { inputIds: f.inputs.input_ids, attentionMask: f.inputs.attention_mask, tokenTypeIds: f.inputs.token_type_ids },
    model.config,
  );
  const labels = tf.tensor1d(f.inputs.labels, 'int32');
  const logits = tf.tidy(() => model.forward(inputs).logits.dataSync().slice());
  const { grads, value } = tf.variableGrads(() => model.loss(inputs, labels), model.trainableVariables());
  const byName = new Map([...model.p.vars].map(([n, v]) => [n, grads[v.name]]));
  const diffs: Record<string, number> = { logits: maxAbsDiff(logits, f.logits.values) };
  for (const name of [
    'classifier.weight',
    'bert.pooler.dense.weight',
    'bert.encoder.layer.0.attention.self.query.weight',
  ]) {
    // Linear weights are held transposed: compare in the checkpoint's [out, in] layout.
    diffs[`d loss / ${name}`] = maxAbsDiff(tf.transpose(byName.get(name)!).dataSync(), f.gradients_of_loss[name]);
  }
  const loss = value.dataSync()[0];
  diffs.loss = Math.abs(loss - f.loss);
  tf.dispose([value, ...Object.values(grads), labels, inputs.inputIds, inputs.attentionMask!, inputs.tokenTypeIds!]);
  model.dispose();
  return { maxAbsDiff: diffs, loss };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      backend: { type: 'string' },
      out: { type: 'string' },
      fixtures: { type: 'string' },
      batch: { type: 'string', default: '8' },
      len: { type: 'string', default: '128' },
      steps: { type: 'string', default: '3' },
    },
  });
  if (!v.backend || !v.out) throw new Error('usage: gpu-smoke.ts --backend gpu|node|wasm|cpu --out FILE');
  const choice = await initBackend(v.backend, (s) => console.error(s));
  const fixture = v.fixtures ? await fixtureCheck(v.fixtures) : { skipped: 'no --fixtures directory' };

  const batch = Number(v.batch),
    len = Number(v.len),
    steps = Number(v.steps);
  const cfg = presetConfig('base');
  const model = new BertForSequenceClassification(cfg, ['0', '1']);
  model.initWeights(42);
  const rand = rng(7);
  const data = {
    inputIds: Array.from({ length: batch }, () => [
      101,
      ...Array.from({ length: len - 2 }, () => 1000 + Math.floor(rand() * 29000)),
      102,
    ]),
    attentionMask: Array.from({ length: batch }, () => new Array<number>(len).fill(1)),
    tokenTypeIds: Array.from({ length: batch }, () => new Array<number>(len).fill(0)),
    labels: Array.from({ length: batch }, (_, i) => i % 2),
  };
  const idx = data.labels.map((_, i) => i);
  const opt = new AdamW({ lr: 2e-5, eps: 1e-8, weightDecay: 0 });
  const first = trainStep(model, opt, data, idx, 1.0, false);
  const logitsAfter = tf.tidy(() =>
    Array.from(
      model
        .forward(
          toInputs(
            { inputIds: data.inputIds, attentionMask: data.attentionMask, tokenTypeIds: data.tokenTypeIds },
            cfg,
          ),
        )
        .logits.dataSync(),
    ),
  );
  const secondsPerStep: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    trainStep(model, opt, data, idx, 1.0, false);
    secondsPerStep.push((performance.now() - t0) / 1000);
  }
  model.dispose();
  const result: SmokeResult = {
    backend: choice.name,
    fixture,
    bertBase: { batch, len, firstLoss: first.loss, firstGradNorm: first.gradNorm, logitsAfter, secondsPerStep },
  };
  writeFileSync(v.out, JSON.stringify(result) + '\n');
}

await main();
