// The memory-lean pieces of a training step, each against the plain tfjs computation it replaces:
// custom-gradient ops (src/nn/ops.ts), the freeing backward pass (src/nn/tape.ts), the buffer-sharing
// wasm Identity (src/backend/wasm.ts) and the in-place AdamW (src/nn/optim.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { attentionProbs, bmm, dropout, dropoutMask, gatherRows, gelu, layerNorm, linear, view } from '../src/nn/ops.js';
import { variableGrads } from '../src/nn/tape.js';
import { AdamW, clipCoef, gradNorm } from '../src/nn/optim.js';
import { disableNativeBlas, enableNativeBlas, nativeFused, nativeOptim } from '../src/backend/accel.js';
import { rng } from '../src/nn/random.js';

await initBackend('wasm', () => {});

const rand = rng(3);
const randn = (shape: number[], scale = 1) =>
  tf.tensor(
    Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale),
    shape,
  );
const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Gradients of sum(out * w) for a fixed random w, through `f`, by tf.grads. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]): tf.Tensor[] {
  return tf.tidy(() => {
    const w = tf.randomNormal(f(...xs).shape, 0, 1, 'float32', 11);
    return tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(xs);
  });
}

/** Runs `f` with the native kernels (when built), then again without them. */
function bothPaths(f: (path: string) => void): void {
  if (!nativeFused()) {
    f('tfjs ops');
    return;
  }
  f('native fused kernels');
  disableNativeBlas();
  try {
    f('tfjs ops');
  } finally {
    enableNativeBlas();
  }
}

test('custom-gradient ops equal the tfjs computations they replace, values and gradients (native and tfjs paths)', () =>
  bothPaths((path) => {
    const x = randn([2, 5, 8]),
      r = randn([2, 5, 8]),
      g = randn([8]),
      b = randn([8]);
    const cases: [string, (...a: tf.Tensor[]) => tf.Tensor, (...a: tf.Tensor[]) => tf.Tensor, tf.Tensor[]][] = [
      ['gelu', (a) => gelu(a), (a) => tf.mul(a, tf.mul(0.5, tf.add(1, tf.erf(tf.div(a, Math.SQRT2))))), [x]],
      [
        'layerNorm + residual',
        (a, c, gg, bb) => layerNorm(a, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-12, c),
        (a, c, gg, bb) => {
          const s = tf.add(a, c);
          const { mean, variance } = tf.moments(s, -1, true);
          return tf.add(tf.mul(tf.div(tf.sub(s, mean), tf.sqrt(tf.add(variance, 1e-12))), gg), bb);
        },
        [x, r, g, b],
      ],
      ['view', (a) => view(a, [10, 8]), (a) => tf.reshape(a, [10, 8]), [x]],
      [
        'linear',
        (a, k, c) => linear(a, k as tf.Tensor2D, c as tf.Tensor1D),
        (a, k, c) => tf.reshape(tf.add(tf.matMul(tf.reshape(a, [10, 8]), k), c), [2, 5, 3]),
        [x, randn([8, 3]), randn([3])],
      ],
      [
        'bmm',
        (a, c) => bmm(a as tf.Tensor3D, c as tf.Tensor3D),
        (a, c) => tf.matMul(a as tf.Tensor3D, c as tf.Tensor3D),
        [x, randn([2, 8, 4])],
      ],
    ];
    const mask = tf.tensor4d([0, 0, -3.4e38, 0, 0, 0, 0, 0, 0, -3.4e38], [2, 1, 1, 5]);
    cases.push([
      'attentionProbs',
      (s) => attentionProbs(s, mask, 2.83),
      (s) => tf.softmax(tf.add(tf.div(s, 2.83), mask)),
      [randn([2, 3, 5, 5], 3)],
    ]);
    cases.push([
      'layerNorm',
      (a, gg, bb) => layerNorm(a, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5),
      (a, gg, bb) => {
        const { mean, variance } = tf.moments(a, -1, true);
        return tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), gg), bb);
      },
      [randn([3, 37], 4), randn([37]), randn([37])],
    ]);
    cases.push([
      'gelu, odd size over a chunk',
      (a) => gelu(a),
      (a) => tf.mul(a, tf.mul(0.5, tf.add(1, tf.erf(tf.div(a, Math.SQRT2))))),
      [randn([3, 1001], 6)],
    ]);
    for (const [name, ours, plain, inputs] of cases) {
      assert.ok(
        maxDiff(ours(...inputs), plain(...inputs)) < 1e-5,
        `${path}: ${name}: forward differs by ${maxDiff(ours(...inputs), plain(...inputs))}`,
      );
      const ga = gradsOf(ours, inputs),
        gb = gradsOf(plain, inputs);
      ga.forEach((t, i) =>
        assert.ok(maxDiff(t, gb[i]) < 1e-4, `${path}: ${name}: gradient of input ${i} differs by ${maxDiff(t, gb[i])}`),
      );
    }
    // Masked positions get exactly zero probability and zero gradient.
    const p = attentionProbs(randn([2, 3, 5, 5]), mask, 1).arraySync() as number[][][][];
    assert.equal(p[0][1][4][2], 0);
  }));

