// `npm run bench`: fine-tuning and inference throughput and peak memory of BertForSequenceClassification
// on each tfjs backend that loads, beside PyTorch doing the same work on the same machine.
//   npm run bench -- [--sizes tiny,mini,small] [--batch 32] [--seq 64] [--vocab 30522] [--steps 5]
//                    [--warmup 2] [--backends wasm,tensorflow] [--no-torch] [--profile]
// Each (backend, size) runs in a child process so peak RSS is its own. Warm-up steps are excluded
// and the median step is reported.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic.js';
import { machineLine, median, runChild, runTorch } from './runner.js';

const SIZES: Record<string, [number, number, number]> = {
  tiny: [2, 128, 2],
  mini: [4, 256, 4],
  small: [4, 512, 8],
  base: [12, 768, 12],
};

interface Result {
  impl: string;
  backend: string;
  size: string;
  train_seq_per_s: number;
  infer_seq_per_s: number;
  train_step_ms_median: number;
  infer_ms_median: number;
  peak_rss_mb: number;
  error?: string;
  threads?: number;
}

/** Child: one backend, one size. Prints one JSON line. */
async function child(
  backend: string,
  size: string,
  o: { batch: number; seq: number; vocab: number; steps: number; warmup: number; profile: boolean },
) {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../src/backend/init.js');
  const { BertForSequenceClassification } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { AdamW } = await import('../src/nn/optim.js');
  const { trainStep, batchTensors } = await import('../src/training/train.js');
  const { rng } = await import('../src/nn/random.js');
  await initBackend(backend === 'tensorflow' ? 'node' : backend, () => {});
  const [layers, hidden, heads] = SIZES[size];
  const cfg = presetConfig(size, {
    vocab_size: o.vocab,
    num_hidden_layers: layers,
    hidden_size: hidden,
    num_attention_heads: heads,
    intermediate_size: 4 * hidden,
  });
  const model = new BertForSequenceClassification(cfg, ['0', '1']);
  model.initWeights(1);
  const rand = rng(7);
  const ids = Array.from({ length: o.batch }, () => [
    101,
    ...Array.from({ length: o.seq - 2 }, () => 1000 + Math.floor(rand() * (o.vocab - 1000))),
    102,
  ]);
  const data = {
    inputIds: ids,
    attentionMask: ids.map((r) => r.map(() => 1)),
    tokenTypeIds: ids.map((r) => r.map(() => 0)),
    labels: ids.map((_, i) => i % 2),
  };
  const idx = ids.map((_, i) => i);
  const opt = new AdamW({ lr: 2e-5, eps: 1e-8, weightDecay: 0.01 });
  const time = (f: () => void) => {
    const t = performance.now();
    f();
    return performance.now() - t;
  };
  const infer = () =>
    tf.tidy(() => {
      model.forward(batchTensors(data, idx)).logits.dataSync();
    });
  const train = () => {
    trainStep(model, opt, data, idx, 1.0);
  };
  for (let i = 0; i < o.warmup; i++) {
    infer();
    train();
  }
  const inferMs = Array.from({ length: o.steps }, () => time(infer));
  const trainMs = Array.from({ length: o.steps }, () => time(train));
  let profile: { kernel: string; ms: number; calls: number }[] | undefined;
  if (o.profile) {
    const { nativeFusedTimes } = await import('../src/backend/accel.js');
    const fusedBefore = nativeFusedTimes();
    const p = await tf.profile(() => {
      train();
    });
    const by = new Map<string, { ms: number; calls: number }>();
    // The native fused kernels run inside custom-gradient ops, out of tf.profile's sight.
    for (const [k, e] of nativeFusedTimes()) {
      const b = fusedBefore.get(k) ?? { ms: 0, calls: 0 };
      if (e.calls > b.calls) by.set(`native ${k}`, { ms: e.ms - b.ms, calls: e.calls - b.calls });
    }
    for (const k of p.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      // Custom-gradient ops appear under their scope's name ('forward', 'unnamed scope'); their
      // kernels are listed themselves.
      if (k.name === 'forward' || k.name === 'unnamed scope' || k.name === 'backward') continue;
      const e = by.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += ms;
      e.calls++;
      by.set(k.name, e);
    }
    profile = [...by].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => b.ms - a.ms);
  }
  const r: Result & { profile?: typeof profile } = {
    impl: 'bert-lab',
    backend: tf.getBackend(),
    size,
    train_step_ms_median: median(trainMs),
    infer_ms_median: median(inferMs),
    train_seq_per_s: o.batch / (median(trainMs) / 1000),
    infer_seq_per_s: o.batch / (median(inferMs) / 1000),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    profile,
  };
  console.log(JSON.stringify(r));
}

