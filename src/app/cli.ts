// `bert-lab`: the library's steps as commands. Each command prints JSON (machine-readable) or the
// lab's lines (human-readable), and exits non-zero with one clear message on bad input.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend/init.js';
import { BertForSequenceClassification } from '../model/bert.js';
import { loadAuto } from '../model/auto.js';
import { toInputs, type BertArrays } from '../model/inputs.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { resolveModel } from '../io/hub.js';
import { PRESETS, presetHubId } from '../model/presets.js';
import { CLEAN_MODES, type CleanMode } from '../text/clean.js';
import { evaluate, LAB_TRAIN_CONFIG, type TrainConfig } from '../training/train.js';
import { PADDINGS, readCsv, unlabelledFromFrame, type Padding } from '../data/data.js';
import {
  bundledRecipe,
  LAB_COLUMNS,
  PREPARE_DEFAULTS,
  compareWithBaseline,
  defaultData,
  defaultModel,
  encodeForModel,
  loadClassifier,
  predictCsv,
  prepareData,
  readLabelled,
  trainAndSave,
  checkOutDir,
  checkVocabulary,
  type Columns,
} from './lab.js';
import { classificationReport, confusionMatrix, formatClassificationReport } from '../training/metrics.js';
import { progressHooks } from './progress.js';
import {
  ADAPT_DEFAULTS,
  adaptModel,
  pretrain,
  PRETRAIN_DEFAULTS,
  type PretrainConfig,
  type PretrainPoint,
} from '../training/pretrain.js';
import { applyRecipe, describeRecipe, RECIPE_FILE } from '../training/recipe.js';
import { ProgressBar } from '../ui/display.js';
import { fillMask } from './fillmask.js';
import { baselineSummary, runBaselineOnData } from '../training/baseline.js';
import { exportOnnx } from './export-onnx.js';
import { doctor } from './doctor.js';
import { log as diagnostics, report, type LogFn } from '../io/log.js';
import { lockDir, recoverSwaps } from '../io/lock.js';

// Every default below is the library's own (LAB_TRAIN_CONFIG, LAB_COLUMNS, PREPARE_DEFAULTS,
// PRETRAIN_DEFAULTS), so the command line and a program calling the library train the same way.
const L = LAB_TRAIN_CONFIG;
const P = PRETRAIN_DEFAULTS;
const A = ADAPT_DEFAULTS;

