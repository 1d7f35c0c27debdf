// The optional OpenBLAS kernels (src/backend/accel.ts, native/) against the original wasm kernels and
// float64 JS math. The PyTorch parity tests run with the native kernels in `npm test` (the backend
// turns them on where built) and once more without them in .ci/run (BERT_LAB_NATIVE=0); their
// speed is measured by `npm run bench:kernels`. Also the memory plan of src/backend/memory.ts.
// Skipped with the reason when the addon is not built; under CI (or BERT_LAB_NATIVE_REQUIRE=1)
// a missing addon is a failure unless BERT_LAB_NATIVE=0 turns the accelerator off on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { addonCandidates, disableNativeBlas, enableNativeBlas, nativeBlasStats } from '../src/backend/accel.js';

const off = ['0', 'false', 'off', 'no'].includes((process.env.BERT_LAB_NATIVE ?? '').toLowerCase());
const built = addonCandidates.some((p) => existsSync(p));
const required = !off && (!!process.env.CI || process.env.BERT_LAB_NATIVE_REQUIRE === '1');
const skipReason = off ? 'BERT_LAB_NATIVE=0' : built ? undefined : 'native addon not built (scripts/build-native.sh)';
const opts: { skip?: string } = skipReason && !required ? { skip: skipReason } : {};
const log = (s: string) => console.log(`# [accel] ${s}`);

if (skipReason) log(`skipping: ${skipReason}`);

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

/**
 * float64 reference for matMul with numpy broadcasting of batch dims. Returns the result and,
 * per element, sum_k |a||b|: the scale the rounding error of a float32 dot product grows with.
 */
function reference(
  a: tf.Tensor,
  b: tf.Tensor,
  ta: boolean,
  tb: boolean,
): { shape: number[]; y: Float64Array; scale: Float64Array } {
  const A = a.dataSync(),
    B = b.dataSync();
  const ar = a.rank,
    br = b.rank;
  const m = ta ? a.shape[ar - 1] : a.shape[ar - 2],
    k = ta ? a.shape[ar - 2] : a.shape[ar - 1];
  const n = tb ? b.shape[br - 2] : b.shape[br - 1];
  const ao = a.shape.slice(0, -2),
    bo = b.shape.slice(0, -2);
  const r = Math.max(ao.length, bo.length);
  const pa = [...Array(r - ao.length).fill(1), ...ao],
    pb = [...Array(r - bo.length).fill(1), ...bo];
  const outer = pa.map((x, i) => Math.max(x, pb[i]));
  const batch = outer.reduce((x, y) => x * y, 1);
  const y = new Float64Array(batch * m * n),
    scale = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    let rem = bi,
      ia = 0,
      ib = 0,
      sa = 1,
      sb = 1;
    for (let d = r - 1; d >= 0; d--) {
      const c = rem % outer[d];
      rem = Math.floor(rem / outer[d]);
      ia += (pa[d] === 1 ? 0 : c) * sa;
      sa *= pa[d];
      ib += (pb[d] === 1 ? 0 : c) * sb;
      sb *= pb[d];
    }
    const aBase = ia * m * k,
      bBase = ib * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0,
          t = 0;
        for (let p = 0; p < k; p++) {
          const x = A[aBase + (ta ? p * m + i : i * k + p)],
            w = B[bBase + (tb ? j * k + p : p * n + j)];
          s += x * w;
          t += Math.abs(x * w);
        }
        y[(bi * m + i) * n + j] = s;
        scale[(bi * m + i) * n + j] = t;
      }
    }
  }
  return { shape: [...outer, m, n], y, scale };
}

/** |got - want| <= rel * (sum_k |a||b| + tiny): a relative bound that survives cancellation. */
function assertRel(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  scale: ArrayLike<number>,
  what: string,
  rel = 1e-4,
) {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = -Infinity,
    at = -1;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i] - want[i]) - rel * (scale[i] + 1e-6);
    if (excess > worst || Number.isNaN(got[i])) {
      worst = excess;
      at = i;
    }
    if (Number.isNaN(got[i])) break;
  }
  assert.ok(
    !(worst > 0) && !Number.isNaN(got[at]),
    `${what}: element ${at} is ${got[at]}, expected ${want[at]} (scale ${scale[at]})`,
  );
}

