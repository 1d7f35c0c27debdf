// Pre-training a BERT from scratch: a WordPiece vocabulary trained on the corpus, MLM + NSP
// examples, AdamW with warmup, periodic checkpoints that a later run resumes from, a loss curve.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BertForPreTraining } from '../model/bert.js';
import type { BertConfig } from '../model/config.js';
import { configForShape } from '../model/presets.js';
import { loadCorpus, type Document } from '../data/corpus.js';
import {
  buildExamples,
  buildSingleSegmentExamples,
  makeNspPairs,
  specialIdsFor,
  tokenizeDocuments,
  type PretrainExample,
  type SpecialIds,
} from '../data/pretrain-data.js';
import { mixSeed, rng, shuffle } from '../nn/random.js';
import { trainWordPiece } from '../text/wordpiece.js';
import { BertTokenizer } from '../text/tokenizer.js';
import { AdamW, scheduleFactor } from '../nn/optim.js';
import { optimizerStep } from './step.js';
import { readSafetensors, writeSafetensors, type TensorData } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { plotHtml } from '../ui/display.js';
import { formatTime } from './train.js';
import { cleanText, type CleanMode } from '../text/clean.js';
import { groupByLength } from '../data/data.js';
import { report, type LogFn } from '../io/log.js';

export interface PretrainConfig {
  corpus: string[];
  vocabSize: number;
  layers: number;
  hidden: number;
  heads: number;
  maxLen: number;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  seed: number;
  checkpointEvery: number;
  /** Share of documents held out to measure MLM/NSP accuracy. */
  evalFraction: number;
  /**
   * A directory holding an existing tokenizer (e.g. bert-base-uncased's vocab.txt/tokenizer.json)
   * to use instead of training a WordPiece vocabulary; '' trains one of `vocabSize` tokens.
   */
  vocab: string;
  /** Micro-batches whose gradients are summed into one optimizer step (effective batch = batchSize x accumulate). */
  accumulate: number;
  /** Learning-rate decay after warm-up: linear to 0 (BERT) or cosine to 0. */
  schedule: 'linear' | 'cosine';
  /** Next-sentence prediction on (true, as BERT) or off (MLM only, as RoBERTa). */
  nsp: boolean;
  /** Whole-word masking: a word's `##` pieces are masked together. */
  wholeWord: boolean;
  /**
   * A pre-trained model directory to continue from (task-adaptive pre-training, `bert-lab adapt`):
   * its weights, shape and tokenizer are used and `layers`/`hidden`/`heads`/`vocab` are ignored.
   * '' starts from a random initialisation.
   */
  init: string;
  /** Cleaning applied to every document first ('none' keeps the text as it is). */
  clean: CleanMode;
  /** Clip the gradients' global norm to this before each step (BERT: 1.0); 0 turns clipping off. */
  clip: number;
}

export const PRETRAIN_DEFAULTS: PretrainConfig = {
  corpus: ['sotu', 'brown', 'moby-dick'],
  vocabSize: 8192,
  layers: 2,
  hidden: 128,
  heads: 2,
  maxLen: 64,
  steps: 2000,
  batchSize: 32,
  lr: 1e-3,
  warmup: 100,
  weightDecay: 0.01,
  seed: 42,
  checkpointEvery: 100,
  evalFraction: 0.05,
  vocab: '',
  accumulate: 1,
  schedule: 'linear',
  nsp: true,
  wholeWord: false,
  init: '',
  clean: 'none',
  clip: 1.0,
};

export interface PretrainPoint {
  step: number;
  loss: number;
  mlmLoss: number;
  nspLoss: number;
  lr: number;
  seconds: number;
}
export interface PretrainEval {
  mlmAccuracy: number;
  nspAccuracy: number;
  mlmLoss: number;
  nspLoss: number;
  examples: number;
}

interface State {
  step: number;
  points: PretrainPoint[];
  config: PretrainConfig;
  vocabSeconds: number;
  tokensSeen: number;
  /** The model's dropout counter after `step` steps (absent in checkpoints written before it was kept). */
  dropout?: number;
}