const COMMON = {
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const DATA_OPTS = {
  data: { type: 'string' },
  'text-col': { type: 'string', default: LAB_COLUMNS.text },
  'label-col': { type: 'string', default: LAB_COLUMNS.label },
  'pair-col': { type: 'string' },
  'id-col': { type: 'string', default: LAB_COLUMNS.id },
  clean: { type: 'string', default: PREPARE_DEFAULTS.clean },
  'batch-size': { type: 'string', default: String(L.batchSize) },
  padding: { type: 'string', default: L.padding ?? 'max_length' },
} as const;

const TRAIN_OPTS = {
  ...DATA_OPTS,
  model: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string', default: String(L.epochs) },
  lr: { type: 'string', default: String(L.lr) },
  eps: { type: 'string', default: String(L.eps) },
  'weight-decay': { type: 'string', default: String(L.weightDecay) },
  warmup: { type: 'string', default: String(L.warmupSteps) },
  clip: { type: 'string', default: String(L.clip) },
  'max-len': { type: 'string' },
  'val-split': { type: 'string', default: String(PREPARE_DEFAULTS.valSplit) },
  seed: { type: 'string', default: String(L.seed) },
  'split-seed': { type: 'string', default: String(PREPARE_DEFAULTS.seed) },
  limit: { type: 'string' },
  'random-init': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  overwrite: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  patience: { type: 'string', default: '0' },
  'adapt-steps': { type: 'string' },
  monitor: { type: 'string', default: 'accuracy' },
  'group-by-length': { type: 'boolean', default: false },
  test: { type: 'string' },
  submission: { type: 'string' },
} as const;

const USAGE = `bert-lab: fine-tune BERT for text classification

Commands:
  encode    --model DIR|ID --text TEXT [--pair TEXT] [--max-len N]
  forward   --model DIR|ID --inputs FILE.json [--allow-untrained (run a checkpoint lacking weights)]
  train     --data CSV --model DIR|ID --out DIR [--text-col ${LAB_COLUMNS.text} --label-col ${LAB_COLUMNS.label} --pair-col COL
            --id-col ${LAB_COLUMNS.id} (used when the CSV has it) --epochs ${L.epochs} --lr ${L.lr} --eps ${L.eps}
            --weight-decay ${L.weightDecay} --warmup ${L.warmupSteps} (steps) --clip ${L.clip} (0: off) --batch-size ${L.batchSize}
            --max-len N --val-split ${PREPARE_DEFAULTS.valSplit} --seed ${L.seed} (weights, dropout, batch order)
            --split-seed ${PREPARE_DEFAULTS.seed} (the validation split; the lab's by default) --limit N --clean ${CLEAN_MODES.join('|')}
            --random-init ${Object.keys(PRESETS).join('|')} --dry-run --overwrite (OUT holds a run) --resume (continue OUT's run after its last whole epoch) --patience N --monitor accuracy|loss (early stopping)
            --padding ${PADDINGS.join('|')} --group-by-length]
  eval      --model DIR|ID --data CSV [--text-col --label-col --pair-col --clean --batch-size --padding --allow-untrained]
  predict   --model DIR|ID --data CSV --out FILE [--id-col ${LAB_COLUMNS.id} --text-col ${LAB_COLUMNS.text} --pair-col COL
            --target-col ${LAB_COLUMNS.label} --clean ${PREPARE_DEFAULTS.clean} --batch-size --padding --allow-untrained]
  lab       the main job: train, evaluate and predict with the lab's defaults (options as train,
            plus --test CSV --submission FILE; with the bundled model, its fine_tuning.json recipe and
            --adapt-steps N of masked-language modelling on the task's texts first, 0 to skip)
  download  ID   (into the Hugging Face cache, for offline use later)
  pretrain  --out DIR [--corpus ${P.corpus.join(',')}|FILE.txt|FILE.csv:COL (several joined by ,)
            --vocab-size ${P.vocabSize} --layers ${P.layers} --hidden ${P.hidden} --heads ${P.heads} --steps ${P.steps}
            --batch-size ${P.batchSize} --max-len ${P.maxLen} --lr ${P.lr} --warmup ${P.warmup} --weight-decay ${P.weightDecay}
            --clip ${P.clip} --checkpoint-every ${P.checkpointEvery} --eval-fraction ${P.evalFraction} --seed ${P.seed}
            --vocab TOKENIZER_DIR --accumulate ${P.accumulate} --schedule linear|cosine --nsp true|false --whole-word]
            (resumes from DIR/checkpoint)
  adapt     --model DIR|ID --corpus FILE.csv:COL,... --out DIR [--steps ${A.steps} --lr ${A.lr} --batch-size ${A.batchSize}
            --max-len ${A.maxLen} --warmup N (${A.warmupRatio * 100}% of the steps) --clean ${A.clean} --seed ${A.seed}
            --checkpoint-every ${A.checkpointEvery}]   masked-language modelling on the task's own texts (resumable)
  fill-mask --model DIR|ID --text "a [MASK] broke out in the forest" [--top-k 5] [--json]
  baseline  --data CSV [--text-col text --label-col target --val-split 0.2 --seed 42 --clean lab --limit N
            --json]   (TF-IDF + logistic regression on the lab's split: the score BERT has to beat)
  export    --model DIR|ID --out DIR [--quantize --tokenizer DIR]   (ONNX for transformers.js / ONNX Runtime)
  doctor    [--json] [--model DIR|ID --batch-size 32 --max-len 64]   (what this machine can run; with a model,
            training memory and time per epoch from two measured steps)

--padding max_length (default) pads every row to --max-len (the longest text when not given);
--padding longest pads each batch to its own longest row: same predictions, less work on texts of
uneven length. --group-by-length makes training batches of rows of similar length.
Every command takes --backend gpu|node|wasm|cpu (default: the fastest that loads).`;

class UsageError extends Error {}

// Decimal only: Number() would also take '0x10', '0b1', '' and ' ', which are typos here, not numbers.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function num(v: string | undefined, name: string, { int = false, min = -Infinity, below = Infinity } = {}): number {
  const x = Number(v);
  if (
    v === undefined ||
    !DECIMAL.test(v.trim()) ||
    !Number.isFinite(x) ||
    (int && !Number.isInteger(x)) ||
    x < min ||
    x >= below
  ) {
    const range = [min > -Infinity ? `>= ${min}` : '', below < Infinity ? `< ${below}` : '']
      .filter(Boolean)
      .join(' and ');
    throw new UsageError(
      `--${name} must be ${int ? 'an integer' : 'a decimal number'}${range ? ` ${range}` : ''}, got "${v}"`,
    );
  }
  return x;
}

