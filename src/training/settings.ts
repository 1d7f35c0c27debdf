// The fine-tuning settings, listed once: each one's command-line option, Hugging Face Trainer's name
// for it, the manual's value and what it means. They are resolved in one place, the manual's value
// <- the model's recipe (fine_tuning.json) <- yours, with a record of where each value came from;
// the command line, the pipeline and the notebooks all call `resolveTraining`.
import { LAB_TRAIN_CONFIG, METRICS, optimizerSteps, type Metric, type TrainConfig } from './train.js';
import type { Recipe } from './recipe.js';
import { PADDINGS, type Padding } from '../data/data.js';

/** One setting: its option (`--lr`), Hugging Face's option when it has another name, its meaning. */
export interface SettingSpec {
  option: string;
  /** Hugging Face Trainer's option name (`--learning-rate`), accepted as an alias. */
  hf?: string;
  kind: 'int' | 'number' | 'ratio' | 'flag' | 'choice';
  min?: number;
  choices?: readonly string[];
  /** fine_tuning.json can set it. */
  recipe?: boolean;
  help: string;
}

/** Every fine-tuning setting (the keys are the library's names; `warmupRatio` becomes steps). */
export const TRAINING_SETTINGS = {
  epochs: {
    option: 'epochs',
    hf: 'num-train-epochs',
    kind: 'int',
    min: 1,
    recipe: true,
    help: 'passes over the training data',
  },
  lr: { option: 'lr', hf: 'learning-rate', kind: 'number', min: 0, recipe: true, help: "AdamW's peak learning rate" },
  batchSize: {
    option: 'batch-size',
    hf: 'per-device-train-batch-size',
    kind: 'int',
    min: 1,
    recipe: true,
    help: 'rows per batch',
  },
  accumulate: {
    option: 'accumulate',
    hf: 'gradient-accumulation-steps',
    kind: 'int',
    min: 1,
    help: 'batches whose gradients are averaged into one optimizer step',
  },
  warmupSteps: {
    option: 'warmup',
    hf: 'warmup-steps',
    kind: 'int',
    min: 0,
    recipe: true,
    help: 'steps of linear warm-up',
  },
  warmupRatio: {
    option: 'warmup-ratio',
    kind: 'ratio',
    recipe: true,
    help: 'warm-up as a share of all steps',
  },
  weightDecay: {
    option: 'weight-decay',
    kind: 'number',
    min: 0,
    recipe: true,
    help: "AdamW's decoupled weight decay",
  },
  eps: { option: 'eps', hf: 'adam-epsilon', kind: 'number', min: 0, help: "AdamW's epsilon" },
  clip: { option: 'clip', hf: 'max-grad-norm', kind: 'number', min: 0, help: 'gradient-norm clipping (0: off)' },
  seed: { option: 'seed', kind: 'int', help: 'weights of the new head, dropout and batch order' },
  padding: {
    option: 'padding',
    kind: 'choice',
    choices: PADDINGS,
    recipe: true,
    help: "batch width: every row to the max length, or each batch's longest",
  },
  groupByLength: { option: 'group-by-length', kind: 'flag', help: 'training batches of rows of similar length' },
  patience: {
    option: 'patience',
    hf: 'early-stopping-patience',
    kind: 'int',
    min: 0,
    help: 'early stopping after N epochs without a better metric (0: off)',
  },
  metricForBestModel: {
    option: 'metric-for-best-model',
    kind: 'choice',
    choices: METRICS,
    help: "the validation metric that chooses the best epoch (f1: the positive class's, or macro)",
  },
  monitor: {
    option: 'monitor',
    kind: 'choice',
    choices: METRICS,
    help: 'the metric early stopping watches (default: --metric-for-best-model)',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof TRAINING_SETTINGS;

/** The settings a caller gives; undefined (or absent) leaves a setting to the recipe or the manual. */
export interface TrainingInput {
  epochs?: number;
  lr?: number;
  batchSize?: number;
  accumulate?: number;
  warmupSteps?: number;
  warmupRatio?: number;
  weightDecay?: number;
  eps?: number;
  clip?: number;
  seed?: number;
  padding?: Padding;
  groupByLength?: boolean;
  patience?: number;
  metricForBestModel?: Metric;
  monitor?: Metric;
}

/** Where a resolved value came from. */
export type SettingSource = 'yours' | 'recipe' | 'manual';

export interface ResolvedTraining {
  config: TrainConfig;
  /** For each setting, where its value came from. */
  from: Record<SettingName, SettingSource>;
  /** The warm-up ratio the steps came from, when one was given (recorded in training_args.json). */
  warmupRatio?: number;
}

/**
 * The settings of a run: yours where given, else the model's recipe, else the manual's (the lab's
 * `bert-base-uncased` recipe: lr 2e-5, 4 epochs, batch 32, no warm-up). A warm-up ratio becomes
 * steps of the whole run (ceil(ratio x optimizer steps), as Hugging Face's `get_warmup_steps`).
 *
 * Args:
 *   given: your settings (undefined ones are left to the recipe or the manual).
 *   recipe: the model's recipe (`modelRecipe`), or undefined.
 *   trainRows: the number of training rows (for the steps of a warm-up ratio).
 *
 * Example: `resolveTraining({ epochs: 1 }, await modelRecipe(dir), 6090).config.lr` is the recipe's lr.
 */
export function resolveTraining(given: TrainingInput, recipe: Recipe | undefined, trainRows: number): ResolvedTraining {
  if (given.warmupSteps !== undefined && given.warmupRatio !== undefined)
    throw new Error('give the warm-up as steps (--warmup) or as a ratio (--warmup-ratio), not both');
  const r = recipe?.train ?? {};
  const from = {} as Record<SettingName, SettingSource>;
  const pick = <K extends SettingName>(k: K, recipeValue: unknown, manual: unknown): unknown => {
    const own = (given as Record<string, unknown>)[k];
    if (own !== undefined) {
      from[k] = 'yours';
      return own;
    }
    if (recipeValue !== undefined) {
      from[k] = 'recipe';
      return recipeValue;
    }
    from[k] = 'manual';
    return manual;
  };
  const L = LAB_TRAIN_CONFIG;
  const epochs = pick('epochs', r.epochs, L.epochs) as number;
  const batchSize = pick('batchSize', r.batchSize, L.batchSize) as number;
  const accumulate = pick('accumulate', undefined, 1) as number;
  // The warm-up: your steps or ratio, else the recipe's steps or ratio, else none (the manual's).
  const totalSteps = optimizerSteps(trainRows, { batchSize, accumulate }) * epochs;
  const [warmupSteps, wFrom, ratio]: [number, SettingSource, number | undefined] =
    given.warmupSteps !== undefined
      ? [given.warmupSteps, 'yours', undefined]
      : given.warmupRatio !== undefined
        ? [Math.ceil(given.warmupRatio * totalSteps), 'yours', given.warmupRatio]
        : r.warmupSteps !== undefined
          ? [r.warmupSteps, 'recipe', undefined]
          : r.warmupRatio !== undefined
            ? [Math.ceil(r.warmupRatio * totalSteps), 'recipe', r.warmupRatio]
            : [L.warmupSteps, 'manual', undefined];
  from.warmupSteps = from.warmupRatio = wFrom;
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1))
    throw new Error(`--warmup-ratio must be a number in [0, 1], got ${ratio}`);
  const patience = pick('patience', undefined, 0) as number;
  const metricForBestModel = pick('metricForBestModel', undefined, 'accuracy') as Metric;
  // Early stopping watches the metric that chooses the best epoch unless told otherwise (as Hugging Face's).
  const monitor = pick('monitor', undefined, metricForBestModel) as Metric;
  const config: TrainConfig = {
    epochs,
    lr: pick('lr', r.lr, L.lr) as number,
    eps: pick('eps', undefined, L.eps) as number,
    weightDecay: pick('weightDecay', r.weightDecay, L.weightDecay) as number,
    batchSize,
    ...(accumulate !== 1 ? { accumulate } : {}),
    ...(metricForBestModel !== 'accuracy' ? { metricForBestModel } : {}),
    clip: pick('clip', undefined, L.clip) as number,
    warmupSteps,
    seed: pick('seed', undefined, L.seed) as number,
    padding: pick('padding', r.padding, L.padding) as Padding,
    groupByLength: pick('groupByLength', undefined, L.groupByLength ?? false) as boolean,
    ...(patience > 0 ? { earlyStopping: { patience, metric: monitor } } : {}),
  };
  checkTraining(config);
  return { config, from, ...(ratio !== undefined ? { warmupRatio: ratio } : {}) };
}