function measure(backend: string, size: string, argv: string[]): Result {
  const r = runChild<Result>(fileURLToPath(import.meta.url), [backend, '--sizes', size, ...argv]);
  if (r.ok) return r.result;
  const failed = (error: string): Result => ({
    impl: 'bert-lab',
    backend,
    size,
    train_seq_per_s: NaN,
    infer_seq_per_s: NaN,
    train_step_ms_median: NaN,
    infer_ms_median: NaN,
    peak_rss_mb: NaN,
    error,
  });
  if (/Cannot find package|could not be loaded/.test(r.stderr))
    return failed(`unavailable: ${/Cannot find package '[^']+'/.exec(r.stderr)?.[0] ?? 'does not load'}`);
  return failed(
    /memory|OOM|Aborted|RangeError/i.test(r.stderr) || r.signal
      ? `out of memory (the wasm heap is capped at 4 GB): ${r.why}`
      : r.why,
  );
}

const torch = (sizes: string[], o: { batch: number; seq: number; vocab: number; steps: number; warmup: number }) =>
  runTorch<Result>([
    '--sizes',
    sizes.join(','),
    '--batch',
    String(o.batch),
    '--seq',
    String(o.seq),
    '--vocab',
    String(o.vocab),
    '--steps',
    String(o.steps),
    '--warmup',
    String(o.warmup),
  ]).map((r) => ({ ...r, backend: 'pytorch' }));

async function main() {
  const { values: v } = parseArgs({
    options: {
      sizes: { type: 'string', default: 'tiny,mini,small' },
      batch: { type: 'string', default: '32' },
      seq: { type: 'string', default: '64' },
      vocab: { type: 'string', default: '30522' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      backends: { type: 'string', default: 'tensorflow,wasm' },
      'no-torch': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      child: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const o = {
    batch: Number(v.batch),
    seq: Number(v.seq),
    vocab: Number(v.vocab),
    steps: Number(v.steps),
    warmup: Number(v.warmup),
    profile: !!v.profile,
  };
  const sizes = v.sizes!.split(',');
  for (const s of sizes) if (!SIZES[s]) throw new Error(`unknown size "${s}": use ${Object.keys(SIZES).join(', ')}`);
  if (v.child) return child(v.child, sizes[0], o);
  const argv = [
    '--batch',
    v.batch!,
    '--seq',
    v.seq!,
    '--vocab',
    v.vocab!,
    '--steps',
    v.steps!,
    '--warmup',
    v.warmup!,
    ...(o.profile ? ['--profile'] : []),
  ];
  console.log(machineLine());
  console.log(
    `Work: BertForSequenceClassification, vocab ${o.vocab}, batch ${o.batch}, sequence ${o.seq}; median of ${o.steps} steps after ${o.warmup} warm-up`,
  );
  const results: Result[] = [];
  for (const backend of v.backends!.split(',')) {
    for (const size of sizes) {
      const r = measure(backend, size, argv);
      if (r.error?.startsWith('unavailable')) {
        console.log(`(${backend}: ${r.error})`);
        break;
      }
      results.push(r);
      console.error(
        `  ${backend} ${size}: ${r.error ?? `train ${r.train_seq_per_s.toFixed(1)} seq/s, infer ${r.infer_seq_per_s.toFixed(1)} seq/s, peak ${r.peak_rss_mb.toFixed(0)} MB`}`,
      );
      const prof = (r as Result & { profile?: { kernel: string; ms: number; calls: number }[] }).profile;
      if (prof) {
        const total = prof.reduce((s, k) => s + k.ms, 0);
        console.log(`\nProfile of one training step, ${backend} ${size} (kernel, ms, share, calls):`);
        for (const k of prof.slice(0, 15))
          console.log(
            `  ${k.kernel.padEnd(22)} ${k.ms.toFixed(1).padStart(9)}  ${((100 * k.ms) / total).toFixed(1).padStart(5)}%  ${k.calls}`,
          );
      }
    }
  }
  const ref = v['no-torch'] ? [] : torch(sizes, o);
  const rows = [
    '| backend | size | train seq/s | vs PyTorch | infer seq/s | vs PyTorch | peak MB | vs PyTorch |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  for (const r of [...results, ...ref]) {
    const p = ref.find((t) => t.size === r.size);
    const ratio = (a: number, b: number | undefined) => (p && b ? `${f(a / b, 2)}x` : '-');
    rows.push(
      r.error
        ? `| ${r.backend} | ${r.size} | ${r.error} ||||||`
        : `| ${r.backend}${r.threads ? ` (${r.threads} threads)` : ''} | ${r.size} | ${f(r.train_seq_per_s)} | ${ratio(r.train_seq_per_s, p?.train_seq_per_s)} | ${f(r.infer_seq_per_s)} | ${ratio(r.infer_seq_per_s, p?.infer_seq_per_s)} | ${f(r.peak_rss_mb, 0)} | ${ratio(r.peak_rss_mb, p?.peak_rss_mb)} |`,
    );
  }
  console.log('\n' + rows.join('\n'));
  if (v.out)
    await writeFileAtomic(
      v.out,
      JSON.stringify({ date: new Date().toISOString(), options: o, results, pytorch: ref }, null, 2) + '\n',
    );
}

await main();
