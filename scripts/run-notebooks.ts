// Executes notebooks headless with the tslab kernel (jupyter nbconvert --execute), checks their
// outputs and exports them to HTML for scripts/browser-check.ts.
//
//   node --import tsx scripts/run-notebooks.ts [--full] [--no-build] [--set NAME=EXPR ...] [notebooks/01-....ipynb ...]
//
// Quick mode is the default here: the settings of each notebook's metadata.bert_lab.quick are
// injected after its parameters cell (papermill's way), which shrinks the run; --full runs the
// notebooks as written. Executed copies and HTML go to artifacts/notebooks/; the sources
// under notebooks/ are not modified. A notebook fails when: nbconvert fails (a cell errored or
// timed out), an output is an error, a stream shows a stack trace / TypeScript diagnostic, or a
// marker listed in metadata.bert_lab.expect appears in no output. In quick mode, cells tagged "rerun"
// run twice in a row (scripts/nb.ts withReruns), as a student re-runs the model or training cell.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  artifactsDir,
  checkOutputs,
  listNotebooks,
  readNotebook,
  root,
  withParameters,
  withReruns,
  writeNotebook,
  RERUN_TAG,
} from './nb.js';
import { build } from './build-notebook-lib.js';

const outDir = path.join(artifactsDir, 'notebooks');
const jupyter = process.env.JUPYTER ?? 'jupyter';

const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');

