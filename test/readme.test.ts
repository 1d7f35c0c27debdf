// README's layer table names every file of src/: a new file without its row entry fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './shared.js';

test("README's layer table names every src/ file in its layer's row", () => {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const missing: string[] = [];
  for (const layer of readdirSync(path.join(repoRoot, 'src'))) {
    const dir = path.join(repoRoot, 'src', layer);
    if (!statSync(dir).isDirectory()) continue;
    const row = readme.split('\n').find((l) => l.startsWith(`| \`src/${layer}/\` |`));
    if (!row) {
      missing.push(`src/${layer}/ (no row)`);
      continue;
    }
    const walk = (d: string): string[] =>
      readdirSync(d).flatMap((f) => (statSync(path.join(d, f)).isDirectory() ? walk(path.join(d, f)) : [f]));
    for (const f of walk(dir).filter((f) => f.endsWith('.ts')))
      if (!row.includes(`\`${f}\``)) missing.push(`src/${layer}/…/${f}`);
  }
  assert.deepEqual(missing, [], 'files missing from the layer table of README.md');
});
