// An experiment bench: a declarative grid of fine-tuning settings, one run per combination and
// seed, each in its own folder named after its settings, and a results table kept on disk so
// that re-opening the notebook (or re-running the grid) shows earlier runs and skips finished ones.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CleanMode } from '../text/clean.js';
import {
  LAB_TRAIN_CONFIG,
  TrainingStopped,
  type EpochStats,
  type TrainConfig,
  type TrainHooks,
} from '../training/train.js';
import type { ClassMetrics } from '../training/metrics.js';
import { writeFileAtomic } from '../io/atomic.js';
import { resolveModel } from '../io/hub.js';
import { presetHubId } from '../model/presets.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { prepareData } from '../data/prepare.js';
import { trainAndSave } from '../training/run-dir.js';
import { BUNDLED_MODEL, loadClassifier } from './classifier.js';
import { lrFind, type LrFindOptions, type LrFindResult } from '../training/lr-find.js';
import type { PreparedData } from '../data/prepare.js';

/** The settings one run varies. `maxLen` undefined: the longest text of the data. */
export interface ExperimentSettings {
  model: string;
  clean: CleanMode;
  lr: number;
  epochs: number;
  batchSize: number;
  warmupSteps: number;
  weightDecay: number;
  maxLen: number | undefined;
  seed: number;
}

/** Each setting's values to try; the grid is every combination. */
export type ExperimentGrid = { [K in keyof ExperimentSettings]: readonly ExperimentSettings[K][] };

/**
 * The full comparison of notebook 03 on the bundled model: the three cleaning modes x two learning
 * rates x three seeds, 3 epochs each, 18 runs (run on every tweet: about 80 minutes on 2 cores).
 */
export const FULL_GRID: ExperimentGrid = {
  model: [BUNDLED_MODEL],
  clean: ['lab', 'improved', 'none'],
  lr: [5e-5, 1e-4],
  epochs: [3],
  batchSize: [32],
  warmupSteps: [0],
  weightDecay: [0],
  maxLen: [undefined],
  seed: [1, 2, 3],
};

/**
 * Every combination of the grid's values (the cartesian product), seeds varying fastest.
 *
 * Example: `expandGrid({ ...grid, lr: [2e-5, 5e-5], seed: [1, 2, 3] }).length` is 6 when the other lists have one value.
 */
export function expandGrid(grid: ExperimentGrid): ExperimentSettings[] {
  const keys: (keyof ExperimentSettings)[] = [
    'model',
    'clean',
    'lr',
    'epochs',
    'batchSize',
    'warmupSteps',
    'weightDecay',
    'maxLen',
    'seed',
  ];
  let out: Partial<ExperimentSettings>[] = [{}];
  for (const k of keys) {
    const values = grid[k] as readonly unknown[] | undefined;
    if (!Array.isArray(values) || values.length === 0) {
      throw new Error(`experiment grid: "${k}" needs a list of at least one value (got ${JSON.stringify(values)})`);
    }
    out = out.flatMap((s) => values.map((v: unknown) => ({ ...s, [k]: v })));
  }
  return out as ExperimentSettings[];
}

/**
 * A folder name that spells out the settings, safe on every file system:
 * `bert-lab-tiny_clean-lab_lr5e-05_ep3_bs32_wu0_wd0_len64_seed42`.
 */
export function runName(s: ExperimentSettings): string {
  const model = path.basename(s.model.replace(/[\\/]+$/, '')).replace(/[^A-Za-z0-9._-]+/g, '-');
  return [
    model,
    `clean-${s.clean}`,
    `lr${s.lr.toExponential().replace('+', '')}`,
    `ep${s.epochs}`,
    `bs${s.batchSize}`,
    `wu${s.warmupSteps}`,
    `wd${s.weightDecay}`,
    `len${s.maxLen ?? 'auto'}`,
    `seed${s.seed}`,
  ].join('_');
}

/** One finished run, as the results table keeps it. */
export interface ExperimentResult extends ExperimentSettings {
  run: string;
  /** Epoch with the best validation accuracy (the model kept in RUN/best). */
  bestEpoch: number;
  valAccuracy: number;
  valLoss: number;
  /** F1 of the last label (the positive class of a binary task). */
  f1: number;
  minutes: number;
  epochStats: EpochStats[];
  finishedAt: string;
}