/** Runs f with the original wasm kernels, then with the native ones; returns both results. */
function both(f: () => tf.Tensor): { wasm: tf.Tensor; native: tf.Tensor } {
  disableNativeBlas();
  const wasm = f();
  const st = enableNativeBlas();
  assert.ok(st.enabled, st.reason);
  const before = nativeBlasStats();
  const native = f();
  const after = nativeBlasStats();
  assert.ok(
    after.batchMatMul + after.fusedMatMul > before.batchMatMul + before.fusedMatMul,
    'the native kernel did not run',
  );
  return { wasm, native };
}

test('native BLAS: enableNativeBlas loads the addon and replaces the wasm kernels', opts, async () => {
  await initBackend('wasm', () => {});
  const st = enableNativeBlas();
  log(`enableNativeBlas(): ${JSON.stringify(st)}`);
  assert.ok(st.enabled, `native BLAS not enabled: ${st.reason}`);
  assert.equal(tf.getBackend(), 'wasm');
  // Idempotent, and reversible.
  assert.ok(enableNativeBlas().enabled);
  disableNativeBlas();
  assert.ok(enableNativeBlas().enabled);
});

test(
  'native BLAS: BatchMatMul matches the wasm kernel and float64 math (2-D, 3-D, 4-D, transposes, odd sizes)',
  opts,
  async () => {
    await initBackend('wasm', () => {});
    // [aShape, bShape] before transposition: a is [..., m, k] and b [..., k, n].
    const cases: [number[], number[]][] = [
      [
        [1, 1],
        [1, 1],
      ],
      [
        [3, 5],
        [5, 7],
      ],
      [
        [17, 33],
        [33, 9],
      ],
      [
        [64, 128],
        [128, 96],
      ],
      [
        [127, 65],
        [65, 129],
      ],
      [
        [300, 257],
        [257, 31],
      ],
      [
        [1, 300],
        [300, 1],
      ],
      [
        [4, 64, 64],
        [4, 64, 64],
      ],
      [
        [7, 13, 5],
        [7, 5, 11],
      ],
      [
        [2, 1, 19],
        [2, 19, 3],
      ],
      [
        [5, 33, 17],
        [1, 17, 8],
      ],
      [
        [1, 9, 4],
        [6, 4, 10],
      ],
      [
        [2, 3, 5, 7],
        [2, 3, 7, 4],
      ],
      [
        [12, 64, 16],
        [12, 16, 64],
      ],
    ];
    let seed = 1,
      n = 0;
    for (const [as, bs] of cases) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const sw = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
          const a = tf.tensor(
            values(
              as.reduce((x, y) => x * y, 1),
              seed++,
            ),
            sw(as, ta),
          );
          const b = tf.tensor(
            values(
              bs.reduce((x, y) => x * y, 1),
              seed++,
            ),
            sw(bs, tb),
          );
          const what = `${JSON.stringify(a.shape)}${ta ? 'ᵀ' : ''} x ${JSON.stringify(b.shape)}${tb ? 'ᵀ' : ''}`;
          const ref = reference(a, b, ta, tb);
          const { wasm, native } = both(() => tf.matMul(a, b, ta, tb));
          assert.deepEqual(native.shape, ref.shape, `${what}: shape`);
          assert.deepEqual(native.shape, wasm.shape, `${what}: shape vs wasm`);
          assertRel(native.dataSync(), ref.y, ref.scale, `${what} vs float64`);
          assertRel(native.dataSync(), wasm.dataSync(), ref.scale, `${what} vs wasm`);
          tf.dispose([a, b, wasm, native]);
          n++;
        }
      }
    }
    log(`BatchMatMul: ${n} shape/transpose combinations agree with the wasm kernel and float64 to 1e-4 relative`);
  },
);

