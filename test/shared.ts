// Locates ../shared (read-only fixtures beside the checkout). Under CI its absence is a failure,
// elsewhere the tests that need it are skipped with a reason.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const sharedDir = process.env.BERT_LAB_SHARED ?? path.resolve(repoRoot, '../shared');
export const haveShared = existsSync(path.join(sharedDir, 'README.md'));

if (!haveShared && process.env.CI) {
  throw new Error(`../shared not found at ${sharedDir}: the parity fixtures and lab data are required under CI`);
}

/** Options for node:test that skip a test when ../shared is absent outside CI. */
export const needsShared = haveShared ? {} : { skip: `../shared not found at ${sharedDir}` };
export const shared = (...p: string[]): string => path.join(sharedDir, ...p);

/** Asserts |a - b| <= atol + rtol*|b| elementwise, reporting the worst element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  atol = 1e-4,
  rtol = 0,
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} != ${expected.length}`);
  let worst = 0,
    at = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (excess > worst || Number.isNaN(actual[i])) {
      worst = excess;
      at = i;
    }
  }
  assert.ok(at < 0, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]}`);
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTemp(fn: (dir: string) => Promise<void>, prefix = 'bert-lab-test-'): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Asserts that `f` throws an `ErrorClass` whose message starts with `start` (the file it names)
 * and matches `pattern` (what is wrong).
 */
export function expectError(
  f: () => unknown,
  ErrorClass: new (...args: never[]) => Error,
  start: RegExp,
  pattern: RegExp,
): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ErrorClass, `expected ${ErrorClass.name}, got ${String(e)}`);
    assert.match(e.message, start);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Node's arguments that run `bert-lab ARGS` from the checkout (for spawn), from any working directory. */
export const cliArgs = (args: string[]) => [
  '--import',
  import.meta.resolve('tsx'),
  path.join(repoRoot, 'src/app/cli.ts'),
  ...args,
];

/**
 * `pretrain` options of a run of seconds: one small layer (hidden 32, 2 heads), batch 8, 2 warm-up
 * steps, wasm backend; by default moby-dick, a 300-token vocabulary, 32 tokens, 12 steps, a
 * checkpoint every 3.
 */
export function tinyPretrain(
  o: { corpus?: string; vocabSize?: number; maxLen?: number; steps?: number; checkpointEvery?: number } = {},
): string[] {
  return [
    '--corpus',
    o.corpus ?? 'moby-dick',
    '--vocab-size',
    String(o.vocabSize ?? 300),
    '--layers',
    '1',
    '--hidden',
    '32',
    '--heads',
    '2',
    '--max-len',
    String(o.maxLen ?? 32),
    '--batch-size',
    '8',
    '--steps',
    String(o.steps ?? 12),
    '--checkpoint-every',
    String(o.checkpointEvery ?? 3),
    '--warmup',
    '2',
    '--backend',
    'wasm',
  ];
}
/**
 * `train` of a tiny random-init BERT on the first `limit` of the lab's tweets (wasm backend): seconds
 * per run. Options passed in `extra` come after these.
 */
export function tinyTrain(
  out: string,
  o: { epochs?: number; limit?: number; batchSize?: number } = {},
  ...extra: string[]
): string[] {
  return [
    'train',
    '--data',
    shared('data/disaster-tweets/train.csv'),
    '--model',
    shared('models/bert-base-uncased'),
    '--random-init',
    'tiny',
    '--limit',
    String(o.limit ?? 300),
    '--epochs',
    String(o.epochs ?? 1),
    '--lr',
    '5e-4',
    '--batch-size',
    String(o.batchSize ?? 32),
    '--out',
    out,
    '--backend',
    'wasm',
    ...extra,
  ];
}
const cliEnv = () => ({ ...process.env, HF_HUB_OFFLINE: '1' });

/** Runs `bert-lab ARGS` from the checkout, offline (HF_HUB_OFFLINE), and returns its exit code and output. */
export const cli = (...args: string[]) => cliWithin(undefined, ...args);

/** `cli`, killed after `timeoutMs` (a command that should answer at once must not hang the suite). */
export function cliWithin(
  timeoutMs: number | undefined,
  ...args: string[]
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(args), {
    cwd: repoRoot,
    encoding: 'utf8',
    env: cliEnv(),
    maxBuffer: 64 << 20,
    timeout: timeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cli`, without blocking: several runs at once. */
export function cliAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(args), { cwd: repoRoot, env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts `node ARGS` in `cwd`, waits until the JSON file `state` satisfies `ready` (a checkpoint was
 * written), kills the process with SIGKILL and returns the state the run left.
 */
export async function killWhen(
  args: string[],
  state: string,
  ready: (s: Record<string, unknown>) => boolean,
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, args, { cwd: opts.cwd ?? repoRoot, stdio: 'ignore' });
  const read = () =>
    existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>) : undefined;
  const t0 = Date.now();
  for (let s = read(); !(s && ready(s)) && Date.now() - t0 < (opts.timeoutMs ?? 240_000); s = read())
    await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const last = read();
  assert.ok(last, `${state} was never written before the kill`);
  return last;
}

/**
 * A Python that imports Hugging Face `transformers` (the second oracle), or why there is none:
 * BERT_LAB_TRANSFORMERS_PYTHON, else the venv `.ci/run` makes (.cache/venv-hf), else python3.
 */
export function transformersPython(): { python?: string; why?: string } {
  const candidates = [
    process.env.BERT_LAB_TRANSFORMERS_PYTHON,
    path.join(repoRoot, '.cache/venv-hf/bin/python'),
    'python3',
  ].filter((p): p is string => !!p);
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import transformers'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
  }
  return { why: `transformers is not importable by ${candidates.join(', ')} (pip install transformers in a venv)` };
}

/**
 * Runs `fn` with a tmpfs mounted at a fresh folder with mount `options` (e.g. "size=100m",
 * "ro,size=1m"), unmounted and removed after; skips (with why) where mounting is not allowed.
 */
export async function withTmpfs(
  t: { skip: (why: string) => void },
  options: string,
  fn: (mnt: string) => Promise<void>,
): Promise<void> {
  const mnt = await mkdtemp(path.join(tmpdir(), 'bert-tmpfs-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt], { encoding: 'utf8' });
  if (m.status !== 0) {
    await rm(mnt, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs (${options}) here (needs root): ${(m.stderr || m.error?.message || '').trim()}`);
    return;
  }
  try {
    await fn(mnt);
  } finally {
    spawnSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
}
