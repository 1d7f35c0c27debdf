// `npm run bench:pretrain`: pre-training throughput (tokens/s) and peak memory of BertForPreTraining
// beside PyTorch doing the same MLM+NSP step on the same batches, for each size and vocabulary.
//   npm run bench:pretrain -- [--sizes tiny,mini] [--vocabs DIR,DIR] [--batch 32] [--seq 128]
//                             [--steps 10] [--warmup 2] [--corpus moby-dick] [--no-torch] [--out FILE]
// The batches are made once per vocabulary as pre-training makes them (src/data/pretrain-data.ts: NSP
// pairs from the corpus, 15% masking, length-grouped, each batch cut to its longest row) and written
// to a JSON file that both sides replay: bert-lab in a child process per (size, vocabulary), PyTorch
// via bench/torch_bench.py --task pretrain, once with its MLM head on every position (as
// transformers' BertForPreTraining) and once on the labelled positions only (as bert-lab).
// Tokens/s counts non-padding tokens of the timed steps over their total time.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic.js';
import { machineLine, median, runChild, runTorch } from './runner.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SIZES = ['tiny', 'mini', 'small', 'base'];

/** What both sides replay: batches already cut to their longest row. */
interface BatchFile {
  vocab_size: number;
  max_len: number;
  tokenizer: string;
  corpus: string;
  batches: {
    input_ids: number[][];
    attention_mask: number[][];
    token_type_ids: number[][];
    mlm_labels: number[][];
    nsp_labels: number[];
  }[];
}

interface Result {
  impl: string;
  size: string;
  vocab: number;
  mlm_positions?: string;
  train_tokens_per_s: number;
  train_seq_per_s: number;
  train_step_ms_median: number;
  peak_rss_mb: number;
  threads?: number;
  loss_first?: number;
  loss_last?: number;
  error?: string;
}

/** Pre-training batches from `corpus` with the tokenizer in `vocabDir`, written to `file`. */
async function makeBatches(
  vocabDir: string,
  corpus: string,
  o: { batch: number; seq: number; steps: number; warmup: number; seed: number },
  file: string,
): Promise<BatchFile> {
  const { BertTokenizer } = await import('../src/text/tokenizer.js');
  const { loadCorpus } = await import('../src/data/corpus.js');
  const { buildExamples, makeNspPairs, specialIdsFor, tokenizeDocuments } =
    await import('../src/data/pretrain-data.js');
  const { batchWidth, groupedBatches, unpaddedLength } = await import('../src/data/data.js');
  const { rng, shuffle } = await import('../src/nn/random.js');
  const tok = await BertTokenizer.fromDir(vocabDir);
  const vocab = tok.convertIdsToTokens(Array.from({ length: tok.vocabSize }, (_, i) => i));
  const special = specialIdsFor(vocab);
  const docs = await loadCorpus(corpus);
  const n = o.batch * (o.steps + o.warmup);
  // Documents in order until the pairs suffice (whole corpora take minutes to tokenize).
  const rand = rng(o.seed);
  let ids: number[][][] = [];
  let examples: ReturnType<typeof buildExamples> = [];
  for (let k = 0; k < docs.length && examples.length < n;) {
    const next = docs.slice(k, k + 8);
    k += next.length;
    ids = ids.concat(tokenizeDocuments(next, (s) => tok.convertTokensToIds(tok.tokenize(s))));
    if (ids.length >= 2) examples = buildExamples(makeNspPairs(ids, o.seq, rand), special, o.seq, rand);
  }
  if (examples.length < n)
    throw new Error(
      `corpus ${corpus}: ${examples.length} examples of ${o.seq} tokens, need ${n} (--batch x (--steps + --warmup)); use a larger corpus`,
    );
  const picked = shuffle(examples, rand);
  const grouped = groupedBatches(
    picked.map((_, i) => i),
    (i) => unpaddedLength(picked[i]!.attentionMask),
    o.batch,
    rand,
  )
    .filter((b) => b.length === o.batch)
    .slice(0, o.steps + o.warmup);
  const batches = grouped.map((b) => {
    const w = batchWidth(
      b.map((i) => picked[i]!.attentionMask),
      b.map((_, k) => k),
      'longest',
    );
    const rows = (f: (e: (typeof picked)[number]) => number[]) => b.map((i) => f(picked[i]!).slice(0, w));
    return {
      input_ids: rows((e) => e.inputIds),
      attention_mask: rows((e) => e.attentionMask),
      token_type_ids: rows((e) => e.tokenTypeIds),
      mlm_labels: rows((e) => e.mlmLabels),
      nsp_labels: b.map((i) => picked[i]!.nspLabel),
    };
  });
  const out: BatchFile = { vocab_size: tok.vocabSize, max_len: o.seq, tokenizer: vocabDir, corpus, batches };
  await writeFile(file, JSON.stringify(out));
  return out;
}

