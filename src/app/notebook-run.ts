// Notebook 01's run of the lab: the settings of its `parameters` cell, read once by the cell "The
// settings of this run" and resolved as the command line resolves them (yours <- the model's
// recipe <- the manual's); every later read checks that no setting changed since (else it refuses,
// naming the setting and that cell); the models the cells load, freed when their cell runs again.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { BertForSequenceClassification } from '../model/bert.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { limitRows, readLabelled, subset, LAB_COLUMNS, PREPARE_DEFAULTS } from '../data/prepare.js';
import { splitIndices } from '../data/data.js';
import type { LabelledData } from '../data/data.js';
import { BertTokenizer, type Encoded } from '../text/tokenizer.js';
import { modelRecipe, type Recipe } from '../training/recipe.js';
import { resolveTraining, type ResolvedTraining } from '../training/settings.js';
import { StaleSettings, takeSettings } from '../ui/notebook.js';
import { defaultModel, loadClassifier } from './classifier.js';

/** The settings of notebook 01's `parameters` cell (undefined: the model's recipe, else the manual's). */
export type LabParameters = {
  /** A model folder, Hub id or preset; undefined: bert-base-uncased if the Hub has it, else the bundled model. */
  model: string | undefined;
  trainCsv: string;
  testCsv: string | undefined;
  /** The first N rows only; undefined: all. */
  limit: number | undefined;
  epochs: number | undefined;
  batchSize: number | undefined;
  lr: number | undefined;
  warmupRatio: number | undefined;
  weightDecay: number | undefined;
  seed: number;
  out: string;
};

export const LAB_PARAMETERS: readonly (keyof LabParameters)[] = [
  'model',
  'trainCsv',
  'testCsv',
  'limit',
  'epochs',
  'batchSize',
  'lr',
  'warmupRatio',
  'weightDecay',
  'seed',
  'out',
];

/** The cell that reads the settings: the one to re-run from after changing one. */
export const SETTINGS_CELL = 'The settings of this run';

/**
 * The steps of notebook 01 a run goes through, in order, by the heading of their section: a step
 * refuses to run before the steps it needs ran with this run (after the settings were read).
 */
const STEPS = {
  data: 'Load the data set',
  tokenizer: 'The tokenizer',
  split: 'Training and validation split',
  training: 'The training settings',
  model: 'The model',
  loop: 'The training loop',
} as const;
type Step = keyof typeof STEPS;

/**
 * A file of the lab's data set: `data/NAME` in the project (where the lab tells students to put
 * Kaggle's files), else the copy beside the checkout (`../shared/data/disaster-tweets/NAME`).
 */
export function labFile(name: string): string {
  const places = [
    path.join(PACKAGE_ROOT, 'data', name),
    path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'disaster-tweets', name),
  ];
  return places.find((p) => existsSync(p)) ?? places[0];
}

type Owned = 'pretrained' | 'best';
/** Models a run loaded, by role: freed when the role is loaded again or a new run starts. */
let owned = new Map<Owned, BertForSequenceClassification>();

/**
 * Notebook 01's run. `LabRun.start()` reads the parameters cell's variables (in a tslab kernel; or
 * takes them as an argument), picks the model and its recipe, and frees the models of the previous
 * run. Every setting read afterwards (`run.lr`, `run.training(...)`) first checks that the
 * notebook's variable still holds the value read then.
 *
 * Example: `const run = await LabRun.start(); const hp = run.training(6090); hp.config.lr`
 */
export class LabRun {
  private constructor(
    private readonly settings: ReturnType<typeof takeSettings<LabParameters>>,
    /** The model's folder (downloaded or bundled) and why it was chosen. */
    readonly modelDir: string,
    readonly why: string,
    /** The model's own recipe (fine_tuning.json), if it has one. */
    readonly recipe: Recipe | undefined,
  ) {}

  /** The steps done with this run, and the row count of its data. */
  private done = new Set<Step>();
  private rows = 0;

  /** Marks `step` done, after checking the settings and that the steps it needs were done with this run. */
  private step(step: Step, needs: Step[]): void {
    this.check();
    const missing = needs.find((n) => !this.done.has(n));
    if (missing)
      throw new StaleSettings(
        `the cell "${STEPS[missing]}" has not run since the settings were read: run it and the cells after it ` +
          '(select it, then Run > Run Selected Cell and All Below)',
      );
    this.done.add(step);
  }

  static async start(given: Partial<LabParameters> = {}, log: (s: string) => void = console.log): Promise<LabRun> {
    const s = takeSettings<LabParameters>(LAB_PARAMETERS, SETTINGS_CELL, given);
    for (const k of ['trainCsv', 'seed', 'out'] as const)
      if (s.values[k] === undefined)
        throw new Error(`the parameters cell must set ${k} (e.g. ${k === 'seed' ? '42' : `'...'`}); it is undefined`);
    for (const m of owned.values()) m.dispose();
    owned = new Map();
    const picked = await defaultModel(s.values.model, log);
    return new LabRun(s, picked.dir, picked.why, await modelRecipe(picked.dir));
  }

