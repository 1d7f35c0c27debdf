// Lists the exports of src/ that nothing uses: not re-exported by the public API (src/index.ts),
// not imported by another file of src/, test/, bench/ or scripts/, and not named in a notebook.
// A dead export is code to delete or a name to stop exporting. Exits 1 when there is one.
//
//   node --import tsx scripts/check-exports.ts
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const walk = (d: string, ext: RegExp): string[] =>
  readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    if (f === 'node_modules' || f === 'dist') return [];
    return statSync(p).isDirectory() ? walk(p, ext) : ext.test(f) ? [p] : [];
  });

const sources = walk(path.join(root, 'src'), /\.ts$/);
const others = ['test', 'bench', 'scripts'].flatMap((d) => walk(path.join(root, d), /\.(ts|mjs)$/));
const notebooks = walk(path.join(root, 'notebooks'), /\.ipynb$/).map((f) => readFileSync(f, 'utf8'));
const text = new Map([...sources, ...others].map((f) => [f, readFileSync(f, 'utf8')]));

/**
 * Values a module exports itself (functions, classes, constants; types may stay exported for the
 * signatures that use them). `export { a, b }` lists are re-exports, counted as uses.
 */
function declaredExports(src: string): string[] {
  const names = new Set<string>();
  const re =
    /^export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|class|const|let|enum|abstract\s+class)\s+([A-Za-z_$][\w$]*)/gm;
  for (const m of src.matchAll(re)) names.add(m[1]);
  return [...names];
}

/** Whether `name` of `file` is used outside it: imported by name, re-exported, or a notebook's `lab.name`. */
function used(file: string, name: string): boolean {
  const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`);
  for (const [other, src] of text) {
    if (other === file) continue;
    // Any file that imports or re-exports from this module and mentions the name.
    const rel = path.basename(file, '.ts');
    if (src.includes(`${rel}.js'`) && word.test(src)) return true;
  }
  return notebooks.some((nb) => nb.includes(`lab.${name}`));
}

const dead: string[] = [];
for (const file of sources) {
  if (file.endsWith(path.join('src', 'index.ts'))) continue;
  const src = text.get(file)!;
  for (const name of declaredExports(src)) if (!used(file, name)) dead.push(`${path.relative(root, file)}: ${name}`);
}
if (dead.length) {
  console.error(`[check:exports] ${dead.length} export(s) nothing imports (delete them or stop exporting):`);
  for (const d of dead) console.error(`  ${d}`);
  process.exit(1);
}
console.log(
  `[check:exports] ${sources.length} files: every export is used (by another file, the public API or a notebook)`,
);
