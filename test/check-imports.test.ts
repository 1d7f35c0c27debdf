// The import-graph check of scripts/check-imports.ts: it finds cycles and upward imports, and the
// real src/ passes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cycles, importsOf, layerOf, LAYERS } from '../scripts/check-imports.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = (p: string) => path.join(root, 'src', p);

test('imports are read from import, export-from and literal import(), not from comments', () => {
  const file = src('model/bert.ts');
  const text = [
    "import * as tf from '@tensorflow/tfjs';",
    "import type { BertConfig } from './config.js';",
    "export { toInputs } from './inputs.js';",
    "// import { x } from '../app/cli.js';",
    '/** Example: `import { y } from "../app/lab.js"` */',
    "const m = await import('../nn/ops.js');",
  ].join('\n');
  const got = importsOf(file, text).map((i) => [path.relative(path.join(root, 'src'), i.to), i.line]);
  assert.deepEqual(got, [
    ['model/config.ts', 2],
    ['model/inputs.ts', 3],
    ['nn/ops.ts', 6],
  ]);
});

test('layers: folder order, index on top, stray files in none', () => {
  assert.equal(layerOf(src('io/hub.ts')), 0);
  assert.equal(layerOf(src('app/cli.ts')), LAYERS.length - 1);
  assert.ok(layerOf(src('backend/wasm.ts'))! < layerOf(src('nn/ops.ts'))!);
  assert.ok(layerOf(src('model/bert.ts'))! < layerOf(src('training/train.ts'))!);
  assert.equal(layerOf(src('index.ts')), LAYERS.length);
  assert.equal(layerOf(src('stray.ts')), undefined);
  assert.equal(layerOf(src('misc/x.ts')), undefined);
});

test('cycles: a two-file circle and a longer one are found, a chain is not', () => {
  const g = (edges: [string, string][]) => {
    const m = new Map<string, Set<string>>();
    for (const [a, b] of edges) {
      if (!m.has(a)) m.set(a, new Set());
      if (!m.has(b)) m.set(b, new Set());
      m.get(a)!.add(b);
    }
    return m;
  };
  assert.deepEqual(
    cycles(
      g([
        ['a', 'b'],
        ['b', 'a'],
        ['b', 'c'],
      ]),
    ),
    [['a', 'b']],
  );
  assert.deepEqual(
    cycles(
      g([
        ['a', 'b'],
        ['b', 'c'],
        ['c', 'a'],
        ['c', 'd'],
      ]),
    ),
    [['a', 'b', 'c']],
  );
  assert.deepEqual(
    cycles(
      g([
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ]),
    ),
    [],
  );
});

test('src/ has no cycle and no upward import', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts/check-imports.ts')], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /no cycle, no upward import/);
});