/** Refuses a setting outside its range, naming its option. */
function checkTraining(c: TrainConfig): void {
  const bad = (name: SettingName, v: unknown, want: string) =>
    new Error(`--${TRAINING_SETTINGS[name].option} must be ${want}, got ${JSON.stringify(v)}`);
  const int = (name: SettingName, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw bad(name, v, `an integer >= ${min}`);
  };
  const num = (name: SettingName, v: number) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(name, v, 'a number >= 0');
  };
  int('epochs', c.epochs, 1);
  int('batchSize', c.batchSize, 1);
  int('accumulate', c.accumulate ?? 1, 1);
  if (c.metricForBestModel !== undefined && !METRICS.includes(c.metricForBestModel))
    throw bad('metricForBestModel', c.metricForBestModel, `one of ${METRICS.join(', ')}`);
  int('warmupSteps', c.warmupSteps, 0);
  num('lr', c.lr);
  num('eps', c.eps);
  num('weightDecay', c.weightDecay);
  num('clip', c.clip);
  if (!Number.isInteger(c.seed)) throw bad('seed', c.seed, 'an integer');
  if (c.padding !== undefined && !(PADDINGS as readonly string[]).includes(c.padding))
    throw bad('padding', c.padding, `one of ${PADDINGS.join(', ')}`);
}