test('native BLAS: batch dims broadcast like numpy (where the wasm kernel cannot)', opts, async () => {
  await initBackend('wasm', () => {});
  enableNativeBlas();
  const cases: [number[], number[], boolean, boolean][] = [
    [[2, 1, 5, 3], [1, 3, 3, 4], false, false],
    [[3, 1, 4, 6], [5, 6, 2], false, false],
    [[8, 6], [2, 3, 6, 5], false, false],
    [[2, 1, 3, 5], [4, 2, 3], true, true],
  ];
  let seed = 100;
  for (const [as, bs, ta, tb] of cases) {
    const a = tf.tensor(
      values(
        as.reduce((x, y) => x * y, 1),
        seed++,
      ),
      as,
    );
    const b = tf.tensor(
      values(
        bs.reduce((x, y) => x * y, 1),
        seed++,
      ),
      bs,
    );
    const ref = reference(a, b, ta, tb);
    const y = tf.matMul(a, b, ta, tb);
    assert.deepEqual(y.shape, ref.shape);
    assertRel(y.dataSync(), ref.y, ref.scale, `${JSON.stringify(as)} x ${JSON.stringify(bs)} (tA=${ta}, tB=${tb})`);
    tf.dispose([a, b, y]);
  }
});

test(
  'native BLAS: _FusedMatMul (bias + activation) matches unfused wasm math; gradients through matMul match wasm',
  opts,
  async () => {
    await initBackend('wasm', () => {});
    const acts = { linear: (t: tf.Tensor) => t, relu: tf.relu, sigmoid: tf.sigmoid, elu: tf.elu } as const;
    for (const batch of [1, 5]) {
      const a = tf.tensor(values(batch * 17 * 9, 7), [batch, 17, 9]),
        b = tf.tensor(values(batch * 9 * 6, 8), [batch, 9, 6]);
      const bias = tf.tensor1d(values(6, 9));
      const scale = new Float64Array(batch * 17 * 6).fill(10); // |a|, |b|, |bias| <= 1 and k = 9
      for (const activation of Object.keys(acts) as (keyof typeof acts)[]) {
        for (const [ta, tb] of [
          [false, false],
          [true, true],
        ] as const) {
          const x = ta ? tf.transpose(a, [0, 2, 1]) : a,
            w = tb ? tf.transpose(b, [0, 2, 1]) : b;
          const fused = () => tf.fused.matMul({ a: x, b: w, transposeA: ta, transposeB: tb, bias, activation });
          const { wasm, native } = both(fused);
          disableNativeBlas();
          const unfused = acts[activation](tf.add(tf.matMul(x, w, ta, tb), bias));
          enableNativeBlas();
          const what = `fused ${activation} batch ${batch} tA=${ta} tB=${tb}`;
          assertRel(native.dataSync(), unfused.dataSync(), scale, `${what} vs unfused`);
          // tfjs-backend-wasm 4.22's own _FusedMatMul adds the bias wrongly when batch > 1 or an
          // operand is transposed, so it is a reference only for the plain case.
          if (batch === 1 && !ta && !tb) assertRel(native.dataSync(), wasm.dataSync(), scale, `${what} vs wasm`);
          tf.dispose([wasm, native, unfused]);
        }
      }
    }
    const loss = (x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.matMul(x, w, false, true), w)));
    const g = tf.grads(loss);
    const x2 = tf.tensor(values(4 * 33 * 16, 3), [4, 33, 16]),
      w2 = tf.tensor(values(4 * 16 * 16, 4), [4, 16, 16]);
    disableNativeBlas();
    const gw = g([x2, w2]).map((t) => t.dataSync());
    enableNativeBlas();
    const gn = g([x2, w2]).map((t) => t.dataSync());
    for (let i = 0; i < 2; i++) {
      let mx = 0;
      for (const v of gw[i]) mx = Math.max(mx, Math.abs(v));
      assertRel(gn[i], gw[i], new Float64Array(gw[i].length).fill(mx), `gradient ${i}`);
    }
  },
);

