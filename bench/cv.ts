// `npm run cv`: stratified k-fold cross-validation of a model's fine-tuning recipe on a labelled CSV,
// with the TF-IDF + logistic-regression baseline fitted on the same folds. Choosing recipes and
// checkpoints by one fixed validation split selects on those rows; the mean over k folds, with its
// spread, is the number to choose by.
//
//   node --import tsx bench/cv.ts --folds 5 --seed 42 --out /work/cv-runs/NAME [--model DIR]
//     [--data CSV] [--recipe DIR] [--train-seed 42] [--lr X] [--epochs N] [--batch-size N]
//     [--warmup-ratio R] [--limit N] [--clean lab|improved|none] [--no-baseline] [--only-folds 0,1]
//
// Protocol: each fold fine-tunes a fresh copy of --model with the recipe of --recipe's
// fine_tuning.json (default: the bundled model's; options given win) for its fixed number of epochs,
// and scores the LAST epoch on the fold's validation rows. The lab keeps the epoch with the best
// validation accuracy, but inside CV that choice would be made on the very rows being scored; the
// per-epoch accuracies are kept in the fold files to show how much that selection adds.
// Every fold's results (metrics, per-epoch statistics and each validation row's class-1 probability
// from BERT and from TF-IDF) go to OUT/fold-K.json as soon as the fold is done; a rerun with the same
// settings skips finished folds, so a killed run resumes fold by fold. OUT/summary.json and the table
// printed at the end hold the per-fold numbers and their mean ± sd (sample sd over folds).
// --only-folds runs some of the folds (the same folds as a full run: a cheaper paired comparison).
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
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
  runBaseline,
  stratifiedKFold,
  subset,
  writeFileAtomic,
  type CleanMode,
  type EpochStats,
  type Recipe,
  type TrainConfig,
} from '../src/index.js';
import { canonicalJson, foldFile, meanSdOf, scoreProb1, type FoldResult, type Scores } from './cv-common.js';

const USAGE =
  'usage: node --import tsx bench/cv.ts --out DIR [--folds 5] [--seed 42] [--model DIR] [--data CSV] [--recipe DIR]\n' +
  '         [--train-seed 42] [--lr X] [--epochs N] [--batch-size N] [--warmup-ratio R] [--limit N] [--clean lab] [--no-baseline]\n' +
  '         [--only-folds 0,1]';

/** What makes two runs the same experiment: a run resumes only into a folder made with these. */
export interface CvSettings {
  data: string;
  rows: number;
  /** sha256 of the labels and cleaned texts, so a changed CSV is not mixed with old folds. */
  data_sha256: string;
  clean: CleanMode;
  folds: number;
  seed: number;
  model: string;
  recipe_from: string;
  train: Omit<TrainConfig, 'warmupSteps'> & { warmupRatio: number };
  baseline: boolean;
}

interface Args {
  out: string;
  data: string;
  model: string;
  recipe: string;
  folds: number;
  seed: number;
  trainSeed: number;
  limit?: number;
  clean: CleanMode;
  baseline: boolean;
  /** The folds to run (all when absent). */
  only?: number[];
  overrides: Partial<Pick<TrainConfig, 'lr' | 'epochs' | 'batchSize'>> & { warmupRatio?: number };
}

const CLEANS: readonly CleanMode[] = ['lab', 'improved', 'none'];

