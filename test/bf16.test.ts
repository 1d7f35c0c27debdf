// bf16 mixed precision (setMatmulPrecision in src/backend/accel.ts, native/bf16.cc): the products of
// bf16-rounded operands summed in float32, forward and backward, against float64 and the fp32
// kernels within bf16's tolerance; small products left in fp32; and the fp32 fallback, with its
// message, where the CPU lacks AVX-512 BF16, the addon is off, or the setting is not valid.
// The kernel tests are skipped (with the reason) on a CPU without BF16 or without the addon; the
// fallback tests run everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import {
  addonCandidates,
  disableNativeBlas,
  enableNativeBlas,
  matmulPrecision,
  nativeBlasStats,
  parseBf16Env,
  setMatmulPrecision,
} from '../src/backend/accel.js';
import { repoRoot } from './shared.js';

const off = ['0', 'false', 'off', 'no'].includes((process.env.BERT_LAB_NATIVE ?? '').toLowerCase());
const built = addonCandidates.some((p) => existsSync(p));

/** Whether the addon runs bf16 here: asked once, then put back to fp32. */
async function bf16Here(): Promise<string | undefined> {
  if (off) return 'BERT_LAB_NATIVE=0';
  if (!built) return 'native addon not built (scripts/build-native.sh)';
  await initBackend('wasm', () => {});
  const s = setMatmulPrecision('bf16');
  setMatmulPrecision('fp32');
  return s.precision === 'bf16' ? undefined : s.reason;
}
const why = await bf16Here();
const kernel: { skip?: string } = why ? { skip: why } : {};
if (why) console.log(`# [bf16] kernel tests skipped: ${why}`);

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** float32 -> bf16 -> float32, round to nearest even (what the kernel does to each operand). */
function roundBf16(x: Float32Array): Float32Array {
  const u = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  for (let i = 0; i < u.length; i++) {
    const v = u[i]!;
    u[i] = (((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) << 16) >>> 0;
  }
  return new Float32Array(u.buffer);
}

/** float64 op(A) @ op(B) for row-major A, B (plain 2-D). */
function product(A: Float32Array, B: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean) {
  const y = new Float64Array(m * n),
    scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0,
        t = 0;
      for (let p = 0; p < k; p++) {
        const a = ta ? A[p * m + i]! : A[i * k + p]!;
        const b = tb ? B[j * k + p]! : B[p * n + j]!;
        s += a * b;
        t += Math.abs(a * b);
      }
      y[i * n + j] = s;
      scale[i * n + j] = t;
    }
  return { y, scale };
}

/** ||x - y|| / ||y|| over all elements. */
function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (x[i]! - y[i]!) ** 2;
    den += y[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

function withPrecision<T>(p: 'bf16' | 'fp32', f: () => T): T {
  setMatmulPrecision(p);
  try {
    return f();
  } finally {
    setMatmulPrecision('fp32');
  }
}

test(
  'bf16 products: every transpose case equals float64 over bf16-rounded operands, within 1e-2 of fp32',
  kernel,
  () => {
    // Sizes above the kernel's threshold (1M multiply-adds), none a multiple of the 12 x 32 tile, k odd.
    const m = 100,
      n = 97,
      k = 131;
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const A = values(m * k, 11),
        B = values(k * n, 23);
      const a = tf.tensor2d(A, ta ? [k, m] : [m, k]),
        b = tf.tensor2d(B, tb ? [n, k] : [k, n]);
      const before = nativeBlasStats().batchMatMul;
      const got = withPrecision('bf16', () => tf.matMul(a, b, ta, tb).dataSync());
      assert.ok(nativeBlasStats().batchMatMul > before, 'the product did not go through the native kernel');
      const fp32 = tf.matMul(a, b, ta, tb).dataSync();
      const exact = product(roundBf16(A), roundBf16(B), m, n, k, ta, tb);
      for (let i = 0; i < got.length; i++) {
        // float32 sums of exact bf16 x bf16 products: error within a few float32 ulps of sum |a b| per term.
        const tol = 4 * k * 2 ** -24 * exact.scale[i]! + 1e-6;
        assert.ok(
          Math.abs(got[i]! - exact.y[i]!) <= tol,
          `ta=${ta} tb=${tb} [${i}]: ${got[i]} vs ${exact.y[i]} (tolerance ${tol})`,
        );
      }
      const rel = relErr(got, fp32);
      assert.ok(rel < 1e-2, `ta=${ta} tb=${tb}: relative difference to fp32 ${rel}`);
      // A test that cannot fail is no test: bf16 really ran (fp32 would match to ~1e-7).
      assert.ok(rel > 1e-5, `ta=${ta} tb=${tb}: bf16 result identical to fp32 (${rel}): did bf16 run?`);
      tf.dispose([a, b]);
    }
  },
);