test('native BLAS: correct when the output allocation grows the wasm heap', opts, async () => {
  await initBackend('wasm', () => {});
  enableNativeBlas();
  const backend = tf.engine().findBackend('wasm') as unknown as { wasm: { HEAPU8: Uint8Array } };
  const before = backend.wasm.HEAPU8.buffer.byteLength;
  // A 2-D output bigger than any heap seen so far in this process forces memory.grow inside
  // makeOutput, after the inputs were placed: offsets and the heap view must be taken afterwards.
  const m = 4096,
    n = Math.max(4096, Math.ceil((before * 1.5) / 4 / m)),
    k = 5;
  const a = tf.tensor(values(m * k, 11), [m, k]),
    b = tf.tensor(values(k * n, 12), [k, n]);
  const A = a.dataSync(),
    B = b.dataSync();
  const y = tf.matMul(a, b);
  const after = backend.wasm.HEAPU8.buffer.byteLength;
  log(`heap ${(before / 2 ** 20).toFixed(0)} MB -> ${(after / 2 ** 20).toFixed(0)} MB for a ${m}x${n} output`);
  assert.ok(after > before, 'the heap did not grow; the test did not exercise growth');
  const Y = y.dataSync();
  for (const [i, j] of [
    [0, 0],
    [m - 1, n - 1],
    [1234, 4321 % n],
    [m >> 1, n >> 1],
    [m - 1, 0],
    [0, n - 1],
  ]) {
    let s = 0;
    for (let p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
    assert.ok(Math.abs(Y[i * n + j] - s) <= 1e-5, `y[${i},${j}] = ${Y[i * n + j]}, expected ${s}`);
  }
  tf.dispose([a, b, y]);
});

/** float64 erf: Maclaurin series below 3 (|error| ~1e-13 after cancellation), continued fraction for erfc above. */
function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === 0) return x; // keeps -0
  const a = Math.abs(x),
    sign = x < 0 ? -1 : 1;
  if (a < 3) {
    let term = a,
      sum = a;
    for (let n = 1; n < 200; n++) {
      term *= (-a * a) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (sign * 2 * sum) / Math.sqrt(Math.PI);
  }
  if (a > 10) return sign; // erfc(10) ~ 2e-45
  // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + ...))))), evaluated bottom-up.
  let f = a;
  for (let k = 80; k >= 1; k--) f = a + k / 2 / f;
  return sign * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
}

/** Inputs for Exp/Erf: special values, the overflow/underflow/denormal boundaries, then random ones over [-lim, lim]. */
function unaryInputs(n: number, seed: number, lim: number): Float32Array {
  const edge = [
    0,
    -0,
    Infinity,
    -Infinity,
    NaN,
    1,
    -1,
    1e-7,
    -1e-7,
    1e-30,
    -1e-30,
    1e-45,
    -1e-45,
    1.17549435e-38,
    88.72283,
    88.72284,
    88.7,
    89,
    100,
    1e30,
    3.4028235e38,
    -3.4028235e38,
    -87.3,
    -87.4,
    -100,
    -103.9,
    -103.98,
    -104,
    -150,
    -1e30,
    0.5,
    -0.5,
    2,
    -2,
    3,
    -3,
    3.9,
    -3.9,
    4,
    -4,
    5,
    9.2,
    -9.2,
    10,
    -10,
    0.84375,
    1.25,
    2.857,
    6,
    -6,
  ];
  const out = new Float32Array(n);
  const r = values(n, seed);
  for (let i = 0; i < n; i++) out[i] = i < edge.length ? edge[i] : r[i] * lim * Math.abs(r[(i * 7919) % n]);
  return out;
}

/** Same NaNs and infinities as the reference; finite values within rel * |want| (+ a few denormal steps). Returns the worst error in float32 ulps. */
function assertUnary(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  xs: ArrayLike<number>,
  what: string,
  rel = 1e-6,
): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let ulps = 0;
  const tiny = 2 ** -149;
  for (let i = 0; i < want.length; i++) {
    const g = got[i],
      w = want[i],
      x = xs[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      assert.ok(Object.is(g, w), `${what}: f(${x}) = ${g}, expected ${w}`);
      continue;
    }
    const err = Math.abs(g - w);
    assert.ok(
      err <= rel * Math.abs(w) + 4 * tiny,
      `${what}: f(${x}) = ${g}, expected ${w} (relative error ${(err / Math.abs(w)).toExponential(2)})`,
    );
    const ulp = Math.max(tiny, 2 ** (Math.floor(Math.log2(Math.max(Math.abs(w), 2 ** -126))) - 23));
    ulps = Math.max(ulps, err / ulp);
  }
  return ulps;
}

