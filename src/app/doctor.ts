// `bert-lab doctor`: what this machine can run, on one screen. Which tfjs backends load (and why
// not, with the fix), the native kernels, BLAS threads, the wasm heap limit, whether the GPU
// package could work here (libtensorflow, CUDA and cuDNN versions it needs), ONNX Runtime,
// Jupyter with the tslab kernel, the Hugging Face cache; with a model, whether a training batch
// fits and how long an epoch of the lab's data takes, from measured steps.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, tryImport } from '../backend/init.js';
import {
  addonCandidates,
  bf16Available,
  enableNativeBlas,
  matmulPrecision,
  nativeFused,
  nativeOptim,
} from '../backend/accel.js';
import { BertForSequenceClassification } from '../model/bert.js';
import { hubCacheDir, resolveModel } from '../io/hub.js';
import { AdamW } from '../nn/optim.js';
import { WASM_HEAP_BYTES } from '../backend/wasm.js';
import { checkTrainingMemory, estimateTrainingBytes, trainStep } from '../training/train.js';

export type CheckStatus = 'ok' | 'warn' | 'no' | 'info';

export interface DoctorCheck {
  /** What is checked, e.g. "tfjs-node-gpu". */
  item: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about it, when something is missing. */
  fix?: string;
}

export interface TrainingEstimate {
  model: string;
  parameters: number;
  batchSize: number;
  maxLen: number;
  backend: string;
  /** estimateTrainingBytes (train.ts), the estimate training itself checks. */
  estimatedBytes: number;
  heapBytes: number;
  fits: boolean;
  /** checkTrainingMemory's message when it does not fit. */
  problem?: string;
  /** Measured: one training step after a warm-up step, seconds. */
  stepSeconds: number;
  /** stepSeconds times the steps of an epoch of the lab's 6,090 training tweets. */
  epochSeconds: number;
}

export interface DoctorReport {
  backend: { name: string; reason: string };
  checks: DoctorCheck[];
  training?: TrainingEstimate;
}

export interface DoctorOptions {
  /** A model (folder or Hub id) to estimate training memory and time for. */
  model?: string;
  batchSize?: number;
  maxLen?: number;
  /** As --backend: gpu | node | wasm | cpu. */
  backend?: string;
}

/** The lab's training split: 80% of the 7,613 tweets. */
const LAB_TRAIN_ROWS = 6090;
// tfjs-node(-gpu) 4.x is built against libtensorflow 2.9.1; its GPU build needs these.
const TF_VERSION = '2.9.1',
  CUDA = '11.2',
  CUDNN = '8.1';

const require = createRequire(import.meta.url);
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function packageDir(name: string): string | undefined {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    /* not installed, or package.json not exported */
  }
  try {
    let dir = path.dirname(require.resolve(name));
    while (dir !== path.dirname(dir) && !existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    return dir;
  } catch {
    return undefined;
  }
}

function packageVersion(name: string): string | undefined {
  const dir = packageDir(name);
  if (!dir) return undefined;
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
}

/** Shared libraries the dynamic loader finds (ldconfig's cache and LD_LIBRARY_PATH) whose name starts with `prefix`. */
function sharedLibs(prefix: string): string[] {
  const found = new Set<string>();
  for (const line of (run('ldconfig', ['-p']) ?? '').split('\n')) {
    const m = /^\s*(\S+)\s.*=>\s*(\S+)/.exec(line);
    if (m && m[1].startsWith(prefix)) found.add(m[2]);
  }
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) {
    try {
      for (const f of readdirSync(dir)) if (f.startsWith(prefix)) found.add(path.join(dir, f));
    } catch {
      /* missing dir */
    }
  }
  return [...found].sort();
}