  get trainCsv(): string {
    return this.settings.get('trainCsv');
  }
  get testCsv(): string | undefined {
    return this.settings.get('testCsv');
  }
  get limit(): number | undefined {
    return this.settings.get('limit');
  }
  get seed(): number {
    return this.settings.get('seed');
  }
  get out(): string {
    return this.settings.get('out');
  }
  get bestDir(): string {
    return path.join(this.out, 'best');
  }

  /** Throws StaleSettings when a setting changed since the run started. */
  check(): void {
    this.settings.check();
  }

  /** The parameters as table rows (setting, value), undefined shown as what it means. */
  table(): { setting: string; value: string }[] {
    const v = this.settings.values;
    const unset: Partial<Record<keyof LabParameters, string>> = {
      model: this.modelDir,
      limit: 'all rows',
      testCsv: 'none (nothing to predict)',
    };
    return LAB_PARAMETERS.map((k) => ({
      setting: k,
      value: v[k] === undefined ? (unset[k] ?? "the model's recipe, else the manual's") : String(v[k]),
    }));
  }

  /** The labelled training file, its first `limit` rows when set (the lab's classes by name). */
  async readData(): Promise<LabelledData> {
    this.step('data', []);
    const file = this.trainCsv;
    const d = await readLabelled(file, LAB_COLUMNS, undefined, this.limit);
    const out = this.limit === undefined ? d : limitRows(d, this.limit, file);
    this.rows = out.texts.length;
    return out;
  }

  /** The model's tokenizer (the manual's BertTokenizer.from_pretrained). */
  async tokenizer(): Promise<BertTokenizer> {
    this.step('tokenizer', []);
    return BertTokenizer.fromDir(this.modelDir);
  }

  /**
   * The manual's 80/20 `random_split` of the encoded rows, seeded (42, the lab's split, whatever
   * the training seed: runs with other seeds are scored on the same rows).
   */
  split(encoded: Encoded, labels: number[], valSplit = PREPARE_DEFAULTS.valSplit) {
    this.step('split', ['data', 'tokenizer']);
    if (encoded.inputIds.length !== this.rows || labels.length !== this.rows)
      throw new StaleSettings(
        `the encoded rows (${encoded.inputIds.length}) are not this run's ${this.rows} tweets: run the cell ` +
          '"Encode every tweet" and the cells after it',
      );
    const idx = splitIndices(this.rows, valSplit, PREPARE_DEFAULTS.seed);
    return {
      trainIdx: idx.train,
      valIdx: idx.val,
      train: subset(encoded, labels, idx.train),
      val: subset(encoded, labels, idx.val),
    };
  }

  /**
   * The training settings of this run for `trainRows` rows: the parameters cell's, else the
   * model's recipe, else the manual's, with where each came from.
   */
  training(trainRows: number): ResolvedTraining {
    this.step('training', ['split']);
    const s = this.settings;
    return resolveTraining(
      {
        epochs: s.get('epochs'),
        batchSize: s.get('batchSize'),
        lr: s.get('lr'),
        warmupRatio: s.get('warmupRatio'),
        weightDecay: s.get('weightDecay'),
        seed: s.get('seed'),
      },
      this.recipe,
      trainRows,
    );
  }

  /** A fresh classifier to fine-tune: the pre-trained encoder with a new head (the manual's from_pretrained). */
  async classifier(labels: string[]): Promise<BertForSequenceClassification> {
    this.step('loop', ['training']);
    return this.load(labels);
  }

  /** The classifier before fine-tuning, kept for comparisons (the previous one of this run is freed). */
  async pretrainedClassifier(labels: string[]): Promise<BertForSequenceClassification> {
    this.step('model', ['training']);
    return this.own('pretrained', await this.load(labels));
  }

  /** The run's model with a new head for `labels`, seeded by the run's seed. */
  private async load(labels: string[]): Promise<BertForSequenceClassification> {
    return (await loadClassifier(this.modelDir, labels, { seed: this.seed, log: () => {} })).model;
  }

  /** The best epoch's model, reloaded from OUT/best (the previous one of this run is freed). */
  async bestModel(): Promise<BertForSequenceClassification> {
    this.step('loop', ['loop']);
    return this.own('best', await BertForSequenceClassification.fromPretrained(this.bestDir, { log: () => {} }));
  }

  private own(role: Owned, m: BertForSequenceClassification): BertForSequenceClassification {
    owned.get(role)?.dispose();
    owned.set(role, m);
    return m;
  }
}