test('dropout: drops the rate, scales by 1/(1-rate), same seed same mask, gradient through the same mask', () =>
  bothPaths(() => {
    const x = tf.ones([64, 1001]);
    const ours = dropout(x, 0.1, true, 42);
    const v = ours.dataSync();
    const dropped = v.filter((e) => e === 0).length / x.size;
    assert.ok(dropped > 0.09 && dropped < 0.11, `dropped fraction ${dropped}`);
    assert.ok(
      v.every((e) => e === 0 || Math.abs(e - 1 / 0.9) < 1e-6),
      'kept values scaled by 1/0.9',
    );
    assert.ok(maxDiff(ours, dropout(x, 0.1, true, 42)) === 0, 'same seed, same mask');
    assert.ok(maxDiff(ours, dropout(x, 0.1, true, 43)) > 0, 'another seed, another mask');
    const [g] = gradsOf((a) => dropout(a, 0.1, true, 42), [x]);
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', 11);
    assert.ok(maxDiff(g, tf.mul(w, ours)) < 1e-6, 'gradient = upstream * mask / 0.9');
    const m = Array.from(dropoutMask([200000], 0.25, 1).dataSync() as Uint8Array);
    const kept = m.reduce((n, e) => n + e, 0) / m.length;
    assert.ok(Math.abs(kept - 0.75) < 0.005, `keep rate ${kept}`);
    assert.equal(dropout(x, 0.1, false, 42), x, 'identity outside training');
    assert.equal(tf.sum(dropout(x, 1, true)).dataSync()[0], 0, 'rate 1 drops everything');
    // The native loop and the JS one draw the same bits, odd lengths included.
    if (nativeOptim()) {
      const draw = () => [1, 7, 100001, 1 << 20].map((n) => Array.from(dropoutMask([n], 0.37, 12345).dataSync()));
      const native = draw();
      disableNativeBlas();
      try {
        assert.deepEqual(draw(), native);
      } finally {
        enableNativeBlas();
      }
    }
  }));

/** A small network over the ops above and plain tfjs ops, with shared inputs and reused tensors. */
function net(vars: Record<string, tf.Variable>, ids: tf.Tensor) {
  return () => {
    const e = view(gatherRows(vars.table as tf.Tensor2D, ids, 0), [2, 4, 6]);
    const h = layerNorm(
      gelu(linear(e, vars.k as tf.Tensor2D, vars.b as tf.Tensor1D)),
      vars.g as tf.Tensor1D,
      vars.beta as tf.Tensor1D,
      1e-12,
      e,
    );
    const d = dropout(h, 0.2, true, 5);
    const s = bmm(d as tf.Tensor3D, tf.transpose(h, [0, 2, 1]) as tf.Tensor3D); // h used twice
    const y = tf.add(tf.tanh(s), tf.mul(vars.k.sum(), 0.1)); // k used twice, broadcast add
    return tf.mean(tf.square(y)) as tf.Scalar;
  };
}

