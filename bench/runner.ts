// What the benches share: one child process per measured cell (so its peak memory is its own), the
// PyTorch reference (bench/torch_bench.py), both answering with JSON lines, and the machine line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

/** The objects printed one per line (lines starting with `{`) in `stdout`. */
const jsonLines = (stdout: string): unknown[] =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as unknown);

/** CPU, cores, memory and Node: the first line of every bench's output. */
export const machineLine = (): string =>
  `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB; Node ${process.version}`;

/**
 * Runs `script --child ...argv` (a bench file measuring one cell) in its own Node process and
 * returns the last JSON line it printed, or why there is none (the last line of its stderr).
 */
export function runChild<T>(
  script: string,
  argv: string[],
): { ok: true; result: T } | { ok: false; stderr: string; signal: NodeJS.Signals | null; why: string } {
  // The library picks BLAS threads from the load average, which still counts the previous child
  // here; a benchmark uses every core, as PyTorch's side does, unless BERT_LAB_NATIVE_THREADS says.
  const env = {
    ...process.env,
    BERT_LAB_NATIVE_THREADS: process.env.BERT_LAB_NATIVE_THREADS ?? String(os.availableParallelism()),
  };
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--child', ...argv], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env,
  });
  const line = jsonLines(r.stdout).at(-1);
  if (r.status === 0 && line) return { ok: true, result: line as T };
  const last = r.stderr.trim().split('\n').at(-1);
  return {
    ok: false,
    stderr: r.stderr,
    signal: r.signal,
    why: last || (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`),
  };
}

/**
 * bench/torch_bench.py with `args`: one result per JSON line, or none (said on stderr) when Python
 * or torch is missing. BERT_LAB_NATIVE_THREADS gives PyTorch the same thread count as bert-lab
 * (e.g. a run pinned to one core); otherwise it tries 1 and all cores and keeps the faster.
 */
export function runTorch<T>(args: string[]): T[] {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return [];
  const threads = process.env.BERT_LAB_NATIVE_THREADS;
  const r = spawnSync(py, [path.join(here, 'torch_bench.py'), ...args, ...(threads ? ['--threads', threads] : [])], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    console.error(`PyTorch reference failed: ${r.stderr.trim().split('\n').at(-1)}`);
    return [];
  }
  return jsonLines(r.stdout) as T[];
}
