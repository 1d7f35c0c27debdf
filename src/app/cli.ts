// `bert-lab`: the library's steps as commands. The command line only parses and prints: the lab's
// pipeline is `runLab` (src/app/lab.ts), which the notebooks use too. Each command prints JSON
// (machine-readable) or the lab's lines (human-readable), and exits non-zero with one clear
// message on bad input (2 for a mistake in the command line).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend/init.js';
import { setMatmulPrecision } from '../backend/accel.js';
import { BertForSequenceClassification } from '../model/bert.js';
import { loadAuto } from '../model/auto.js';
import { toInputs, type BertArrays } from '../model/inputs.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { resolveModel } from '../io/hub.js';
import { PACKAGE_ROOT } from '../io/paths.js';
import { PRESETS, presetHubId } from '../model/presets.js';
import { CLEAN_MODES } from '../text/clean.js';
import { evaluate } from '../training/train.js';
import { PADDINGS } from '../data/data.js';
import { encodeForModel, readLabelled, LAB_COLUMNS, PREPARE_DEFAULTS, type Columns } from '../data/prepare.js';
import { runLab, type LabResult } from './lab.js';
import { checkVocabulary } from './classifier.js';
import { predictCsv, readSettingsFor } from './predictions.js';
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
import { ProgressBar } from '../ui/display.js';
import { fillMask } from './fillmask.js';
import { baselineSummary, runBaselineOnData } from '../training/baseline.js';
import { exportOnnx } from './export-onnx.js';
import { doctor } from './doctor.js';
import { log as diagnostics, report, type LogFn } from '../io/log.js';
import { lockDir, recoverSwaps, settleInterruptedSwap } from '../io/lock.js';
import {
  cleanMode,
  commandHelp,
  need,
  num,
  optNum,
  padding,
  parse,
  str,
  trainingInput,
  trainingOptions,
  UsageError,
  valSplit,
  type Command,
  type Options,
  type Values,
} from './args.js';

// Every default below is the library's own (LAB_COLUMNS, PREPARE_DEFAULTS, PRETRAIN_DEFAULTS,
// ADAPT_DEFAULTS; the training settings' from TRAINING_SETTINGS and the model's recipe), so the
// command line and a program calling the library train the same way.
const P = PRETRAIN_DEFAULTS;
const A = ADAPT_DEFAULTS;

const COMMON: Options = {
  backend: { type: 'string', help: 'gpu|node|wasm|cpu (default: the fastest that loads)' },
  bf16: { type: 'boolean', help: 'bf16 matrix products where the CPU has AVX-512 BF16 (weights stay fp32)' },
  help: { type: 'boolean', short: 'h', help: 'this help' },
};
const MODEL: Options = { model: { type: 'string', help: 'a model folder, a Hub id or a preset name (bert-mini)' } };
const COLUMNS: Options = {
  'text-col': { type: 'string', help: `the text column (default ${LAB_COLUMNS.text}, or the model's own)` },
  'label-col': { type: 'string', help: `the label column (default ${LAB_COLUMNS.label}, or the model's own)` },
  'pair-col': { type: 'string', help: 'a second text column: a sentence-pair task' },
  'id-col': { type: 'string', help: `the id column, used when the CSV has it (default ${LAB_COLUMNS.id})` },
};
const READ: Options = {
  data: { type: 'string', help: 'the CSV file' },
  ...COLUMNS,
  clean: {
    type: 'string',
    help: `${CLEAN_MODES.join('|')} (default: the model's own, else ${PREPARE_DEFAULTS.clean})`,
  },
  'batch-size': { type: 'string', default: '32', help: 'rows per forward pass' },
  padding: { type: 'string', default: 'max_length', help: `${PADDINGS.join('|')}: batch width` },
  'allow-untrained': { type: 'boolean', help: 'run a checkpoint that lacks weights (random ones)' },
};
const TRAIN: Options = {
  data: { type: 'string', help: 'the labelled CSV (lab: data/train.csv, else the SpamAssassin corpus)' },
  ...MODEL,
  out: { type: 'string', help: 'the run folder (lab: runs/lab)' },
  ...COLUMNS,
  'label-names': { type: 'string', help: 'class names by id, comma-separated (e.g. "not spam,spam")' },
  clean: { type: 'string', default: PREPARE_DEFAULTS.clean, help: CLEAN_MODES.join('|') },
  'max-len': { type: 'string', help: 'tokens per row (default: the longest text)' },
  'val-split': { type: 'string', default: String(PREPARE_DEFAULTS.valSplit), help: 'share of rows to validate on' },
  'split-seed': { type: 'string', default: String(PREPARE_DEFAULTS.seed), help: "the validation split's seed" },
  limit: { type: 'string', help: 'use the first N rows only' },
  'random-init': { type: 'string', help: `${Object.keys(PRESETS).join('|')}: random weights of that shape` },
  ...trainingOptions(),
  'adapt-steps': { type: 'string', help: "steps of masked-language modelling on the task's texts first" },
  test: { type: 'string', help: 'a CSV to predict after training (lab: test.csv beside the data)' },
  submission: { type: 'string', help: 'where the predictions go (default OUT/submission.csv)' },
  'dry-run': { type: 'boolean', help: 'check everything, train nothing' },
  overwrite: { type: 'boolean', help: 'OUT holds a run: train there again (best/ kept unless beaten)' },
  resume: { type: 'boolean', help: "continue OUT's run after its last whole epoch" },
};