test('variableGrads: the same gradients as tf.variableGrads, no tensor left behind, a lower peak', async () => {
  const vars = {
    table: tf.variable(randn([10, 6]), true, 'tape.table'),
    k: tf.variable(randn([6, 6]), true, 'tape.k'),
    b: tf.variable(randn([6]), true, 'tape.b'),
    g: tf.variable(randn([6]), true, 'tape.g'),
    beta: tf.variable(randn([6]), true, 'tape.beta'),
    unused: tf.variable(randn([3]), true, 'tape.unused'),
  };
  const ids = tf.tensor2d(
    [
      [1, 2, 0, 3],
      [4, 4, 9, 0],
    ],
    [2, 4],
    'int32',
  );
  const list = Object.values(vars);
  const before = tf.memory().numTensors;
  const ours = variableGrads(net(vars, ids), list);
  const theirs = tf.variableGrads(net(vars, ids), list);
  assert.ok(Math.abs(ours.value.dataSync()[0] - theirs.value.dataSync()[0]) < 1e-6);
  assert.deepEqual(
    Object.keys(ours.grads).sort(),
    Object.keys(theirs.grads)
      .filter((k) => theirs.grads[k])
      .sort(),
  );
  assert.ok(!('tape.unused' in ours.grads), 'a variable the loss does not use gets no gradient');
  for (const k of Object.keys(ours.grads)) assert.ok(maxDiff(ours.grads[k], theirs.grads[k]) < 1e-5, `${k} differs`);
  assert.equal(
    (ours.grads['tape.table'].arraySync() as number[][])[0].every((v) => v === 0),
    true,
    'padding row has no gradient',
  );
  tf.dispose([
    ours.value,
    ...Object.values(ours.grads),
    theirs.value,
    ...Object.values(theirs.grads).filter((t): t is tf.Tensor => !!t),
  ]);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');

  // A loss that throws part-way leaves nothing behind, and the next call works.
  assert.throws(
    () =>
      variableGrads(() => {
        tf.square(vars.k);
        throw new Error('bad batch');
      }, list),
    /bad batch/,
  );
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => variableGrads(() => tf.sum(vars.k) as tf.Scalar, [vars.unused]), /no variable is connected/);
  assert.equal(tf.memory().numTensors, before);

  // A deep chain, one scope per layer as in the model: the freeing pass peaks well below
  // tf.variableGrads, which keeps every intermediate gradient and saved tensor to the end.
  const w = tf.variable(randn([128, 128], 0.1), true, 'tape.w');
  const chain = () => {
    let h = tf.ones([256, 128]);
    for (let i = 0; i < 24; i++) {
      const x = h;
      h = tf.tidy(() => tf.tanh(linear(x, w as tf.Tensor2D)));
    }
    return tf.mean(h) as tf.Scalar;
  };
  const peak = async (run: () => { value: tf.Scalar; grads: Record<string, tf.Tensor | null> }) => {
    let r: ReturnType<typeof run> | undefined;
    const p = await tf.profile(() => {
      r = run();
    });
    const g = r!.grads['tape.w']!.clone();
    tf.dispose([r!.value, ...Object.values(r!.grads).filter((t): t is tf.Tensor => !!t)]);
    return { bytes: p.peakBytes, g };
  };
  const a = await peak(() => variableGrads(chain, [w])),
    b = await peak(() => tf.variableGrads(chain, [w]));
  assert.ok(maxDiff(a.g, b.g) < 1e-6);
  console.log(`# [tape] peak bytes of a 24-layer chain: ${a.bytes} freeing vs ${b.bytes} tf.variableGrads`);
  assert.ok(a.bytes < 0.75 * b.bytes, `peak ${a.bytes} vs ${b.bytes}`);
  tf.dispose([a.g, b.g, w, ids, ...list]);
});

test('wasm Identity shares the buffer: a clone costs no memory and outlives its source', () => {
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const x = randn([1000]);
  const values = x.dataSync().slice();
  const n = backend.numDataIds();
  const c = tf.clone(x);
  assert.equal(backend.numDataIds(), n, 'no new buffer');
  x.dispose();
  assert.deepEqual(c.dataSync(), values);
  c.dispose();
});