test(
  'native Exp/Erf: match the wasm kernels and float64 math (edge values, 0/1-element and odd sizes, large tensors)',
  opts,
  async () => {
    await initBackend('wasm', () => {});
    const fns = [
      { name: 'Exp', key: 'exp', op: (t: tf.Tensor) => tf.exp(t), ref: Math.exp, lim: 100 },
      { name: 'Erf', key: 'erf', op: (t: tf.Tensor) => tf.erf(t), ref: erf64, lim: 6 },
    ] as const;
    const shapes = [
      [0],
      [2, 0, 3],
      [1],
      [7],
      [15],
      [17],
      [33],
      [3, 5, 7],
      [51],
      [64],
      [1001],
      [37, 129],
      [2 * 1024 * 1024 + 13],
    ];
    let seed = 500;
    for (const f of fns) {
      let worstRef = 0,
        worstWasm = 0;
      for (const shape of shapes) {
        const size = shape.reduce((x, y) => x * y, 1);
        const xs = unaryInputs(size, seed++, f.lim);
        const x = tf.tensor(xs, shape);
        disableNativeBlas();
        const wasm = f.op(x);
        assert.ok(enableNativeBlas().enabled);
        const before = nativeBlasStats()[f.key];
        const native = f.op(x);
        assert.equal(
          nativeBlasStats()[f.key],
          before + 1,
          `${f.name} ${JSON.stringify(shape)}: the native kernel did not run`,
        );
        assert.deepEqual(native.shape, shape);
        assert.equal(native.dtype, 'float32');
        const got = native.dataSync(),
          w = wasm.dataSync();
        // float64 reference rounded to float32: the best a float32 kernel can return.
        const want = Float32Array.from(xs, (v) => f.ref(v));
        const what = `${f.name} ${JSON.stringify(shape)}`;
        worstRef = Math.max(worstRef, assertUnary(got, want, xs, `${what} vs float64`));
        worstWasm = Math.max(worstWasm, assertUnary(got, w, xs, `${what} vs wasm`));
        tf.dispose([x, wasm, native]);
      }
      log(
        `${f.name}: ${shapes.length} shapes agree with float64 (max ${worstRef.toFixed(2)} ulp) and the wasm kernel (max ${worstWasm.toFixed(2)} ulp) within 1e-6 relative`,
      );
    }
    // Signs of zero and the exact special values, as Math.exp / C erf.
    const special = tf.tensor1d([0, -0, Infinity, -Infinity, NaN, 1000, -1000]);
    const e = tf.exp(special).dataSync(),
      r = tf.erf(special).dataSync();
    assert.deepEqual(Array.from(e), [1, 1, Infinity, 0, NaN, Infinity, 0]);
    assert.deepEqual(Array.from(r), [0, -0, 1, -1, NaN, 1, -1]);
    assert.ok(Object.is(r[1], -0), 'erf(-0) is -0');
    special.dispose();
  },
);

test('native Exp/Erf: non-float32 inputs and gradients go through the wasm kernels unchanged', opts, async () => {
  await initBackend('wasm', () => {});
  enableNativeBlas();
  const xi = tf.tensor1d([0, 1, 2, -3], 'int32');
  disableNativeBlas();
  const wasm = [tf.exp(xi), tf.erf(xi)].map((t) => ({ dtype: t.dtype, v: Array.from(t.dataSync()) }));
  enableNativeBlas();
  const before = nativeBlasStats();
  const native = [tf.exp(xi), tf.erf(xi)].map((t) => ({ dtype: t.dtype, v: Array.from(t.dataSync()) }));
  const after = nativeBlasStats();
  assert.deepEqual(native, wasm);
  // tf.erf casts int32 to float32 before the kernel; tf.exp hands int32 to it.
  assert.equal(after.exp, before.exp, 'int32 input served natively');
  assert.ok(after.fallbacks >= before.fallbacks + 1, 'int32 input did not fall back');
  // GELU (erf form) and softmax gradients, native vs wasm.
  const x = tf.tensor(
    unaryInputs(3 * 257, 77, 5).map((v) => (Number.isFinite(v) ? Math.max(-8, Math.min(8, v)) : 0)),
    [3, 257],
  );
  const loss = (t: tf.Tensor) => tf.sum(tf.mul(tf.mul(t, tf.add(1, tf.erf(tf.div(t, Math.SQRT2)))), tf.softmax(t)));
  const g = tf.grad(loss);
  disableNativeBlas();
  const gw = g(x).dataSync();
  enableNativeBlas();
  const gn = g(x).dataSync();
  let mx = 0;
  for (const v of gw) mx = Math.max(mx, Math.abs(v));
  assertRel(gn, gw, new Float64Array(gw.length).fill(mx), 'GELU/softmax gradient', 1e-5);
  tf.dispose([xi, x]);
});

