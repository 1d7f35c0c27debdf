// `npm run bench:lab`: the lab's own fine-tuning at real size, timed, beside PyTorch doing the same
// batches on the same machine, and projected to the whole lab (4 epochs of training + validation).
//   npm run bench:lab -- [--sizes base,mini] [--modes fixed] [--precisions fp32,bf16] [--steps 5]
//                        [--warmup 1] [--val-batches 3] [--epochs 4] [--no-torch] [--out FILE]
//                        [--batch-size 32] [--data train.csv] [--tokenizer DIR]
// The data are the lab's: Kaggle's disaster-tweets train.csv, cleaned the lab's way, tokenized with
// bert-base-uncased's tokenizer, max length 45, split 80/20 with seed 42 (6,090 training rows: 191
// batches of 32 per epoch, 764 steps in 4 epochs); the model is BertForSequenceClassification of the
// size's shape (random weights: time and memory do not depend on them). Modes:
//   fixed    every row padded to 45 (the lab's recipe, --padding max_length),
//   dynamic  each batch padded to its longest row (--padding longest),
//   grouped  dynamic, with training batches of rows of similar length (--group-by-length).
// A full epoch of bert-base is far too slow to run often on a small CPU, so each cell times
// --steps training steps on batches drawn from epoch 1's order (after --warmup steps) and
// --val-batches validation batches spread over the validation order, and projects: training =
// mean step x 764, validation = mean batch x 48 x 4. Both sides get the same batches (a JSON file);
// each (side, size, mode, precision) runs in its own process, so peak RSS is its own.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../src/io/atomic.js';
import { machineLine, runChild, runTorch } from './runner.js';
import { projectLabSeconds } from '../src/backend/estimate.js';

const SIZES: Record<string, { layers: number; hidden: number; heads: number }> = {
  mini: { layers: 4, hidden: 256, heads: 4 },
  small: { layers: 4, hidden: 512, heads: 8 },
  base: { layers: 12, hidden: 768, heads: 12 },
};
const MODES = {
  fixed: { padding: 'max_length', group: false },
  dynamic: { padding: 'longest', group: false },
  grouped: { padding: 'longest', group: true },
} as const;
type Mode = keyof typeof MODES;
type Precision = 'fp32' | 'bf16';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED = path.resolve(here, '../../shared');

/** One batch as both sides read it: rows already cut to the batch's width. */
interface Batch {
  ids: number[][];
  mask: number[][];
  labels: number[];
}
/** The file the parent writes and every child reads (also `torch_bench.py --task lab --batches`). */
interface BatchFile {
  vocab_size: number;
  max_len: number;
  mode: Mode;
  warmup: number;
  train: Batch[];
  val: Batch[];
  train_rows: number;
  val_rows: number;
  steps_per_epoch: number;
  batch_size: number;
  val_batches_per_epoch: number;
  epochs: number;
  mean_real_tokens: number;
}