function parse(argv: string[]): Args {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      data: { type: 'string', default: '/work/shared/data/disaster-tweets/train.csv' },
      model: { type: 'string', default: BUNDLED_MODEL },
      recipe: { type: 'string', default: BUNDLED_MODEL },
      folds: { type: 'string', default: '5' },
      seed: { type: 'string', default: '42' },
      'train-seed': { type: 'string', default: '42' },
      lr: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'warmup-ratio': { type: 'string' },
      limit: { type: 'string' },
      clean: { type: 'string', default: 'lab' },
      'no-baseline': { type: 'boolean', default: false },
      'only-folds': { type: 'string' },
    },
    strict: true,
  });
  if (!v.out) throw new Error(`--out DIR is required (the folder for fold results)\n${USAGE}`);
  const int = (name: string, s: string, min: number) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}, got ${s}`);
    return n;
  };
  const pos = (name: string, s: string, max = Infinity) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0 || n > max) throw new Error(`--${name} must be a number in [0, ${max}], got ${s}`);
    return n;
  };
  const clean = v.clean as CleanMode;
  if (!CLEANS.includes(clean)) throw new Error(`--clean must be one of ${CLEANS.join(', ')}, got ${v.clean}`);
  const overrides: Args['overrides'] = {};
  if (v.lr !== undefined) overrides.lr = pos('lr', v.lr);
  if (v.epochs !== undefined) overrides.epochs = int('epochs', v.epochs, 1);
  if (v['batch-size'] !== undefined) overrides.batchSize = int('batch-size', v['batch-size'], 1);
  if (v['warmup-ratio'] !== undefined) overrides.warmupRatio = pos('warmup-ratio', v['warmup-ratio'], 1);
  return {
    out: path.resolve(v.out),
    data: path.resolve(v.data!),
    model: path.resolve(v.model!),
    recipe: path.resolve(v.recipe!),
    folds: int('folds', v.folds!, 2),
    seed: int('seed', v.seed!, 0),
    trainSeed: int('train-seed', v['train-seed']!, 0),
    limit: v.limit === undefined ? undefined : int('limit', v.limit, 2),
    clean,
    baseline: !v['no-baseline'],
    only: v['only-folds']?.split(',').map((x) => int('only-folds', x.trim(), 0)),
    overrides,
  };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * The fine-tuning settings: the lab's, then the recipe's (fine_tuning.json), then the options given.
 * The warm-up is a share of all steps, turned into steps per fold by `withWarmup`.
 */
function trainConfig(
  recipe: Recipe,
  overrides: Args['overrides'],
  seed: number,
): { cfg: TrainConfig; warmupRatio: number } {
  const { warmupRatio: givenRatio, ...given } = overrides;
  const r = recipe.train;
  const cfg: TrainConfig = {
    ...LAB_TRAIN_CONFIG,
    ...(r.epochs !== undefined && { epochs: r.epochs }),
    ...(r.lr !== undefined && { lr: r.lr }),
    ...(r.batchSize !== undefined && { batchSize: r.batchSize }),
    ...(r.weightDecay !== undefined && { weightDecay: r.weightDecay }),
    ...(r.padding !== undefined && { padding: r.padding }),
    ...given,
    seed,
  };
  if (r.warmupSteps !== undefined && givenRatio === undefined)
    throw new Error('the recipe gives warm-up steps, not a ratio; pass --warmup-ratio R for cross-validation');
  return { cfg, warmupRatio: givenRatio ?? r.warmupRatio ?? 0 };
}

/** The settings with the warm-up in steps for `trainRows` rows, as the lab rounds it. */
function withWarmup(base: { cfg: TrainConfig; warmupRatio: number }, trainRows: number): TrainConfig {
  const steps = Math.ceil(trainRows / base.cfg.batchSize) * base.cfg.epochs;
  return { ...base.cfg, warmupSteps: Math.round(base.warmupRatio * steps) };
}

/** Refuses a folder this command did not make, or one made with other settings. */
async function claimOut(out: string, settings: CvSettings): Promise<void> {
  const file = path.join(out, 'cv.json');
  if (existsSync(file)) {
    const old = JSON.parse(await readFile(file, 'utf8')) as CvSettings;
    if (canonicalJson(old) !== canonicalJson(settings))
      throw new Error(
        `${file}: this folder holds a cross-validation run with other settings (${JSON.stringify(old)}); use another --out`,
      );
    return;
  }
  if (existsSync(out) && (await readdir(out)).length > 0)
    throw new Error(`--out ${out} exists and is not a cross-validation folder (no cv.json); use another --out`);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(file, JSON.stringify(settings, null, 2) + '\n');
}

function table(results: FoldResult[]): string {
  const cell = (s: Scores | undefined) => (s ? `${s.accuracy.toFixed(4)} / ${s.f1.toFixed(4)}` : '-');
  const lines = ['| fold | BERT acc / F1 | TF-IDF acc / F1 |', '|---|---|---|'];
  for (const r of results) lines.push(`| ${r.fold} | ${cell(r.bert)} | ${cell(r.tfidf)} |`);
  const ms = (xs: number[]) => {
    const m = meanSdOf(xs);
    return `${m.mean.toFixed(4)} ± ${m.sd.toFixed(4)}`;
  };
  const both = (get: (r: FoldResult) => Scores | undefined) => {
    const s = results.map(get).filter((x): x is Scores => x !== undefined);
    return s.length ? `${ms(s.map((x) => x.accuracy))} / ${ms(s.map((x) => x.f1))}` : '-';
  };
  lines.push(`| mean ± sd | ${both((r) => r.bert)} | ${both((r) => r.tfidf)} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(s + '\n');
  const backend = await initBackend();
  log(`backend: ${backend.name}`);
  const recipe = await readRecipe(a.recipe);
  if (!recipe) throw new Error(`--recipe ${a.recipe}: no fine_tuning.json there; give the folder of a model's recipe`);
  const tok = await BertTokenizer.fromDir(a.model);
  const prep = await prepareData(a.data, tok, { clean: a.clean, limit: a.limit, log: () => {} });
  const { labels, labelNames } = prep.data;
  if (labelNames.length !== 2)
    throw new Error(`${a.data}: ${labelNames.length} classes; this driver scores F1 of class 1 and needs 2`);
  const sha = createHash('sha256');
  sha.update(JSON.stringify(labels));
  sha.update(JSON.stringify(prep.cleaned));
  const base = trainConfig(recipe, a.overrides, a.trainSeed);
  const { warmupSteps: _w, ...trainSettings } = base.cfg;
  const settings: CvSettings = {
    data: a.data,
    rows: labels.length,
    data_sha256: sha.digest('hex'),
    clean: a.clean,
    folds: a.folds,
    seed: a.seed,
    model: a.model,
    recipe_from: a.recipe,
    train: { ...trainSettings, warmupRatio: base.warmupRatio },
    baseline: a.baseline,
  };
  await claimOut(a.out, settings);
  log(`cv: ${labels.length} rows of ${a.data}, ${a.folds} folds (seed ${a.seed}), model ${a.model}`);
  log(`cv: recipe ${JSON.stringify(settings.train)}; the last epoch is scored`);
  const folds = stratifiedKFold(labels, a.folds, a.seed);
  const bad = a.only?.find((f) => f >= a.folds);
  if (bad !== undefined) throw new Error(`--only-folds ${bad}: the folds are numbered 0 to ${a.folds - 1}`);
  const results: FoldResult[] = [];
  for (const [f, fold] of folds.entries()) {
    if (a.only && !a.only.includes(f)) continue;
    const file = foldFile(a.out, f);
    if (existsSync(file)) {
      const done = JSON.parse(await readFile(file, 'utf8')) as FoldResult;
      if (JSON.stringify(done.val_idx) !== JSON.stringify(fold.val))
        throw new Error(
          `${file}: its validation rows differ from fold ${f}'s; the folder is inconsistent, use another --out`,
        );
      log(`fold ${f}: done before (${file}), skipped`);
      results.push(done);
      continue;
    }
    const t0 = performance.now();
    const train = subset(prep.encoded, labels, fold.train);
    const val = subset(prep.encoded, labels, fold.val);
    const cfg = withWarmup(base, train.labels.length);
    log(
      `fold ${f}: ${train.labels.length} training rows, ${val.labels.length} validation rows; warm-up ${cfg.warmupSteps} steps`,
    );
    const choice = await loadClassifier(a.model, labelNames, { seed: cfg.seed, log: () => {} });
    let bert: FoldResult['bert'];
    try {
      const stats = await fineTune(choice.model, train, val, cfg, {
        log: (line) => {
          if (line.trim()) log(`fold ${f}: ${line.trim()}`);
        },
      });
      const ev = evaluate(choice.model, val, cfg.batchSize, cfg.padding);
      const prob1 = ev.probabilities.map((p) => p[1]!);
      bert = {
        ...scoreProb1(val.labels, prob1),
        epochs: stats,
        warmup_steps: cfg.warmupSteps,
        seconds: (performance.now() - t0) / 1000,
        prob1: prob1.map(round6),
      };
    } finally {
      choice.model.dispose();
    }
    let tfidf: FoldResult['tfidf'];
    if (a.baseline) {
      const text = (idx: number[]) => idx.map((i) => prep.cleaned[i]!);
      const r = runBaseline(
        text(fold.train),
        fold.train.map((i) => labels[i]!),
        text(fold.val),
        val.labels,
        { labelNames },
      );
      const prob1 = r.probabilities.map((p) => p[1]!);
      tfidf = { ...scoreProb1(val.labels, prob1), seconds: r.seconds, prob1: prob1.map(round6) };
    }
    const result: FoldResult = {
      fold: f,
      train_rows: train.labels.length,
      val_rows: val.labels.length,
      val_idx: fold.val,
      val_labels: val.labels,
      bert,
      tfidf,
    };
    await writeFileAtomic(file, JSON.stringify(result) + '\n');
    log(
      `fold ${f}: BERT ${bert.accuracy.toFixed(4)} / ${bert.f1.toFixed(4)}` +
        (tfidf ? `, TF-IDF ${tfidf.accuracy.toFixed(4)} / ${tfidf.f1.toFixed(4)}` : '') +
        ` (accuracy / F1 of class 1; ${Math.round(bert.seconds)} s)`,
    );
    results.push(result);
  }
  const summary = {
    settings,
    folds: results.map((r) => ({
      fold: r.fold,
      val_rows: r.val_rows,
      bert: { accuracy: r.bert.accuracy, f1: r.bert.f1, epoch_accuracy: r.bert.epochs.map((e) => e.valAccuracy) },
      tfidf: r.tfidf && { accuracy: r.tfidf.accuracy, f1: r.tfidf.f1 },
    })),
    bert: {
      accuracy: meanSdOf(results.map((r) => r.bert.accuracy)),
      f1: meanSdOf(results.map((r) => r.bert.f1)),
    },
    tfidf: a.baseline
      ? {
          accuracy: meanSdOf(results.map((r) => r.tfidf!.accuracy)),
          f1: meanSdOf(results.map((r) => r.tfidf!.f1)),
        }
      : undefined,
  };
  await writeFileAtomic(path.join(a.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(table(results));
}

main().catch((e: unknown) => {
  console.error(`cv: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