async function backendChecks(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const gpu = packageVersion('@tensorflow/tfjs-node-gpu');
  const cudart = sharedLibs('libcudart.so.11'),
    cudnn = sharedLibs('libcudnn.so.8');
  const smi = run('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader']);
  const gpuNeeds = `tfjs-node-gpu ${'4.x'} needs libtensorflow ${TF_VERSION} with CUDA ${CUDA} (libcudart.so.11.0) and cuDNN ${CUDNN} (libcudnn.so.8)`;
  checks.push({
    item: 'GPU (nvidia-smi)',
    status: smi ? 'ok' : 'no',
    detail: smi ?? 'no NVIDIA GPU or driver (nvidia-smi not found or failing)',
  });
  checks.push({
    item: 'CUDA 11 runtime',
    status: cudart.length ? 'ok' : 'no',
    detail: cudart.length ? cudart.join(', ') : 'libcudart.so.11* not found by the loader',
    fix: cudart.length
      ? undefined
      : `install the CUDA ${CUDA} runtime beside the driver (see environment.md) and add its lib64 to LD_LIBRARY_PATH`,
  });
  checks.push({
    item: 'cuDNN 8',
    status: cudnn.length ? 'ok' : 'no',
    detail: cudnn.length ? cudnn.join(', ') : 'libcudnn.so.8* not found by the loader',
    fix: cudnn.length ? undefined : `install cuDNN ${CUDNN} for CUDA 11.x (see environment.md)`,
  });
  if (gpu) {
    const err = await tryImport('@tensorflow/tfjs-node-gpu');
    checks.push({
      item: 'tfjs-node-gpu',
      status: err ? 'no' : 'ok',
      detail: err ? `${gpu} installed but does not load: ${err}` : `${gpu} loads`,
      fix: err ? gpuNeeds : undefined,
    });
  } else {
    const could = smi && cudart.length && cudnn.length;
    checks.push({
      item: 'tfjs-node-gpu',
      status: 'no',
      detail: `not installed; ${could ? 'GPU, CUDA 11 and cuDNN 8 are present, so it could work here' : 'it could not work here yet'}`,
      fix: could ? 'npm install @tensorflow/tfjs-node-gpu@4.22.0' : gpuNeeds,
    });
  }
  const node = packageVersion('@tensorflow/tfjs-node');
  if (node) {
    const err = await tryImport('@tensorflow/tfjs-node');
    const lib = packageDir('@tensorflow/tfjs-node');
    const libtf =
      lib && existsSync(path.join(lib, 'deps/lib'))
        ? readdirSync(path.join(lib, 'deps/lib')).filter((f) => f.startsWith('libtensorflow'))
        : [];
    checks.push({
      item: 'tfjs-node',
      status: err ? 'no' : 'ok',
      detail: err
        ? `${node} installed but does not load: ${err}`
        : `${node} loads (${libtf.join(', ') || 'libtensorflow'})`,
      fix: err
        ? `its install script downloads libtensorflow ${TF_VERSION} into node_modules/@tensorflow/tfjs-node/deps; re-run npm rebuild @tensorflow/tfjs-node with network access`
        : undefined,
    });
  } else {
    const libtf = sharedLibs('libtensorflow.so');
    checks.push({
      item: 'tfjs-node',
      status: 'no',
      detail: `not installed (an optional dependency; its install downloads libtensorflow ${TF_VERSION})${libtf.length ? `; system libtensorflow: ${libtf.join(', ')}` : ''}`,
      fix: 'npm install @tensorflow/tfjs-node@4.22.0 (needs network access to storage.googleapis.com), or keep the wasm backend',
    });
  }
  const wasm = packageVersion('@tensorflow/tfjs-backend-wasm');
  checks.push({
    item: 'tfjs wasm',
    status: wasm ? 'ok' : 'no',
    detail: wasm ? `${wasm}; heap limit ${gib(WASM_HEAP_BYTES)} (single-threaded in Node)` : 'not installed',
    fix: wasm ? undefined : 'npm install',
  });
  return checks;
}