/**
 * A checkpoint's state.json, checked field by field: a damaged file is named with what is wrong
 * rather than failing later as a TypeError or a run that silently does nothing.
 */
async function readState(file: string): Promise<State> {
  const bad = (what: string) =>
    new Error(
      `${file}: ${what}; the checkpoint is damaged: restore it, or delete ${path.dirname(file)} to start again from step 0`,
    );
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('expected a JSON object');
  const s = raw as Record<string, unknown>;
  const count = (k: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw bad(`"${k}" must be a non-negative integer, got ${JSON.stringify(v)}`);
  };
  count('step', s.step);
  count('tokensSeen', s.tokensSeen);
  if (s.dropout !== undefined) count('dropout', s.dropout);
  if (typeof s.vocabSeconds !== 'number')
    throw bad(`"vocabSeconds" must be a number, got ${JSON.stringify(s.vocabSeconds)}`);
  if (!s.config || typeof s.config !== 'object') throw bad('"config" must be an object of the run\'s settings');
  if (!Array.isArray(s.points) || s.points.length !== s.step)
    throw bad(
      `"points" must list one entry per step (${String(s.step)}), got ${Array.isArray(s.points) ? s.points.length : JSON.stringify(s.points)}`,
    );
  return s as unknown as State;
}

/** Accuracy of the MLM head on masked positions and of the NSP head, over `examples`. */
function evaluatePretraining(model: BertForPreTraining, examples: PretrainExample[], batchSize = 32): PretrainEval {
  let mlmHit = 0,
    mlmN = 0,
    nspHit = 0,
    mlmLoss = 0,
    nspLoss = 0,
    batchesN = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const b = examples.slice(i, i + batchSize);
    tf.tidy(() => {
      const t = tensors(b);
      const r = model.loss(t.inputs, t.mlmLabels, t.nspLabels, false);
      const pred = tf.argMax(r.mlmLogits, -1).dataSync();
      const tgt = r.mlmTargets.dataSync();
      tgt.forEach((y, k) => {
        if (y !== -100) {
          mlmN++;
          if (pred[k] === y) mlmHit++;
        }
      });
      const nsp = tf.argMax(r.nspLogits, -1).dataSync();
      b.forEach((e, k) => {
        if (nsp[k] === e.nspLabel) nspHit++;
      });
      mlmLoss += r.mlmLoss.dataSync()[0];
      nspLoss += r.nspLoss.dataSync()[0];
      batchesN++;
    });
  }
  return {
    mlmAccuracy: mlmN ? mlmHit / mlmN : NaN,
    nspAccuracy: nspHit / examples.length,
    mlmLoss: mlmLoss / batchesN,
    nspLoss: nspLoss / batchesN,
    examples: examples.length,
  };
}

/** Tokens of an example that are not padding. */
const lengthOf = (e: PretrainExample) => e.attentionMask.reduce((a, m) => a + m, 0);

/**
 * A batch as tensors, padded only to its own longest row (examples are built padded to maxLen;
 * positions past every row's end are all [PAD], masked out of attention and the loss, so cutting
 * them changes nothing but the cost).
 */
function tensors(b: PretrainExample[]) {
  const t = Math.max(...b.map(lengthOf));
  const rows = (f: (e: PretrainExample) => number[]) => b.map((e) => f(e).slice(0, t));
  return {
    inputs: {
      inputIds: tf.tensor2d(
        rows((e) => e.inputIds),
        [b.length, t],
        'int32',
      ),
      attentionMask: tf.tensor2d(
        rows((e) => e.attentionMask),
        [b.length, t],
        'int32',
      ),
      tokenTypeIds: tf.tensor2d(
        rows((e) => e.tokenTypeIds),
        [b.length, t],
        'int32',
      ),
    },
    mlmLabels: tf.tensor2d(
      rows((e) => e.mlmLabels),
      [b.length, t],
      'int32',
    ),
    nspLabels: tf.tensor1d(
      b.map((e) => e.nspLabel),
      'int32',
    ),
  };
}