test('AdamW in place on the wasm heap equals the tensor path (cpu backend); a shared buffer is not written through', async () => {
  const shapes: Record<string, number[]> = { w: [40, 30], bias: [30] };
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const r = rng(9);
    const make = (s: number[]) =>
      tf.tensor(
        Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => r() - 0.5),
        s,
      );
    const params = new Map(
      Object.entries(shapes).map(([k, s]) => [k, tf.variable(make(s), true, `adam.${backend}.${k}`)]),
    );
    const opt = new AdamW({ lr: 1e-2, weightDecay: 0.01, noDecay: (n) => n === 'bias' });
    const snapshot = tf.clone(params.get('w')!);
    const before = snapshot.dataSync().slice();
    const norms: number[] = [];
    for (let step = 0; step < 3; step++) {
      const grads = new Map(Object.entries(shapes).map(([k, s]) => [k, make(s)]));
      const norm = gradNorm(grads);
      norms.push(norm);
      opt.apply(params, grads, clipCoef(norm, 1.0));
      tf.dispose([...grads.values()]);
    }
    // Kernels may cache a weight's packed form by tensor (the wasm matmul does): a matmul after
    // the updates must see the new values.
    const x = tf.ones([2, 40]);
    tf.matMul(x, params.get('w')!).dispose();
    opt.apply(params, new Map([['w', make(shapes.w)]]), 1);
    const wv = params.get('w')!.dataSync();
    const colSums = Array.from({ length: 30 }, (_, j) => {
      let t = 0;
      for (let i = 0; i < 40; i++) t += wv[i * 30 + j];
      return t;
    });
    const mm = tf.matMul(x, params.get('w')!).dataSync();
    const mmOk = colSums.every((c, j) => Math.abs(c - mm[j]) < 1e-4);
    x.dispose();
    const out = Object.fromEntries([...params].map(([k, v]) => [k, v.dataSync().slice()]));
    const untouched = snapshot.dataSync().every((v, i) => v === before[i]);
    tf.dispose([snapshot, ...params.values()]);
    opt.dispose();
    return { out, norms, untouched, mmOk };
  };
  const cpu = await run('cpu');
  const variants: [string, Awaited<ReturnType<typeof run>>][] = [
    [`wasm${nativeOptim() ? ' (native loops)' : ''}`, await run('wasm')],
  ];
  if (nativeOptim()) {
    disableNativeBlas(); // the JS loops
    try {
      variants.push(['wasm (JS loops)', await run('wasm')]);
    } finally {
      enableNativeBlas();
    }
    assert.ok(nativeOptim(), 'native loops back on');
  }
  for (const [name, wasm] of variants) {
    assert.ok(wasm.untouched, `${name}: a clone taken before the update keeps its values`);
    assert.ok(wasm.mmOk, `${name}: a matmul after the update sees the updated weights`);
    wasm.norms.forEach((n, i) =>
      assert.ok(Math.abs(n - cpu.norms[i]) < 1e-5 * cpu.norms[i], `${name}: norm ${n} vs ${cpu.norms[i]}`),
    );
    for (const k of Object.keys(shapes)) {
      const d = Math.max(...wasm.out[k].map((v, i) => Math.abs(v - cpu.out[k][i])));
      assert.ok(d < 1e-6, `${name}: ${k}: in-place and cpu tensor AdamW differ by ${d}`);
    }
  }
});

test('wasm GatherV2 along axis 0 copies rows exactly like the cpu backend; bad indices are named', async () => {
  const cases: [tf.Tensor, tf.Tensor, number][] = [
    [
      randn([50, 7]),
      tf.tensor2d(
        [
          [3, 0, 49],
          [7, 7, 1],
        ],
        [2, 3],
        'int32',
      ),
      0,
    ],
    [randn([6]), tf.tensor1d([5, 0, 2], 'int32'), 0],
    [randn([5, 2, 3]), tf.tensor1d([4, 1], 'int32'), 0],
    [
      tf.tensor2d(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [3, 2],
        'int32',
      ),
      tf.tensor1d([2, 2, 0], 'int32'),
      0,
    ],
    [randn([4, 6]), tf.tensor1d([5, 0], 'int32'), 1], // other axes go to the wasm kernel
    [randn([3, 4]), tf.tensor1d([], 'int32'), 0],
  ];
  for (const [x, idx, axis] of cases) {
    const w = tf.gather(x, idx, axis);
    const wv = Array.from(w.dataSync()),
      ws = w.shape,
      wd = w.dtype;
    await tf.setBackend('cpu');
    const c = tf.gather(x, idx, axis);
    const cv = Array.from(c.dataSync()),
      cs = c.shape;
    await tf.setBackend('wasm');
    assert.deepEqual(ws, cs);
    assert.equal(wd, x.dtype);
    assert.deepEqual(wv, cv);
  }
  assert.throws(() => tf.gather(randn([4, 2]), tf.tensor1d([1, 4], 'int32')), /index value 4 is not in \[0, 3\]/);
  assert.throws(() => tf.gather(randn([4, 2]), tf.tensor1d([-1], 'int32')), /index value -1/);
});
