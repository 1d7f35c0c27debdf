// A run folder (OUT): the best epoch kept in OUT/best with the score it was kept for, a checkpoint
// to resume from after every epoch, stats.json/stats.csv/report.json rewritten after every epoch,
// and the checks that OUT can take a run before any training. A folder is a run only when it holds a
// run's marks (RUN_MARK, or a best/ with our record): --overwrite never touches any other folder, and
// never deletes what the run did not write (a best/ measured on other rows is kept as best.previous/).
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import type { BertTokenizer } from '../text/tokenizer.js';
import type { LabelledBatchData, PreparedData } from '../data/prepare.js';
import { classificationReport, confusionMatrix, type ClassificationReport } from './metrics.js';
import {
  evaluate,
  fineTune,
  metricScore,
  metricValue,
  optimizerSteps,
  type EpochStats,
  type FineTuneState,
  type Metric,
  type TrainConfig,
  type TrainHooks,
} from './train.js';
import { majorityBaseline, type MajorityBaseline } from './analysis.js';
import { writeFileAtomic } from '../io/atomic.js';
import { LOCK_FILE } from '../io/lock.js';
import { readSafetensors, writeSafetensors, type TensorData } from '../io/safetensors.js';
import { report } from '../io/log.js';

export interface RunReport {
  labels: string[];
  best: EpochStats | undefined;
  stats: EpochStats[];
  report: ClassificationReport;
  confusion: number[][];
  /** Always answering the most frequent training class, scored on the same validation rows. */
  majority: { label: string; accuracy: number };
  /** False when best/ scores no better than `majority`: it has learned nothing useful. */
  beatsMajority: boolean;
  /** Where the previous best/ was kept, when it was measured on other rows (OUT/best.previous). */
  previous?: string;
}

/** Written by a run into OUT at its start: the folder is a bert-lab run (--overwrite may reuse it). */
export const RUN_MARK = '.bert-lab-run';
/** A best/ measured on other validation rows is kept here when a run replaces it. */
const PREVIOUS_BEST = 'best.previous';
/** What a run writes into best/ and checkpoint/: anything else there is not the run's to delete. */
const BEST_FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'bert_lab_best.json',
  'trainer_state.json',
  'training_args.json',
];
const CHECKPOINT_FILES = ['config.json', 'model.safetensors', 'optimizer.safetensors', 'state.json'];

/** Writes the per-epoch table as JSON and CSV. */
async function writeStats(outDir: string, stats: EpochStats[]): Promise<void> {
  await writeFileAtomic(path.join(outDir, 'stats.json'), JSON.stringify(stats, null, 2) + '\n');
  const header = 'epoch,train_loss,val_loss,val_accuracy,val_f1,train_seconds,val_seconds';
  const rows = stats.map((s) =>
    [
      s.epoch,
      s.trainLoss,
      s.valLoss,
      s.valAccuracy,
      s.valF1 ?? '',
      s.trainSeconds.toFixed(1),
      s.valSeconds.toFixed(1),
    ].join(','),
  );
  await writeFileAtomic(path.join(outDir, 'stats.csv'), [header, ...rows].join('\n') + '\n');
}

/**
 * Written into OUT/best with the weights: the score it was kept for and the rows that measured it.
 * A file of our own: OUT/best/trainer_state.json is Hugging Face's (TrainerState) and holds only its fields.
 */
export const BEST_RECORD = 'bert_lab_best.json';
/** Hugging Face's names: `TrainerState.load_from_json` and `TrainingArguments` fields read these. */
export const TRAINER_STATE = 'trainer_state.json';
export const TRAINING_ARGS = 'training_args.json';

/** What OUT/best records about itself (BEST_RECORD). */
export interface BestRecord {
  best: EpochStats;
  /** The validation rows the score was measured on: their count and a hash of their inputs and labels. */
  validation: { rows: number; sha256: string };
  report: ClassificationReport;
  confusion_matrix: number[][];
  labels: string[];
}

/**
 * How a model in OUT/best was made, under Hugging Face's TrainingArguments names where one exists,
 * plus ours: `eval` and `predict` read the cleaning and the columns back from it.
 */