interface Result {
  impl: string;
  size: string;
  mode: Mode;
  precision: Precision;
  /** What actually ran (bert-lab: the matmul precision in effect; PyTorch: autocast or not). */
  precision_note?: string;
  threads?: number;
  train_step_s_mean: number;
  /** CPU time of the process per step (user + system): what the step costs on a core of its own. */
  train_step_cpu_s_mean?: number;
  train_seq_per_s: number;
  val_batch_s_mean: number;
  val_batch_cpu_s_mean?: number;
  infer_seq_per_s: number;
  /** The projection from CPU time: the lab's time on a core that nothing else uses (one thread). */
  projected_lab_cpu_s?: number;
  projected_train_s: number;
  projected_val_s: number;
  projected_lab_s: number;
  peak_rss_mb: number;
  wasm_heap_mb?: number;
  loss_first?: number;
  loss_last?: number;
  error?: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The lab's data, encoded and split as `npm run lab` does, and the batches each cell times. */
async function makeBatches(o: {
  data: string;
  tokenizer: string;
  mode: Mode;
  steps: number;
  warmup: number;
  valBatches: number;
  batchSize: number;
  epochs: number;
}): Promise<BatchFile> {
  const { parseCsv, splitIndices, batches, lengthSortedBatches, unpaddedLength, batchWidth } =
    await import('../src/data/data.js');
  const { cleanText } = await import('../src/text/clean.js');
  const { BertTokenizer } = await import('../src/text/tokenizer.js');
  const records = parseCsv(readFileSync(o.data, 'utf8'), o.data);
  const header = records[0]?.fields ?? [];
  const textCol = header.indexOf('text'),
    labelCol = header.indexOf('target');
  if (textCol < 0 || labelCol < 0)
    throw new Error(`${o.data}: needs the columns text and target (the lab's train.csv)`);
  const rows = records.slice(1);
  const texts = rows.map((r) => cleanText(r.fields[textCol] ?? '', 'lab'));
  const labels = rows.map((r) => Number(r.fields[labelCol]));
  const tok = await BertTokenizer.fromDir(o.tokenizer);
  const maxLen = 45;
  const enc = tok.encodeBatch(texts, { maxLength: maxLen, padding: 'max_length', truncation: true });
  const split = splitIndices(texts.length, 0.2, 42);
  const batchSize = o.batchSize;
  const m = MODES[o.mode];
  const cut = (idx: number[], width: number): Batch => ({
    ids: idx.map((i) => enc.inputIds[i]!.slice(0, width)),
    mask: idx.map((i) => enc.attentionMask[i]!.slice(0, width)),
    labels: idx.map((i) => labels[i]!),
  });
  const trainMask = split.train.map((i) => enc.attentionMask[i]!);
  const lengths = trainMask.map(unpaddedLength);
  const order = batches(split.train.length, batchSize, {
    shuffle: true,
    seed: 42,
    epoch: 1,
    lengths: m.group ? lengths : undefined,
  });
  const train = order.slice(0, o.warmup + o.steps).map((b) =>
    cut(
      b.map((j) => split.train[j]!),
      batchWidth(trainMask, b, m.padding),
    ),
  );
  // Validation as evaluate() orders it; the timed batches spread evenly over that order.
  const valMask = split.val.map((i) => enc.attentionMask[i]!);
  const valOrder =
    m.padding === 'longest'
      ? lengthSortedBatches(valMask.map(unpaddedLength), batchSize)
      : batches(split.val.length, batchSize, { shuffle: false });
  const pick = Array.from({ length: Math.min(o.valBatches, valOrder.length) }, (_, k) =>
    Math.floor(((k + 0.5) * valOrder.length) / Math.min(o.valBatches, valOrder.length)),
  );
  const val = pick.map((k) =>
    cut(
      valOrder[k]!.map((j) => split.val[j]!),
      batchWidth(valMask, valOrder[k]!, m.padding),
    ),
  );
  return {
    vocab_size: tok.vocabSize,
    max_len: maxLen,
    mode: o.mode,
    warmup: o.warmup,
    train,
    val,
    train_rows: split.train.length,
    val_rows: split.val.length,
    steps_per_epoch: order.length,
    batch_size: batchSize,
    val_batches_per_epoch: valOrder.length,
    epochs: o.epochs,
    mean_real_tokens: mean(lengths),
  };
}

/** Projection of the whole lab from the measured means. */
function project(f: BatchFile, trainStepS: number, valBatchS: number) {
  const p = projectLabSeconds(
    trainStepS,
    {
      batchSize: f.batch_size ?? f.train[0]!.ids.length,
      trainRows: f.train_rows,
      valRows: f.val_rows,
      epochs: f.epochs,
    },
    valBatchS,
  );
  return { projected_train_s: p.trainSeconds, projected_val_s: p.valSeconds, projected_lab_s: p.totalSeconds };
}

/** Child: one size, mode and precision on the bert-lab side. Prints one JSON line. */
async function child(size: string, precision: Precision, file: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../src/backend/init.js');
  const { setMatmulPrecision } = await import('../src/backend/accel.js');
  const { wasmInternals } = await import('../src/backend/wasm.js');
  const { BertForSequenceClassification } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { AdamW } = await import('../src/nn/optim.js');
  const { trainStep } = await import('../src/training/train.js');
  const f = JSON.parse(readFileSync(file, 'utf8')) as BatchFile;
  // Asked for before the backend starts, as --bf16 does: applied when the native kernels load.
  setMatmulPrecision(precision);
  await initBackend(process.env.BERT_LAB_BACKEND ?? 'wasm', () => {});
  const status = setMatmulPrecision(precision);
  const s = SIZES[size]!;
  const cfg = presetConfig(size, {
    vocab_size: f.vocab_size,
    num_hidden_layers: s.layers,
    hidden_size: s.hidden,
    num_attention_heads: s.heads,
    intermediate_size: 4 * s.hidden,
  });
  const model = new BertForSequenceClassification(cfg, ['0', '1']);
  model.initWeights(1);
  // The lab's optimizer: lr 2e-5, eps 1e-8, no weight decay, clipping at 1.
  const opt = new AdamW({ lr: 2e-5, eps: 1e-8, weightDecay: 0 });
  const data = (b: Batch) => ({
    inputIds: b.ids,
    attentionMask: b.mask,
    tokenTypeIds: b.ids.map((r) => r.map(() => 0)),
    labels: b.labels,
  });
  const losses: number[] = [];
  const stepS: number[] = [];
  const stepCpuS: number[] = [];
  const valCpuS: number[] = [];
  const cpuS = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const rows = (b: Batch) => b.ids.map((_, k) => k);
  f.train.forEach((b, i) => {
    const t0 = performance.now(),
      c0 = cpuS();
    const { loss } = trainStep(model, opt, data(b), rows(b), 1.0);
    const dt = (performance.now() - t0) / 1000;
    losses.push(loss);
    if (i >= f.warmup) {
      stepS.push(dt);
      stepCpuS.push(cpuS() - c0);
    }
  });
  const valS = f.val.map((b) => {
    const t0 = performance.now(),
      c0 = cpuS();
    tf.tidy(() => {
      const d = data(b);
      const logits = model.forward({
        inputIds: tf.tensor2d(d.inputIds, undefined, 'int32'),
        attentionMask: tf.tensor2d(d.attentionMask, undefined, 'int32'),
        tokenTypeIds: tf.tensor2d(d.tokenTypeIds, undefined, 'int32'),
      }).logits;
      tf.softmax(logits).arraySync();
    });
    valCpuS.push(cpuS() - c0);
    return (performance.now() - t0) / 1000;
  });
  const heap = wasmInternals()?.wasm.HEAPU8.length;
  const trainStepS = mean(stepS),
    valBatchS = mean(valS);
  const r: Result = {
    impl: 'bert-lab',
    size,
    mode: f.mode,
    precision,
    precision_note: status.precision === precision ? status.precision : status.reason,
    threads: Number(process.env.BERT_LAB_NATIVE_THREADS) || undefined,
    train_step_s_mean: trainStepS,
    train_step_cpu_s_mean: mean(stepCpuS),
    train_seq_per_s: mean(f.train.slice(f.warmup).map((b) => b.ids.length)) / trainStepS,
    val_batch_s_mean: valBatchS,
    val_batch_cpu_s_mean: mean(valCpuS),
    infer_seq_per_s: mean(f.val.map((b) => b.ids.length)) / valBatchS,
    projected_lab_cpu_s: project(f, mean(stepCpuS), mean(valCpuS)).projected_lab_s,
    ...project(f, trainStepS, valBatchS),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    wasm_heap_mb: heap === undefined ? undefined : heap / 2 ** 20,
    loss_first: losses[0],
    loss_last: losses.at(-1),
  };
  console.log(JSON.stringify(r));
}

interface TorchLine {
  size: string;
  threads: number;
  autocast_bf16?: boolean;
  train_step_s_mean: number;
  train_step_cpu_s_mean: number;
  val_batch_s_mean: number;
  val_batch_cpu_s_mean: number;
  train_seq_per_s: number;
  infer_seq_per_s: number;
  peak_rss_mb: number;
  loss_first: number;
  loss_last: number;
  torch_version: string;
}

const fmtTime = (s: number) =>
  Number.isFinite(s) ? `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}` : '-';
const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: 'boolean', default: false },
      sizes: { type: 'string', default: 'base,mini' },
      modes: { type: 'string', default: 'fixed' },
      precisions: { type: 'string', default: 'fp32,bf16' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      'val-batches': { type: 'string', default: '3' },
      'batch-size': { type: 'string', default: '32' },
      epochs: { type: 'string', default: '4' },
      data: { type: 'string', default: path.join(SHARED, 'data/disaster-tweets/train.csv') },
      tokenizer: { type: 'string', default: path.join(SHARED, 'models/bert-base-uncased') },
      'no-torch': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  if (values.child) {
    const [size, precision, file] = positionals;
    await child(size!, precision as Precision, file!);
    return;
  }
  const whole = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: give a whole number >= ${min}`);
    return n;
  };
  const steps = whole('steps', values.steps!, 1),
    warmup = whole('warmup', values.warmup!, 0),
    valBatches = whole('val-batches', values['val-batches']!, 1),
    epochs = whole('epochs', values.epochs!, 1),
    batchSize = whole('batch-size', values['batch-size']!, 1);
  const list = <T extends string>(name: string, v: string, allowed: readonly string[]) =>
    v.split(',').map((x) => {
      if (!allowed.includes(x.trim())) throw new Error(`--${name} ${x}: use ${allowed.join(', ')}`);
      return x.trim() as T;
    });
  const sizes = list<string>('sizes', values.sizes!, Object.keys(SIZES));
  const modes = list<Mode>('modes', values.modes!, Object.keys(MODES));
  const precisions = list<Precision>('precisions', values.precisions!, ['fp32', 'bf16']);
  console.log(machineLine());
  console.log(
    `Threads: BERT_LAB_NATIVE_THREADS=${process.env.BERT_LAB_NATIVE_THREADS ?? `unset (${os.availableParallelism()} for the children)`} on both sides`,
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-lab-'));
  const results: (Result & { vs?: string })[] = [];
  try {
    for (const mode of modes) {
      const f = await makeBatches({
        data: values.data!,
        tokenizer: values.tokenizer!,
        mode,
        steps,
        warmup,
        valBatches,
        batchSize,
        epochs,
      });
      const file = path.join(dir, `${mode}.json`);
      writeFileSync(file, JSON.stringify(f));
      console.log(
        `Mode ${mode}: ${f.train_rows} training rows (${f.steps_per_epoch} steps/epoch x ${f.epochs} = ${f.steps_per_epoch * f.epochs} steps), ` +
          `${f.val_rows} validation rows (${f.val_batches_per_epoch} batches/epoch); mean ${f.mean_real_tokens.toFixed(1)} real tokens per row; ` +
          `timing ${steps} steps after ${warmup} warm-up, ${f.val.length} validation batches`,
      );
      for (const size of sizes) {
        for (const precision of precisions) {
          console.error(`[bench:lab] bert-lab ${size} ${mode} ${precision} ...`);
          const r = runChild<Result>(fileURLToPath(import.meta.url), [size, precision, file]);
          const res: Result = r.ok ? r.result : ({ impl: 'bert-lab', size, mode, precision, error: r.why } as Result);
          results.push(res);
          console.error(`[bench:lab]   ${JSON.stringify(res)}`);
          if (values['no-torch']) continue;
          console.error(`[bench:lab] pytorch ${size} ${mode} ${precision} ...`);
          const t = runTorch<TorchLine>([
            '--task',
            'lab',
            '--batches',
            file,
            '--sizes',
            size,
            '--retries',
            '0',
            ...(precision === 'bf16' ? ['--bf16'] : []),
          ])[0];
          const tr: Result = t
            ? {
                impl: `pytorch ${t.torch_version}`,
                size,
                mode,
                precision,
                precision_note: precision === 'bf16' ? 'torch.cpu.amp.autocast(bfloat16)' : 'fp32',
                threads: t.threads,
                train_step_s_mean: t.train_step_s_mean,
                train_step_cpu_s_mean: t.train_step_cpu_s_mean,
                train_seq_per_s: t.train_seq_per_s,
                val_batch_s_mean: t.val_batch_s_mean,
                val_batch_cpu_s_mean: t.val_batch_cpu_s_mean,
                infer_seq_per_s: t.infer_seq_per_s,
                projected_lab_cpu_s: project(f, t.train_step_cpu_s_mean, t.val_batch_cpu_s_mean).projected_lab_s,
                ...project(f, t.train_step_s_mean, t.val_batch_s_mean),
                peak_rss_mb: t.peak_rss_mb,
                loss_first: t.loss_first,
                loss_last: t.loss_last,
              }
            : ({ impl: 'pytorch', size, mode, precision, error: 'PyTorch reference failed (see above)' } as Result);
          results.push(tr);
          console.error(`[bench:lab]   ${JSON.stringify(tr)}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  console.log(
    '| impl | size | mode | precision | s/step (CPU s) | train seq/s | infer seq/s | peak RSS MB | wasm heap MB | projected lab (train + val) | from CPU time |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.error) {
      console.log(`| ${r.impl} | ${r.size} | ${r.mode} | ${r.precision} | failed: ${r.error} | | | | | | |`);
      continue;
    }
    const note = r.precision_note && r.precision_note !== r.precision && r.impl === 'bert-lab' ? ' (ran fp32)' : '';
    console.log(
      `| ${r.impl} | ${r.size} | ${r.mode} | ${r.precision}${note} | ${fmt(r.train_step_s_mean, 3)} (${fmt(r.train_step_cpu_s_mean, 3)}) | ${fmt(r.train_seq_per_s)} | ` +
        `${fmt(r.infer_seq_per_s)} | ${fmt(r.peak_rss_mb, 0)} | ${fmt(r.wasm_heap_mb, 0)} | ` +
        `${fmtTime(r.projected_lab_s)} (${fmtTime(r.projected_train_s)} + ${fmtTime(r.projected_val_s)}) | ` +
        `${fmtTime(r.projected_lab_cpu_s ?? NaN)} |`,
    );
  }
  if (values.out) await writeFileAtomic(values.out, results.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

await main();