/**
 * The documents cleaned with `mode` and without exact repeats (after cleaning) or empty ones: a
 * corpus assembled from several sources often holds the same text more than once, and a repeat
 * would also leak into the held-out part.
 */
export function dedupe(docs: Document[], mode: CleanMode): Document[] {
  const seen = new Set<string>();
  const out: Document[] = [];
  for (const d of docs) {
    const text = mode === 'none' ? d.text : cleanText(d.text, mode);
    const key = text.replace(/\s+/g, ' ').trim();
    if (key.length === 0 || seen.has(key)) continue;
    seen.add(key);
    out.push({ ...d, text });
  }
  return out;
}

/** Documents split into training and held-out sets, the same for a given seed. */
function splitDocs(docs: Document[], fraction: number, seed: number): { train: Document[]; held: Document[] } {
  const order = shuffle(
    docs.map((_, i) => i),
    rng(mixSeed(seed, 7)),
  );
  const nHeld = Math.max(2, Math.round(docs.length * fraction));
  if (docs.length < nHeld + 2)
    throw new Error(
      `the corpus has ${docs.length} documents; pre-training needs at least ${nHeld + 2} (NSP draws random segments from other documents)`,
    );
  return { held: order.slice(0, nHeld).map((i) => docs[i]), train: order.slice(nHeld).map((i) => docs[i]) };
}

/**
 * Batch `k` of a pass. Every pass pairs sentences afresh for NSP, so a later pass can hold a few
 * examples fewer than the first (which fixes the batches per pass): its last batches wrap around.
 */
export function epochBatch<T>(examples: T[], k: number, batchSize: number): T[] {
  if (examples.length === 0) throw new Error('pre-training: this pass produced no examples');
  return Array.from({ length: batchSize }, (_, j) => examples[(k * batchSize + j) % examples.length]);
}

/**
 * The examples of one pass: sentence pairs and masks drawn afresh from (seed, pass), so every pass
 * masks differently (RoBERTa's dynamic masking). Without NSP every pair is an actual continuation.
 */
export function passExamples(
  docs: number[][][],
  special: SpecialIds,
  cfg: PretrainConfig,
  epoch: number,
  isContinuation?: (id: number) => boolean,
): PretrainExample[] {
  const rand = rng(mixSeed(cfg.seed, epoch, 11));
  const examples = cfg.nsp
    ? buildExamples(makeNspPairs(docs, cfg.maxLen, rand), special, cfg.maxLen, rand, { isContinuation })
    : buildSingleSegmentExamples(docs, special, cfg.maxLen, rand, { isContinuation });
  return groupByLength(shuffle(examples, rand), lengthOf, cfg.batchSize, rand);
}

function modelConfig(c: PretrainConfig, vocabSize: number): BertConfig {
  return configForShape(c, {
    architectures: ['BertForPreTraining'],
    vocab_size: vocabSize,
    max_position_embeddings: Math.max(512, c.maxLen),
  });
}

async function saveCheckpoint(
  dir: string,
  model: BertForPreTraining,
  tok: BertTokenizer,
  opt: AdamW,
  state: State,
): Promise<void> {
  await model.save(dir, {
    extra: async (tmp) => {
      await tok.save(tmp);
      const s = opt.state();
      const moments = new Map<string, TensorData>();
      for (const [k, m] of s.m) {
        const shape = model.p.get(k).shape;
        moments.set(`m.${k}`, { shape, data: m });
        moments.set(`v.${k}`, { shape, data: s.v.get(k)! });
      }
      await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments, { metadata: { step: String(s.step) } });
      await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(state) + '\n');
    },
  });
}