const json = (x: unknown) => console.log(JSON.stringify(x));
const columns = (v: Values): Partial<Columns> => ({
  text: str(v['text-col']),
  label: str(v['label-col']),
  pair: str(v['pair-col']),
  id: str(v['id-col']),
});
const fullColumns = (v: Values): Columns => ({
  text: str(v['text-col']) ?? LAB_COLUMNS.text,
  label: str(v['label-col']) ?? LAB_COLUMNS.label,
  pair: str(v['pair-col']),
  id: str(v['id-col']) ?? LAB_COLUMNS.id,
});

/** The backend, with bf16 matrix products when --bf16 (or BERT_LAB_BF16=1) asks for them. */
async function startBackend(v: Values): Promise<void> {
  if (v.bf16 === true) setMatmulPrecision('bf16');
  await initBackend(str(v.backend));
}

/**
 * --model as a directory: a local folder, a Hub id or a preset name (bert-mini), downloaded if needed.
 * A folder a killed run left between the two renames of its replacement (OUT/best) is settled first.
 */
async function modelDir(v: Values, log: LogFn = diagnostics.info): Promise<string> {
  const name = need(v.model, 'model');
  await settleModelPath(name, log);
  return resolveModel(presetHubId(name), { log });
}

/** `settleInterruptedSwap` for a --model path, saying what it did. */
async function settleModelPath(name: string, log: LogFn): Promise<void> {
  for (const line of await settleInterruptedSwap(name, 'bert-lab')) log(`Recovered: ${line}`);
}

/**
 * The Hugging Face cache variables, checked like options before any command uses them: a cache set
 * to a file (HF_HUB_CACHE=/dev/null) is said as such, not as ENOTDIR from deep inside a download.
 */
function checkCacheVariables(): void {
  for (const name of ['HF_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME']) {
    const value = process.env[name];
    if (!value) continue;
    let at = path.resolve(value.replace(/^~(?=$|\/)/, os.homedir()));
    for (;;) {
      let st;
      try {
        st = statSync(at);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && path.dirname(at) !== at) {
          at = path.dirname(at); // made when first written; its first existing parent must be a folder
          continue;
        }
        if (code === 'ENOENT') break;
        throw new UsageError(`${name}=${value}: ${(e as Error).message}; set ${name} to a folder, or unset it`);
      }
      if (!st.isDirectory())
        throw new UsageError(
          `${name}=${value}: ${at === path.resolve(value) ? 'is' : `${at} is`} a file, not a folder: set ${name} to a ` +
            'folder for the Hugging Face cache (it is made if missing), or unset it to use the default',
        );
      break;
    }
  }
}

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

/** Takes OUT's lock (a second run there says who holds it) and settles what a killed run left. */
async function holdOutDir(out: string, command: string, log: LogFn): Promise<void> {
  await lockDir(out, command, '--out');
  for (const line of await recoverSwaps(out)) log(`Recovered: ${line}`);
}