function nativeChecks(backend: string): DoctorCheck[] {
  const built = addonCandidates.find((p) => existsSync(p));
  if (!built)
    return [
      {
        item: 'native kernels',
        status: 'no',
        detail: `addon not built (looked for ${addonCandidates.join(', ')})`,
        fix: 'apt-get install libopenblas-openmp-dev build-essential, then npm run build:native',
      },
    ];
  if (backend !== 'wasm')
    return [
      {
        item: 'native kernels',
        status: 'info',
        detail: `built (${built}); used only with the wasm backend, not ${backend}`,
      },
    ];
  const s = enableNativeBlas();
  const extras = [nativeFused() && 'fused LayerNorm/GELU/softmax/dropout', nativeOptim() && 'AdamW step'].filter(
    Boolean,
  );
  const threads = process.env.BERT_LAB_NATIVE_THREADS
    ? `BERT_LAB_NATIVE_THREADS=${process.env.BERT_LAB_NATIVE_THREADS}`
    : 'BERT_LAB_NATIVE_THREADS unset: the cores not busy at start';
  const bf16 = bf16Available();
  return [
    {
      item: 'native kernels',
      status: s.enabled ? 'ok' : 'warn',
      detail: s.enabled ? `${s.reason}${extras.length ? `; also ${extras.join(', ')}` : ''}` : s.reason,
      fix: s.enabled ? undefined : 'npm run build:native',
    },
    {
      item: 'BLAS threads',
      status: 'info',
      detail: `${threads}; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`,
    },
    {
      item: 'bf16 products',
      status: bf16.available ? 'ok' : 'info',
      detail: `${bf16.available ? 'available' : 'not here'}: ${bf16.reason}; now ${matmulPrecision().reason}`,
    },
  ];
}

/** A kernel as `jupyter kernelspec list --json` lists it. */
export interface KernelSpecEntry {
  resource_dir: string;
  spec: { argv?: string[] };
}

/** The executable a kernel's argv[0] names: a path as is, a bare name looked up on PATH. */
export function kernelBinary(argv0: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  if (argv0.includes('/') || argv0.includes(path.sep)) return existsSync(argv0) ? argv0 : undefined;
  for (const dir of pathEnv.split(path.delimiter).filter(Boolean)) {
    const f = path.join(dir, argv0);
    if (existsSync(f)) return f;
  }
  return undefined;
}

/**
 * The tslab kernel: registered, and its binary (argv[0] of kernel.json) present. A kernel whose
 * binary is gone (node_modules removed, the checkout moved) is listed by Jupyter yet cannot start.
 */
export function tslabKernelCheck(kernels: Record<string, KernelSpecEntry>): DoctorCheck {
  const fix =
    'in the JupyterLab venv: npx tslab install --sys-prefix --python="$VENV/bin/python" --binary="$PWD/node_modules/.bin/tslab" (environment.md)';
  const k = kernels.tslab;
  if (!k) return { item: 'tslab kernel', status: 'no', detail: 'not registered', fix };
  const argv0 = k.spec.argv?.[0];
  const bin = argv0 ? kernelBinary(argv0) : undefined;
  if (!argv0 || !bin)
    return {
      item: 'tslab kernel',
      status: 'no',
      detail: `registered in ${k.resource_dir}, but its binary ${argv0 ?? '(no argv in kernel.json)'} does not exist: the kernel cannot start`,
      fix,
    };
  return {
    item: 'tslab kernel',
    status: 'ok',
    detail: `registered in ${k.resource_dir}; binary ${bin} exists (TypeScript notebooks run)`,
  };
}