async function writeCurve(outDir: string, points: PretrainPoint[]): Promise<void> {
  const csv = [
    'step,loss,mlm_loss,nsp_loss,lr,seconds',
    ...points.map((p) => [p.step, p.loss, p.mlmLoss, p.nspLoss, p.lr, p.seconds.toFixed(1)].join(',')),
  ];
  await writeFileAtomic(path.join(outDir, 'loss.csv'), csv.join('\n') + '\n');
  const x = points.map((p) => p.step);
  const fig = {
    data: [
      { x, y: points.map((p) => p.loss), name: 'total', type: 'scatter', mode: 'lines' },
      { x, y: points.map((p) => p.mlmLoss), name: 'MLM', type: 'scatter', mode: 'lines' },
      { x, y: points.map((p) => p.nspLoss), name: 'NSP', type: 'scatter', mode: 'lines' },
    ],
    layout: {
      title: { text: 'Pre-training loss' },
      xaxis: { title: { text: 'step' } },
      yaxis: { title: { text: 'loss' } },
    },
  };
  await writeFileAtomic(
    path.join(outDir, 'loss.html'),
    `<!doctype html><html><head><meta charset="utf-8"><title>Pre-training loss</title></head><body>\n${plotHtml(fig, true, 'loss')}\n</body></html>\n`,
  );
}

/** Pre-training's AdamW, as BERT's: no weight decay on biases and LayerNorm weights. */
export const pretrainOptimizer = (cfg: Pick<PretrainConfig, 'lr' | 'weightDecay'>): AdamW =>
  new AdamW({ lr: cfg.lr, weightDecay: cfg.weightDecay, noDecay: (n) => /(bias|LayerNorm\.weight)$/.test(n) });

export interface PretrainResult {
  modelDir: string;
  eval: PretrainEval;
  points: PretrainPoint[];
  seconds: number;
  tokensPerSecond: number;
  config: PretrainConfig;
  corpusDocs: number;
}

/** A pre-training run stopped on request (`PretrainHooks.shouldStop`) after `step` of `steps`. */
export class PretrainStopped extends Error {
  constructor(
    readonly step: number,
    readonly steps: number,
    readonly checkpoint: string,
  ) {
    super(
      `pre-training stopped on request after step ${step} of ${steps}; the weights, the optimizer and the loss ` +
        `curve of that step are in ${checkpoint}: run again with the same settings to resume from there`,
    );
    this.name = 'PretrainStopped';
  }
}

/** What a pre-training run reports to and asks of its caller. */
export interface PretrainHooks {
  /** The run's report lines. */
  log?: LogFn;
  /** After each optimizer step. */
  onStep?: (p: PretrainPoint, total: number) => void;
  /**
   * Asked after each optimizer step: true stops the run there. The step's state is saved to
   * OUT/checkpoint (a later run with the same settings resumes from it) and the run throws
   * `PretrainStopped`, which says where it stopped and what was kept.
   */
  shouldStop?: () => boolean;
  /** More files for OUT/model. */
  extraFiles?: (tmp: string) => Promise<void>;
}

/**
 * Pre-trains into `outDir`: OUT/checkpoint (resumable), OUT/loss.csv + loss.html, and at the end
 * OUT/model (F16 weights, tokenizer, model card). A run finding OUT/checkpoint continues from it.
 *
 * Args:
 *   outDir: the run's folder.
 *   cfg: corpus, shape, steps, batch, schedule, masking (PRETRAIN_DEFAULTS for the rest).
 *   log: the run's report lines, or all hooks at once (`log`, `onStep`, `shouldStop`, `extraFiles`);
 *   onStep: after each optimizer step; extraFiles: more files for OUT/model.
 *
 * Example: `const r = await pretrain('runs/pt', { ...PRETRAIN_DEFAULTS, corpus: ['moby-dick'], steps: 200 });`
 * Example: `await pretrain('runs/pt', cfg, { onStep: (p) => chart.push('MLM', p.step, p.mlmLoss), shouldStop: () => stop.requested })`
 */