function need(v: string | undefined, name: string): string {
  if (!v) throw new UsageError(`--${name} is required`);
  return v;
}

/** --model as a directory: a local folder, a Hub id or a preset name (bert-mini), downloaded if needed. */
async function resolveModelOption(v: { model?: string | boolean }, log: LogFn = diagnostics.info): Promise<string> {
  return resolveModel(presetHubId(need(v.model as string | undefined, 'model')), { log });
}

function cleanMode(v: string): CleanMode {
  if (!(CLEAN_MODES as readonly string[]).includes(v))
    throw new UsageError(`--clean must be one of ${CLEAN_MODES.join(', ')}, got "${v}"`);
  return v as CleanMode;
}

function padding(v: string): Padding {
  if (!(PADDINGS as readonly string[]).includes(v))
    throw new UsageError(`--padding must be one of ${PADDINGS.join(', ')}, got "${v}"`);
  return v as Padding;
}

/**
 * `--lr -1` as `--lr=-1`: node's parser takes a value starting with '-' for an option and calls it
 * ambiguous; a negative number after a string option is that option's value (then range-checked).
 */
function joinNegativeValues(args: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)$/.exec(args[i]);
    if (m && options[m[1]]?.type === 'string' && /^-\.?\d/.test(args[i + 1] ?? '')) {
      out.push(`${args[i]}=${args[i + 1]}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  const all = { ...COMMON, ...options };
  return parseArgs({ args: joinNegativeValues(args, all), options: all, allowPositionals: true, strict: true });
}

const json = (x: unknown) => console.log(JSON.stringify(x));

/**
 * Seeded runs (train, lab, pretrain, adapt) use a fixed BLAS thread count: the machine's cores, or
 * BERT_LAB_NATIVE_THREADS. OpenBLAS adds in another order with another count, so a count that
 * followed the current load gave one seed different weights from one run to the next.
 */
function pinBlasThreads(): void {
  if (!process.env.BERT_LAB_NATIVE_THREADS)
    process.env.BERT_LAB_NATIVE_THREADS = String(
      typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    );
}

/**
 * Takes OUT's lock for this process (a second run there says who holds it) and settles what a
 * killed run left: an interrupted directory swap, stale temporaries.
 */
async function holdOutDir(out: string, command: string, log: LogFn, lock = true): Promise<void> {
  if (lock) await lockDir(out, command);
  for (const line of await recoverSwaps(out)) log(`Recovered: ${line}`);
}

async function cmdEncode(args: string[]) {
  const { values } = parse(args, {
    model: { type: 'string' },
    text: { type: 'string' },
    pair: { type: 'string' },
    'max-len': { type: 'string' },
  });
  const dir = await resolveModelOption(values);
  const tok = await BertTokenizer.fromDir(dir);
  const text = need(values.text, 'text');
  const maxLength = values['max-len'] ? num(values['max-len'], 'max-len', { int: true, min: 2 }) : undefined;
  const enc = tok.encodeBatch([text], {
    pairs: values.pair !== undefined ? [values.pair] : undefined,
    maxLength,
    padding: maxLength ? 'max_length' : 'longest',
    truncation: maxLength !== undefined,
  });
  json({
    tokens: tok.convertIdsToTokens(enc.inputIds[0]),
    input_ids: enc.inputIds[0],
    attention_mask: enc.attentionMask[0],
    token_type_ids: enc.tokenTypeIds[0],
  });
}

function nested(t: tf.Tensor): unknown {
  return t.arraySync();
}

async function cmdForward(args: string[]) {
  const { values } = parse(args, {
    model: { type: 'string' },
    inputs: { type: 'string' },
    'allow-untrained': { type: 'boolean', default: false },
  });
  await initBackend(values.backend);
  const file = need(values.inputs, 'inputs');
  if (!existsSync(file)) throw new UsageError(`${file}: file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const obj = (raw && typeof raw === 'object' && 'inputs' in raw ? (raw as { inputs: unknown }).inputs : raw) as Record<
    string,
    unknown
  >;
  if (!obj || typeof obj !== 'object' || !Array.isArray(obj.input_ids))
    throw new Error(`${file}: expected an object with input_ids (and optionally attention_mask, token_type_ids)`);
  const arrays: BertArrays = {
    inputIds: obj.input_ids as number[][],
    attentionMask: obj.attention_mask as number[][] | undefined,
    tokenTypeIds: obj.token_type_ids as number[][] | undefined,
  };
  const model = await loadAuto(await resolveModelOption(values), { strict: !values['allow-untrained'] });
  const out: Record<string, unknown> = {};
  tf.tidy(() => {
    const inputs = toInputs(arrays, model.config, file);
    const r: {
      lastHiddenState: tf.Tensor;
      poolerOutput: tf.Tensor;
      logits?: tf.Tensor;
      mlmLogits?: tf.Tensor;
      nspLogits?: tf.Tensor;
    } = model.forward(inputs);
    out.last_hidden_state = nested(r.lastHiddenState);
    out.pooler_output = nested(r.poolerOutput);
    if (r.logits) out.logits = nested(r.logits);
    if (r.mlmLogits && r.nspLogits) {
      out.mlm_logits = nested(r.mlmLogits);
      out.nsp_logits = nested(r.nspLogits);
    }
  });
  json(out);
  model.dispose();
}

function trainConfig(v: Record<string, string | boolean | undefined>): TrainConfig {
  return {
    epochs: num(v.epochs as string, 'epochs', { int: true, min: 1 }),
    lr: num(v.lr as string, 'lr', { min: 0 }),
    eps: num(v.eps as string, 'eps', { min: 0 }),
    weightDecay: num(v['weight-decay'] as string, 'weight-decay', { min: 0 }),
    batchSize: num(v['batch-size'] as string, 'batch-size', { int: true, min: 1 }),
    clip: num(v.clip as string, 'clip', { min: 0 }),
    warmupSteps: num(v.warmup as string, 'warmup', { int: true, min: 0 }),
    seed: num(v.seed as string, 'seed', { int: true }),
    earlyStopping: {
      patience: num(v.patience as string, 'patience', { int: true, min: 0 }),
      metric: monitor(v.monitor as string),
    },
    padding: padding(v.padding as string),
    groupByLength: v['group-by-length'] as boolean,
  };
}

/** The share of rows kept for validation: both sides of the split need rows. */
function valSplit(v: string | undefined): number {
  const x = num(v, 'val-split');
  if (!(x > 0 && x < 1))
    throw new UsageError(
      `--val-split is the share of rows kept for validation, between 0 and 1 (e.g. 0.2), got "${v}": at ${x} ` +
        `${x <= 0 ? 'no row is left to validate on' : 'no row is left to train on'}`,
    );
  return x;
}

function monitor(m: string): 'accuracy' | 'loss' {
  if (m !== 'accuracy' && m !== 'loss') throw new UsageError(`--monitor must be accuracy or loss, got ${m}`);
  return m;
}

/** The TrainConfig fields the user set on the command line (they win over a model's recipe). */
function givenTrainOptions(args: string[]): Set<keyof TrainConfig> {
  const flags: Record<string, keyof TrainConfig> = {
    epochs: 'epochs',
    lr: 'lr',
    eps: 'eps',
    'weight-decay': 'weightDecay',
    'batch-size': 'batchSize',
    clip: 'clip',
    warmup: 'warmupSteps',
    seed: 'seed',
    padding: 'padding',
  };
  const out = new Set<keyof TrainConfig>();
  for (const a of args) {
    const m = /^--([a-z-]+)(=|$)/.exec(a);
    if (m && flags[m[1]]) out.add(flags[m[1]]);
  }
  return out;
}

function columns(v: Record<string, string | boolean | undefined>): Columns {
  return {
    text: v['text-col'] as string,
    label: v['label-col'] as string,
    pair: v['pair-col'] as string | undefined,
    id: v['id-col'] as string,
  };
}

async function cmdTrain(args: string[], main = false) {
  const { values: v } = parse(args, TRAIN_OPTS);
  let cfg = trainConfig(v);
  const log = report;
  const out = main ? (v.out ?? 'runs/lab') : need(v.out, 'out');
  const data = main ? await defaultData(v.data) : { source: need(v.data, 'data'), test: undefined, why: '' };
  if (main) log(`Data: ${data.why}`);
  // A dry run writes nothing: it may look at the data whatever --out already holds, but a bad --out
  // (a file, not writable) is still reported.
  await checkOutDir(out, { overwrite: (v.overwrite as boolean) || (v.resume as boolean) || (v['dry-run'] as boolean) });
  // The tokenizer decides the encoding, so it is loaded before the data.
  const model = main ? await defaultModel(v.model, diagnostics.info) : { dir: await resolveModelOption(v), why: '' };
  if (main) log(`Model: ${model.dir} (${model.why})`);
  const tok = await BertTokenizer.fromDir(model.dir);
  const longTexts = typeof data.source !== 'string';
  const prep = await prepareData(data.source, tok, {
    columns: columns(v),
    clean: cleanMode(v.clean as string),
    // The split has its own seed, so that runs with other training seeds are scored on the same
    // validation rows (the lab's 1,523 by default).
    seed: num(v['split-seed'] as string, 'split-seed', { int: true }),
    // E-mails run to thousands of tokens; the corpus fallback keeps the lab's speed with 128.
    maxLen: v['max-len'] ? num(v['max-len'], 'max-len', { int: true, min: 2 }) : longTexts ? 128 : undefined,
    valSplit: valSplit(v['val-split']),
    limit: v.limit ? num(v.limit, 'limit', { int: true, min: 2 }) : undefined,
    log,
  });
  const test = v.test ?? data.test;
  // The test file is predicted after training: its columns are checked now, not after an hour.
  if (main && test)
    unlabelledFromFrame(
      await readCsv(test),
      { text: v['text-col'] as string, id: v['id-col'] as string, pair: v['pair-col'] as string | undefined },
      test,
    );
  let modelDir = model.dir;
  // The bundled model's own recipe, on the main job only (bert-base-uncased keeps the lab's).
  const recipe = main ? await bundledRecipe(model.dir, Boolean(v['random-init'])) : undefined;
  if (recipe) {
    cfg = applyRecipe(cfg, recipe, givenTrainOptions(args), prep.train.labels.length);
    log(
      `Recipe: ${describeRecipe(cfg, recipe)} (${path.join(model.dir, RECIPE_FILE)}, measured for this model; options you pass win)`,
    );
  }
  if (v['dry-run']) return;
  await holdOutDir(out, main ? 'bert-lab lab' : 'bert-lab train', log);
  if (main) await holdOutDir(path.join(out, 'adapted'), '', log, false);
  pinBlasThreads();
  await initBackend(v.backend);
  const adaptSteps =
    v['adapt-steps'] !== undefined
      ? num(v['adapt-steps'], 'adapt-steps', { int: true, min: 0 })
      : (recipe?.adapt?.steps ?? 0);
  if (recipe?.adapt && adaptSteps > 0) {
    // Task-adaptive pre-training on the texts of the task (training and test files, no labels).
    const files = [data.source, data.test].filter((f): f is string => typeof f === 'string');
    if (files.length > 0) {
      const a = { ...recipe.adapt, steps: adaptSteps };
      const adaptDir = path.join(out, 'adapted');
      const corpus = files.map((f) => `${f}:${v['text-col'] as string}`);
      log(
        `Adapting the model to the task's texts first (${corpus.join(', ')}; ${a.steps} steps of masked-language modelling) into ${adaptDir}`,
      );
      const progress = stepBar('adapting');
      const r = await adaptModel(
        model.dir,
        corpus,
        adaptDir,
        { ...a, clean: cleanMode(v.clean as string), seed: cfg.seed },
        diagnostics.info,
        progress.onStep,
      );
      progress.done();
      modelDir = r.modelDir;
    }
  }
  if (cfg.batchSize > prep.train.labels.length)
    log(
      `Note: --batch-size ${cfg.batchSize} is larger than the ${prep.train.labels.length} training samples: each epoch is one batch of all of them.`,
    );
  const choice = await loadClassifier(modelDir, prep.data.labelNames, {
    randomInit: v['random-init'],
    seed: cfg.seed,
    log: diagnostics.info,
  });
  log(`Model: ${choice.source} (${choice.why}); ${choice.model.numParameters().toLocaleString('en-US')} parameters`);
  const result = await trainAndSave(choice, prep, out, cfg, progressHooks(log), { resume: v.resume as boolean });
  choice.model.dispose();
  console.log('');
  console.log(formatClassificationReport(result.report));
  console.log(
    `Best epoch ${result.best?.epoch} (validation accuracy ${result.best?.valAccuracy.toFixed(4)}) in ${path.join(out, 'best')}`,
  );
  if (main) {
    const rows = await compareWithBaseline(prep, result, out);
    const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
    console.log('');
    console.log(`On the ${prep.valIdx.length.toLocaleString('en-US')} validation rows (report.json):`);
    console.log(
      `  ${'model'.padEnd(30)} ${'accuracy'.padStart(8)} ${'F1 (pos)'.padStart(8)} ${'macro F1'.padStart(8)}`,
    );
    for (const r of rows)
      console.log(
        `  ${r.model.padEnd(30)} ${f(r.accuracy).padStart(8)} ${f(r.positiveF1).padStart(8)} ${f(r.macroF1).padStart(8)}`,
      );
  }
  if (main && test) {
    const sub = v.submission ?? path.join(out, 'submission.csv');
    const p = await predictCsv(path.join(out, 'best'), test, sub, {
      columns: { text: v['text-col'] as string, id: v['id-col'] as string, pair: v['pair-col'] as string | undefined },
      clean: cleanMode(v.clean as string),
      batchSize: cfg.batchSize,
      padding: cfg.padding,
      targetCol: v['label-col'] as string,
      log: () => {},
    });
    console.log(`Predicted ${p.ids.length.toLocaleString('en-US')} rows of ${test} into ${sub}`);
  }
}

async function cmdEval(args: string[]) {
  const { values: v } = parse(args, {
    ...DATA_OPTS,
    model: { type: 'string' },
    'allow-untrained': { type: 'boolean', default: false },
  });
  await initBackend(v.backend);
  const dir = await resolveModelOption(v);
  const model = await BertForSequenceClassification.fromPretrained(dir, {
    log: diagnostics.info,
    strict: !v['allow-untrained'],
  });
  const tok = await BertTokenizer.fromDir(dir);
  checkVocabulary(tok, model.config, dir);
  const file = need(v.data, 'data');
  const d = await readLabelled(file, columns(v), model.labels);
  const enc = encodeForModel(tok, d.texts, d.pairs, cleanMode(v.clean as string), model.config.max_position_embeddings);
  const ev = evaluate(
    model,
    { ...enc, labels: d.labels },
    num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
    padding(v.padding as string),
  );
  json({
    loss: ev.loss,
    ...classificationReport(d.labels, ev.predictions, model.labels),
    confusion_matrix: confusionMatrix(d.labels, ev.predictions, model.numLabels),
    labels: model.labels,
  });
  model.dispose();
}

async function cmdPredict(args: string[]) {
  const { values: v } = parse(args, {
    ...DATA_OPTS,
    model: { type: 'string' },
    out: { type: 'string' },
    'target-col': { type: 'string', default: 'target' },
    'allow-untrained': { type: 'boolean', default: false },
  });
  await initBackend(v.backend);
  const dir = await resolveModelOption(v);
  const out = need(v.out, 'out');
  const r = await predictCsv(dir, need(v.data, 'data'), out, {
    columns: { text: v['text-col'] as string, pair: v['pair-col'] as string | undefined, id: v['id-col'] as string },
    clean: cleanMode(v.clean as string),
    batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
    padding: padding(v.padding as string),
    targetCol: v['target-col'] as string,
    log: diagnostics.info,
    allowUntrained: v['allow-untrained'] as boolean,
  });
  console.log(`Wrote ${r.ids.length.toLocaleString('en-US')} predictions to ${out}`);
}

async function cmdDownload(args: string[]) {
  const { positionals } = parse(args, {});
  const id = positionals[0];
  if (!id) throw new UsageError('usage: bert-lab download ID');
  const dir = await resolveModel(presetHubId(id), { log: diagnostics.info });
  console.log(dir);
}

async function cmdPretrain(args: string[]) {
  const d = PRETRAIN_DEFAULTS;
  const { values: v } = parse(args, {
    out: { type: 'string' },
    corpus: { type: 'string', default: d.corpus.join(',') },
    'vocab-size': { type: 'string', default: String(d.vocabSize) },
    layers: { type: 'string', default: String(d.layers) },
    hidden: { type: 'string', default: String(d.hidden) },
    heads: { type: 'string', default: String(d.heads) },
    steps: { type: 'string', default: String(d.steps) },
    'batch-size': { type: 'string', default: String(d.batchSize) },
    'max-len': { type: 'string', default: String(d.maxLen) },
    lr: { type: 'string', default: String(d.lr) },
    warmup: { type: 'string', default: String(d.warmup) },
    'weight-decay': { type: 'string', default: String(d.weightDecay) },
    seed: { type: 'string', default: String(d.seed) },
    'checkpoint-every': { type: 'string', default: String(d.checkpointEvery) },
    'eval-fraction': { type: 'string', default: String(d.evalFraction) },
    vocab: { type: 'string', default: d.vocab },
    accumulate: { type: 'string', default: String(d.accumulate) },
    schedule: { type: 'string', default: d.schedule },
    nsp: { type: 'string', default: String(d.nsp) },
    'whole-word': { type: 'boolean', default: d.wholeWord },
    clip: { type: 'string', default: String(d.clip) },
  });
  const schedule = v.schedule as string;
  if (schedule !== 'linear' && schedule !== 'cosine')
    throw new UsageError(`--schedule must be linear or cosine, got ${schedule}`);
  const nsp = v.nsp as string;
  if (nsp !== 'true' && nsp !== 'false') throw new UsageError(`--nsp must be true or false, got ${nsp}`);
  const int = (k: string, min = 1) => num(v[k as keyof typeof v] as string, k, { int: true, min });
  const cfg: PretrainConfig = {
    corpus: (v.corpus as string)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    vocabSize: int('vocab-size', 64),
    layers: int('layers'),
    hidden: int('hidden'),
    heads: int('heads'),
    steps: int('steps'),
    batchSize: int('batch-size'),
    maxLen: int('max-len', 8),
    lr: num(v.lr, 'lr', { min: 0 }),
    warmup: int('warmup', 0),
    weightDecay: num(v['weight-decay'], 'weight-decay', { min: 0 }),
    seed: num(v.seed, 'seed', { int: true }),
    checkpointEvery: int('checkpoint-every'),
    evalFraction: num(v['eval-fraction'], 'eval-fraction', { min: 0 }),
    vocab: v.vocab as string,
    accumulate: int('accumulate'),
    schedule,
    nsp: nsp === 'true',
    wholeWord: v['whole-word'] as boolean,
    init: '',
    clean: 'none',
    clip: num(v.clip, 'clip', { min: 0 }),
  };
  if (cfg.hidden % cfg.heads !== 0)
    throw new UsageError(`--hidden ${cfg.hidden} must be a multiple of --heads ${cfg.heads}`);
  pinBlasThreads();
  await initBackend(v.backend);
  const progress = stepBar('pre-training');
  await holdOutDir(need(v.out, 'out'), 'bert-lab pretrain', report);
  const r = await pretrain(need(v.out, 'out'), cfg, report, progress.onStep);
  progress.done();
  console.log(`Model written to ${r.modelDir}`);
}

/** A progress bar over pre-training steps; a resumed run counts its rate and ETA from where it started. */
function stepBar(label: string): { onStep: (p: PretrainPoint, total: number) => void; done: () => void } {
  let bar: ProgressBar | undefined;
  let first = 0;
  return {
    onStep: (p, total) => {
      if (!bar) {
        first = p.step - 1;
        bar = new ProgressBar(total - first, {
          label: first ? `${label} (steps ${first + 1}-${total})` : label,
          unit: 'step',
        });
      }
      bar.update(p.step - first, { loss: p.loss, mlm: p.mlmLoss });
    },
    done: () => bar?.done(),
  };
}

async function cmdAdapt(args: string[]) {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    corpus: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string', default: String(A.steps) },
    lr: { type: 'string', default: String(A.lr) },
    'batch-size': { type: 'string', default: String(A.batchSize) },
    'max-len': { type: 'string', default: String(A.maxLen) },
    warmup: { type: 'string' },
    clean: { type: 'string', default: A.clean },
    seed: { type: 'string', default: String(A.seed) },
    'checkpoint-every': { type: 'string', default: String(A.checkpointEvery) },
  });
  const steps = num(v.steps, 'steps', { int: true, min: 1 });
  const corpus = need(v.corpus, 'corpus')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  pinBlasThreads();
  await initBackend(v.backend);
  const dir = await resolveModelOption(v);
  await holdOutDir(need(v.out, 'out'), 'bert-lab adapt', report);
  const progress = stepBar('adapting');
  const r = await adaptModel(
    dir,
    corpus,
    need(v.out, 'out'),
    {
      steps,
      lr: num(v.lr, 'lr', { min: 0 }),
      batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
      maxLen: num(v['max-len'], 'max-len', { int: true, min: 8 }),
      warmup: v.warmup ? num(v.warmup, 'warmup', { int: true, min: 0 }) : Math.round(A.warmupRatio * steps),
      clean: cleanMode(v.clean as string),
      seed: num(v.seed, 'seed', { int: true }),
      checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true, min: 1 }),
    },
    report,
    progress.onStep,
  );
  progress.done();
  console.log(`Adapted model in ${r.modelDir}`);
}

