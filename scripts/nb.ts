// Shared notebook helpers for scripts/strip-notebooks.ts, run-notebooks.ts and browser-check.ts.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const notebooksDir = path.join(root, 'notebooks');
export const artifactsDir = path.join(root, 'artifacts');

export interface Output {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error' | 'update_display_data';
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  [k: string]: unknown;
}
export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  [k: string]: unknown;
}
/** What a notebook declares for CI under metadata.bert_lab. */
export interface NotebookChecks {
  /** Strings that must each appear in some output (stream text, text/plain or text/html). */
  expect?: string[];
  /** Minimum number of rendered plotly charts in the HTML export (default 1). */
  plots?: number;
  /** Minimum number of HTML tables in the HTML export (default 1). */
  tables?: number;
  /** Seconds allowed per cell in quick mode (default 1200). */
  cell_timeout?: number;
  /** Titles of plotly charts that must be drawn in the HTML export (checked in Chromium). */
  charts?: string[];
  /** Quick mode's settings: { variable: TypeScript expression }, injected after the parameters cell. */
  quick?: Record<string, string>;
}

/** papermill's tags: the cell that declares a notebook's settings, and the cell inserted after it. */
export const PARAMETERS_TAG = 'parameters';
export const INJECTED_TAG = 'injected-parameters';

/** The tag of a cell CI runs twice in a row (a student re-running it without restarting the kernel). */
export const RERUN_TAG = 'rerun';
export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown> & { bert_lab?: NotebookChecks };
  nbformat: number;
  nbformat_minor: number;
}

/** Notebooks under notebooks/ (names starting with "_" are scratch files and skipped). */
export function listNotebooks(): string[] {
  if (!existsSync(notebooksDir)) return [];
  return readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb') && !f.startsWith('_'))
    .sort()
    .map((f) => path.join(notebooksDir, f));
}

export function readNotebook(file: string): Notebook {
  return JSON.parse(readFileSync(file, 'utf8')) as Notebook;
}

/** Jupyter's own layout: one-space indent, non-ASCII kept, trailing newline. */
export function serialize(nb: Notebook): string {
  return JSON.stringify(nb, null, 1) + '\n';
}

export function writeNotebook(file: string, nb: Notebook): void {
  writeFileSync(file, serialize(nb));
}

export const joinText = (t: string | string[] | undefined): string => (Array.isArray(t) ? t.join('') : (t ?? ''));

/** All text an output shows (stream text, text/plain, text/html, error name/value). */
export function outputText(o: Output): string {
  if (o.output_type === 'stream') return joinText(o.text);
  if (o.output_type === 'error') return `${o.ename}: ${o.evalue}\n${(o.traceback ?? []).join('\n')}`;
  const d = o.data ?? {};
  return [d['text/plain'], d['text/html'], d['text/markdown']].map((x) => joinText(x)).join('\n');
}

/** Returns a stripped copy of the notebook. */
export function strip(nb: Notebook): Notebook {
  const out: Notebook = structuredClone(nb);
  for (const cell of out.cells) {
    if (cell.cell_type === 'code') {
      cell.outputs = [];
      cell.execution_count = null;
    }
    delete cell.metadata.execution;
    delete cell.metadata.ExecuteTime;
  }
  return out;
}

/**
 * A copy in which every cell tagged RERUN_TAG is followed by a second copy of itself (metadata
 * bert_lab_rerun: true), so one execution checks that those cells can run again in the same kernel.
 */
export function withReruns(nb: Notebook): Notebook {
  const out: Notebook = structuredClone(nb);
  out.cells = out.cells.flatMap((cell) => {
    const tags = (cell.metadata.tags as string[] | undefined) ?? [];
    if (cell.cell_type !== 'code' || !tags.includes(RERUN_TAG)) return [cell];
    const again = structuredClone(cell);
    again.metadata = { ...again.metadata, bert_lab_rerun: true };
    return [cell, again];
  });
  return out;
}

const tagsOf = (c: Cell) => (c.metadata.tags as string[] | undefined) ?? [];

/** The index of the notebook's parameters cell (tagged "parameters"), or -1. */
export function parametersCell(nb: Notebook): number {
  return nb.cells.findIndex((c) => c.cell_type === 'code' && tagsOf(c).includes(PARAMETERS_TAG));
}

/**
 * A copy with a cell tagged "injected-parameters" right after the parameters cell that assigns
 * `values` ({ name: TypeScript expression }), as papermill injects parameters: the notebook then
 * runs with those settings and nothing else changed. Names the parameters cell does not declare,
 * or a notebook without one, are refused.
 */
export function withParameters(nb: Notebook, values: Record<string, string>): Notebook {
  const at = parametersCell(nb);
  if (at < 0) throw new Error('the notebook has no code cell tagged "parameters" to inject settings after');
  const declared = joinText(nb.cells[at].source);
  for (const name of Object.keys(values))
    if (!new RegExp(`^let ${name}\\b`, 'm').test(declared))
      throw new Error(`the parameters cell declares no "let ${name}" to set`);
  const out: Notebook = structuredClone(nb);
  const lines = Object.entries(values).map(([name, expr]) => `${name} = ${expr};`);
  out.cells.splice(at + 1, 0, {
    cell_type: 'code',
    source: ['// Injected parameters', ...lines].join('\n'),
    metadata: { tags: [INJECTED_TAG] },
    outputs: [],
    execution_count: null,
  });
  return out;
}

/** Problems found in an executed notebook's outputs. */
export function checkOutputs(nb: Notebook): string[] {
  const problems: string[] = [];
  const texts: string[] = [];
  nb.cells.forEach((cell, i) => {
    for (const o of cell.outputs ?? []) {
      const text = outputText(o);
      texts.push(text);
      const where = `cell ${i + 1}`;
      if (o.output_type === 'error') problems.push(`${where}: error output ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream' && o.name === 'stderr') {
        const bad = [
          /^\s+at .+(:\d+:\d+\)?|\(native\)|\(<anonymous>\))$/m, // JS stack frame
          /^(\S+ )?\d+:\d+ - /m, // tslab's TypeScript diagnostic "3:14 - Cannot find name ..."
          /UncaughtException|UnhandledPromiseRejection/,
          /^\w*Error( \[\w+\])?: /m,
        ].find((re) => re.test(text));
        if (bad) problems.push(`${where}: stderr looks like an error:\n${indent(text.slice(0, 1500))}`);
      }
    }
  });
  const all = texts.join('\n');
  for (const marker of nb.metadata.bert_lab?.expect ?? []) {
    if (!all.includes(marker)) problems.push(`expected output "${marker}" not found`);
  }
  return problems;
}

const indent = (s: string) =>
  s
    .split('\n')
    .map((l) => '    ' + l)
    .join('\n');