export async function pretrain(
  outDir: string,
  cfg: PretrainConfig,
  logOrHooks: LogFn | PretrainHooks = report,
  onStepArg?: (p: PretrainPoint, total: number) => void,
  extraFilesArg?: (tmp: string) => Promise<void>,
): Promise<PretrainResult> {
  const hooks: PretrainHooks =
    typeof logOrHooks === 'function' ? { log: logOrHooks, onStep: onStepArg, extraFiles: extraFilesArg } : logOrHooks;
  const log = hooks.log ?? report;
  const { onStep, extraFiles, shouldStop } = hooks;
  const ckpt = path.join(outDir, 'checkpoint');
  const resume = existsSync(path.join(ckpt, 'state.json'));
  let state: State;
  let tok: BertTokenizer;
  let model!: BertForPreTraining;
  const opt = pretrainOptimizer(cfg);

  const docsRaw = dedupe((await Promise.all(cfg.corpus.map((c) => loadCorpus(c)))).flat(), cfg.clean);
  const { train: trainDocs, held } = splitDocs(docsRaw, cfg.evalFraction, cfg.seed);
  if (resume) {
    state = await readState(path.join(ckpt, 'state.json'));
    // Settings added since the checkpoint was written count as their defaults.
    state.config = { ...PRETRAIN_DEFAULTS, ...state.config };
    const diff = (Object.keys(cfg) as (keyof PretrainConfig)[]).filter(
      (k) => k !== 'steps' && k !== 'checkpointEvery' && JSON.stringify(cfg[k]) !== JSON.stringify(state.config[k]),
    );
    if (diff.length)
      throw new Error(
        `${ckpt} was made with different settings (${diff.map((k) => `${k}: ${JSON.stringify(state.config[k])} there, ${JSON.stringify(cfg[k])} now`).join('; ')}); use those settings or another --out`,
      );
    state.config = cfg;
    tok = await BertTokenizer.fromDir(ckpt);
    model = await BertForPreTraining.fromPretrained(ckpt, { log });
    const moments = await readSafetensors(path.join(ckpt, 'optimizer.safetensors'));
    const m = new Map<string, Float32Array>(),
      v = new Map<string, Float32Array>();
    for (const [k, t] of moments) (k.startsWith('m.') ? m : v).set(k.slice(2), t.data);
    opt.loadState({ step: state.step, m, v }, model.p.vars);
    if (state.dropout !== undefined) model.dropoutCounter = state.dropout;
    else
      log(
        `Note: ${ckpt} predates saved dropout state: the resumed steps draw other dropout masks than an uninterrupted run`,
      );
    log(`Resuming from ${ckpt} at step ${state.step} of ${cfg.steps}`);
  } else {
    log(
      `Corpus: ${cfg.corpus.join(' + ')}: ${docsRaw.length.toLocaleString('en-US')} distinct documents (${held.length} held out)${cfg.clean !== 'none' ? `, cleaned (${cfg.clean})` : ''}`,
    );
    const t0 = performance.now();
    let vocabSeconds = 0;
    if (cfg.init) {
      tok = await BertTokenizer.fromDir(cfg.init);
      model = await BertForPreTraining.fromPretrained(cfg.init, { log, seed: cfg.seed });
      log(`Continuing pre-training from ${cfg.init}`);
    } else if (cfg.vocab) {
      tok = await BertTokenizer.fromDir(cfg.vocab);
      log(`Vocabulary: ${tok.vocabSize.toLocaleString('en-US')} tokens from ${cfg.vocab}`);
    } else {
      const vocab = trainWordPiece(
        trainDocs.map((d) => d.text),
        { vocabSize: cfg.vocabSize },
      );
      vocabSeconds = (performance.now() - t0) / 1000;
      log(`WordPiece vocabulary: ${vocab.length.toLocaleString('en-US')} tokens in ${vocabSeconds.toFixed(1)} s`);
      tok = BertTokenizer.fromVocab(vocab, { model_max_length: Math.max(512, cfg.maxLen) });
      await tok.save(path.join(outDir, 'vocab'));
    }
    if (!cfg.init) {
      model = new BertForPreTraining(modelConfig(cfg, tok.vocabSize));
      model.initWeights(cfg.seed);
    }
    state = { step: 0, points: [], config: cfg, vocabSeconds, tokensSeen: 0 };
  }
  const mc = model.config;
  log(
    `Model: ${mc.num_hidden_layers} layers, hidden ${mc.hidden_size}, ${mc.num_attention_heads} heads, vocabulary ${tok.vocabSize}: ${model.numParameters().toLocaleString('en-US')} parameters`,
  );

  const special = specialIdsFor(tok.convertIdsToTokens(Array.from({ length: tok.vocabSize }, (_, i) => i)));
  const encode = (s: string) => tok.convertTokensToIds(tok.tokenize(s));
  const trainIds = tokenizeDocuments(trainDocs, encode);
  const heldIds = tokenizeDocuments(held, encode);
  const vocabList = tok.convertIdsToTokens(Array.from({ length: tok.vocabSize }, (_, i) => i));
  const isContinuation = cfg.wholeWord ? (id: number) => vocabList[id].startsWith('##') : undefined;
  const heldExamples = passExamples(heldIds, special, cfg, 999_999, isContinuation).slice(0, 1024);
  let epoch = 0;
  let examples = passExamples(trainIds, special, cfg, epoch, isContinuation);
  const micro = cfg.batchSize;
  const perEpoch = Math.floor(examples.length / micro);
  if (perEpoch < 1)
    throw new Error(`the corpus gives ${examples.length} examples, fewer than one batch of ${cfg.batchSize}`);
  log(
    `${examples.length.toLocaleString('en-US')} training examples of ${cfg.maxLen} tokens per pass; ${heldExamples.length} held-out examples`,
  );

  const t0 = performance.now();
  const startStep = state.step;
  const runStart = state.points.at(-1)?.seconds ?? 0;
  try {
    while (state.step < cfg.steps) {
      opt.lr = cfg.lr * scheduleFactor(opt.step, cfg.warmup, cfg.steps, cfg.schedule);
      const lr = opt.lr;
      // Gradient accumulation: micro-batch gradients are averaged into one step, so the step
      // sees batchSize x accumulate sequences at the memory cost of one micro-batch.
      const parts = [0, 0];
      const { loss } = optimizerStep(
        model,
        opt,
        (a) => {
          const m = state.step * cfg.accumulate + a;
          const e = Math.floor(m / perEpoch);
          if (e !== epoch) {
            epoch = e;
            examples = passExamples(trainIds, special, cfg, epoch, isContinuation);
          }
          const batch = epochBatch(examples, m % perEpoch, micro);
          state.tokensSeen += batch.reduce((n, ex) => n + lengthOf(ex), 0);
          const t = tensors(batch);
          const r = model.loss(t.inputs, t.mlmLabels, t.nspLabels, true);
          parts[0] += r.mlmLoss.dataSync()[0] / cfg.accumulate;
          parts[1] += r.nspLoss.dataSync()[0] / cfg.accumulate;
          return cfg.nsp ? r.loss : r.mlmLoss;
        },
        { clip: cfg.clip, accumulate: cfg.accumulate },
      );
      if (!Number.isFinite(loss))
        throw new Error(`pre-training diverged at step ${state.step + 1}: loss ${loss} (lower --lr)`);
      state.step++;
      const point = {
        step: state.step,
        loss,
        mlmLoss: parts[0],
        nspLoss: parts[1],
        lr,
        seconds: runStart + (performance.now() - t0) / 1000,
      };
      state.points.push(point);
      onStep?.(point, cfg.steps);
      if (state.step % cfg.checkpointEvery === 0 || state.step === cfg.steps) {
        state.dropout = model.dropoutCounter;
        await saveCheckpoint(ckpt, model, tok, opt, state);
        await writeCurve(outDir, state.points);
      }
      // Yield every step: a notebook repaints, and an interrupt can reach shouldStop.
      await new Promise((r) => setImmediate(r));
      if (shouldStop?.() && state.step < cfg.steps) {
        if (state.step % cfg.checkpointEvery !== 0) {
          state.dropout = model.dropoutCounter;
          await saveCheckpoint(ckpt, model, tok, opt, state);
          await writeCurve(outDir, state.points);
        }
        throw new PretrainStopped(state.step, cfg.steps, ckpt);
      }
    }
    const seconds = state.points.at(-1)?.seconds ?? 0;
    const ev = evaluatePretraining(model, heldExamples, cfg.batchSize);
    const tps = state.tokensSeen / Math.max(seconds, 1e-9);
    log(
      `Held-out: MLM accuracy ${ev.mlmAccuracy.toFixed(4)}${cfg.nsp ? `, NSP accuracy ${ev.nspAccuracy.toFixed(4)}` : ''} (${ev.examples} examples); ${Math.round(tps)} tokens/s; ${formatTime(seconds)} in all (${state.step - startStep} steps this run)`,
    );
    const modelDir = path.join(outDir, 'model');
    // Adapted models keep float32 weights: fine-tuning starts from them at once.
    const dtype = cfg.init ? 'F32' : 'F16';
    const card = modelCard(cfg, model, tok.vocabSize, docsRaw.length, ev, seconds, tps, state, dtype);
    await model.save(modelDir, {
      dtype,
      extra: async (tmp) => {
        await tok.save(tmp);
        await writeFileAtomic(path.join(tmp, 'README.md'), card);
        await extraFiles?.(tmp);
      },
    });
    await writeFileAtomic(
      path.join(outDir, 'eval.json'),
      JSON.stringify({ ...ev, seconds, tokensPerSecond: tps, steps: state.step }, null, 2) + '\n',
    );
    return {
      modelDir,
      eval: ev,
      points: state.points,
      seconds,
      tokensPerSecond: tps,
      config: cfg,
      corpusDocs: docsRaw.length,
    };
  } finally {
    opt.dispose();
    model.dispose();
  }
}