/** Child: one size on one batch file, the step pre-training takes. Prints one JSON line. */
async function child(size: string, file: string, o: { warmup: number; seed: number }): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../src/backend/init.js');
  const { BertForPreTraining } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { pretrainOptimizer } = await import('../src/training/pretrain.js');
  const { optimizerStep } = await import('../src/training/step.js');
  await initBackend('wasm', () => {});
  const data = JSON.parse(await readFile(file, 'utf8')) as BatchFile;
  const model = new BertForPreTraining(
    presetConfig(size, {
      vocab_size: data.vocab_size,
      max_position_embeddings: Math.max(512, data.max_len),
      architectures: ['BertForPreTraining'],
    }),
  );
  model.initWeights(o.seed);
  // The step pre-training takes (src/training/pretrain.ts): its AdamW, clipping at 1.0.
  const opt = pretrainOptimizer({ lr: 1e-4, weightDecay: 0.01 });
  const ms: number[] = [];
  const tokens: number[] = [];
  const losses: number[] = [];
  for (const [i, b] of data.batches.entries()) {
    const t0 = performance.now();
    const [n, w] = [b.input_ids.length, b.input_ids[0]!.length];
    const t = {
      inputIds: tf.tensor2d(b.input_ids, [n, w], 'int32'),
      attentionMask: tf.tensor2d(b.attention_mask, [n, w], 'int32'),
      tokenTypeIds: tf.tensor2d(b.token_type_ids, [n, w], 'int32'),
    };
    const mlm = tf.tensor2d(b.mlm_labels, [n, w], 'int32');
    const nsp = tf.tensor1d(b.nsp_labels, 'int32');
    const { loss } = optimizerStep(model, opt, () => model.loss(t, mlm, nsp, true).loss, { clip: 1.0 });
    losses.push(loss);
    tf.dispose([t.inputIds, t.attentionMask, t.tokenTypeIds, mlm, nsp]);
    if (i >= o.warmup) {
      ms.push(performance.now() - t0);
      tokens.push(b.attention_mask.flat().reduce((a, x) => a + x, 0));
    }
  }
  opt.dispose();
  const r: Result = {
    impl: 'bert-lab',
    size,
    vocab: data.vocab_size,
    train_tokens_per_s: tokens.reduce((a, x) => a + x, 0) / (ms.reduce((a, x) => a + x, 0) / 1000),
    train_seq_per_s: data.batches[0]!.input_ids.length / (median(ms) / 1000),
    train_step_ms_median: median(ms),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    loss_first: losses[0],
    loss_last: losses.at(-1),
  };
  console.log(JSON.stringify(r));
}

function measure(size: string, file: string, vocab: number, argv: string[]): Result {
  const r = runChild<Result>(fileURLToPath(import.meta.url), [size, '--batches', file, ...argv]);
  if (r.ok) return r.result;
  return {
    impl: 'bert-lab',
    size,
    vocab,
    train_tokens_per_s: NaN,
    train_seq_per_s: NaN,
    train_step_ms_median: NaN,
    peak_rss_mb: NaN,
    error: r.why,
  };
}

const torch = (sizes: string[], file: string, positions: 'all' | 'masked', o: { warmup: number; seed: number }) =>
  runTorch<Result>([
    '--task',
    'pretrain',
    '--batches',
    file,
    '--mlm-positions',
    positions,
    '--sizes',
    sizes.join(','),
    '--warmup',
    String(o.warmup),
    '--seed',
    String(o.seed),
  ]);

