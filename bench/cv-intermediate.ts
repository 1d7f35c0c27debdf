// Intermediate-task training (STILTs, Phang et al., 2018) before the lab's fine-tuning: fine-tunes a
// model on another labelled tweet task (TweetEval's emotion, sentiment or emoji labels in
// ../shared/corpora/tweeteval-labelled) and saves its encoder WITHOUT the task's classifier head, so
// that bench/cv.ts --model OUT starts the lab's task from these weights with a fresh 2-label head.
// (A checkpoint whose head has another label count does not load into a 2-label classifier: loading
// refuses the classifier's shape; hence the head is dropped here.)
//
//   node --import tsx bench/cv-intermediate.ts --data ../shared/corpora/tweeteval-labelled/emotion_train.csv
//     --out /work/cv-runs/inter-emotion/model [--model DIR] [--epochs 2] [--limit N] [--seed 42]
//
// Recipe: the bundled model's fine-tuning recipe (lr 1e-4, batch 32, 10% warm-up, padding longest)
// with --epochs; the texts get the lab's cleaning, as the lab's fine-tuning sees them. 10% of the
// rows are held out to show the intermediate task was learned (its accuracy against the majority
// class), not to choose anything.
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  BUNDLED_MODEL,
  BertTokenizer,
  LAB_TRAIN_CONFIG,
  evaluate,
  fineTune,
  initBackend,
  loadClassifier,
  prepareData,
  readRecipe,
  readSafetensors,
  writeFileAtomic,
  writeSafetensors,
  type TrainConfig,
} from '../src/index.js';

const TOKENIZER_FILES = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string', default: BUNDLED_MODEL },
      epochs: { type: 'string', default: '2' },
      limit: { type: 'string' },
      seed: { type: 'string', default: '42' },
    },
    strict: true,
  });
  if (!v.data || !v.out)
    throw new Error(
      'usage: node --import tsx bench/cv-intermediate.ts --data CSV --out DIR [--model DIR] [--epochs 2] [--limit N]',
    );
  const out = path.resolve(v.out);
  if (existsSync(out)) throw new Error(`--out ${out} exists; give a new folder (nothing is overwritten)`);
  const epochs = Number(v.epochs);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`--epochs must be an integer of at least 1, got ${v.epochs}`);
  const seed = Number(v.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${v.seed}`);
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  const log = (s: string) => process.stderr.write(s + '\n');
  await initBackend();
  const modelDir = path.resolve(v.model!);
  const recipe = await readRecipe(BUNDLED_MODEL);
  if (!recipe) throw new Error(`${BUNDLED_MODEL}: no fine_tuning.json`);
  const tok = await BertTokenizer.fromDir(modelDir);
  const prep = await prepareData(v.data, tok, {
    columns: { text: 'text', label: 'label' },
    clean: 'lab',
    valSplit: 0.1,
    seed,
    limit,
    log,
  });
  const labelNames = prep.data.labelNames;
  const r = recipe.train;
  const cfg: TrainConfig = {
    ...LAB_TRAIN_CONFIG,
    lr: r.lr ?? LAB_TRAIN_CONFIG.lr,
    batchSize: r.batchSize ?? LAB_TRAIN_CONFIG.batchSize,
    padding: r.padding ?? 'longest',
    epochs,
    seed,
  };
  cfg.warmupSteps = Math.round((r.warmupRatio ?? 0) * Math.ceil(prep.train.labels.length / cfg.batchSize) * epochs);
  log(
    `intermediate task: ${labelNames.length} classes (${labelNames.join(', ')}), ${prep.train.labels.length} training rows`,
  );
  const { model } = await loadClassifier(modelDir, labelNames, { seed, log });
  const t0 = performance.now();
  const stats = await fineTune(model, prep.train, prep.val, cfg, { log });
  const ev = evaluate(model, prep.val, cfg.batchSize, cfg.padding);
  const counts = new Map<number, number>();
  for (const y of prep.val.labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  const majority = Math.max(...counts.values()) / prep.val.labels.length;
  await model.save(out, {
    extra: async (tmp) => {
      for (const f of TOKENIZER_FILES)
        if (existsSync(path.join(modelDir, f))) await copyFile(path.join(modelDir, f), path.join(tmp, f));
    },
  });
  // The task's head goes: the lab's task gets a new one (see the top of this file).
  const weightsFile = path.join(out, 'model.safetensors');
  const weights = await readSafetensors(weightsFile);
  const dropped = [...weights.keys()].filter((k) => k.startsWith('classifier.'));
  for (const k of dropped) weights.delete(k);
  await writeSafetensors(weightsFile, weights, { dtype: 'F32', metadata: { format: 'pt' } });
  const card = {
    from: modelDir,
    data: path.resolve(v.data),
    rows: prep.data.texts.length,
    train_rows: prep.train.labels.length,
    labels: labelNames,
    train: cfg,
    epochs: stats,
    held_out_accuracy: ev.accuracy,
    held_out_majority_rate: majority,
    dropped,
    seconds: (performance.now() - t0) / 1000,
  };
  await writeFileAtomic(path.join(out, 'intermediate.json'), JSON.stringify(card, null, 2) + '\n');
  log(
    `intermediate task: held-out accuracy ${ev.accuracy.toFixed(4)} (majority class ${majority.toFixed(4)}); encoder saved to ${out} without ${dropped.join(', ')}`,
  );
}

main().catch((e: unknown) => {
  console.error(`cv-intermediate: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