test('bf16 products: batched and broadcast operands, and output columns past a tile edge', kernel, () => {
  const a = tf.tensor3d(values(3 * 70 * 160, 5), [3, 70, 160]);
  const w = tf.tensor2d(values(160 * 130, 6), [160, 130]);
  const got = withPrecision('bf16', () => tf.matMul(a, w).dataSync());
  const want = tf.matMul(a, w).dataSync();
  const rel = relErr(got, want);
  assert.ok(rel < 1e-2 && rel > 1e-5, `relative difference ${rel}`);
  // Each batch item as its own 2-D product over rounded operands.
  const A = roundBf16(a.dataSync() as Float32Array),
    W = roundBf16(w.dataSync() as Float32Array);
  const one = product(A.subarray(2 * 70 * 160), W, 70, 130, 160, false, false);
  for (let i = 0; i < 70 * 130; i++)
    assert.ok(Math.abs(got[2 * 70 * 130 + i]! - one.y[i]!) <= 4 * 160 * 2 ** -24 * one.scale[i]! + 1e-6);
  tf.dispose([a, w]);
});

test('bf16 products: small products (attention at the lab length) stay fp32, bit for bit', kernel, () => {
  const q = tf.tensor3d(values(12 * 45 * 64, 7), [12, 45, 64]);
  const kk = tf.tensor3d(values(12 * 45 * 64, 8), [12, 45, 64]);
  const got = withPrecision('bf16', () => tf.matMul(q, kk, false, true).dataSync());
  assert.deepEqual(got, tf.matMul(q, kk, false, true).dataSync());
  tf.dispose([q, kk]);
});

test('bf16 gradients: the backward products of a linear layer within 1e-2 of fp32', kernel, () => {
  // loss = sum(tanh(x @ w)); dx = g @ w^T and dw = x^T @ g both go through the bf16 kernel.
  const x = tf.tensor2d(values(256 * 96, 31), [256, 96]);
  const w = tf.tensor2d(values(96 * 64, 32), [96, 64]);
  const f = (xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.tanh(tf.matMul(xi, wi))) as tf.Scalar;
  const grads = () => {
    const [gx, gw] = tf.grads(f)([x, w]);
    return [gx!.dataSync(), gw!.dataSync()];
  };
  const before = nativeBlasStats().batchMatMul;
  const [bx, bw] = withPrecision('bf16', grads);
  assert.ok(nativeBlasStats().batchMatMul >= before + 3, 'forward and both backward products should be native');
  const [fx, fw] = grads();
  for (const [name, got, want] of [
    ['dx', bx, fx],
    ['dw', bw, fw],
  ] as const) {
    const rel = relErr(got!, want!);
    assert.ok(rel < 1e-2 && rel > 1e-5, `${name}: relative difference ${rel}`);
  }
  tf.dispose([x, w]);
});

