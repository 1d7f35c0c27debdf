// `bert-lab doctor`: the report says what this machine has (checked against the machine itself),
// and the training estimate is train.ts's own estimate plus a measured step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { addonCandidates } from '../src/backend/accel.js';
import { BertForSequenceClassification } from '../src/model/bert.js';
import { BUNDLED_MODEL } from '../src/app/classifier.js';
import { estimateTrainingBytes } from '../src/training/train.js';
import {
  formatDoctor,
  jupyterChecks,
  kernelBinary,
  runDoctor,
  tslabKernelCheck,
  type DoctorReport,
} from '../src/app/doctor.js';
import { cliWithin } from './shared.js';

/** Each doctor command answers in seconds; three minutes is a hang. */
const cli = (...args: string[]) => cliWithin(180_000, ...args);

const check = (r: DoctorReport, item: string) => {
  const c = r.checks.find((x) => x.item === item);
  assert.ok(c, `no check "${item}" in ${r.checks.map((x) => x.item).join(', ')}`);
  return c;
};

test('doctor reports the backend in use, the native kernels, ONNX Runtime, the GPU stack and Jupyter as they are here', async () => {
  const r = await runDoctor();
  assert.equal(r.backend.name, tf.getBackend());
  assert.match(check(r, 'tfjs backend').detail, new RegExp(`^${r.backend.name}: `));
  const addon = addonCandidates.some((p) => existsSync(p));
  const native = check(r, 'native kernels');
  if (!addon) assert.equal(native.status, 'no');
  else if (r.backend.name === 'wasm') {
    assert.equal(native.status, 'ok', native.detail);
    assert.match(native.detail, /OpenBLAS sgemm/);
    // bf16 products: available exactly when the CPU has AVX-512 BF16 (with the kernels running).
    const hasBf16 = /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    assert.equal(check(r, 'bf16 products').status, hasBf16 ? 'ok' : 'info', check(r, 'bf16 products').detail);
  }
  assert.equal(check(r, 'ONNX Runtime').status, 'ok', 'onnxruntime-node is a dev dependency and loads');
  const smi = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8' });
  const gpu = check(r, 'GPU (nvidia-smi)');
  assert.equal(gpu.status, smi.status === 0 ? 'ok' : 'no');
  const tfGpu = check(r, 'tfjs-node-gpu');
  if (tfGpu.status !== 'ok')
    assert.match(tfGpu.fix ?? '', /2\.9\.1.*CUDA 11\.2.*cuDNN 8\.1|npm install @tensorflow\/tfjs-node-gpu/);
  const specs = spawnSync('jupyter', ['kernelspec', 'list', '--json'], { encoding: 'utf8' });
  const tslabSpec = (
    specs.status === 0
      ? (JSON.parse(specs.stdout) as { kernelspecs: Record<string, { spec: { argv: string[] } }> }).kernelspecs.tslab
      : undefined
  )?.spec.argv[0];
  const tslab = check(r, 'tslab kernel');
  assert.equal(tslab.status, tslabSpec && kernelBinary(tslabSpec) ? 'ok' : 'no', tslab.detail);
  if (tslab.status === 'no') assert.match(tslab.fix ?? '', /tslab install --sys-prefix/);
  const lab = spawnSync('jupyter', ['lab', '--version'], { encoding: 'utf8' });
  assert.equal(check(r, 'JupyterLab').status, lab.status === 0 ? 'ok' : 'no', check(r, 'JupyterLab').detail);
  assert.match(check(r, 'Hugging Face cache').detail, /huggingface|hub/);
  const table = formatDoctor(r);
  for (const c of r.checks) assert.ok(table.includes(c.item), `table row for ${c.item}`);
});