async function cmdBaseline(args: string[]) {
  const { 'batch-size': _unused, ...data } = DATA_OPTS;
  const { values: v } = parse(args, {
    ...data,
    'val-split': TRAIN_OPTS['val-split'],
    seed: TRAIN_OPTS.seed,
    limit: TRAIN_OPTS.limit,
    json: { type: 'boolean', default: false },
  });
  const file = need(v.data, 'data');
  const r = runBaselineOnData(await readLabelled(file, columns(v)), {
    file,
    clean: cleanMode(v.clean as string),
    valSplit: valSplit(v['val-split']),
    seed: num(v.seed, 'seed', { int: true }),
    limit: v.limit ? num(v.limit, 'limit', { int: true, min: 2 }) : undefined,
  });
  const binary = r.positiveF1 !== undefined;
  if (v.json) {
    json({ ...baselineSummary(r), train_size: r.trainSize, val_size: r.valSize });
    return;
  }
  console.log(
    `Baseline: TF-IDF (word 1- and 2-grams, sublinear tf) + logistic regression (C=1), ${r.trainSize.toLocaleString('en-US')} training and ${r.valSize.toLocaleString('en-US')} validation samples (seed ${v.seed})`,
  );
  console.log(formatClassificationReport(r.report));
  console.log(`Validation accuracy: ${r.accuracy.toFixed(4)}`);
  console.log(
    binary ? `Positive-class F1 (${r.labels[1]}): ${r.positiveF1!.toFixed(4)}` : `Macro F1: ${r.macroF1.toFixed(4)}`,
  );
  console.log(`Vocabulary: ${r.vocabularySize.toLocaleString('en-US')} n-grams`);
  console.log(
    `Time: ${r.seconds.toFixed(1)} s${r.converged ? '' : ` (L-BFGS stopped after ${r.iterations} iterations before converging)`}`,
  );
}