export interface TrainingArgs {
  learning_rate: number;
  num_train_epochs: number;
  per_device_train_batch_size: number;
  per_device_eval_batch_size: number;
  warmup_steps: number;
  warmup_ratio?: number;
  weight_decay: number;
  adam_epsilon: number;
  adam_beta1: number;
  adam_beta2: number;
  max_grad_norm: number;
  seed: number;
  lr_scheduler_type: 'linear';
  group_by_length: boolean;
  gradient_accumulation_steps: number;
  metric_for_best_model: string;
  greater_is_better: boolean;
  // bert-lab's own fields: how the data was prepared.
  clean: string;
  text_column: string;
  label_column: string;
  pair_column?: string;
  id_column?: string;
  max_length: number;
  padding: string;
  val_split: number;
  split_seed: number;
  limit?: number;
  data: string;
  /** How each class id is written in the data file when it differs from the class name (0/1 of the lab). */
  label_values?: string[];
}

/** OUT/best/training_args.json of `cfg` and `prep`. */
function trainingArgs(cfg: TrainConfig, prep: PreparedData, warmupRatio?: number): TrainingArgs {
  const s = prep.settings;
  const metric = cfg.metricForBestModel ?? 'accuracy';
  return {
    learning_rate: cfg.lr,
    num_train_epochs: cfg.epochs,
    per_device_train_batch_size: cfg.batchSize,
    per_device_eval_batch_size: cfg.batchSize,
    warmup_steps: cfg.warmupSteps,
    ...(warmupRatio !== undefined ? { warmup_ratio: warmupRatio } : {}),
    weight_decay: cfg.weightDecay,
    adam_epsilon: cfg.eps,
    adam_beta1: 0.9,
    adam_beta2: 0.999,
    max_grad_norm: cfg.clip,
    seed: cfg.seed,
    lr_scheduler_type: 'linear',
    group_by_length: cfg.groupByLength ?? false,
    gradient_accumulation_steps: cfg.accumulate ?? 1,
    metric_for_best_model: metric,
    greater_is_better: metric !== 'loss',
    clean: s.clean,
    text_column: s.columns.text,
    label_column: s.columns.label,
    ...(s.columns.pair ? { pair_column: s.columns.pair } : {}),
    ...(s.columns.id ? { id_column: s.columns.id } : {}),
    max_length: prep.maxLen,
    padding: cfg.padding ?? 'max_length',
    val_split: s.valSplit,
    split_seed: s.seed,
    ...(s.limit !== undefined ? { limit: s.limit } : {}),
    data: prep.file,
    ...(s.labelValues ? { label_values: s.labelValues } : {}),
  };
}

