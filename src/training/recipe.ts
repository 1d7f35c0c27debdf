// A model's own fine-tuning recipe: `fine_tuning.json` beside its config.json. The lab's recipe
// (lr 2e-5, 4 epochs) was measured for bert-base-uncased; a small model pre-trained here learns
// best with other settings, measured for it and shipped with it. The main job and notebook 01 use
// the file for the bundled model only (their fallback offline), and any option the user gives wins.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TrainConfig } from './train.js';

/** Task-adaptive pre-training before fine-tuning: MLM on the task's own texts (train + test). */
export interface AdaptRecipe {
  steps: number;
  lr: number;
  batchSize: number;
  maxLen: number;
  warmup: number;
}

/** The options of the fine-tuning loop a recipe can set; the others keep the lab's values. */
type RecipeSetting = 'epochs' | 'lr' | 'batchSize' | 'weightDecay' | 'warmupSteps' | 'padding';

export interface Recipe {
  /** Options of the fine-tuning loop the recipe sets; the others keep the lab's values. */
  train: Partial<Pick<TrainConfig, RecipeSetting>> & { warmupRatio?: number };
  adapt?: AdaptRecipe;
  /** One line on how the recipe was measured (shown to the user). */
  measured?: string;
}

export const RECIPE_FILE = 'fine_tuning.json';

const TRAIN_KEYS = {
  epochs: 'int',
  lr: 'num',
  batch_size: 'int',
  warmup_steps: 'int',
  warmup_ratio: 'ratio',
  weight_decay: 'num',
} as const;
const ADAPT_KEYS = { steps: 'int', lr: 'num', batch_size: 'int', max_len: 'int', warmup: 'int' } as const;

function field(file: string, where: string, key: string, v: unknown, kind: 'int' | 'num' | 'ratio'): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    v >= 0 &&
    (kind !== 'int' || Number.isInteger(v)) &&
    (kind !== 'ratio' || v <= 1);
  if (!ok)
    throw new Error(
      `${file}: "${where}${key}" must be ${kind === 'int' ? 'a non-negative integer' : kind === 'ratio' ? 'a number in [0, 1]' : 'a non-negative number'}, got ${JSON.stringify(v)}`,
    );
  return v;
}

function checkKeys(file: string, where: string, obj: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k)) throw new Error(`${file}: unknown field "${where}${k}" (known: ${keys.join(', ')})`);
  }
}

/** The recipe in `dir`/fine_tuning.json, or undefined when the model has none. Errors name the field. */
export async function readRecipe(dir: string): Promise<Recipe | undefined> {
  const file = path.join(dir, RECIPE_FILE);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  checkKeys(file, '', o, [...Object.keys(TRAIN_KEYS), 'padding', 'adapt', 'measured']);
  const num = (key: keyof typeof TRAIN_KEYS) =>
    o[key] === undefined ? undefined : field(file, '', key, o[key], TRAIN_KEYS[key]);
  const train: Recipe['train'] = {};
  const set = <K extends keyof Recipe['train']>(k: K, v: Recipe['train'][K] | undefined) => {
    if (v !== undefined) train[k] = v;
  };
  set('epochs', num('epochs'));
  set('lr', num('lr'));
  set('batchSize', num('batch_size'));
  set('warmupSteps', num('warmup_steps'));
  set('warmupRatio', num('warmup_ratio'));
  set('weightDecay', num('weight_decay'));
  if (o.padding !== undefined) {
    if (o.padding !== 'max_length' && o.padding !== 'longest')
      throw new Error(`${file}: "padding" must be "max_length" or "longest", got ${JSON.stringify(o.padding)}`);
    train.padding = o.padding;
  }
  if (train.epochs === 0 || train.batchSize === 0)
    throw new Error(`${file}: "epochs" and "batch_size" must be at least 1`);
  let adapt: AdaptRecipe | undefined;
  if (o.adapt !== undefined) {
    if (!o.adapt || typeof o.adapt !== 'object' || Array.isArray(o.adapt))
      throw new Error(`${file}: "adapt" must be an object`);
    const a = o.adapt as Record<string, unknown>;
    checkKeys(file, 'adapt.', a, Object.keys(ADAPT_KEYS));
    for (const k of Object.keys(ADAPT_KEYS))
      if (a[k] === undefined) throw new Error(`${file}: "adapt.${k}" is missing`);
    const g = (k: keyof typeof ADAPT_KEYS) => field(file, 'adapt.', k, a[k], ADAPT_KEYS[k]);
    adapt = { steps: g('steps'), lr: g('lr'), batchSize: g('batch_size'), maxLen: g('max_len'), warmup: g('warmup') };
  }
  if (o.measured !== undefined && typeof o.measured !== 'string')
    throw new Error(`${file}: "measured" must be a string`);
  return { train, adapt, measured: o.measured };
}

/**
 * A model's recipe, one rule for every command and the notebooks: the model folder's own
 * fine_tuning.json when its pre-trained weights are used; none for random weights (the file was
 * measured for those weights) or a model without one (the manual's recipe then).
 */
export async function modelRecipe(dir: string, randomInit = false): Promise<Recipe | undefined> {
  return randomInit ? undefined : readRecipe(dir);
}

/** The recipe in one line, as the main job announces it. */
export function describeRecipe(cfg: TrainConfig, recipe: Recipe): string {
  const a = !recipe.adapt
    ? ''
    : recipe.adapt.steps > 0
      ? `; first ${recipe.adapt.steps} steps of masked-language modelling on the task's own texts (lr ${recipe.adapt.lr})`
      : "; no masked-language modelling on the task's texts first (it measured no gain for this model; --adapt-steps N adds it)";
  return `lr ${cfg.lr}, ${cfg.epochs} epochs, batch ${cfg.batchSize}, warm-up ${cfg.warmupSteps} steps, weight decay ${cfg.weightDecay}${cfg.padding === 'longest' ? ', batches padded to their longest row' : ''}${a}`;
}
