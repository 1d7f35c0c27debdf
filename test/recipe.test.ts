// A model's fine-tuning recipe (fine_tuning.json), one rule for `lab`, `train` and the notebooks:
// the settings are yours, else the recipe's, else the manual's; early stopping in the loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/backend/init.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { modelRecipe, readRecipe, RECIPE_FILE } from '../src/training/recipe.js';
import { applyRecipe, describeTraining, resolveTraining } from '../src/training/settings.js';
import { BUNDLED_MODEL } from '../src/app/classifier.js';
import { fineTune, LAB_TRAIN_CONFIG, type LabelledBatchData } from '../src/training/train.js';
import { cliArgs, needsShared, shared } from './shared.js';

async function withRecipe(json: unknown, f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-recipe-'));
  try {
    writeFileSync(path.join(dir, RECIPE_FILE), typeof json === 'string' ? json : JSON.stringify(json));
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('readRecipe: fields read, bad fields named with the file', async () => {
  await withRecipe(
    {
      lr: 1e-4,
      epochs: 6,
      batch_size: 16,
      warmup_ratio: 0.1,
      adapt: { steps: 100, lr: 1e-4, batch_size: 32, max_len: 64, warmup: 10 },
    },
    async (dir) => {
      const r = await readRecipe(dir);
      assert.deepEqual(r?.train, { lr: 1e-4, epochs: 6, batchSize: 16, warmupRatio: 0.1 });
      assert.deepEqual(r?.adapt, { steps: 100, lr: 1e-4, batchSize: 32, maxLen: 64, warmup: 10 });
    },
  );
  assert.equal(await readRecipe(os.tmpdir() + '/no-such-model-dir'), undefined);
  for (const [json, msg] of [
    ['{', /fine_tuning\.json: not valid JSON/],
    [{ lr: -1 }, /fine_tuning\.json: "lr" must be a non-negative number, got -1/],
    [{ epochs: 2.5 }, /"epochs" must be a non-negative integer/],
    [{ warmup_ratio: 2 }, /"warmup_ratio" must be a number in \[0, 1\]/],
    [{ learning_rate: 1 }, /unknown field "learning_rate" \(known: epochs, lr,/],
    [{ adapt: { steps: 1 } }, /"adapt\.lr" is missing/],
  ] as const) {
    await withRecipe(json, async (dir) => {
      await assert.rejects(readRecipe(dir), (e: Error) => e.message.includes(dir) && msg.test(e.message));
    });
  }
});

test('resolveTraining: yours, else the recipe, else the manual; a warm-up ratio becomes steps', () => {
  const recipe = { train: { lr: 1e-4, epochs: 6, batchSize: 16, warmupRatio: 0.1 } };
  const all = resolveTraining({}, recipe, 160);
  const c = all.config;
  assert.deepEqual([c.lr, c.epochs, c.batchSize, c.warmupSteps], [1e-4, 6, 16, 6]); // 10 steps x 6 epochs x 0.1
  assert.equal(all.warmupRatio, 0.1);
  assert.deepEqual([all.from.lr, all.from.eps, all.from.warmupSteps], ['recipe', 'manual', 'recipe']);
  const given = resolveTraining({ lr: 3e-5, epochs: 2 }, recipe, 160);
  assert.deepEqual(
    [given.config.lr, given.config.epochs, given.config.batchSize, given.config.warmupSteps],
    [3e-5, 2, 16, 2],
  );
  assert.deepEqual([given.from.lr, given.from.epochs, given.from.batchSize], ['yours', 'yours', 'recipe']);
  // Your warm-up, as steps or as a ratio, replaces the recipe's; both at once is refused.
  assert.equal(resolveTraining({ warmupSteps: 7 }, recipe, 160).config.warmupSteps, 7);
  assert.equal(resolveTraining({ warmupRatio: 0.5 }, recipe, 160).config.warmupSteps, 30);
  assert.throws(() => resolveTraining({ warmupSteps: 1, warmupRatio: 0.1 }, recipe, 160), /not both/);
  // No recipe: the manual's (lr 2e-5, 4 epochs, batch 32, no warm-up).
  const manual = resolveTraining({}, undefined, 160);
  assert.deepEqual(
    [manual.config.lr, manual.config.epochs, manual.config.batchSize, manual.config.warmupSteps],
    [2e-5, 4, 32, 0],
  );
  assert.ok(describeTraining(manual).every((r) => r.from === 'the manual'));
  assert.equal(describeTraining(given).find((r) => r.setting === 'lr')?.value, '3e-5');
  assert.throws(() => resolveTraining({ epochs: 0 }, undefined, 160), /--epochs must be an integer >= 1, got 0/);
  // applyRecipe (a whole TrainConfig): its settings that no recipe sets are kept.
  const kept = applyRecipe({ ...LAB_TRAIN_CONFIG, eps: 1e-6, lr: 3e-5 }, recipe, new Set(['lr'] as const), 160);
  assert.deepEqual([kept.eps, kept.lr, kept.epochs], [1e-6, 3e-5, 6]);
});

test("modelRecipe: one rule, the folder's own recipe with its pre-trained weights only", async () => {
  const own = await readRecipe(BUNDLED_MODEL);
  assert.ok(own, `${BUNDLED_MODEL} carries ${RECIPE_FILE}`);
  assert.deepEqual(await modelRecipe(BUNDLED_MODEL), own);
  assert.deepEqual(await modelRecipe(path.relative(process.cwd(), BUNDLED_MODEL) + '/'), own);
  assert.equal(await modelRecipe(BUNDLED_MODEL, true), undefined);
  await withRecipe({ lr: 1 }, async (dir) => assert.deepEqual((await modelRecipe(dir))?.train, { lr: 1 }));
  assert.equal(await modelRecipe(os.tmpdir()), undefined);
});

function lab(cwd: string, ...args: string[]) {
  return spawnSync(process.execPath, cliArgs(['lab', '--dry-run', ...args]), {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', HF_HOME: path.join(cwd, 'hf') },
  });
}

test("lab and train follow a model's recipe the same way, and passed options win", needsShared, async () => {
  const recipe = await readRecipe(BUNDLED_MODEL);
  assert.ok(recipe, `${BUNDLED_MODEL} carries ${RECIPE_FILE}`);
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'bert-lab-recipe-'));
  try {
    const csv =
      readFileSync(shared('data/disaster-tweets/train.csv'), 'utf8').split('\n').slice(0, 301).join('\n') + '\n';
    writeFileSync(path.join(cwd, 'train.csv'), csv);
    const fallback = lab(cwd, '--data', 'train.csv');
    assert.equal(fallback.status, 0, fallback.stderr);
    // The bundled model uses bert-base-uncased's vocabulary: the manual's ids for the first tweet.
    assert.match(fallback.stdout, /^Token IDs: 15616 3114 8372 2089 16455 9641 2149$/m);
    const line = fallback.stdout.split('\n').find((l) => l.startsWith('Recipe: '));
    assert.ok(line, fallback.stdout);
    assert.ok(line.includes(`lr ${recipe.train.lr}`) && line.includes(RECIPE_FILE), line);
    const passed = lab(cwd, '--data', 'train.csv', '--lr', '3e-5', '--epochs', '2');
    assert.equal(passed.status, 0, passed.stderr);
    assert.match(passed.stdout, /^Recipe: lr 0\.00003, 2 epochs/m);
    // One rule: a copy of the bundled model, given to train with --model, brings its recipe;
    // without its fine_tuning.json, the manual's settings.
    const copy = path.join(cwd, 'model');
    cpSync(BUNDLED_MODEL, copy, { recursive: true });
    const train = (...a: string[]) =>
      spawnSync(process.execPath, cliArgs(['train', '--dry-run', '--out', 'run', ...a]), { cwd, encoding: 'utf8' });
    const viaTrain = train('--data', 'train.csv', '--model', copy);
    assert.equal(viaTrain.status, 0, viaTrain.stderr);
    assert.match(viaTrain.stdout, new RegExp(`^Recipe: lr ${recipe.train.lr}`, 'm'));
    rmSync(path.join(copy, RECIPE_FILE));
    const none = train('--data', 'train.csv', '--model', copy);
    assert.equal(none.status, 0, none.stderr);
    assert.doesNotMatch(none.stdout, /Recipe:/);
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});

test(
  'early stopping ends the run after `patience` epochs without a better validation metric',
  needsShared,
  async () => {
    await initBackend();
    const f = JSON.parse(readFileSync(shared('fixtures/parity/expected.json'), 'utf8')) as {
      inputs: { input_ids: number[][]; attention_mask: number[][]; token_type_ids: number[][]; labels: number[] };
    };
    const rows = Array.from({ length: 12 }, (_, i) => i % 3);
    const data: LabelledBatchData = {
      inputIds: rows.map((r) => f.inputs.input_ids[r]),
      attentionMask: rows.map((r) => f.inputs.attention_mask[r]),
      tokenTypeIds: rows.map((r) => f.inputs.token_type_ids[r]),
      labels: rows.map((r) => f.inputs.labels[r]),
    };
    const run = async (patience: number, metric: 'accuracy' | 'loss', lr: number) => {
      const model = await BertForSequenceClassification.fromPretrained(shared('fixtures/parity/tiny-bert-cls'), {
        log: () => {},
      });
      const lines: string[] = [];
      const stats = await fineTune(
        model,
        data,
        data,
        { ...LAB_TRAIN_CONFIG, epochs: 6, batchSize: 4, lr, earlyStopping: { patience, metric } },
        { log: (l) => lines.push(l) },
      );
      model.dispose();
      return { stats, lines };
    };
    // lr 0: nothing changes, so epoch 1 is the best and epochs 2..1+patience bring nothing better.
    const a = await run(2, 'accuracy', 0);
    assert.equal(a.stats.length, 3);
    assert.ok(
      a.lines.some((l) =>
        /^Early stopping: no better validation accuracy for 2 epoch\(s\) \(patience 2\); 3 epoch\(s\) not run$/.test(l),
      ),
      a.lines.join('\n'),
    );
    const b = await run(1, 'loss', 0);
    assert.equal(b.stats.length, 2);
    // patience 0 is off: every epoch runs.
    assert.equal((await run(0, 'loss', 0)).stats.length, 6);
    // A run that keeps improving its loss is not stopped.
    const c = await run(1, 'loss', 1e-3);
    const losses = c.stats.map((s) => s.valLoss);
    const firstWorse = losses.findIndex((x, i) => i > 0 && x >= Math.min(...losses.slice(0, i)));
    assert.equal(c.stats.length, firstWorse < 0 ? 6 : firstWorse + 1);
  },
);

test('resolveTraining: gradient accumulation counts optimizer steps; the best-model metric drives early stopping', () => {
  // 160 rows in batches of 32: 5 batches, 2 per step -> 3 steps per epoch, 12 in 4 epochs; 10% -> ceil(1.2) = 2.
  const r = resolveTraining({ accumulate: 2, warmupRatio: 0.1 }, undefined, 160);
  assert.equal(r.config.accumulate, 2);
  assert.equal(r.config.warmupSteps, 2);
  assert.equal(r.from.accumulate, 'yours');
  assert.ok(describeTraining(r).some((row) => row.setting === 'accumulate' && row.value === '2'));
  // Without accumulation the config is the manual's (no accumulate key, so old checkpoints resume).
  assert.equal('accumulate' in resolveTraining({}, undefined, 160).config, false);
  const f1 = resolveTraining({ metricForBestModel: 'f1', patience: 2 }, undefined, 160).config;
  assert.equal(f1.metricForBestModel, 'f1');
  assert.deepEqual(f1.earlyStopping, { patience: 2, metric: 'f1' });
  const own = resolveTraining({ metricForBestModel: 'f1', patience: 2, monitor: 'loss' }, undefined, 160).config;
  assert.deepEqual(own.earlyStopping, { patience: 2, metric: 'loss' });
  assert.throws(() => resolveTraining({ accumulate: 0 }, undefined, 160), /--accumulate must be an integer >= 1/);
});