async function cmdFillMask(args: string[]) {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    text: { type: 'string' },
    'top-k': { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
  });
  await initBackend(v.backend);
  const dir = await resolveModelOption(v);
  const model = await loadAuto(dir, { log: () => {} });
  if (!('mlmHead' in model))
    throw new Error(
      `${dir}: ${model.architecture} has no masked-language-model head (cls.predictions); fill-mask needs a pre-training or MLM checkpoint`,
    );
  const tok = await BertTokenizer.fromDir(dir);
  let results;
  try {
    results = fillMask(model, tok, need(v.text, 'text'), num(v['top-k'], 'top-k', { int: true, min: 1 }));
  } catch (e) {
    throw new UsageError(`--text: ${(e as Error).message}`);
  }
  model.dispose();
  if (v.json) {
    json(results);
    return;
  }
  for (const r of results) {
    console.log(`[MASK] at position ${r.position}:`);
    for (const p of r.predictions) console.log(`  ${p.token.padEnd(16)} ${p.probability.toFixed(4)}`);
  }
}

async function cmdExport(args: string[]) {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    out: { type: 'string' },
    tokenizer: { type: 'string' },
    quantize: { type: 'boolean', default: false },
  });
  await initBackend(v.backend);
  const r = await exportOnnx(presetHubId(need(v.model, 'model')), need(v.out, 'out'), {
    quantize: v.quantize,
    tokenizer: v.tokenizer,
    log: diagnostics.info,
  });
  for (const f of r.files) console.log(`${path.join(r.dir, f.file)}  ${(f.bytes / 2 ** 20).toFixed(1)} MiB`);
}