/** `train` and `lab`: the one pipeline, then the report. */
async function trainCommand(v: Values, mainJob: boolean): Promise<void> {
  const names = str(v['label-names']);
  if (v.resume === true && v.overwrite === true)
    throw new UsageError(
      '--resume and --overwrite conflict: --resume continues the run in --out from its checkpoint, --overwrite starts a new one there; pass one',
    );
  const preset = str(v['random-init']);
  if (preset !== undefined && !(preset in PRESETS))
    throw new UsageError(
      `--random-init ${preset} is not a preset shape: use one of ${Object.keys(PRESETS).join(', ')}`,
    );
  if (!v['dry-run']) {
    pinBlasThreads();
    await startBackend(v);
  }
  const r = await runLab({
    mainJob,
    data: str(v.data),
    test: str(v.test),
    submission: str(v.submission),
    model: str(v.model),
    randomInit: str(v['random-init']),
    out: mainJob ? (str(v.out) ?? 'runs/lab') : need(v.out, 'out'),
    columns: fullColumns(v),
    clean: cleanMode(v.clean),
    maxLen: optNum(v['max-len'], 'max-len', { int: true, min: 2 }),
    valSplit: valSplit(v['val-split']),
    splitSeed: optNum(v['split-seed'], 'split-seed', { int: true }),
    limit: optNum(v.limit, 'limit', { int: true, min: 2 }),
    labelNames: names?.split(',').map((s) => s.trim()),
    training: trainingInput(v),
    adaptSteps: optNum(v['adapt-steps'], 'adapt-steps', { int: true, min: 0 }),
    overwrite: v.overwrite === true,
    resume: v.resume === true,
    dryRun: v['dry-run'] === true,
    log: report,
    hooks: progressHooks(report),
    onAdaptStep: stepBar('adapting').onStep,
  });
  printRun(r);
}

function printRun(r: LabResult): void {
  if (!r.run) return;
  const best = r.run.best;
  console.log('');
  console.log(formatClassificationReport(r.run.report));
  console.log(
    `Best epoch ${r.run.best?.epoch} (validation accuracy ${r.run.best?.valAccuracy.toFixed(4)}) in ${path.join(r.out, 'best')}`,
  );
  if (r.comparison) {
    const f = (x: number | null) => (x === null ? '-' : x.toFixed(4));
    console.log('');
    console.log(`On the ${r.prep.valIdx.length.toLocaleString('en-US')} validation rows (report.json):`);
    console.log(
      `  ${'model'.padEnd(30)} ${'accuracy'.padStart(8)} ${'F1 (pos)'.padStart(8)} ${'macro F1'.padStart(8)}`,
    );
    for (const c of r.comparison)
      console.log(
        `  ${c.model.padEnd(30)} ${f(c.accuracy).padStart(8)} ${f(c.positiveF1).padStart(8)} ${f(c.macroF1).padStart(8)}`,
      );
  }
  if (r.submission)
    console.log(`Predicted ${r.submission.rows.toLocaleString('en-US')} rows into ${r.submission.file}`);
  if (r.run.previous)
    console.log(`The previous best/, measured on other validation rows, is kept in ${r.run.previous}`);
  // The last line: a best/ no better than always answering the majority class is no result.
  if (best && !r.run.beatsMajority) {
    const m = r.run.majority;
    console.log(
      `Warning: ${path.join(r.out, 'best')} (validation accuracy ${best.valAccuracy.toFixed(4)}) is ${best.valAccuracy < m.accuracy ? 'below' : 'no better than'} ` +
        `the majority-class rate ${m.accuracy.toFixed(4)} (always "${m.label}"): it has learned nothing useful (report.json: "beats_majority": false)`,
    );
  }
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
      if (p.step === total) bar.done();
    },
    done: () => bar?.done(),
  };
}

