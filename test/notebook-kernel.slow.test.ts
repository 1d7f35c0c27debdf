// Notebook 01 in a live tslab kernel, driven as a student drives it (test/notebook_kernel.py, with
// jupyter_client): every setting of its parameters cell, changed, takes effect or the cell run
// alone refuses naming the cell to re-run from, and that advice is right; an interrupt during
// training stops it at a step boundary, says where and what was kept, leaks no tensor and leaves
// no loop running. Needs Jupyter's Python packages (Debian's jupyter-client) and the lab's data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { needsShared, repoRoot } from './shared.js';
import { privateKernelPath } from '../scripts/run-notebooks.js';
import { build } from '../scripts/build-notebook-lib.js';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const haveJupyter = spawnSync(python, ['-c', 'import jupyter_client'], { encoding: 'utf8' }).status === 0;
const skip = haveJupyter ? needsShared : { skip: `jupyter_client is not importable by ${python}` };

function drive(mode: 'settings' | 'interrupt' | 'burst') {
  const r = spawnSync(
    python,
    [
      path.join(repoRoot, 'test/notebook_kernel.py'),
      mode,
      path.join(repoRoot, 'notebooks/01-fine-tune-bert.ipynb'),
      privateKernelPath(),
    ],
    { encoding: 'utf8', timeout: 40 * 60_000, env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' } },
  );
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let res: { findings: Record<string, unknown>; failures: string[] };
  try {
    res = JSON.parse(last);
  } catch {
    throw new Error(`notebook_kernel.py ${mode} gave no result (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  console.log(`notebook ${mode}: ${JSON.stringify(res.findings)}`);
  return res;
}

test(
  'notebook 01: every changed setting takes effect, or the cell refuses and names the cell to re-run',
  skip,
  async () => {
    await build();
    const r = drive('settings');
    assert.deepEqual(r.failures, []);
    assert.equal(Object.keys(r.findings).length, 10, 'every setting of the parameters cell was tried');
  },
);

test('notebook 01: an interrupt stops training at a step, says what was kept, leaks nothing', skip, async () => {
  await build();
  const r = drive('interrupt');
  assert.deepEqual(r.failures, []);
  assert.equal(r.findings.interrupt_sent, true);
});

// A plain tslab kernel loses the idle status of a cell that prints 1,200 lines at once (zeromq.js
// defers every 512th send and refuses the next one meanwhile; tslab drops it), and the front end waits
// for that cell forever. bert-lab's import sets the kernel's sockets to send at once (src/ui/display.ts).
test(
  'notebook 01: after the import cell, a cell printing 1,200 lines at once ends with all of them',
  skip,
  async () => {
    await build();
    const r = drive('burst');
    assert.deepEqual(r.failures, []);
    assert.equal(Object.keys(r.findings).length, 3);
  },
);