async function cmdDoctor(args: string[]) {
  const { values: v } = parse(args, {
    model: { type: 'string' },
    'batch-size': { type: 'string', default: '32' },
    'max-len': { type: 'string', default: '64' },
    json: { type: 'boolean', default: false },
  });
  await doctor({
    model: v.model && presetHubId(v.model),
    batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
    maxLen: num(v['max-len'], 'max-len', { int: true, min: 2 }),
    json: v.json,
    backend: v.backend,
  });
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const commands: Record<string, (a: string[]) => Promise<void>> = {
    encode: cmdEncode,
    forward: cmdForward,
    train: (a) => cmdTrain(a),
    lab: (a) => cmdTrain(a, true),
    eval: cmdEval,
    predict: cmdPredict,
    download: cmdDownload,
    pretrain: cmdPretrain,
    adapt: cmdAdapt,
    'fill-mask': cmdFillMask,
    baseline: cmdBaseline,
    export: cmdExport,
    doctor: cmdDoctor,
  };
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const run = commands[cmd];
  if (!run) {
    console.error(`bert-lab: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  try {
    await run(rest);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    const usage = e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS');
    console.error(`bert-lab ${cmd}: ${err.message}`);
    if (process.env.BERT_LAB_DEBUG) console.error(err.stack);
    return usage ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
