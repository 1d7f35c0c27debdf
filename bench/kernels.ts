// `npm run bench:kernels`: the native kernels (native/, src/backend/accel.ts) against the wasm
// kernels they replace, on this machine: matmul GFLOP/s and the vectorised Exp/Erf; then, where the
// CPU has AVX-512 BF16, the bf16 products (native/bf16.cc) against OpenBLAS sgemm at bert-base's
// shapes for the lab's batch (32 x 45 tokens). Timing only; their correctness is tested in
// test/accel.test.ts and test/bf16.test.ts.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { bf16Available, disableNativeBlas, enableNativeBlas, setMatmulPrecision } from '../src/backend/accel.js';

const log = (s: string) => console.log(`[kernels] ${s}`);

async function main(): Promise<void> {
  await initBackend('wasm', () => {});
  const st = enableNativeBlas();
  if (!st.enabled) {
    console.error(`[kernels] the native kernels are off: ${st.reason}`);
    process.exitCode = 1;
    return;
  }
  log(st.reason);

  // Matmuls: mean over repetitions, including the readback.
  const cases: [number[], number[]][] = [
    [
      [2048, 256],
      [256, 1024],
    ],
    [
      [64, 64, 64],
      [64, 64, 64],
    ],
    [
      [128, 64, 64],
      [128, 64, 64],
    ],
  ];
  const time = (f: () => tf.Tensor, reps: number) => {
    {
      const y = f();
      y.dataSync();
      y.dispose();
    }
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) {
      const y = f();
      y.dataSync();
      y.dispose();
    }
    return (performance.now() - t0) / reps;
  };
  for (const [as, bs] of cases) {
    const a = tf.randomNormal(as),
      b = tf.randomNormal(bs);
    const f = () => tf.matMul(a, b);
    const flop = 2 * (as.length === 3 ? as[0] : 1) * as[as.length - 2] * as[as.length - 1] * bs[bs.length - 1];
    disableNativeBlas();
    const tw = time(f, 2);
    enableNativeBlas();
    const tn = time(f, 5);
    log(
      `${JSON.stringify(as)} x ${JSON.stringify(bs)}: wasm ${tw.toFixed(1)} ms (${(flop / tw / 1e6).toFixed(1)} GFLOP/s), ` +
        `native ${tn.toFixed(1)} ms (${(flop / tn / 1e6).toFixed(1)} GFLOP/s), ${(tw / tn).toFixed(1)}x`,
    );
    tf.dispose([a, b]);
  }

  // Exp and Erf: wasm kernels run synchronously, so the call alone is the kernel time; median.
  const x = tf.randomNormal([32, 64, 1024]);
  const median = (f: () => tf.Tensor, reps: number) => {
    f().dispose();
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const y = f();
      ts.push(performance.now() - t0);
      y.dispose();
    }
    return ts.sort((p, q) => p - q)[Math.floor(reps / 2)];
  };
  for (const [name, f] of [
    ['exp', () => tf.exp(x)],
    ['erf', () => tf.erf(x)],
  ] as const) {
    disableNativeBlas();
    const tw = median(f, 5);
    enableNativeBlas();
    const tn = median(f, 9);
    log(
      `${name} [32,64,1024]: wasm ${tw.toFixed(1)} ms, native ${tn.toFixed(2)} ms (median), ${(tw / tn).toFixed(0)}x`,
    );
  }
  x.dispose();

  // bf16 against fp32 products: bert-base's projections, forward and both backward products.
  const bf = bf16Available();
  if (!bf.available) {
    log(`bf16: not measured: ${bf.reason}`);
    return;
  }
  const shapes: [string, number[], number[], boolean, boolean][] = [
    ['Q/K/V/output [1440,768] x [768,768]', [1440, 768], [768, 768], false, false],
    ['FFN up [1440,768] x [768,3072]', [1440, 768], [768, 3072], false, false],
    ['FFN down [1440,3072] x [3072,768]', [1440, 3072], [3072, 768], false, false],
    ['input gradient [1440,3072] x [768,3072]^T', [1440, 3072], [768, 3072], false, true],
    ['weight gradient [1440,768]^T x [1440,3072]', [1440, 768], [1440, 3072], true, false],
  ];
  for (const [name, as, bs, ta, tb] of shapes) {
    const a = tf.randomNormal(as),
      b = tf.randomNormal(bs);
    const f = () => tf.matMul(a, b, ta, tb);
    const m = ta ? as[1] : as[0],
      k = ta ? as[0] : as[1],
      n = tb ? bs[0] : bs[1];
    const flop = 2 * m * n * k;
    // Process CPU time per product (one BLAS thread: BERT_LAB_NATIVE_THREADS=1), which other
    // processes on a shared machine change far less than the wall clock.
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    // Products repeated for 1 s of CPU time after one warm-up (scratch buffers, first allocations).
    const cpu = () => {
      f().dispose();
      const c0 = cpuMs();
      let reps = 0;
      while (cpuMs() - c0 < 1000) {
        f().dispose();
        reps++;
      }
      return (cpuMs() - c0) / reps;
    };
    setMatmulPrecision('fp32');
    const t32 = cpu();
    setMatmulPrecision('bf16');
    const t16 = cpu();
    setMatmulPrecision('fp32');
    log(
      `${name}: fp32 ${t32.toFixed(1)} ms CPU (${(flop / t32 / 1e6).toFixed(1)} GFLOP/s), ` +
        `bf16 ${t16.toFixed(1)} ms CPU (${(flop / t16 / 1e6).toFixed(1)} GFLOP/s), ${(t32 / t16).toFixed(2)}x`,
    );
    tf.dispose([a, b]);
  }
}

await main();