/** Jupyter on PATH, JupyterLab (not only the classic notebook or nbconvert), and the tslab kernel. */
export function jupyterChecks(): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  const jupyter = run('jupyter', ['--version']);
  const specs = jupyter ? run('jupyter', ['kernelspec', 'list', '--json']) : undefined;
  let kernels: Record<string, KernelSpecEntry> = {};
  try {
    kernels = (JSON.parse(specs ?? '{}') as { kernelspecs?: Record<string, KernelSpecEntry> }).kernelspecs ?? {};
  } catch {
    /* not JSON */
  }
  checks.push({
    item: 'Jupyter',
    status: jupyter ? 'ok' : 'no',
    detail: jupyter ? `found; kernels: ${Object.keys(kernels).join(', ') || 'none'}` : 'jupyter not on PATH',
    fix: jupyter ? undefined : 'see environment.md, section 1',
  });
  // `jupyter lab` exists only with JupyterLab; `jupyter` alone may be the classic notebook or nbconvert.
  const lab = jupyter ? run('jupyter', ['lab', '--version']) : undefined;
  const labVersion = lab?.split('\n').pop()?.trim();
  checks.push({
    item: 'JupyterLab',
    status: labVersion ? 'ok' : 'no',
    detail: labVersion
      ? `${labVersion} (jupyter lab)`
      : `not installed${jupyter ? ' (jupyter is, without JupyterLab: `jupyter lab` does not run)' : ''}`,
    fix: labVersion
      ? undefined
      : 'python3 -m venv ~/jlab && ~/jlab/bin/pip install jupyterlab (environment.md, section 1)',
  });
  checks.push(tslabKernelCheck(kernels));
  return checks;
}

async function toolChecks(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const ortNode = packageVersion('onnxruntime-node');
  let ortDetail = ortNode ? `onnxruntime-node ${ortNode}` : 'onnxruntime-node not installed';
  let ortOk = false;
  if (ortNode) {
    try {
      const ort = await import('onnxruntime-node');
      ortOk = typeof ort.InferenceSession?.create === 'function';
      ortDetail += ortOk ? ' loads' : ' loads without InferenceSession';
    } catch (e) {
      ortDetail += ` does not load: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  const web = packageVersion('onnxruntime-web'),
    tjs = packageVersion('@huggingface/transformers');
  ortDetail += `; onnxruntime-web ${web ?? 'not installed'}; transformers.js ${tjs ?? 'not installed'}`;
  checks.push({
    item: 'ONNX Runtime',
    status: ortOk ? 'ok' : 'warn',
    detail: ortDetail,
    fix: ortOk
      ? undefined
      : "npm install (a dev dependency; package.json's allowScripts denies its install script, so no CUDA download is tried)",
  });

  checks.push(...jupyterChecks());

  const cache = hubCacheDir();
  const cached = existsSync(cache)
    ? readdirSync(cache)
        .filter((d) => d.startsWith('models--'))
        .map((d) => d.slice(8).replace(/--/g, '/'))
    : [];
  checks.push({
    item: 'Hugging Face cache',
    status: 'info',
    detail: `${cache}: ${cached.length ? cached.join(', ') : 'no models cached'}`,
  });
  return checks;
}

async function trainingEstimate(
  model: string,
  batchSize: number,
  maxLen: number,
  backend: string,
): Promise<TrainingEstimate> {
  const dir = await resolveModel(model, { log: () => {} });
  const m = await BertForSequenceClassification.fromPretrained(dir, { labels: ['0', '1'], log: () => {} });
  try {
    if (maxLen > m.config.max_position_embeddings)
      throw new Error(
        `--max-len ${maxLen} is longer than the model's max_position_embeddings ${m.config.max_position_embeddings}`,
      );
    const estimatedBytes = estimateTrainingBytes(m, batchSize, maxLen);
    let problem: string | undefined;
    try {
      checkTrainingMemory(m, batchSize, maxLen, backend);
    } catch (e) {
      problem = (e as Error).message;
    }
    if (backend !== 'wasm' && estimatedBytes > 0.9 * os.totalmem())
      problem = `needs about ${gib(estimatedBytes)}, more than 90% of this machine's ${gib(os.totalmem())} RAM: lower --batch-size or --max-len`;
    let stepSeconds = NaN;
    if (!problem) {
      // Random ids of the full length: a measured step of exactly the asked shape.
      const ids = Array.from({ length: batchSize }, (_, i) =>
        Array.from({ length: maxLen }, (_, j) => 1 + ((i * 7919 + j * 104729) % (m.config.vocab_size - 1))),
      );
      const data = {
        inputIds: ids,
        attentionMask: ids.map((r) => r.map(() => 1)),
        tokenTypeIds: ids.map((r) => r.map(() => 0)),
        labels: ids.map((_, i) => i % 2),
      };
      const idx = ids.map((_, i) => i);
      const opt = new AdamW({ lr: 2e-5, eps: 1e-8 });
      trainStep(m, opt, data, idx, 1); // warm-up: kernel setup and first allocations
      const t0 = performance.now();
      trainStep(m, opt, data, idx, 1);
      stepSeconds = (performance.now() - t0) / 1000;
    }
    return {
      model: dir,
      parameters: m.numParameters(),
      batchSize,
      maxLen,
      backend,
      estimatedBytes,
      heapBytes: backend === 'wasm' ? WASM_HEAP_BYTES : os.totalmem(),
      fits: !problem,
      problem,
      stepSeconds,
      epochSeconds: stepSeconds * Math.ceil(LAB_TRAIN_ROWS / batchSize),
    };
  } finally {
    m.dispose();
  }
}

