// The fine-tuning step against PyTorch's 3-step AdamW trajectory, and the loop's guarantees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { toInputs } from '../src/model/inputs.js';
import { AdamW, linearSchedule, scheduleFactor, clipCoef, gradNorm } from '../src/nn/optim.js';
import {
  trainStep,
  fineTune,
  evaluate,
  predict,
  batchTensors,
  LAB_TRAIN_CONFIG,
  formatTime,
  type LabelledBatchData,
} from '../src/training/train.js';
import { batches, batchWidth, unpaddedLength } from '../src/data/data.js';
import { BUNDLED_MODEL } from '../src/app/classifier.js';
import { cleanAll, maxTokenLength, readLabelled } from '../src/data/prepare.js';
import { BertTokenizer } from '../src/text/tokenizer.js';
import { assertClose, needsShared, shared } from './shared.js';

interface Trajectory {
  steps: { step: number; loss: number; grad_norm_before_clip: number; lr: number }[];
  final_logits: { values: number[] };
}
const fixture = () =>
  JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as {
    inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[] };
    finetune_trajectory: Trajectory;
  };
const quiet = { log: () => {} };

test('3 AdamW steps reproduce the PyTorch trajectory (loss, grad norm, lr, final logits)', needsShared, async () => {
  await initBackend();
  const f = fixture();
  const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), quiet);
  const data: LabelledBatchData = {
    inputIds: f.inputs.input_ids,
    attentionMask: f.inputs.attention_mask,
    tokenTypeIds: f.inputs.token_type_ids,
    labels: f.inputs.labels,
  };
  const opt = new AdamW({ lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
  const before = tf.memory().numTensors;
  for (const expected of f.finetune_trajectory.steps) {
    opt.lr = 1e-2 * linearSchedule(opt.step, 0, 3);
    assertClose([opt.lr], [expected.lr], `lr at step ${expected.step}`, 1e-9);
    const { loss, gradNorm } = trainStep(model, opt, data, [0, 1, 2], 1.0, false);
    assertClose([loss], [expected.loss], `loss at step ${expected.step}`);
    assertClose([gradNorm], [expected.grad_norm_before_clip], `grad norm at step ${expected.step}`, 1e-4, 1e-5);
  }
  // Optimizer moments were created on the first step; afterwards nothing may leak.
  const afterFirst = tf.memory().numTensors;
  trainStep(model, opt, data, [0, 1, 2], 1.0, false);
  assert.equal(tf.memory().numTensors, afterFirst, 'a training step leaks no tensors');
  assert.ok(afterFirst > before);
  model.dispose();
  const fresh = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), quiet);
  const opt2 = new AdamW({ lr: 1e-2, weightDecay: 0.01 });
  for (let s = 0; s < 3; s++) {
    opt2.lr = 1e-2 * linearSchedule(opt2.step, 0, 3);
    trainStep(fresh, opt2, data, [0, 1, 2], 1.0, false);
  }
  tf.tidy(() => {
    const logits = fresh.forward(
      toInputs(
        { inputIds: data.inputIds, attentionMask: data.attentionMask, tokenTypeIds: data.tokenTypeIds },
        fresh.config,
      ),
    ).logits;
    assertClose(logits.dataSync(), f.finetune_trajectory.final_logits.values, 'logits after 3 steps');
  });
  fresh.dispose();
  opt.dispose();
  opt2.dispose();
});

test('linear schedule with warmup matches get_linear_schedule_with_warmup', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 10].map((s) => linearSchedule(s, 2, 10)),
    [0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 0],
  );
  assert.equal(linearSchedule(12, 2, 10), 0);
});

test('cosine schedule with warmup matches get_cosine_schedule_with_warmup (half a cycle)', () => {
  // HF: step / warmup, then 0.5 * (1 + cos(pi * progress)), progress = (step - warmup) / (total - warmup).
  const hf = (s: number, w: number, t: number) => (s < w ? s / w : 0.5 * (1 + Math.cos(Math.PI * ((s - w) / (t - w)))));
  for (const s of [0, 5, 10, 11, 32, 55, 77, 99, 100])
    assert.ok(Math.abs(scheduleFactor(s, 10, 100, 'cosine') - hf(s, 10, 100)) < 1e-12, `step ${s}`);
  assert.equal(scheduleFactor(55, 10, 100, 'cosine'), 0.5);
  assert.equal(scheduleFactor(130, 10, 100, 'cosine'), 0, 'past the end: 0, not back up the cosine');
  assert.equal(scheduleFactor(7, 2, 10, 'linear'), linearSchedule(7, 2, 10));
});