test('native kernels serve a BERT training step: matmuls, exp and the fused kernels are called', opts, async () => {
  await initBackend('wasm', () => {});
  assert.ok(enableNativeBlas().enabled);
  const { BertForSequenceClassification } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { AdamW } = await import('../src/nn/optim.js');
  const { trainStep } = await import('../src/training/train.js');
  const model = new BertForSequenceClassification(presetConfig('tiny', { vocab_size: 64 }), ['a', 'b']);
  model.initWeights(3);
  const opt = new AdamW({ lr: 1e-3 });
  const row = (k: number) => [2, ...Array.from({ length: 14 }, (_, i) => 5 + ((i * 7 + k) % 50)), 3];
  const data = {
    inputIds: [row(0), row(1)],
    attentionMask: [Array(16).fill(1), Array(16).fill(1)],
    tokenTypeIds: [Array(16).fill(0), Array(16).fill(0)],
    labels: [0, 1],
  };
  const before = nativeBlasStats();
  trainStep(model, opt, data, [0, 1], 1.0);
  const after = nativeBlasStats();
  opt.dispose();
  model.dispose();
  assert.ok(
    after.batchMatMul + after.fusedMatMul > before.batchMatMul + before.fusedMatMul,
    'no matmul went through the native kernel',
  );
  assert.ok(after.exp > before.exp, 'no exp went through the native kernel');
  assert.ok(after.fused > before.fused, 'no LayerNorm/GELU/softmax/dropout went through the fused native kernels');
  assert.equal(after.fallbacks, before.fallbacks, 'a native kernel fell back to wasm');
});

test('BERT_LAB_NATIVE=0 turns the accelerator off with the reason (CI runs the parity tests so, see .ci/run)', async () => {
  await initBackend('wasm', () => {});
  const saved = process.env.BERT_LAB_NATIVE;
  disableNativeBlas();
  process.env.BERT_LAB_NATIVE = '0';
  try {
    const st = enableNativeBlas();
    assert.deepEqual(st, { enabled: false, reason: 'disabled by BERT_LAB_NATIVE=0' });
    const before = nativeBlasStats().batchMatMul;
    tf.tidy(() => tf.matMul(tf.ones([4, 8]), tf.ones([8, 4])).dataSync());
    assert.equal(nativeBlasStats().batchMatMul, before, 'a matmul went through the native kernel');
  } finally {
    if (saved === undefined) delete process.env.BERT_LAB_NATIVE;
    else process.env.BERT_LAB_NATIVE = saved;
    disableNativeBlas();
    if (!off && built) enableNativeBlas();
  }
});

// The memory plan (src/backend/memory.ts): what a training run needs, from config.json alone.
const BASE = {
  vocab_size: 30522,
  hidden_size: 768,
  num_hidden_layers: 12,
  num_attention_heads: 12,
  intermediate_size: 3072,
  max_position_embeddings: 512,
  type_vocab_size: 2,
};
const LARGE = { ...BASE, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096 };

test('memory plan: parameters and the training estimate from the shape match the model and train.ts', async () => {
  const { shapeParameters, estimateTrainingBytesForShape } = await import('../src/backend/memory.js');
  const { BertForSequenceClassification } = await import('../src/model/bert.js');
  const { presetConfig } = await import('../src/model/presets.js');
  const { estimateTrainingBytes } = await import('../src/training/train.js');
  assert.equal(shapeParameters(BASE), 109_483_778); // bert-base-uncased with a 2-label head
  assert.equal(shapeParameters(LARGE), 335_143_938); // bert-large-uncased with a 2-label head
  await initBackend(undefined, () => {});
  const cfg = presetConfig('mini', { vocab_size: 1000, num_labels: 3 });
  const model = new BertForSequenceClassification(cfg, ['a', 'b', 'c']);
  try {
    assert.equal(shapeParameters(cfg), model.numParameters());
    assert.equal(estimateTrainingBytesForShape(cfg, 16, 40), estimateTrainingBytes(model, 16, 40));
  } finally {
    model.dispose();
  }
});