/** The results table on disk (JSON). Missing file: no runs yet. */
export async function readResults(file: string): Promise<ExperimentResult[]> {
  if (!existsSync(file)) return [];
  let rows: unknown;
  try {
    rows = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a results table (${(e as Error).message}); delete it to start a new one`);
  }
  if (!Array.isArray(rows)) throw new Error(`${file}: a results table is a JSON array; delete it to start a new one`);
  return rows as ExperimentResult[];
}

/** Adds (or replaces, by run name) a result in the table on disk, written atomically. */
export async function saveResult(file: string, result: ExperimentResult): Promise<ExperimentResult[]> {
  const rows = (await readResults(file)).filter((r) => r.run !== result.run);
  rows.push(result);
  await writeFileAtomic(file, JSON.stringify(rows, null, 1) + '\n');
  return rows;
}

/** Mean and sample standard deviation (n - 1; NaN for one value). */
export function meanSd(xs: readonly number[]): { mean: number; sd: number; n: number } {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, sd, n };
}

/** Results of the same settings (all but the seed) summarised over their seeds. */
export interface ExperimentSummary extends Omit<ExperimentSettings, 'seed'> {
  seeds: number[];
  /** The validation accuracy of each seed's run, in the order of `seeds`. */
  accuracies: number[];
  accuracy: { mean: number; sd: number; n: number };
  f1: { mean: number; sd: number; n: number };
}

/** Groups results by every setting but the seed and gives mean ± sd of accuracy and F1. */
export function summarizeResults(rows: readonly ExperimentResult[]): ExperimentSummary[] {
  const groups = new Map<string, ExperimentResult[]>();
  for (const r of rows) {
    const key = runName({ ...r, seed: 0 });
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const { model, clean, lr, epochs, batchSize, warmupSteps, weightDecay, maxLen } = g[0];
    return {
      model,
      clean,
      lr,
      epochs,
      batchSize,
      warmupSteps,
      weightDecay,
      maxLen,
      seeds: g.map((r) => r.seed),
      accuracies: g.map((r) => r.valAccuracy),
      accuracy: meanSd(g.map((r) => r.valAccuracy)),
      f1: meanSd(g.map((r) => r.f1)),
    };
  });
}

/** "0.8123 ± 0.0040" (no ± for a single run). */
export function formatMeanSd(m: { mean: number; sd: number }, digits = 4): string {
  return Number.isFinite(m.sd) ? `${m.mean.toFixed(digits)} ± ${m.sd.toFixed(digits)}` : m.mean.toFixed(digits);
}

/**
 * The settings of every grid run that the grid does not vary: the lab's, with each batch padded to
 * its longest row (the attention mask hides padding either way, so the scores are the same up to
 * float rounding, in a fraction of the time).
 */
export const GRID_BASE: TrainConfig = { ...LAB_TRAIN_CONFIG, padding: 'longest' };

export interface BenchOptions {
  /** The labelled CSV (text and target columns, as the lab's). */
  data: string;
  /** Runs go to OUT/<run name>/, the table to OUT/results.json. */
  out: string;
  /** Rows used (the first N), for quick runs. */
  limit?: number;
  /** Seed of the train/validation split, the same for every run so runs are comparable. Default 42. */
  splitSeed?: number;
  /** Settings not in the grid (clip, eps, padding...). Default GRID_BASE. */
  base?: TrainConfig;
  /** Re-run runs already in the table. Default false: they are skipped. */
  rerun?: boolean;
  log?: (line: string) => void;
  /** Hooks per run (e.g. `progressHooks`). */
  hooks?: (run: string) => TrainHooks;
  /**
   * Asked before each run and after every optimizer step: true stops the grid there (a notebook's
   * interrupt) with `GridStopped`. The run it stops in is not recorded; finished runs stay in the table.
   */
  shouldStop?: () => boolean;
}

/** A grid stopped on request (`BenchOptions.shouldStop`): `rows` are its runs finished before. */
export class GridStopped extends Error {
  constructor(
    where: string,
    readonly rows: ExperimentResult[],
    table: string,
  ) {
    super(
      `the grid stopped on request ${where}; kept: ${rows.length} finished run(s) of this grid in ${table} ` +
        '(running the grid again trains only the runs not in it)',
    );
    this.name = 'GridStopped';
  }
}

/**
 * Runs every combination of the grid not yet in OUT/results.json and returns this grid's rows (in
 * the grid's order; runs found in the table are not trained again). The split is the same for all
 * runs (`splitSeed`); a run's seed sets the classifier head's initialisation, dropout and batch order.
 * Stopped by `shouldStop`, it throws `GridStopped` (where, and the rows finished before).
 *
 * Example: `await runGrid(expandGrid(grid), { data: 'data/train.csv', out: 'runs/03', hooks: () => progressHooks(() => {}) })`
 */
export async function runGrid(settings: readonly ExperimentSettings[], o: BenchOptions): Promise<ExperimentResult[]> {
  const table = path.join(o.out, 'results.json');
  const log = o.log ?? console.log;
  let rows = await readResults(table);
  const mine: ExperimentResult[] = [];
  for (const [k, s] of settings.entries()) {
    const run = runName(s);
    const done = rows.find((r) => r.run === run);
    if (!o.rerun && done) {
      log(`[${k + 1}/${settings.length}] ${run}: in the table already, skipped`);
      mine.push(done);
      continue;
    }
    if (o.shouldStop?.()) throw new GridStopped(`before run ${k + 1} of ${settings.length} (${run})`, mine, table);
    log(`[${k + 1}/${settings.length}] ${run}`);
    const t0 = Date.now();
    const dir = await resolveModel(presetHubId(s.model), { log: () => {} });
    const prep = await prepareData(o.data, await BertTokenizer.fromDir(dir), {
      clean: s.clean,
      maxLen: s.maxLen,
      limit: o.limit,
      seed: o.splitSeed ?? 42,
      log: () => {},
    });
    const choice = await loadClassifier(dir, prep.data.labelNames, { seed: s.seed, log: () => {} });
    try {
      const cfg: TrainConfig = {
        ...(o.base ?? GRID_BASE),
        lr: s.lr,
        epochs: s.epochs,
        batchSize: s.batchSize,
        warmupSteps: s.warmupSteps,
        weightDecay: s.weightDecay,
        seed: s.seed,
      };
      const hooks = { ...(o.hooks?.(run) ?? { log: () => {} }), shouldStop: o.shouldStop };
      let r;
      try {
        r = await trainAndSave(choice, prep, path.join(o.out, run), cfg, hooks);
      } catch (e) {
        if (!(e instanceof TrainingStopped)) throw e;
        const at = `epoch ${e.epoch}, step ${e.step} of ${e.steps}`;
        throw new GridStopped(`in run ${k + 1} of ${settings.length} (${run}) at ${at}, not recorded`, mine, table);
      }
      const positive = r.labels[r.labels.length - 1];
      const result: ExperimentResult = {
        ...s,
        maxLen: s.maxLen ?? prep.maxLen,
        run,
        bestEpoch: r.best?.epoch ?? NaN,
        valAccuracy: r.best?.valAccuracy ?? NaN,
        valLoss: r.best?.valLoss ?? NaN,
        f1: (r.report[positive] as ClassMetrics | undefined)?.['f1-score'] ?? NaN,
        minutes: (Date.now() - t0) / 60000,
        epochStats: r.stats,
        finishedAt: new Date().toISOString(),
      };
      rows = await saveResult(table, result);
      mine.push(result);
      log(`  best epoch ${result.bestEpoch}: accuracy ${result.valAccuracy.toFixed(4)}, F1 ${result.f1.toFixed(4)}`);
    } finally {
      choice.model.dispose();
    }
  }
  return mine;
}

/**
 * The learning-rate range test (`lrFind`) on a fresh classifier of `model` (a folder, Hub id or
 * preset) over `prep`'s training rows; the model is freed afterwards, also when the test is stopped.
 *
 * Example: `const r = await rangeTest('models/bert-lab-mini', prep, { steps: 100 }); r.steepest`
 */
export async function rangeTest(model: string, prep: PreparedData, opts: LrFindOptions = {}): Promise<LrFindResult> {
  const choice = await loadClassifier(model, prep.data.labelNames, { seed: opts.seed ?? 42, log: () => {} });
  try {
    return await lrFind(choice.model, prep.train, opts);
  } finally {
    choice.model.dispose();
  }
}