/**
 * Checks this machine and, with `model`, a training configuration.
 *
 * Args:
 *   opts.model, opts.batchSize (32), opts.maxLen (64): the training to estimate.
 *   opts.backend: as --backend; the default picks the fastest that loads, as training does.
 *
 * Example:
 *   const r = await runDoctor({ model: 'bert-base-uncased', batchSize: 32, maxLen: 64 });
 *   console.log(formatDoctor(r));
 */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const choice = await initBackend(opts.backend, () => {});
  const backend = { name: tf.getBackend(), reason: choice.reason };
  const checks: DoctorCheck[] = [
    {
      item: 'Node.js',
      status: 'info',
      detail: `${process.version} on ${os.platform()}-${os.arch()}, ${os.cpus().length} cores, ${gib(os.totalmem())} RAM`,
    },
    { item: 'tfjs backend', status: 'ok', detail: `${backend.name}: ${backend.reason}` },
    ...(await backendChecks()),
    ...nativeChecks(backend.name),
    ...(await toolChecks()),
  ];
  const training = opts.model
    ? await trainingEstimate(opts.model, opts.batchSize ?? 32, opts.maxLen ?? 64, backend.name)
    : undefined;
  return { backend, checks, training };
}

const MARK: Record<CheckStatus, string> = { ok: 'ok', warn: '!!', no: '--', info: '  ' };

/** The report as a table for a terminal: status, item, what was found, and the fix on its own line. */
export function formatDoctor(r: DoctorReport): string {
  const w = Math.max(...r.checks.map((c) => c.item.length));
  const lines = ['bert-lab doctor', ''];
  for (const c of r.checks) {
    lines.push(`[${MARK[c.status]}] ${c.item.padEnd(w)}  ${c.detail}`);
    if (c.fix) lines.push(`     ${' '.repeat(w)}  fix: ${c.fix}`);
  }
  const t = r.training;
  if (t) {
    const time = (s: number) =>
      s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`;
    lines.push(
      '',
      `Training ${t.model} (${t.parameters.toLocaleString('en-US')} parameters), batch ${t.batchSize} x ${t.maxLen} tokens on ${t.backend}:`,
    );
    lines.push(
      `  memory  about ${gib(t.estimatedBytes)} of ${gib(t.heapBytes)} ${t.backend === 'wasm' ? 'wasm heap' : 'RAM'}: ${t.fits ? 'fits' : 'does NOT fit'}`,
    );
    if (t.problem) lines.push(`  ${t.problem}`);
    else
      lines.push(
        `  time    ${time(t.stepSeconds)} per step (measured), about ${time(t.epochSeconds)} per epoch of the lab's ${LAB_TRAIN_ROWS.toLocaleString('en-US')} tweets`,
      );
  }
  return lines.join('\n');
}

/** `bert-lab doctor`: prints the table, or JSON with `json`. */
export async function doctor(opts: DoctorOptions & { json?: boolean }): Promise<DoctorReport> {
  const r = await runDoctor(opts);
  console.log(opts.json ? JSON.stringify(r, null, 2) : formatDoctor(r));
  return r;
}