const commands: Record<string, Command> = {
  lab: {
    summary: "the main job: fine-tune, evaluate and predict with the lab's defaults (and the model's recipe)",
    options: TRAIN,
    run: (v) => trainCommand(v, true),
  },
  train: {
    summary: 'fine-tune a model on a labelled CSV, keeping the best epoch in OUT/best',
    options: TRAIN,
    run: (v) => trainCommand(v, false),
  },
  eval: {
    summary: 'scores a fine-tuned model on a labelled CSV (JSON: loss, classification report, confusion matrix)',
    options: { ...MODEL, ...READ },
    run: async (v) => {
      await startBackend(v);
      const dir = await modelDir(v);
      const model = await BertForSequenceClassification.fromPretrained(dir, {
        log: diagnostics.info,
        strict: !v['allow-untrained'],
      });
      try {
        const tok = await BertTokenizer.fromDir(dir);
        checkVocabulary(tok, model.config, dir);
        const how = await readSettingsFor(dir, { clean: cleanMode(v.clean), columns: columns(v) }, diagnostics.info);
        const file = need(v.data, 'data');
        const d = await readLabelled(file, how.columns, model.labels);
        const enc = encodeForModel(tok, d.texts, d.pairs, how.clean, model.config.max_position_embeddings);
        const batch = num(v['batch-size'], 'batch-size', { int: true, min: 1 });
        const ev = evaluate(model, { ...enc, labels: d.labels }, batch, padding(v.padding));
        json({
          loss: ev.loss,
          ...classificationReport(d.labels, ev.predictions, model.labels),
          confusion_matrix: confusionMatrix(d.labels, ev.predictions, model.numLabels),
          labels: model.labels,
        });
      } finally {
        model.dispose();
      }
    },
  },
  predict: {
    summary: 'predicts a CSV into id,target (the classes as the training data wrote them)',
    options: {
      ...MODEL,
      ...READ,
      out: { type: 'string', help: 'the CSV to write' },
      'target-col': {
        type: 'string',
        help: "the prediction's column (default: the model's label column, else target)",
      },
      probabilities: { type: 'boolean', help: 'also a probability column per class, p(NAME)' },
      overwrite: {
        type: 'boolean',
        help: "replace --out when it is bert-lab's earlier predictions (never another file)",
      },
    },
    run: async (v) => {
      await startBackend(v);
      const out = need(v.out, 'out');
      const r = await predictCsv(await modelDir(v), need(v.data, 'data'), out, {
        columns: columns(v),
        clean: cleanMode(v.clean),
        batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
        padding: padding(v.padding),
        targetCol: str(v['target-col']),
        probabilities: v.probabilities === true,
        log: diagnostics.info,
        allowUntrained: v['allow-untrained'] === true,
        overwrite: v.overwrite === true,
      });
      console.log(`Wrote ${r.ids.length.toLocaleString('en-US')} predictions to ${out}`);
    },
  },
  encode: {
    summary: "tokenizes a text as the model's tokenizer does (JSON that `forward --inputs -` reads)",
    options: {
      ...MODEL,
      text: { type: 'string', help: 'the text' },
      pair: { type: 'string', help: 'a second text (sentence pair)' },
      'max-len': { type: 'string', help: 'pad and truncate to N tokens' },
    },
    run: async (v) => {
      const tok = await BertTokenizer.fromDir(await modelDir(v));
      const maxLength = optNum(v['max-len'], 'max-len', { int: true, min: 2 });
      const enc = tok.encodeBatch([need(v.text, 'text')], {
        pairs: typeof v.pair === 'string' ? [v.pair] : undefined,
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
    },
  },
  forward: {
    summary: "the model's raw outputs as JSON (last_hidden_state, pooler_output, logits, MLM/NSP logits)",
    options: {
      ...MODEL,
      inputs: { type: 'string', help: 'a JSON file of input_ids (attention_mask, token_type_ids); - reads stdin' },
      'allow-untrained': { type: 'boolean', help: 'run a checkpoint that lacks weights (random ones)' },
    },
    run: async (v) => {
      await startBackend(v);
      const file = need(v.inputs, 'inputs');
      const arrays = await readInputs(file);
      const model = await loadAuto(await modelDir(v), { strict: !v['allow-untrained'] });
      const out: Record<string, unknown> = {};
      tf.tidy(() => {
        const r = model.forward(toInputs(arrays, model.config, file)) as unknown as Record<
          string,
          tf.Tensor | undefined
        >;
        const names: [string, string][] = [
          ['lastHiddenState', 'last_hidden_state'],
          ['poolerOutput', 'pooler_output'],
          ['logits', 'logits'],
          ['mlmLogits', 'mlm_logits'],
          ['nspLogits', 'nsp_logits'],
        ];
        for (const [k, name] of names) if (r[k]) out[name] = r[k]!.arraySync();
      });
      json(out);
      model.dispose();
    },
  },
  download: {
    summary: 'a model into the Hugging Face cache, for offline use later',
    positionals: 'ID',
    options: {},
    run: async (_v, positionals) => {
      const id = positionals[0];
      if (!id) throw new UsageError('usage: bert-lab download ID');
      console.log(await resolveModel(presetHubId(id), { log: diagnostics.info }));
    },
  },
  pretrain: {
    summary:
      'pre-trains a BERT from random weights (masked-language modelling + next-sentence prediction); resumes from OUT/checkpoint',
    options: {
      out: { type: 'string', help: 'the run folder' },
      corpus: { type: 'string', default: P.corpus.join(','), help: 'names, FILE.txt or FILE.csv:COL, joined by ,' },
      'vocab-size': { type: 'string', default: String(P.vocabSize), help: 'WordPiece vocabulary to train' },
      vocab: { type: 'string', default: P.vocab || undefined, help: 'use this tokenizer folder instead' },
      layers: { type: 'string', default: String(P.layers), help: 'encoder layers' },
      hidden: { type: 'string', default: String(P.hidden), help: 'hidden size' },
      heads: { type: 'string', default: String(P.heads), help: 'attention heads' },
      steps: { type: 'string', default: String(P.steps), help: 'optimizer steps' },
      'batch-size': { type: 'string', default: String(P.batchSize), help: 'sequences per step' },
      'max-len': { type: 'string', default: String(P.maxLen), help: 'tokens per sequence' },
      lr: { type: 'string', default: String(P.lr), help: 'peak learning rate' },
      warmup: { type: 'string', default: String(P.warmup), help: 'warm-up steps' },
      'weight-decay': { type: 'string', default: String(P.weightDecay), help: "AdamW's weight decay" },
      clip: { type: 'string', default: String(P.clip), help: 'gradient-norm clipping' },
      'checkpoint-every': { type: 'string', default: String(P.checkpointEvery), help: 'steps between checkpoints' },
      'eval-fraction': { type: 'string', default: String(P.evalFraction), help: 'share of documents held out' },
      seed: { type: 'string', default: String(P.seed), help: 'the seed' },
      accumulate: { type: 'string', default: String(P.accumulate), help: 'batches per optimizer step' },
      schedule: { type: 'string', default: P.schedule, help: 'linear|cosine' },
      nsp: { type: 'string', default: String(P.nsp), help: 'true|false: next-sentence prediction' },
      'whole-word': { type: 'boolean', default: String(P.wholeWord), help: 'mask whole words' },
    },
    run: async (v) => {
      const schedule = str(v.schedule);
      if (schedule !== 'linear' && schedule !== 'cosine')
        throw new UsageError(`--schedule must be linear or cosine, got ${schedule}`);
      if (v.nsp !== 'true' && v.nsp !== 'false') throw new UsageError(`--nsp must be true or false, got ${v.nsp}`);
      const int = (k: string, min = 1) => num(v[k], k, { int: true, min });
      const cfg: PretrainConfig = {
        corpus: need(v.corpus, 'corpus')
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
        vocab: str(v.vocab) ?? '',
        accumulate: int('accumulate'),
        schedule,
        nsp: v.nsp === 'true',
        wholeWord: v['whole-word'] === true,
        init: '',
        clean: 'none',
        clip: num(v.clip, 'clip', { min: 0 }),
      };
      if (cfg.hidden % cfg.heads !== 0)
        throw new UsageError(`--hidden ${cfg.hidden} must be a multiple of --heads ${cfg.heads}`);
      const out = need(v.out, 'out');
      pinBlasThreads();
      await startBackend(v);
      const progress = stepBar('pre-training');
      await holdOutDir(out, 'bert-lab pretrain', report);
      const r = await pretrain(out, cfg, report, progress.onStep);
      progress.done();
      console.log(`Model written to ${r.modelDir}`);
    },
  },
  adapt: {
    summary: "masked-language modelling on the task's own texts (resumable)",
    options: {
      ...MODEL,
      corpus: { type: 'string', help: 'FILE.csv:COL, joined by ,' },
      out: { type: 'string', help: 'the run folder' },
      steps: { type: 'string', default: String(A.steps), help: 'optimizer steps' },
      lr: { type: 'string', default: String(A.lr), help: 'peak learning rate' },
      'batch-size': { type: 'string', default: String(A.batchSize), help: 'sequences per step' },
      'max-len': { type: 'string', default: String(A.maxLen), help: 'tokens per sequence' },
      warmup: { type: 'string', help: `warm-up steps (default ${A.warmupRatio * 100}% of the steps)` },
      clean: { type: 'string', default: A.clean, help: CLEAN_MODES.join('|') },
      seed: { type: 'string', default: String(A.seed), help: 'the seed' },
      'checkpoint-every': { type: 'string', default: String(A.checkpointEvery), help: 'steps between checkpoints' },
    },
    run: async (v) => {
      const steps = num(v.steps, 'steps', { int: true, min: 1 });
      const corpus = need(v.corpus, 'corpus')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const out = need(v.out, 'out');
      pinBlasThreads();
      await startBackend(v);
      const dir = await modelDir(v);
      await holdOutDir(out, 'bert-lab adapt', report);
      const progress = stepBar('adapting');
      const r = await adaptModel(
        dir,
        corpus,
        out,
        {
          steps,
          lr: num(v.lr, 'lr', { min: 0 }),
          batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
          maxLen: num(v['max-len'], 'max-len', { int: true, min: 8 }),
          warmup: optNum(v.warmup, 'warmup', { int: true, min: 0 }) ?? Math.round(A.warmupRatio * steps),
          clean: cleanMode(v.clean) ?? A.clean,
          seed: num(v.seed, 'seed', { int: true }),
          checkpointEvery: num(v['checkpoint-every'], 'checkpoint-every', { int: true, min: 1 }),
        },
        report,
        progress.onStep,
      );
      progress.done();
      console.log(`Adapted model in ${r.modelDir}`);
    },
  },
  baseline: {
    summary: "TF-IDF + logistic regression on the lab's split: the score BERT has to beat",
    options: {
      data: { type: 'string', help: 'the labelled CSV' },
      ...COLUMNS,
      clean: { type: 'string', default: PREPARE_DEFAULTS.clean, help: CLEAN_MODES.join('|') },
      'val-split': { type: 'string', default: String(PREPARE_DEFAULTS.valSplit), help: 'share of rows to validate on' },
      seed: { type: 'string', default: String(PREPARE_DEFAULTS.seed), help: "the validation split's seed" },
      limit: { type: 'string', help: 'use the first N rows only' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    run: async (v) => {
      const file = need(v.data, 'data');
      const r = runBaselineOnData(await readLabelled(file, fullColumns(v)), {
        file,
        clean: cleanMode(v.clean) ?? PREPARE_DEFAULTS.clean,
        valSplit: valSplit(v['val-split']) ?? PREPARE_DEFAULTS.valSplit,
        seed: num(v.seed, 'seed', { int: true }),
        limit: optNum(v.limit, 'limit', { int: true, min: 2 }),
      });
      if (v.json) return json({ ...baselineSummary(r), train_size: r.trainSize, val_size: r.valSize });
      console.log(
        `Baseline: TF-IDF (word 1- and 2-grams, sublinear tf) + logistic regression (C=1), ${r.trainSize.toLocaleString('en-US')} training and ${r.valSize.toLocaleString('en-US')} validation samples (seed ${v.seed})`,
      );
      console.log(formatClassificationReport(r.report));
      console.log(`Validation accuracy: ${r.accuracy.toFixed(4)}`);
      console.log(
        r.positiveF1 !== undefined
          ? `Positive-class F1 (${r.labels[1]}): ${r.positiveF1.toFixed(4)}`
          : `Macro F1: ${r.macroF1.toFixed(4)}`,
      );
      console.log(`Vocabulary: ${r.vocabularySize.toLocaleString('en-US')} n-grams`);
      console.log(
        `Time: ${r.seconds.toFixed(1)} s${r.converged ? '' : ` (L-BFGS stopped after ${r.iterations} iterations before converging)`}`,
      );
    },
  },
  'fill-mask': {
    summary: 'the most likely words for each [MASK] of a text',
    options: {
      ...MODEL,
      text: { type: 'string', help: 'a text with [MASK]' },
      'top-k': { type: 'string', default: '5', help: 'guesses per [MASK]' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    run: async (v) => {
      await startBackend(v);
      const dir = await modelDir(v);
      const model = await loadAuto(dir, { log: () => {} });
      if (!('mlmHead' in model))
        throw new Error(
          `${dir}: ${model.architecture} has no masked-language-model head (cls.predictions); fill-mask needs a pre-training or MLM checkpoint`,
        );
      const tok = await BertTokenizer.fromDir(dir);
      const topK = num(v['top-k'], 'top-k', { int: true, min: 1 });
      const text = need(v.text, 'text');
      let results;
      try {
        results = fillMask(model, tok, text, topK);
      } catch (e) {
        const m = (e as Error).message;
        throw new UsageError(/^-*top-k/.test(m) ? m : `--text: ${m}`);
      } finally {
        model.dispose();
      }
      if (v.json) return json(results);
      for (const r of results) {
        console.log(`[MASK] at position ${r.position}:`);
        for (const p of r.predictions) console.log(`  ${p.token.padEnd(16)} ${p.probability.toFixed(4)}`);
      }
    },
  },
  export: {
    summary: 'ONNX for transformers.js / ONNX Runtime (config, tokenizer, onnx/model.onnx)',
    options: {
      ...MODEL,
      out: { type: 'string', help: 'the folder to write' },
      tokenizer: { type: 'string', help: "a tokenizer folder (default: the model's)" },
      quantize: { type: 'boolean', help: 'also onnx/model_quantized.onnx (int8 weights)' },
    },
    run: async (v) => {
      await startBackend(v);
      await settleModelPath(need(v.model, 'model'), diagnostics.info);
      const r = await exportOnnx(presetHubId(need(v.model, 'model')), need(v.out, 'out'), {
        quantize: v.quantize === true,
        tokenizer: str(v.tokenizer),
        log: diagnostics.info,
      });
      for (const f of r.files) console.log(`${path.join(r.dir, f.file)}  ${(f.bytes / 2 ** 20).toFixed(1)} MiB`);
    },
  },
  doctor: {
    summary: 'what this machine can run; with a model, training memory and time per epoch from two measured steps',
    options: {
      ...MODEL,
      'batch-size': { type: 'string', default: '32', help: 'rows per step' },
      'max-len': { type: 'string', default: '64', help: 'tokens per row' },
      json: { type: 'boolean', help: 'print JSON' },
    },
    run: async (v) => {
      await doctor({
        model: str(v.model) && presetHubId(str(v.model)!),
        batchSize: num(v['batch-size'], 'batch-size', { int: true, min: 1 }),
        maxLen: num(v['max-len'], 'max-len', { int: true, min: 2 }),
        json: v.json === true,
        backend: str(v.backend),
      });
    },
  },
};

/** `forward --inputs`: a JSON file (or - for stdin) of input_ids etc., as `encode` prints them. */
async function readInputs(file: string): Promise<BertArrays> {
  const where = file === '-' ? 'stdin' : file;
  if (file !== '-' && !existsSync(file)) throw new UsageError(`${file}: file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(file === '-' ? readFileSync(0, 'utf8') : await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
  }
  const obj = (raw && typeof raw === 'object' && 'inputs' in raw ? (raw as { inputs: unknown }).inputs : raw) as Record<
    string,
    unknown
  >;
  if (!obj || typeof obj !== 'object' || !Array.isArray(obj.input_ids))
    throw new Error(`${where}: expected an object with input_ids (and optionally attention_mask, token_type_ids)`);
  // One row, as `encode` prints it, is a batch of one.
  if (obj.input_ids.every((x) => typeof x === 'number'))
    for (const k of ['input_ids', 'attention_mask', 'token_type_ids']) if (Array.isArray(obj[k])) obj[k] = [obj[k]];
  return {
    inputIds: obj.input_ids as number[][],
    attentionMask: obj.attention_mask as number[][] | undefined,
    tokenTypeIds: obj.token_type_ids as number[][] | undefined,
  };
}

function version(): string {
  return (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

const USAGE = `bert-lab ${version()}: fine-tune BERT for text classification

Usage: bert-lab <command> [options]      bert-lab <command> --help: the command's options

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Every command takes --backend gpu|node|wasm|cpu (default: the fastest that loads).`;

/** Runs `bert-lab ARGV`; returns the exit code (0 done, 1 failed, 2 a mistake in the command line). */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v') {
    console.log(version());
    return 0;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const command = commands[cmd];
  if (!command) {
    console.error(`bert-lab: unknown command "${cmd}"\n\n${USAGE}`);
    return 2;
  }
  const options = { ...COMMON, ...command.options };
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(cmd, { ...command, options }));
    return 0;
  }
  try {
    const { values, positionals } = parse(rest, options, command.positionals ? 1 : 0);
    checkCacheVariables();
    await command.run(values, positionals);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    const usage = e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS');
    console.error(`bert-lab ${cmd}: ${err.message}${usage ? `\n(bert-lab ${cmd} --help lists its options)` : ''}`);
    if (process.env.BERT_LAB_DEBUG) console.error(err.stack);
    return usage ? 2 : 1;
  }
}
process.exitCode = await main(process.argv.slice(2));
