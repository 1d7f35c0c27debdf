// The JupyterLab check's reading of a notebook and of its outputs (the run itself is CI's step
// "notebook 01 in JupyterLab"): which cells it runs, and which outputs count as errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellsToRun, isError } from '../scripts/jupyterlab-check.js';
import { listNotebooks, readNotebook, type Notebook } from '../scripts/nb.js';

const cell = (tags?: string[]) => ({ cell_type: 'code' as const, source: '', metadata: tags ? { tags } : {} });

test('cellsToRun: through the third code cell after the parameters cell; the first five without one', () => {
  const nb = (cells: Notebook['cells']): Notebook => ({ cells, metadata: {}, nbformat: 4, nbformat_minor: 5 });
  assert.equal(cellsToRun(nb([cell(), cell(), cell(['parameters']), cell(), cell(), cell(), cell(), cell()])), 6);
  assert.equal(cellsToRun(nb(Array.from({ length: 9 }, () => cell()))), 5);
  assert.equal(cellsToRun(nb([cell(['parameters']), cell()])), 2);
  // Every notebook has its parameters cell, so the check reaches past it.
  for (const f of listNotebooks()) {
    const n = readNotebook(f);
    const code = n.cells.filter((c) => c.cell_type === 'code');
    const p = code.findIndex((c) => ((c.metadata.tags as string[] | undefined) ?? []).includes('parameters'));
    assert.ok(p >= 0, `${f}: no cell tagged "parameters"`);
    assert.ok(cellsToRun(n) > p + 1, f);
  }
});

test('isError: exceptions, TypeScript diagnostics and failed builds, not ordinary stderr lines', () => {
  const err = (text: string) => isError({ mime: 'application/vnd.jupyter.stderr', text });
  assert.ok(isError({ mime: 'application/vnd.jupyter.error', text: 'Interrupted: stopped at step 3' }));
  assert.ok(err("1:22 - Cannot find module '../dist/bert-lab.cjs'"));
  assert.ok(err('Error: ENOENT: no such file'));
  assert.ok(err('✘ [ERROR] Cannot assign to "dir" because it is a constant'));
  assert.ok(!err('[bert-lab] backend: wasm (native kernels)'));
  assert.ok(!isError({ mime: 'text/plain', text: 'Error: shown as data' }));
});