/** The resolved settings as table rows (setting, value, from), as notebook 01 and `lab` show them. */
export function describeTraining(r: ResolvedTraining): { setting: string; value: string; from: string }[] {
  const c = r.config;
  const words: Record<SettingSource, string> = { yours: 'yours', recipe: "the model's recipe", manual: 'the manual' };
  const rows: [SettingName, unknown][] = [
    ['epochs', c.epochs],
    ['batchSize', c.batchSize],
    ...(c.accumulate !== undefined && c.accumulate !== 1
      ? [['accumulate', c.accumulate] as [SettingName, unknown]]
      : []),
    ['lr', c.lr],
    ['warmupSteps', c.warmupSteps],
    ['weightDecay', c.weightDecay],
    ['eps', c.eps],
    ['clip', c.clip],
    ['seed', c.seed],
    ['padding', c.padding],
    ...(c.metricForBestModel ? [['metricForBestModel', c.metricForBestModel] as [SettingName, unknown]] : []),
  ];
  return rows.map(([k, v]) => ({
    setting: k,
    value: typeof v === 'number' && v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(v),
    from: words[r.from[k]],
  }));
}

/**
 * `cfg` with the recipe's settings for every setting not in `given` (names of TrainConfig the user
 * set): `resolveTraining` for a caller that holds a whole TrainConfig.
 */
export function applyRecipe(
  cfg: TrainConfig,
  recipe: Recipe,
  given: ReadonlySet<keyof TrainConfig>,
  trainRows: number,
): TrainConfig {
  // Settings no recipe sets keep cfg's values; those a recipe sets keep them only when given.
  const recipeSets = (k: string) => k in TRAINING_SETTINGS && 'recipe' in TRAINING_SETTINGS[k as SettingName];
  const own = Object.fromEntries(
    Object.entries(cfg).filter(([k]) => given.has(k as keyof TrainConfig) || !recipeSets(k)),
  ) as TrainingInput;
  return { ...cfg, ...resolveTraining(own, recipe, trainRows).config, earlyStopping: cfg.earlyStopping };
}
