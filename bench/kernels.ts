// `npm run bench:kernels`: the native kernels (native/, src/backend/accel.ts) against the wasm
// kernels they replace, on this machine: matmul GFLOP/s and the vectorised Exp/Erf. Timing only;
// their correctness is tested in test/accel.test.ts.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/init.js';
import { disableNativeBlas, enableNativeBlas } from '../src/backend/accel.js';

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
}

await main();