test('clipping (clip_grad_norm_): the global norm, and a factor that leaves small gradients alone', async () => {
  await initBackend();
  const small = new Map([['a', tf.tensor1d([0.3, 0.4])]]);
  assertClose([gradNorm(small)], [0.5], 'norm', 1e-6);
  assert.equal(clipCoef(gradNorm(small), 1.0), 1);
  const big = new Map([
    ['a', tf.tensor1d([3, 4])],
    ['b', tf.tensor1d([12])],
  ]);
  assertClose([gradNorm(big)], [13], 'norm', 1e-5);
  assertClose([clipCoef(gradNorm(big), 1.0)], [1 / (13 + 1e-6)], 'factor', 1e-9);
  tf.dispose([...small.values(), ...big.values()]);
});

test(
  'fine-tuning with one seed gives the same losses twice; the best epoch is kept across epochs',
  needsShared,
  async () => {
    await initBackend();
    const f = fixture();
    // 24 examples built from the fixture's 3 rows, labels by row, so the model can learn them.
    const rows = Array.from({ length: 24 }, (_, i) => i % 3);
    const data: LabelledBatchData = {
      inputIds: rows.map((r) => f.inputs.input_ids[r]),
      attentionMask: rows.map((r) => f.inputs.attention_mask[r]),
      tokenTypeIds: rows.map((r) => f.inputs.token_type_ids[r]),
      labels: rows.map((r) => f.inputs.labels[r]),
    };
    const runOnce = async () => {
      const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), quiet);
      const losses: number[] = [];
      const best: number[] = [];
      const lines: string[] = [];
      const stats = await fineTune(
        model,
        data,
        data,
        { ...LAB_TRAIN_CONFIG, epochs: 3, batchSize: 8, lr: 1e-3 },
        {
          log: (l) => lines.push(l),
          onStep: (s) => losses.push(s.loss),
          onBest: (s) => {
            best.push(s.epoch);
          },
        },
      );
      const acc = evaluate(model, data, 5).accuracy;
      model.dispose();
      return { losses, best, stats, lines, acc };
    };
    const a = await runOnce();
    const b = await runOnce();
    assert.equal(a.losses.length, 9);
    assert.deepEqual(a.losses, b.losses, 'same seed, same backend: same losses');
    assert.ok(a.lines.includes('======== Epoch 1 / 3 ========'));
    assert.ok(a.lines.some((l) => /^ {2}Average training loss: \d\.\d\d$/.test(l)));
    assert.ok(a.lines.some((l) => /^ {2}Accuracy: \d\.\d\d$/.test(l)));
    // onBest fires only on strict improvements across epochs.
    const accs = a.stats.map((s) => s.valAccuracy);
    const expectedBest = accs.flatMap((x, i) => (accs.slice(0, i).every((y) => x > y) ? [i + 1] : []));
    assert.deepEqual(a.best, expectedBest);
    assert.ok(a.acc >= 2 / 3, `the model learns the 3 rows (accuracy ${a.acc})`);
  },
);

test('formatTime prints h:mm:ss like the lab', () => {
  assert.equal(formatTime(47.4), '0:00:47');
  assert.equal(formatTime(3725), '1:02:05');
});