/** A model folder's training_args.json, or undefined when it has none (a checkpoint not trained here). */
export async function readTrainingArgs(modelDir: string): Promise<Partial<TrainingArgs> | undefined> {
  const file = path.join(modelDir, TRAINING_ARGS);
  if (!existsSync(file)) return undefined;
  try {
    const o = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error('expected a JSON object');
    return o as Partial<TrainingArgs>;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}; delete it to use the defaults, or retrain`);
  }
}

/**
 * Hugging Face's TrainerState of a run (its field names only, so `TrainerState.load_from_json`
 * reads it): the epoch log, the best metric and where the best model is.
 */
function trainerState(stats: EpochStats[], best: EpochStats, cfg: TrainConfig, stepsPerEpoch: number) {
  const metric = cfg.metricForBestModel ?? 'accuracy';
  const last = stats[stats.length - 1];
  return {
    best_metric: metricValue(best, metric),
    best_global_step: best.epoch * stepsPerEpoch,
    best_model_checkpoint: 'best',
    epoch: last?.epoch ?? 0,
    global_step: (last?.epoch ?? 0) * stepsPerEpoch,
    max_steps: cfg.epochs * stepsPerEpoch,
    num_train_epochs: cfg.epochs,
    train_batch_size: cfg.batchSize,
    logging_steps: stepsPerEpoch,
    eval_steps: stepsPerEpoch,
    save_steps: stepsPerEpoch,
    log_history: stats.flatMap((s) => [
      { epoch: s.epoch, step: s.epoch * stepsPerEpoch, loss: s.trainLoss, train_runtime: s.trainSeconds },
      {
        epoch: s.epoch,
        step: s.epoch * stepsPerEpoch,
        eval_loss: s.valLoss,
        eval_accuracy: s.valAccuracy,
        ...(s.valF1 !== undefined ? { eval_f1: s.valF1 } : {}),
        eval_runtime: s.valSeconds,
      },
    ]),
    total_flos: 0,
    is_local_process_zero: true,
    is_world_process_zero: true,
    is_hyper_param_search: false,
    trial_name: null,
    trial_params: null,
  };
}

/** An epoch's validation score by `metric`, as the logs name it ("accuracy 0.8123", "f1 0.7712"). */
function described(s: EpochStats, metric: Metric): string {
  const v = metricValue(s, metric);
  return `${metric} ${Number.isNaN(v) ? 'not recorded' : v.toFixed(4)}`;
}

/** A hash of validation rows (inputs and labels): two scores compare only when it matches. */
function validationFingerprint(val: LabelledBatchData): { rows: number; sha256: string } {
  const h = createHash('sha256');
  h.update(JSON.stringify([val.inputIds, val.tokenTypeIds, val.labels]));
  return { rows: val.labels.length, sha256: h.digest('hex') };
}

/**
 * OUT/best's record (or OUT/`sub`'s), or undefined when there is no best/ or it has none (a foreign
 * folder). A run of an older version kept the record under trainer_state.json: read there too.
 */
export async function readBestRecord(outDir: string, sub = 'best'): Promise<BestRecord | undefined> {
  const own = path.join(outDir, sub, BEST_RECORD);
  const old = path.join(outDir, sub, TRAINER_STATE);
  const file = existsSync(own) ? own : old;
  if (!existsSync(file)) return undefined;
  let r: BestRecord;
  try {
    r = JSON.parse(await readFile(file, 'utf8')) as BestRecord;
  } catch (e) {
    throw new Error(
      `${file}: not valid JSON (${(e as Error).message}); delete ${path.join(outDir, sub)} or pass another --out`,
    );
  }
  // Hugging Face's trainer_state.json (no `best` of ours): not a record, nothing to compare with.
  if (file === old && !('validation' in (r ?? {}))) return undefined;
  if (typeof r?.best?.valAccuracy !== 'number' || typeof r.validation?.sha256 !== 'string')
    throw new Error(
      `${file}: not a valid record of the best model (best.valAccuracy or validation.sha256 is missing); delete ${path.join(outDir, sub)} or pass another --out`,
    );
  return r;
}

/** True when `outDir` holds a run's marks: RUN_MARK, or a best/ with our record. */
export async function isRunFolder(outDir: string): Promise<boolean> {
  if (existsSync(path.join(outDir, RUN_MARK))) return true;
  return (await readBestRecord(outDir).catch(() => undefined)) !== undefined;
}

/** Marks `outDir` as a run (RUN_MARK), once: the first run's mark is kept. */
export async function markRunFolder(outDir: string, command: string): Promise<void> {
  const file = path.join(outDir, RUN_MARK);
  if (existsSync(file)) return;
  const mark = { written_by: command, created: new Date().toISOString() };
  await writeFileAtomic(file, JSON.stringify(mark, null, 2) + '\n');
}

/** The entries of `dir` a run does not write (its own names and io/atomic.ts's temporaries excepted). */
async function foreignEntries(dir: string, own: readonly string[]): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const temp = /^\..+\.(tmp|old)-\d+-[0-9a-f]+$/;
  return (await readdir(dir)).filter((e) => !own.includes(e) && !temp.test(e));
}

const listed = (xs: string[]) => `${xs.slice(0, 3).join(', ')}${xs.length > 3 ? `, ... (${xs.length} in all)` : ''}`;

/**
 * Checks before any training that `outDir` can take a run: not a file nor a dangling link, writable,
 * and empty unless `overwrite` or `resume`. Those reuse only a bert-lab run (RUN_MARK or a recorded
 * best/), and only when its best/, best.previous/ and checkpoint/ hold nothing a run does not write:
 * a run never deletes what it did not create. A dry run without them looks at the data whatever OUT
 * holds; with them it makes the same checks as the run.
 *
 * Example: `await checkOutDir('runs/tweets', { overwrite: false })`
 */
export async function checkOutDir(
  outDir: string,
  opts: { overwrite: boolean; resume?: boolean; dryRun?: boolean },
): Promise<void> {
  let st;
  try {
    st = await stat(outDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR')
      throw new Error(`--out ${outDir}: a parent of it is a file, not a folder: pass another path`);
    if (code !== 'ENOENT') throw new Error(`--out ${outDir}: ${(e as Error).message}`);
    const link = await lstat(outDir).catch(() => undefined);
    if (link?.isSymbolicLink())
      throw new Error(
        `--out ${outDir} is a symbolic link to a folder that does not exist: create it, remove the link, or pass another --out`,
      );
  }
  if (st && !st.isDirectory()) throw new Error(`--out ${outDir} is a file, not a folder: pass a folder path`);
  // The lock of a run still going is reported when this run tries to take it.
  const entries = st ? (await readdir(outDir)).filter((e) => e !== LOCK_FILE) : [];
  const reuse = opts.overwrite || opts.resume;
  if (entries.length && !reuse && !opts.dryRun) {
    const rec = await readBestRecord(outDir).catch(() => undefined);
    const what = rec
      ? `a previous run (best/: epoch ${rec.best.epoch}, validation accuracy ${rec.best.valAccuracy.toFixed(4)})`
      : listed(entries);
    throw new Error(
      `--out ${outDir} already holds ${what}: pass --overwrite to train there again (best/ is replaced only by a ` +
        'better epoch on the same validation rows), or another --out',
    );
  }
  if (entries.length && reuse) {
    const flag = opts.resume ? '--resume' : '--overwrite';
    if (!(await isRunFolder(outDir)))
      throw new Error(
        `--out ${outDir} is not a bert-lab run (no ${RUN_MARK} nor best/${BEST_RECORD}) and holds ${listed(entries)}: ` +
          `${flag} reuses only a run's folder and never deletes other files; pass a new or empty --out`,
      );
    for (const [sub, own] of [
      ['best', BEST_FILES],
      [PREVIOUS_BEST, BEST_FILES],
      ['checkpoint', CHECKPOINT_FILES],
    ] as const) {
      const foreign = await foreignEntries(path.join(outDir, sub), own);
      if (foreign.length)
        throw new Error(
          `${path.join(outDir, sub)} holds files a run does not write (${listed(foreign)}): the run would replace that ` +
            `folder; move them elsewhere, or pass another --out`,
        );
    }
    if (existsSync(path.join(outDir, PREVIOUS_BEST)) && !(await readBestRecord(outDir, PREVIOUS_BEST)))
      throw new Error(
        `${path.join(outDir, PREVIOUS_BEST)} was not written by bert-lab (no ${BEST_RECORD}): a run keeps the previous ` +
          'best/ there when it replaces it; move that folder elsewhere, or pass another --out',
      );
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

/**
 * report.json's verdict beside the majority class: the class always answered and its accuracy on
 * the same validation rows, and whether best/ beats it (a model that does not has learned nothing
 * useful, whatever its accuracy looks like).
 */
function majorityFields(best: EpochStats, majority: MajorityBaseline, labels: readonly string[]) {
  return {
    majority_class: { label: labels[majority.label] ?? String(majority.label), accuracy: majority.accuracy },
    beats_majority: best.valAccuracy > majority.accuracy,
  };
}

/** Moves `bestDir` to `previousDir`, replacing an earlier best.previous/ of ours (checked before the run). */
async function keepPrevious(bestDir: string, previousDir: string): Promise<void> {
  // One step back is kept: an older best.previous/ of ours gives way (its files are all a run's own).
  if (existsSync(previousDir)) await rm(previousDir, { recursive: true, force: true });
  await rename(bestDir, previousDir);
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
 *   choice: the model and its tokenizer (`loadClassifier`'s result will do).
 *   prep: the prepared data (`prepareData`).
 *   outDir: where best/, stats.json, stats.csv and report.json go.
 *   cfg: the training settings (`resolveTraining`); hooks: progress and epoch callbacks.
 *   opts: `resume` the run in OUT/checkpoint; `warmupRatio` as given, for training_args.json.
 *
 * Example: `const run = await trainAndSave(choice, prep, 'runs/tweets', { ...LAB_TRAIN_CONFIG, epochs: 2 });`
 */
export async function trainAndSave(
  choice: { model: BertForSequenceClassification; tokenizer: BertTokenizer },
  prep: PreparedData,
  outDir: string,
  cfg: TrainConfig,
  hooks: TrainHooks = {},
  opts: { resume?: boolean; warmupRatio?: number } = {},
): Promise<RunReport> {
  const { model, tokenizer } = choice;
  const ckptDir = path.join(outDir, 'checkpoint');
  const log = hooks.log ?? console.log;
  const bestDir = path.join(outDir, 'best');
  const validation = validationFingerprint(prep.val);
  const stepsPerEpoch = optimizerSteps(prep.train.labels.length, cfg);
  const args = trainingArgs(cfg, prep, opts.warmupRatio);
  const metric = cfg.metricForBestModel ?? 'accuracy';
  const previous = await readBestRecord(outDir);
  // A best/ is kept (and has to be beaten) only when its score compares: same rows, and the metric
  // recorded (an older record has no F1).
  const kept =
    previous && previous.validation.sha256 === validation.sha256 && Number.isFinite(metricScore(previous.best, metric))
      ? previous
      : undefined;
  const previousDir = path.join(outDir, PREVIOUS_BEST);
  // A best/ measured on other rows has a score that does not compare with this run's: it is moved
  // to best.previous/ (never deleted) when this run saves its first best epoch.
  let toKeep = !kept && existsSync(bestDir);
  const sameRows = previous?.validation.sha256 === validation.sha256;
  const scored = (r: BestRecord | undefined) =>
    r
      ? `epoch ${r.best.epoch}, validation accuracy ${r.best.valAccuracy.toFixed(4)} on ${r.validation.rows} ${sameRows ? 'rows, no F1 recorded' : 'other rows'}`
      : 'not recorded';
  if (toKeep && existsSync(previousDir) && !(await readBestRecord(outDir, PREVIOUS_BEST)))
    throw new Error(
      `${previousDir} was not written by bert-lab (no ${BEST_RECORD}): ${bestDir} would be kept there; move it elsewhere, or pass another --out`,
    );
  if (kept)
    log(
      `Keeping ${bestDir} (epoch ${kept.best.epoch}, validation ${described(kept.best, metric)} on the same rows) unless an epoch beats it`,
    );
  else if (toKeep)
    log(
      `${bestDir} (${scored(previous)}) was measured ${sameRows ? `without ${metric}` : 'on other validation rows'}: ` +
        `the scores do not compare, so this run's best epoch takes its place and it is kept as ${previousDir}`,
    );
  let keptAs: string | undefined;
  let best: EpochStats | undefined = kept?.best;
  let record: BestRecord | undefined = kept;
  const majority = majorityBaseline(prep.train.labels, prep.val.labels);
  const resume = opts.resume ? await loadFineTuneCheckpoint(ckptDir, model, cfg, validation) : undefined;
  const stats: EpochStats[] = [...(resume?.stats ?? [])];
  const writeReport = (r: BestRecord) =>
    writeFileAtomic(
      path.join(outDir, 'report.json'),
      JSON.stringify(
        {
          best: r.best,
          ...majorityFields(r.best, majority, r.labels),
          report: r.report,
          confusion_matrix: r.confusion_matrix,
          labels: r.labels,
          ...(keptAs ? { previous_best: keptAs } : {}),
        },
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
      bestToBeat: kept ? metricScore(kept.best, metric) : undefined,
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
        const state = trainerState(stats, s, cfg, stepsPerEpoch);
        if (toKeep) {
          await keepPrevious(bestDir, previousDir);
          toKeep = false;
          keptAs = previousDir;
          log(`  Kept the previous ${bestDir} (${scored(previous)}) as ${previousDir}`);
        }
        // The records go into best/ with the weights (one swap), so best/ and its score never disagree.
        await model.save(bestDir, {
          extra: async (tmp) => {
            await tokenizer.save(tmp);
            const write = (f: string, o: unknown) =>
              writeFileAtomic(path.join(tmp, f), JSON.stringify(o, null, 2) + '\n');
            await write(BEST_RECORD, r);
            await write(TRAINER_STATE, state);
            await write(TRAINING_ARGS, args);
          },
        });
        await writeReport(r);
        log(`  Saved the best model so far (epoch ${s.epoch}, ${described(s, metric)}) to ${bestDir}`);
        await hooks.onBest?.(s, ev);
      },
    },
    resume,
  );
  // The run is complete: its checkpoint (weights and two moments per parameter) has no further use.
  await rm(ckptDir, { recursive: true, force: true });
  if (!record) throw new Error(`no epoch was saved to ${bestDir}`);
  if (kept && best === kept.best)
    log(`No epoch beat the existing best (${described(kept.best, metric)}): ${bestDir} is unchanged`);
  if (best!.valAccuracy < majority.accuracy)
    report(
      `Warning: the best validation accuracy ${best!.valAccuracy.toFixed(4)} is below the majority-class rate ${majority.accuracy.toFixed(4)} ` +
        `(always answering "${model.labels[majority.label]}"): ${bestDir} has learned nothing useful; train longer or change --lr`,
    );
  const reloaded = await BertForSequenceClassification.fromPretrained(bestDir, { log: () => {} });
  try {
    const ev = evaluate(reloaded, prep.val, cfg.batchSize, cfg.padding);
    const labels = reloaded.labels;
    const rep = classificationReport(prep.val.labels, ev.predictions, labels);
    const confusion = confusionMatrix(prep.val.labels, ev.predictions, labels.length);
    await writeReport({ ...record, report: rep, confusion_matrix: confusion, labels });
    const m = majorityFields(best!, majority, labels);
    return {
      labels,
      best,
      stats,
      report: rep,
      confusion,
      majority: m.majority_class,
      beatsMajority: m.beats_majority,
      ...(keptAs ? { previous: keptAs } : {}),
    };
  } finally {
    reloaded.dispose();
  }
}