async function main(): Promise<void> {
  const { repoRoot, sharedDir } = {
    repoRoot: path.resolve(here, '..'),
    sharedDir: process.env.BERT_LAB_SHARED ?? path.resolve(here, '../../shared'),
  };
  const { values: v } = parseArgs({
    options: {
      sizes: { type: 'string', default: 'tiny,mini' },
      vocabs: {
        type: 'string',
        default: `${path.join(sharedDir, 'models/bert-base-uncased')},${path.join(repoRoot, 'models/bert-lab-tiny')}`,
      },
      batch: { type: 'string', default: '32' },
      seq: { type: 'string', default: '128' },
      steps: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      seed: { type: 'string', default: '42' },
      corpus: { type: 'string', default: 'moby-dick' },
      'no-torch': { type: 'boolean', default: false },
      child: { type: 'string' },
      batches: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const o = {
    batch: Number(v.batch),
    seq: Number(v.seq),
    steps: Number(v.steps),
    warmup: Number(v.warmup),
    seed: Number(v.seed),
  };
  for (const [k, x] of Object.entries(o))
    if (!Number.isInteger(x) || x < (k === 'warmup' || k === 'seed' ? 0 : 1))
      throw new Error(`--${k}: expected an integer, got ${x}`);
  if (v.child) return child(v.child, v.batches!, o);
  const sizes = v.sizes!.split(',');
  for (const s of sizes)
    if (!SIZES.includes(s)) throw new Error(`--sizes: unknown size "${s}"; use ${SIZES.join(', ')}`);
  const vocabDirs = v.vocabs!.split(',');
  for (const d of vocabDirs)
    if (!existsSync(path.join(d, 'vocab.txt')) && !existsSync(path.join(d, 'tokenizer.json')))
      throw new Error(`--vocabs: ${d} holds no vocab.txt or tokenizer.json`);
  console.log(machineLine());
  console.log(
    `Work: BertForPreTraining MLM+NSP step (AdamW lr 1e-4, clipping 1.0), batch ${o.batch} x up to ${o.seq} tokens from ${v.corpus}; ${o.steps} timed steps after ${o.warmup} warm-up`,
  );
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bert-bench-pretrain-'));
  const results: Result[] = [];
  try {
    for (const dir of vocabDirs) {
      const file = path.join(tmp, `${path.basename(dir)}.json`);
      const data = await makeBatches(dir, v.corpus!, o, file);
      const cells = data.batches.reduce((s, b) => s + b.input_ids.length * b.input_ids[0]!.length, 0);
      const real = data.batches.reduce((s, b) => s + b.attention_mask.flat().reduce((a, x) => a + x, 0), 0);
      console.log(
        `Vocabulary ${data.vocab_size} (${dir}): ${data.batches.length} batches, ${(real / data.batches.length / o.batch).toFixed(1)} tokens per sequence, ${(cells / real).toFixed(3)} positions per token`,
      );
      const argv = ['--warmup', String(o.warmup), '--seed', String(o.seed)];
      for (const size of sizes) {
        const r = measure(size, file, data.vocab_size, argv);
        console.error(
          `  bert-lab ${size} vocab ${data.vocab_size}: ${r.error ?? `${r.train_tokens_per_s.toFixed(0)} tokens/s, peak ${r.peak_rss_mb.toFixed(0)} MB`}`,
        );
        results.push(r);
      }
      if (!v['no-torch']) for (const p of ['all', 'masked'] as const) results.push(...torch(sizes, file, p, o));
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const f = (x: number | undefined, d = 1) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : '-');
  const ref = (r: Result, p: string) =>
    results.find((t) => t.impl === 'pytorch' && t.mlm_positions === p && t.size === r.size && t.vocab === r.vocab);
  const ratio = (a: number, b: number | undefined) => (b ? `${f(a / b, 2)}x` : '-');
  const rows = [
    '| impl | size | vocab | tokens/s | vs PyTorch (MLM head on all positions) | vs PyTorch (labelled positions only) | step ms (median) | peak MB | vs PyTorch (all) | vs PyTorch (labelled) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const name =
      r.impl === 'pytorch'
        ? `pytorch, MLM on ${r.mlm_positions === 'all' ? 'all positions' : 'labelled positions'}${r.threads ? ` (${r.threads} threads)` : ''}`
        : 'bert-lab (wasm + native)';
    if (r.error) {
      rows.push(`| ${name} | ${r.size} | ${r.vocab} | ${r.error} |||||||`);
      continue;
    }
    const a = ref(r, 'all'),
      m = ref(r, 'masked');
    rows.push(
      `| ${name} | ${r.size} | ${r.vocab} | ${f(r.train_tokens_per_s, 0)} | ${ratio(r.train_tokens_per_s, a?.train_tokens_per_s)} | ${ratio(r.train_tokens_per_s, m?.train_tokens_per_s)} | ${f(r.train_step_ms_median)} | ${f(r.peak_rss_mb, 0)} | ${ratio(r.peak_rss_mb, a?.peak_rss_mb)} | ${ratio(r.peak_rss_mb, m?.peak_rss_mb)} |`,
    );
  }
  console.log('\n' + rows.join('\n'));
  if (v.out)
    await writeFileAtomic(
      v.out,
      JSON.stringify(
        { date: new Date().toISOString(), options: { ...o, corpus: v.corpus, sizes, vocabs: vocabDirs }, results },
        null,
        2,
      ) + '\n',
    );
}

await main();