test('a save that fails part-way leaves the previous best/ intact and loadable', needsShared, async () => {
  await initBackend();
  const { mkdtemp, rm, readdir } = await import('node:fs/promises');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-best-'));
  try {
    const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), quiet);
    const best = path.join(dir, 'best');
    await model.save(best);
    const before = await BertForSequenceClassification.fromPretrained(best, quiet);
    const ref = before.p.get('classifier.weight').dataSync().slice();
    before.dispose();
    // Change the weights, then fail while writing: the old directory must survive unchanged.
    model.p.vars.get('classifier.weight')!.assign(tf.zerosLike(model.p.get('classifier.weight')));
    await assert.rejects(
      model.save(best, {
        extra: async () => {
          throw new Error('disk full');
        },
      }),
      /disk full/,
    );
    const after = await BertForSequenceClassification.fromPretrained(best, quiet);
    assert.deepEqual([...after.p.get('classifier.weight').dataSync()], [...ref]);
    assert.deepEqual((await readdir(dir)).sort(), ['best'], 'no temporary directories left behind');
    after.dispose();
    model.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a run that cannot fit the wasm heap stops at once with what to change', async () => {
  await initBackend();
  const { presetConfig } = await import('../src/model/presets.js');
  const { estimateTrainingBytes } = await import('../src/training/train.js');
  const { checkMemory } = await import('../src/backend/wasm.js');
  const base = new BertForSequenceClassification(presetConfig('base', { vocab_size: 30522 }), ['0', '1']);
  // bert-base: 4 floats per parameter alone are 1.6 GB; at 512 tokens the activations add far more.
  assert.ok(estimateTrainingBytes(base, 32, 64) > 1.6e9);
  const need = (b: number, t: number) => estimateTrainingBytes(base, b, t);
  assert.throws(
    () => checkMemory(need(32, 512), 'training bert-base', 'wasm'),
    /needs about \d+\.\d GB, more than the wasm backend's 4\.0 GB heap: lower --batch-size or --max-len/,
  );
  assert.doesNotThrow(() => checkMemory(need(32, 512), 'training bert-base', 'tensorflow'));
  assert.doesNotThrow(() => checkMemory(need(8, 64), 'training bert-base', 'wasm'));
});

/** The first `n` disaster tweets, cleaned as the lab does, encoded for the bundled model padded to the longest. */
async function tweets(n: number): Promise<LabelledBatchData> {
  const d = await readLabelled(shared('data/disaster-tweets/train.csv'));
  const tok = await BertTokenizer.fromDir(BUNDLED_MODEL);
  const texts = cleanAll(d.texts.slice(0, n), 'lab').cleaned;
  const enc = tok.encodeBatch(texts, {
    padding: 'max_length',
    truncation: true,
    maxLength: maxTokenLength(tok, texts),
  });
  return { ...enc, labels: d.labels.slice(0, n) };
}
const bundled = () =>
  BertForSequenceClassification.fromPretrained(BUNDLED_MODEL, { labels: ['0', '1'], seed: 3, log: () => {} });

test(
  'padding longest: the same predictions, probabilities and loss as max_length, in input order',
  needsShared,
  async () => {
    await initBackend();
    const data = await tweets(300);
    const model = await bundled();
    const width = data.inputIds[0].length;
    const fixed = evaluate(model, data, 32, 'max_length');
    const dynamic = evaluate(model, data, 32, 'longest');
    assertClose(dynamic.probabilities.flat(), fixed.probabilities.flat(), 'probabilities', 1e-5);
    assert.deepEqual(dynamic.predictions, fixed.predictions);
    assertClose([dynamic.loss], [fixed.loss], 'loss', 1e-5);
    assert.equal(dynamic.accuracy, fixed.accuracy);
    const p = predict(model, data, 32, 'longest');
    assertClose(p.probabilities.flat(), fixed.probabilities.flat(), 'predict probabilities', 1e-5);
    // Logits of one batch, and its shape: the batch's longest row, not the encoded width.
    const idx = [5, 0, 17, 3, 250];
    const longest = Math.max(...idx.map((i) => unpaddedLength(data.attentionMask[i])));
    assert.ok(longest < width, `batch longest ${longest} < encoded width ${width}`);
    tf.tidy(() => {
      const cut = batchTensors(data, idx, 'longest');
      const full = batchTensors(data, idx, 'max_length');
      assert.deepEqual(cut.inputIds.shape, [5, longest]);
      assert.deepEqual(cut.attentionMask!.shape, [5, longest]);
      assert.deepEqual(full.inputIds.shape, [5, width]);
      assertClose(model.forward(cut).logits.dataSync(), model.forward(full).logits.dataSync(), 'logits', 1e-5);
    });
    model.dispose();
  },
);

test(
  'padding longest: a training step (dropout off) has the same loss and gradient norm as max_length',
  needsShared,
  async () => {
    await initBackend();
    const data = await tweets(64);
    const idx = Array.from({ length: 16 }, (_, i) => i * 4);
    const step = async (padding: 'max_length' | 'longest') => {
      const model = await bundled();
      const opt = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
      const a = trainStep(model, opt, data, idx, 1.0, false, padding);
      const b = trainStep(model, opt, data, idx, 1.0, false, padding);
      model.dispose();
      opt.dispose();
      return [a.loss, a.gradNorm, b.loss, b.gradNorm];
    };
    assertClose(await step('longest'), await step('max_length'), 'loss, grad norm over two steps', 1e-5, 1e-5);
  },
);