test('memory plan: bert-base trains at 32 and 64 x 45 in the wasm heap; 32 x 512 is refused with the batch that fits', async () => {
  const { checkTrainingFits, planTrainingMemory, memoryLimitBytes, backendHeapBytes } =
    await import('../src/backend/memory.js');
  assert.equal(backendHeapBytes('wasm'), 4 * 2 ** 30);
  assert.equal(backendHeapBytes('tensorflow'), undefined);
  assert.equal(memoryLimitBytes('wasm'), Math.min(4 * 2 ** 30, os.totalmem()));
  assert.equal(memoryLimitBytes('tensorflow'), os.totalmem());
  assert.ok(checkTrainingFits(BASE, 32, 45, { backend: 'wasm' }).fits);
  assert.ok(checkTrainingFits(BASE, 64, 45, { backend: 'wasm' }).fits);
  const plan = planTrainingMemory(BASE, 32, 512, 'wasm');
  assert.equal(plan.fits, false);
  assert.ok(plan.largestBatch >= 1 && plan.largestBatch < 32);
  assert.ok(planTrainingMemory(BASE, plan.largestBatch, 512, 'wasm').fits, 'the batch the message offers fits');
  assert.equal(planTrainingMemory(BASE, plan.largestBatch + 1, 512, 'wasm').fits, false, 'and is the largest');
  assert.throws(
    () => checkTrainingFits(BASE, 32, 512, { backend: 'wasm', what: 'bert-base-uncased' }),
    new RegExp(
      `^Error: training bert-base-uncased \\(109,483,778 parameters\\) with batch 32 x 512 tokens needs about \\d+\\.\\d GB, ` +
        `more than the wasm backend's 4\\.0 GB heap .*: use --batch-size ${plan.largestBatch} or less`,
    ),
  );
  // A native backend has the machine's memory: 32 x 128 (about 5.4 GB) fits there, not in the heap.
  if (os.totalmem() > 8 * 2 ** 30)
    assert.doesNotThrow(() => checkTrainingFits(BASE, 32, 128, { backend: 'tensorflow' }));
  assert.throws(() => checkTrainingFits(BASE, 32, 128, { backend: 'wasm' }), /which --backend node can use/);
});

test('memory plan: bert-large cannot train in the wasm heap at any batch size, and the message says why', async () => {
  const { checkTrainingFits, planTrainingMemory } = await import('../src/backend/memory.js');
  const plan = planTrainingMemory(LARGE, 1, 45, 'wasm');
  assert.equal(plan.largestBatch, 0);
  assert.ok(plan.stateBytes > 4 * 2 ** 30, `${plan.stateBytes}`);
  assert.throws(
    () => checkTrainingFits(LARGE, 8, 45, { backend: 'wasm', what: 'bert-large-uncased' }),
    /weights, gradients and AdamW state alone take 5\.0 GB, so no batch size fits: use a smaller model or a native backend/,
  );
});

test('projectLabSeconds: the lab from one step (764 steps, 192 validation batches at batch 32)', async () => {
  const { projectLabSeconds, FORWARD_SHARE } = await import('../src/backend/estimate.js');
  const p = projectLabSeconds(11.5, { batchSize: 32 }, 3.9);
  assert.equal(p.steps, 764);
  assert.ok(Math.abs(p.trainSeconds - 764 * 11.5) < 1e-9);
  assert.ok(Math.abs(p.valSeconds - 192 * 3.9) < 1e-9);
  assert.ok(Math.abs(p.totalSeconds - (764 * 11.5 + 192 * 3.9)) < 1e-9);
  // Batch 64, 2 epochs, no validation time given: a forward pass as FORWARD_SHARE of a step.
  const q = projectLabSeconds(2, { batchSize: 64, epochs: 2 });
  assert.equal(q.steps, 96 * 2);
  assert.ok(Math.abs(q.valSeconds - 24 * 2 * FORWARD_SHARE * 2) < 1e-9);
  assert.throws(() => projectLabSeconds(1, { batchSize: 0 }), /batch size 0: give 1 or more/);
});