/** A kernelspec for this checkout's tslab, found first through JUPYTER_PATH. */
export function privateKernelPath(): string {
  const dir = path.join(root, '.cache', 'jupyter');
  const spec = path.join(dir, 'kernels', 'tslab');
  mkdirSync(spec, { recursive: true });
  const bin = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'tslab.cmd' : 'tslab');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run npm install first`);
  writeFileSync(
    path.join(spec, 'kernel.json'),
    JSON.stringify(
      {
        argv: [bin, 'kernel', '--config-path', '{connection_file}'],
        display_name: 'TypeScript',
        language: 'typescript',
      },
      null,
      1,
    ),
  );
  return dir;
}

export interface RunResult {
  name: string;
  ok: boolean;
  seconds: number;
  problems: string[];
  html?: string;
}

/**
 * Executes one notebook. Quick mode (`quick`) injects the notebook's `metadata.bert_lab.quick`
 * settings after its parameters cell (papermill's way) and runs the cells tagged "rerun" twice.
 * `inject` adds settings of the caller's after those.
 */
export function runNotebook(
  file: string,
  env: NodeJS.ProcessEnv,
  quick = false,
  inject: Record<string, string> = {},
): RunResult {
  const name = path.basename(file, '.ipynb');
  const t0 = performance.now();
  let src = readNotebook(file);
  const settings = { ...(quick ? (src.metadata.bert_lab?.quick ?? {}) : {}), ...inject };
  if (Object.keys(settings).length) src = withParameters(src, settings);
  const twice = quick && src.cells.some((c) => ((c.metadata.tags as string[] | undefined) ?? []).includes(RERUN_TAG));
  if (twice) src = withReruns(src);
  // A changed notebook runs from a copy beside it (same folder, so relative paths hold); outputs
  // keep the notebook's name. The copy is removed afterwards.
  const changed = twice || Object.keys(settings).length > 0;
  const input = changed ? path.join(path.dirname(file), `_run-${name}.ipynb`) : file;
  if (changed) writeNotebook(input, src);
  const timeout = src.metadata.bert_lab?.cell_timeout ?? 1200;
  const executed = path.join(outDir, `${name}.ipynb`);
  const problems: string[] = [];
  const r = spawnSync(
    jupyter,
    [
      'nbconvert',
      '--config',
      path.join(root, 'scripts', 'nbconvert_config.py'),
      '--to',
      'notebook',
      '--execute',
      `--ExecutePreprocessor.timeout=${timeout}`,
      '--ExecutePreprocessor.kernel_name=tslab',
      '--output-dir',
      outDir,
      '--output',
      `${name}.ipynb`,
      input,
    ],
    { cwd: root, env, encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  if (changed) rmSync(input, { force: true });
  if (r.error) throw new Error(`cannot run ${jupyter}: ${r.error.message} (install jupyter-nbconvert)`);
  const log = (r.stderr ?? '')
    .split('\n')
    .filter(
      (l) =>
        !/Debugger warning|frozen modules|Xfrozen_modules|PYDEVD_DISABLE|Debugging will proceed|MissingIDFieldWarning|validate\(nb\)/.test(
          l,
        ),
    )
    .join('\n');
  if (r.status !== 0) {
    const cellErr = /\[bert-lab-cell-error (\d+)\]\n([\s\S]*?)\n\[\/bert-lab-cell-error\]/.exec(log);
    const source = /An error occurred while executing the following cell:\n-+\n([\s\S]*?)\n-+\n/.exec(log);
    if (cellErr) {
      problems.push(
        `cell ${cellErr[1]} failed:\n${indent((source?.[1] ?? '').split('\n').slice(0, 8).join('\n'))}\n  its output:\n${indent(cellErr[2])}`,
      );
    } else if (/Timeout|timed out/i.test(log)) {
      problems.push(
        `a cell timed out (limit ${timeout} s per cell; metadata.bert_lab.cell_timeout):\n${indent(log.trim().split('\n').slice(-15).join('\n'))}`,
      );
    } else {
      problems.push(
        `nbconvert --execute failed (exit ${r.status}):\n${indent(log.trim().split('\n').slice(-40).join('\n'))}`,
      );
    }
  }
  if (/UnhandledPromiseRejection|UncaughtException/.test(log))
    problems.push(`kernel reported an unhandled error:\n${indent(log.slice(-2000))}`);
  let html: string | undefined;
  if (existsSync(executed) && r.status === 0) {
    problems.push(...checkOutputs(readNotebook(executed)));
    const h = spawnSync(jupyter, ['nbconvert', '--to', 'html', '--output-dir', outDir, executed], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    if (h.status !== 0) problems.push(`nbconvert --to html failed:\n${indent((h.stderr ?? '').slice(-2000))}`);
    else html = path.join(outDir, `${name}.html`);
  }
  return { name, ok: problems.length === 0, seconds: (performance.now() - t0) / 1000, problems, html };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const full = args.includes('--full');
  // --set NAME=EXPR (repeatable): a setting injected after the parameters cell, as papermill's -p.
  const inject: Record<string, string> = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const m = /^(\w+)=(.+)$/s.exec(args[i + 1] ?? '');
    if (!m) throw new Error(`--set needs NAME=EXPRESSION, got "${args[i + 1] ?? ''}"`);
    inject[m[1]] = m[2];
  });
  const values = new Set(args.flatMap((a, i) => (args[i - 1] === '--set' ? [a] : [])));
  const picked = args.filter((a) => !a.startsWith('--') && !values.has(a)).map((f) => path.resolve(f));
  const files = picked.length ? picked : listNotebooks();
  if (!files.length) {
    console.log('[notebooks] no notebooks under notebooks/ yet: nothing to run');
    return;
  }
  mkdirSync(outDir, { recursive: true });
  if (!args.includes('--no-build')) await build();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_PATH: [privateKernelPath(), process.env.JUPYTER_PATH].filter(Boolean).join(path.delimiter),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  if (full) delete env.BERT_LAB_QUICK;
  else env.BERT_LAB_QUICK = env.BERT_LAB_QUICK ?? '1';
  const results: RunResult[] = [];
  for (const file of files) {
    console.log(`[notebooks] running ${path.relative(root, file)} (${full ? 'full' : 'quick'} mode) ...`);
    const res = runNotebook(file, env, !full, inject);
    results.push(res);
    console.log(
      `[notebooks] ${res.ok ? 'OK  ' : 'FAIL'} ${res.name} in ${res.seconds.toFixed(1)} s${res.html ? ` -> ${path.relative(root, res.html)}` : ''}`,
    );
    for (const p of res.problems) console.log(indent(p));
  }
  writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 1));
  const failed = results.filter((r) => !r.ok);
  console.log(`[notebooks] ${results.length - failed.length}/${results.length} notebook(s) passed`);
  if (failed.length) process.exit(1);
}

// Run as a script (not when a test imports runNotebook).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main().catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  });