function modelCard(
  c: PretrainConfig,
  model: BertForPreTraining,
  vocab: number,
  docs: number,
  ev: PretrainEval,
  seconds: number,
  tps: number,
  { tokensSeen, vocabSeconds }: State,
  dtype: 'F32' | 'F16',
): string {
  // The card states what this run did: a given vocabulary is not "trained on the corpus", an
  // adapted model did not start from scratch, and NSP is named only when it was trained.
  const objective = c.nsp ? 'masked-language modelling and next-sentence prediction' : 'masked-language modelling';
  const intro = c.init
    ? `A BERT continued from \`${c.init}\` with ${objective} on the corpus below.`
    : `A small BERT pre-trained from scratch with ${objective},
so that the lab runs with no download. It is far smaller and less trained than bert-base-uncased.`;
  const vocabFrom = c.vocab || c.init; // an adapted model keeps its starting model's vocabulary
  const vocabulary = vocabFrom
    ? `WordPiece, uncased, ${vocab} tokens, from \`${vocabFrom}\``
    : `WordPiece, uncased, ${vocab} tokens, trained on the corpus (${vocabSeconds.toFixed(0)} s)`;
  const masking = `${c.wholeWord ? 'whole-word' : 'token'} masking drawn afresh every pass`;
  const batch = c.accumulate > 1 ? `${c.batchSize} x ${c.accumulate} accumulated` : `${c.batchSize}`;
  return `# bert-lab pre-trained BERT (${c.layers} layers, hidden ${c.hidden})

${intro}

| | |
|---|---|
| corpus | ${c.corpus.join(' + ')} (${docs} documents, ${Math.round(c.evalFraction * 100)}% held out) |
| vocabulary | ${vocabulary} |
| shape | ${c.layers} layers, hidden ${c.hidden}, ${c.heads} heads, intermediate ${4 * c.hidden}; ${model.numParameters().toLocaleString('en-US')} parameters |
| training | ${c.steps} steps of ${batch} sequences of at most ${c.maxLen} tokens (${(tokensSeen / 1e6).toFixed(2)} M non-padding tokens seen), ${masking}; AdamW lr ${c.lr}, warmup ${c.warmup}, ${c.schedule} decay, weight decay ${c.weightDecay}, clipping ${c.clip}; seed ${c.seed} |
| time | ${formatTime(seconds)} (${Math.round(tps)} tokens/s) |
| held-out MLM accuracy | ${ev.mlmAccuracy.toFixed(4)} (loss ${ev.mlmLoss.toFixed(3)}) |
${c.nsp ? `| held-out NSP accuracy | ${ev.nspAccuracy.toFixed(4)} (loss ${ev.nspLoss.toFixed(3)}) |\n` : ''}
Weights: \`model.safetensors\` (${dtype}), architecture BertForPreTraining; load it as a classifier and the
MLM${c.nsp ? '/NSP' : ''} heads are reported unused and a classification head is initialised, as in transformers.
`;
}