test(
  'fine-tuning with padding longest and grouped batches: deterministic under the seed, batches as wide as their longest row',
  needsShared,
  async () => {
    await initBackend();
    const data = await tweets(96);
    const cfg = {
      ...LAB_TRAIN_CONFIG,
      epochs: 2,
      batchSize: 16,
      lr: 1e-3,
      padding: 'longest' as const,
      groupByLength: true,
    };
    const runOnce = async (c: typeof cfg | typeof LAB_TRAIN_CONFIG) => {
      const model = await bundled();
      const shapes: number[][] = [];
      const loss = model.loss.bind(model);
      // Records the shape of every training batch the loop builds.
      model.loss = (inputs, labels, dropout) => {
        shapes.push(inputs.inputIds.shape);
        return loss(inputs, labels, dropout);
      };
      const losses: number[] = [];
      const lines: string[] = [];
      await fineTune(model, data, data, c, { log: (l) => lines.push(l), onStep: (s) => losses.push(s.loss) });
      model.dispose();
      return { losses, shapes, lines };
    };
    const a = await runOnce(cfg);
    const b = await runOnce(cfg);
    assert.deepEqual(a.losses, b.losses, 'same seed: same losses');
    assert.deepEqual(a.shapes, b.shapes);
    assert.ok(a.lines.includes('Batches: each padded to its longest row; training batches grouped by length'));
    const lengths = data.attentionMask.map(unpaddedLength);
    const expected = [1, 2].flatMap((epoch) =>
      batches(96, 16, { shuffle: true, seed: cfg.seed, epoch, lengths }).map((bt) => [
        bt.length,
        batchWidth(data.attentionMask, bt, 'longest'),
      ]),
    );
    assert.deepEqual(a.shapes, expected);
    const width = data.inputIds[0].length;
    assert.ok(
      a.shapes.some(([, w]) => w < width),
      'some batches are narrower than the encoded width',
    );
    // The lab's default keeps every batch at the encoded width.
    const fixed = await runOnce({ ...LAB_TRAIN_CONFIG, epochs: 1, batchSize: 16, lr: 1e-3 });
    assert.ok(fixed.shapes.every(([, w]) => w === width));
    assert.ok(!fixed.lines.some((l) => l.startsWith('Batches:')));
  },
);

test(
  'gradient accumulation: 2 batches of 8 per step give the steps of batch 16 (dropout off); the last step takes what is left',
  needsShared,
  async () => {
    await initBackend();
    const data = await tweets(64);
    const run = async (batchSize: number, accumulate: number, rows = 64) => {
      const model = await bundled();
      const loss = model.loss.bind(model);
      // Dropout off, so that both runs compute the same function of the same rows.
      model.loss = (inputs, labels) => loss(inputs, labels, false);
      const steps: { loss: number; gradNorm: number; lr: number; step: number; steps: number }[] = [];
      const part = { ...data, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.slice(0, rows)])) };
      const cfg = { ...LAB_TRAIN_CONFIG, epochs: 2, batchSize, accumulate, lr: 1e-3, warmupSteps: 2 };
      await fineTune(model, part as LabelledBatchData, part as LabelledBatchData, cfg, {
        log: () => {},
        onStep: (s) => steps.push(s),
      });
      const logits = tf.tidy(() => Array.from(model.forward(batchTensors(data, [0, 1, 2, 3])).logits.dataSync()));
      model.dispose();
      return { steps, logits };
    };
    const acc = await run(8, 2);
    const big = await run(16, 1);
    assert.equal(acc.steps.length, 8, '4 optimizer steps per epoch, not 8');
    assert.deepEqual(
      acc.steps.map((s) => s.lr),
      big.steps.map((s) => s.lr),
      'the schedule counts optimizer steps',
    );
    assertClose(
      acc.steps.flatMap((s) => [s.loss, s.gradNorm]),
      big.steps.flatMap((s) => [s.loss, s.gradNorm]),
      'loss and grad norm per step',
      1e-4,
      1e-5,
    );
    assertClose(acc.logits, big.logits, 'logits after two epochs', 1e-4, 1e-5);
    // 60 rows in batches of 8: 8 batches, 3 per step -> steps of 3, 3 and the 2 left.
    const uneven = await run(8, 3, 60);
    assert.deepEqual(
      uneven.steps.map((s) => `${s.step}/${s.steps}`),
      ['1/3', '2/3', '3/3', '1/3', '2/3', '3/3'],
    );
  },
);