test('bf16 training step: a BERT step loss and gradient norm within 1e-2 of fp32', kernel, async () => {
  const { BertForSequenceClassification } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { AdamW } = await import('../src/nn/optim.js');
  const { trainStep } = await import('../src/training/train.js');
  // hidden 128, 8 x 32 tokens: the projections are 256 x 128 x 128 and up, above the threshold.
  const cfg = presetConfig('tiny', { vocab_size: 500, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
  const ids = Array.from({ length: 8 }, (_, i) => Array.from({ length: 32 }, (_, j) => 1 + ((i * 31 + j * 7) % 499)));
  const data = {
    inputIds: ids,
    attentionMask: ids.map((r) => r.map(() => 1)),
    tokenTypeIds: ids.map((r) => r.map(() => 0)),
    labels: ids.map((_, i) => i % 2),
  };
  const run = () => {
    const model = new BertForSequenceClassification(cfg, ['0', '1']);
    model.initWeights(3);
    const r = trainStep(model, new AdamW({ lr: 1e-3, eps: 1e-8 }), data, [0, 1, 2, 3, 4, 5, 6, 7], 1.0, false);
    model.dispose();
    return r;
  };
  const b = withPrecision('bf16', run);
  const f = run();
  assert.ok(Number.isFinite(b.loss) && Number.isFinite(b.gradNorm));
  assert.ok(Math.abs(b.loss - f.loss) / f.loss < 1e-2, `loss ${b.loss} vs ${f.loss}`);
  assert.ok(Math.abs(b.gradNorm - f.gradNorm) / f.gradNorm < 1e-2, `gradient norm ${b.gradNorm} vs ${f.gradNorm}`);
  assert.notEqual(b.loss, f.loss, 'bf16 gave the fp32 loss to the last bit: did bf16 run?');
});

test('bf16 setting: matmulPrecision reports the request and what is in effect; fp32 by default', async () => {
  await initBackend(undefined, () => {});
  assert.equal(matmulPrecision().requested, 'fp32');
  assert.equal(matmulPrecision().precision, 'fp32');
  assert.throws(() => setMatmulPrecision('fp16' as 'bf16'), /matmul precision "fp16": use 'bf16' or 'fp32'/);
  assert.equal(parseBf16Env('1'), 'bf16');
  assert.equal(parseBf16Env('off'), 'fp32');
  assert.equal(parseBf16Env(''), undefined);
  assert.throws(() => parseBf16Env('maybe'), /BERT_LAB_BF16="maybe" is not a switch: give 1 .* or 0/);
});

test('bf16 fallback: without the native kernels a bf16 request runs fp32 and says why', async () => {
  await initBackend('wasm', () => {});
  const saved = process.env.BERT_LAB_NATIVE;
  disableNativeBlas();
  process.env.BERT_LAB_NATIVE = '0';
  try {
    assert.equal(enableNativeBlas().enabled, false);
    const s = setMatmulPrecision('bf16');
    assert.equal(s.requested, 'bf16');
    assert.equal(s.precision, 'fp32');
    assert.match(s.reason, /bf16 asked for, but the native kernels are off \(disabled by BERT_LAB_NATIVE=0\).*fp32/);
    // The products are plain wasm fp32: the same as without the request.
    const a = tf.tensor2d(values(40 * 30, 1), [40, 30]),
      b = tf.tensor2d(values(30 * 20, 2), [30, 20]);
    const got = tf.matMul(a, b).dataSync();
    setMatmulPrecision('fp32');
    assert.deepEqual(got, tf.matMul(a, b).dataSync());
    tf.dispose([a, b]);
  } finally {
    setMatmulPrecision('fp32');
    if (saved === undefined) delete process.env.BERT_LAB_NATIVE;
    else process.env.BERT_LAB_NATIVE = saved;
    disableNativeBlas();
    if (!off && built) enableNativeBlas();
  }
});

/** Runs `code` (an async function body) in a fresh Node with `env`; returns its exit, stdout and stderr. */
function node(code: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test(
  'bf16 fallback: a CPU without AVX-512 BF16 (simulated) runs fp32, with a warning naming the missing flag',
  built && !off ? {} : { skip: 'native addon not built or BERT_LAB_NATIVE=0' },
  () => {
    const r = node(
      `const { initBackend } = await import('./src/backend/init.ts');
       const { matmulPrecision } = await import('./src/backend/accel.ts');
       await initBackend('wasm');
       console.log(JSON.stringify(matmulPrecision()));`,
      { BERT_LAB_BF16: '1', BERT_LAB_NATIVE_BF16: '0', BERT_LAB_LOG: 'info' },
    );
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { requested: string; precision: string };
    assert.deepEqual([s.requested, s.precision], ['bf16', 'fp32']);
    assert.match(
      r.stderr,
      /bf16 asked for, but this CPU lacks AVX-512 BF16 \(no avx512_bf16 flag.*fp32 matrix products/,
    );
  },
);

test('bf16 setting: BERT_LAB_BF16 with a value that is not a switch stops initBackend with its name', () => {
  const r = node(`const { initBackend } = await import('./src/backend/init.ts'); await initBackend('cpu');`, {
    BERT_LAB_BF16: 'yes please',
  });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /BERT_LAB_BF16="yes please" is not a switch/);
});