export interface AdaptOptions {
  steps: number;
  lr: number;
  batchSize: number;
  maxLen: number;
  warmup: number;
  clean: CleanMode;
  seed: number;
  checkpointEvery?: number;
}

/** `bert-lab adapt`'s defaults; warm-up is `warmupRatio` of the steps unless given. */
export const ADAPT_DEFAULTS = {
  steps: 300,
  lr: 1e-4,
  batchSize: 32,
  maxLen: 64,
  warmupRatio: 0.06,
  clean: 'lab' as CleanMode,
  seed: 42,
  checkpointEvery: 50,
} as const;

/**
 * Task-adaptive pre-training (Gururangan et al., 2020, "Don't Stop Pretraining"): masked-language
 * modelling continued from `modelDir` on the task's own unlabelled texts, cleaned as fine-tuning
 * will see them, with whole-word masking and no NSP. Resumable like `pretrain` (OUT/checkpoint); a
 * finished OUT/model with the same settings is reused as it is.
 *
 * Example: `await adaptModel('models/bert-lab-mini', ['data/train.csv:text', 'data/test.csv:text'], 'runs/adapted', { steps: 300, lr: 1e-4, batchSize: 32, maxLen: 64, warmup: 30, clean: 'lab', seed: 42 })`
 */
export async function adaptModel(
  modelDir: string,
  corpus: string[],
  outDir: string,
  o: AdaptOptions,
  log: LogFn = report,
  onStep?: (p: PretrainPoint, total: number) => void,
): Promise<{ modelDir: string; reused: boolean }> {
  const cfg: PretrainConfig = {
    ...PRETRAIN_DEFAULTS,
    corpus,
    init: modelDir,
    vocab: '',
    nsp: false,
    wholeWord: true,
    clean: o.clean,
    steps: o.steps,
    lr: o.lr,
    batchSize: o.batchSize,
    maxLen: o.maxLen,
    warmup: o.warmup,
    seed: o.seed,
    checkpointEvery: o.checkpointEvery ?? ADAPT_DEFAULTS.checkpointEvery,
    evalFraction: 0.02,
  };
  const done = path.join(outDir, 'model', 'adapt.json');
  if (existsSync(done)) {
    const prev = JSON.parse(await readFile(done, 'utf8')) as { config?: PretrainConfig };
    // Settings added since that model was adapted count as their defaults.
    if (JSON.stringify({ ...PRETRAIN_DEFAULTS, ...prev.config }) === JSON.stringify(cfg)) {
      log(`Using the adapted model in ${path.join(outDir, 'model')} (same settings)`);
      return { modelDir: path.join(outDir, 'model'), reused: true };
    }
    throw new Error(`${outDir} holds a model adapted with other settings; remove it or choose another output folder`);
  }
  const r = await pretrain(outDir, cfg, log, onStep, async (tmp) => {
    await writeFileAtomic(path.join(tmp, 'adapt.json'), JSON.stringify({ config: cfg }, null, 2) + '\n');
  });
  return { modelDir: r.modelDir, reused: false };
}
