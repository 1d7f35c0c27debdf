// BERT_LAB_NATIVE_THREADS read like an option (src/backend/accel.ts parseNativeThreads): a whole number
// from 1 to 4x the cores, anything else stopped at once with a message naming the variable (issue 25,
// case 11: 100000 crashed training with a segmentation fault and left its lock file; case 19: `abc`
// and `0` were ignored silently, so the thread count followed the load again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/backend/init.js';
import {
  addonCandidates,
  disableNativeBlas,
  enableNativeBlas,
  nativeThreadsProblem,
  parseNativeThreads,
} from '../src/backend/accel.js';
import { cli, needsShared, tinyTrain, withTemp } from './shared.js';

const cores = os.availableParallelism();
const off = ['0', 'false', 'off', 'no'].includes((process.env.BERT_LAB_NATIVE ?? '').toLowerCase());
const built = addonCandidates.some((p) => existsSync(p));

/** Runs f with BERT_LAB_NATIVE_THREADS set to value (or unset), then puts the caller's value back. */
async function withThreads<T>(value: string | undefined, f: () => T | Promise<T>): Promise<T> {
  const saved = process.env.BERT_LAB_NATIVE_THREADS;
  if (value === undefined) delete process.env.BERT_LAB_NATIVE_THREADS;
  else process.env.BERT_LAB_NATIVE_THREADS = value;
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.BERT_LAB_NATIVE_THREADS;
    else process.env.BERT_LAB_NATIVE_THREADS = saved;
  }
}

test('parseNativeThreads: 1 to 4x the cores are thread counts; unset or empty means the default', () => {
  assert.equal(parseNativeThreads(undefined, 2), undefined);
  assert.equal(parseNativeThreads('', 2), undefined);
  assert.equal(parseNativeThreads('  ', 2), undefined);
  assert.equal(parseNativeThreads('1', 2), 1);
  assert.equal(parseNativeThreads(' 2 ', 2), 2);
  assert.equal(parseNativeThreads('8', 2), 8);
  assert.equal(parseNativeThreads('64', 16), 64);
});

test('parseNativeThreads: not a whole number, 0, negative or more than 4x the cores is refused, naming the variable', () => {
  for (const bad of ['abc', '0', '-1', '1.5', '2x', '1e2', '9', '100000', 'Infinity', '0x2']) {
    assert.throws(
      () => parseNativeThreads(bad, 2),
      (e: Error) =>
        e.message.startsWith(`BERT_LAB_NATIVE_THREADS=${JSON.stringify(bad)} is not a thread count`) &&
        /give a whole number from 1 to 8 \(4x this machine's 2 cores\), or unset it/.test(e.message),
      bad,
    );
  }
  assert.match(nativeThreadsProblem('0') ?? '', /BERT_LAB_NATIVE_THREADS="0" is not a thread count/);
  assert.equal(nativeThreadsProblem('1'), undefined);
  assert.equal(nativeThreadsProblem(undefined), undefined);
});

test('initBackend stops on an invalid BERT_LAB_NATIVE_THREADS before loading any backend', async () => {
  await withThreads('abc', () =>
    assert.rejects(
      initBackend('cpu', () => {}),
      /BERT_LAB_NATIVE_THREADS="abc" is not a thread count/,
    ),
  );
  await withThreads(String(4 * cores + 1), () =>
    assert.rejects(
      initBackend('wasm', () => {}),
      /is not a thread count: give a whole number from 1 to/,
    ),
  );
});

test(
  'enableNativeBlas does not start the native kernels with an invalid count (no silent fallback to the load)',
  built && !off ? {} : { skip: 'native addon not built or BERT_LAB_NATIVE=0' },
  async () => {
    await initBackend('wasm', () => {});
    disableNativeBlas();
    try {
      const st = await withThreads('100000', () => enableNativeBlas());
      assert.equal(st.enabled, false);
      assert.match(st.reason, /BERT_LAB_NATIVE_THREADS="100000" is not a thread count/);
      const ok = await withThreads('1', () => enableNativeBlas());
      assert.equal(ok.enabled, true, ok.reason);
      assert.match(ok.reason, /1 thread \(BERT_LAB_NATIVE_THREADS\)/);
    } finally {
      disableNativeBlas();
      enableNativeBlas();
    }
  },
);

for (const [value, issueCase] of [
  ['100000', 11],
  ['abc', 19],
  ['0', 19],
] as const) {
  test(
    `case ${issueCase}: BERT_LAB_NATIVE_THREADS=${value} train stops with a message, no crash, nothing written`,
    needsShared,
    () =>
      withTemp(async (dir) => {
        const out = path.join(dir, 'run');
        const r = await withThreads(value, () => cli(...tinyTrain(out, { limit: 40 })));
        assert.equal(r.code, 1, `exit ${r.code} (a crash is 139 or null), stderr: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`BERT_LAB_NATIVE_THREADS="${value}" is not a thread count`));
        assert.doesNotMatch(r.stdout, /Epoch 1/);
        // Refused before the run took its folder: no lock file (or anything else) left behind.
        assert.equal(existsSync(out), false, `${out} was created`);
      }),
  );
}
