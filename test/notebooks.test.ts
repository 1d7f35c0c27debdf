// The notebook tooling's logic (no Jupyter needed), plus: committed notebooks are stripped and
// parse, and declare what CI checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  checkOutputs,
  listNotebooks,
  readNotebook,
  serialize,
  strip,
  withReruns,
  withParameters,
  parametersCell,
  joinText,
  PARAMETERS_TAG,
  INJECTED_TAG,
  RERUN_TAG,
  type Notebook,
} from '../scripts/nb.js';

const nb = (outputs: Notebook['cells'][number]['outputs'], expect?: string[]): Notebook => ({
  cells: [
    { cell_type: 'code', source: 'x', metadata: { execution: { t: 1 }, tags: ['keep'] }, execution_count: 3, outputs },
  ],
  metadata: { bert_lab: { expect } },
  nbformat: 4,
  nbformat_minor: 5,
});

test('strip removes outputs, counts and timing, keeps other metadata', () => {
  const s = strip(nb([{ output_type: 'stream', name: 'stdout', text: 'hi' }]));
  assert.deepEqual(s.cells[0].outputs, []);
  assert.equal(s.cells[0].execution_count, null);
  assert.deepEqual(s.cells[0].metadata, { tags: ['keep'] });
});

test('checkOutputs: clean run with markers passes', () => {
  assert.deepEqual(
    checkOutputs(
      nb(
        [
          { output_type: 'stream', name: 'stdout', text: ['Max sentence length: ', '45\n'] },
          { output_type: 'stream', name: 'stderr', text: '[bert-lab] backend: wasm (fastest that loads)\n' },
          { output_type: 'display_data', data: { 'text/html': '<table class="bert-lab-table">' } },
        ],
        ['Max sentence length: 45', '<table'],
      ),
    ),
    [],
  );
});

test('checkOutputs: missing markers, error outputs, stack traces and diagnostics fail', () => {
  assert.match(checkOutputs(nb([], ['plotly']))[0], /expected output "plotly" not found/);
  assert.match(
    checkOutputs(nb([{ output_type: 'error', ename: 'TypeError', evalue: 'x is undefined' }]))[0],
    /cell 1: error output TypeError/,
  );
  const stack = 'Error: boom\n    at evalmachine.<anonymous>:3:43\n    at Script.runInThisContext (node:vm:135:14)\n';
  assert.match(
    checkOutputs(nb([{ output_type: 'stream', name: 'stderr', text: stack }]))[0],
    /stderr looks like an error/,
  );
  assert.equal(
    checkOutputs(
      nb([
        { output_type: 'stream', name: 'stderr', text: "1:7 - Type 'string' is not assignable to type 'number'.\n" },
      ]),
    ).length,
    1,
  );
  assert.equal(
    checkOutputs(nb([{ output_type: 'stream', name: 'stderr', text: 'UnhandledPromiseRejection: x\n' }])).length,
    1,
  );
});

test('committed notebooks are stripped, use the tslab kernel and declare expected outputs', () => {
  for (const file of listNotebooks()) {
    const text = readFileSync(file, 'utf8');
    const book = readNotebook(file);
    assert.equal(serialize(strip(book)), text, `${file} has outputs: run node --import tsx scripts/strip-notebooks.ts`);
    assert.equal(
      (book.metadata.kernelspec as { name?: string } | undefined)?.name,
      'tslab',
      `${file}: kernel must be tslab`,
    );
    assert.ok(
      (book.metadata.bert_lab?.expect ?? []).length > 0,
      `${file}: metadata.bert_lab.expect lists no outputs to check`,
    );
  }
});

test('withReruns runs each cell tagged "rerun" twice in a row, and nothing else', () => {
  const book: Notebook = {
    cells: [
      { cell_type: 'code', source: 'a', metadata: {} },
      { cell_type: 'code', source: 'model', metadata: { tags: [RERUN_TAG] } },
      { cell_type: 'markdown', source: 'm', metadata: { tags: [RERUN_TAG] } },
      { cell_type: 'code', source: 'train', metadata: { tags: ['x', RERUN_TAG] } },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  const twice = withReruns(book);
  assert.deepEqual(
    twice.cells.map((c) => c.source),
    ['a', 'model', 'model', 'm', 'train', 'train'],
  );
  assert.equal(twice.cells[2].metadata.bert_lab_rerun, true);
  assert.equal(book.cells.length, 4, 'the original is left alone');
});

test('notebook 01 runs its model and training cells twice in CI and names the charts Chromium must find', () => {
  const book = readNotebook(listNotebooks().find((f) => f.includes('01-fine-tune-bert'))!);
  const tagged = book.cells.filter((c) => ((c.metadata.tags as string[] | undefined) ?? []).includes(RERUN_TAG));
  const src = tagged.map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
  assert.ok(
    src.some((s) => s.includes('pretrainedClassifier') && s.includes('named parameters')),
    'the model cell',
  );
  assert.ok(
    src.some((s) => s.includes('lab.backward(') && s.includes('applyGradients')),
    'the training cell',
  );
  const charts = book.metadata.bert_lab?.charts ?? [];
  for (const title of ['Decision threshold sweep', 'Learning rate over the training steps'])
    assert.ok(charts.includes(title), `charts lists "${title}"`);
});

test('withParameters inserts the settings after the parameters cell, as papermill does, and only declared ones', () => {
  const book: Notebook = {
    cells: [
      { cell_type: 'code', source: 'import x', metadata: {} },
      {
        cell_type: 'code',
        source: 'let epochs = 4; // four\nlet lr: number | undefined = undefined;',
        metadata: { tags: [PARAMETERS_TAG] },
      },
      { cell_type: 'code', source: 'train()', metadata: {} },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  };
  const out = withParameters(book, { epochs: '1', lr: '5e-5' });
  assert.equal(out.cells.length, 4);
  assert.deepEqual(out.cells[2].metadata.tags, [INJECTED_TAG]);
  assert.match(out.cells[2].source as string, /^\/\/ Injected parameters\nepochs = 1;\nlr = 5e-5;$/);
  assert.equal(out.cells[3].source, 'train()');
  assert.throws(() => withParameters(book, { dropout: '0' }), /declares no "let dropout"/);
  assert.throws(
    () => withParameters({ ...book, cells: [book.cells[0]] }, { epochs: '1' }),
    /no code cell tagged "parameters"/,
  );
});

test('every notebook: one parameters cell of plain lets, quick settings it declares, short lines, no plumbing', () => {
  for (const file of listNotebooks()) {
    const book = readNotebook(file);
    const name = path.basename(file);
    const at = parametersCell(book);
    assert.ok(at >= 0, `${name}: a code cell tagged "parameters"`);
    const params = joinText(book.cells[at].source);
    for (const line of params.split('\n').filter((l) => l.trim() && !l.trim().startsWith('//')))
      assert.match(line, /^let \w+/, `${name}: the parameters cell holds only let declarations: ${line}`);
    withParameters(book, book.metadata.bert_lab?.quick ?? {}); // throws on an undeclared name
    book.cells.forEach((c, i) => {
      if (c.cell_type !== 'code') return;
      const text = joinText(c.source);
      assert.doesNotMatch(text, /process\.env|BERT_LAB_QUICK/, `${name} cell ${i + 1}: no environment plumbing`);
      for (const line of text.split('\n'))
        assert.ok(line.length <= 100, `${name} cell ${i + 1}: a line of ${line.length} characters: ${line}`);
    });
  }
});