test("doctor --model: the training estimate is train.ts's, with a measured step; an oversized batch does not fit the wasm heap", async () => {
  const r = await runDoctor({ model: BUNDLED_MODEL, batchSize: 8, maxLen: 32 });
  const t = r.training!;
  const m = await BertForSequenceClassification.fromPretrained(BUNDLED_MODEL, { labels: ['0', '1'], log: () => {} });
  assert.equal(t.estimatedBytes, estimateTrainingBytes(m, 8, 32));
  assert.equal(t.parameters, m.numParameters());
  m.dispose();
  assert.ok(t.fits);
  assert.ok(t.stepSeconds > 0 && Number.isFinite(t.stepSeconds), `step ${t.stepSeconds} s`);
  assert.equal(t.epochSeconds, t.stepSeconds * Math.ceil(6090 / 8));
  assert.match(formatDoctor(r), /per step \(measured\)/);
  if (r.backend.name === 'wasm') {
    const big = (await runDoctor({ model: BUNDLED_MODEL, batchSize: 4096, maxLen: 512 })).training!;
    assert.equal(big.fits, false);
    assert.match(big.problem ?? '', /more than the wasm backend's 4\.0 GB heap: lower --batch-size or --max-len/);
    assert.ok(Number.isNaN(big.stepSeconds), 'no step is run when it cannot fit');
    assert.match(formatDoctor({ ...r, training: big }), /does NOT fit/);
  }
});

test('bert-lab doctor: --json for machines, clear errors for bad options', () => {
  const r = cli('doctor', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  assert.ok(report.checks.length >= 10);
  assert.ok(report.backend.name);
  const bad = cli('doctor', '--batch-size', '0');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--batch-size must be an integer >= 1, got "0"/);
  const missing = cli('doctor', '--model', './no-such-model');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /model directory .*no-such-model does not exist/);
});

test('doctor: a tslab kernel is ok only when its binary (argv[0] of kernel.json) exists', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bert-lab-doctor-'));
  try {
    const bin = path.join(dir, 'tslab');
    writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    const spec = (argv0: string) => ({ tslab: { resource_dir: '/k/tslab', spec: { argv: [argv0, 'kernel'] } } });
    assert.equal(tslabKernelCheck(spec(bin)).status, 'ok');
    assert.match(tslabKernelCheck(spec(bin)).detail, new RegExp(`binary ${bin} exists`));
    const gone = tslabKernelCheck(spec(path.join(dir, 'moved', 'tslab')));
    assert.equal(gone.status, 'no');
    assert.match(
      gone.detail,
      /registered in \/k\/tslab, but its binary .*moved\/tslab does not exist: the kernel cannot start/,
    );
    assert.match(gone.fix ?? '', /tslab install --sys-prefix --python=/);
    assert.equal(tslabKernelCheck({}).detail, 'not registered');
    // A bare command name is looked up on PATH.
    assert.equal(kernelBinary('tslab', dir), bin);
    assert.equal(kernelBinary('tslab', path.join(dir, 'nowhere')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const hasJupyter = spawnSync('jupyter', ['--version'], { encoding: 'utf8' }).status === 0;

test(
  'doctor with Jupyter: a registered tslab kernel whose binary is gone is reported, not [ok]',
  { skip: !hasJupyter && 'jupyter is not installed' },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bert-lab-kernels-'));
    const saved = process.env.JUPYTER_PATH;
    try {
      // JUPYTER_PATH comes first in Jupyter's search: this tslab shadows any other.
      mkdirSync(path.join(dir, 'kernels', 'tslab'), { recursive: true });
      const gone = path.join(dir, 'removed-checkout', 'node_modules', '.bin', 'tslab');
      writeFileSync(
        path.join(dir, 'kernels', 'tslab', 'kernel.json'),
        JSON.stringify({
          argv: [gone, 'kernel', '--config-path', '{connection_file}'],
          display_name: 'TypeScript',
          language: 'typescript',
        }),
      );
      process.env.JUPYTER_PATH = dir;
      const checks = jupyterChecks();
      const tslab = checks.find((c) => c.item === 'tslab kernel')!;
      assert.equal(tslab.status, 'no');
      assert.ok(tslab.detail.includes(`its binary ${gone} does not exist`), tslab.detail);
      assert.equal(checks.find((c) => c.item === 'Jupyter')!.status, 'ok');
      const lab = checks.find((c) => c.item === 'JupyterLab')!;
      assert.equal(lab.status, spawnSync('jupyter', ['lab', '--version']).status === 0 ? 'ok' : 'no', lab.detail);
      if (lab.status === 'no') assert.match(lab.fix ?? '', /pip install jupyterlab/);
    } finally {
      if (saved === undefined) delete process.env.JUPYTER_PATH;
      else process.env.JUPYTER_PATH = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
