// Checks the import graph of src/: every file sits in a layer folder, imports only its own layer or
// the layers below it, and no chain of imports comes back to where it started. Type-only imports
// count too: a type pulled from a higher layer ties the layers together as much as a value does.
//
//   node --import tsx scripts/check-imports.ts        (npm run check:imports)
//
// Exits 1 with one line per violation: the importing file, the line, the module and the rule.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The layers, lowest first: a file may import from its own layer and the ones before it. */
export const LAYERS = ['io', 'backend', 'nn', 'model', 'text', 'data', 'ui', 'training', 'app'] as const;
/** Files directly in src/ that sit above every layer (the public API). */
const TOP_FILES = new Set(['index.ts']);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

export interface Import {
  from: string;
  to: string;
  line: number;
  spec: string;
}

/** Relative imports of one file: `import ... from`, `export ... from`, `import('...')` with a literal. */
export function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  // Comments are blanked (keeping line breaks) so an example in a doc comment is not read as an import.
  const code = text.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (m) => m.replace(/[^\n]/g, ' '));
  const re =
    /(?:\bimport|\bexport)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) continue;
    const to = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
    out.push({ from: file, to, line: code.slice(0, m.index).split('\n').length, spec });
  }
  return out;
}

/** The layer index of a file under src/ (LAYERS.length for the top files), or undefined if in none. */
export function layerOf(file: string): number | undefined {
  const rel = path.relative(srcDir, file).split(path.sep);
  if (rel.length === 1) return TOP_FILES.has(rel[0]) ? LAYERS.length : undefined;
  const i = (LAYERS as readonly string[]).indexOf(rel[0]);
  return i < 0 ? undefined : i;
}

/** Every cycle's files (strongly connected components with more than one file, or a file importing itself). */
export function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(),
    low = new Map<string, number>(),
    stack: string[] = [],
    on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || graph.get(v)?.has(v)) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

function main(): void {
  const files = sourceFiles(srcDir);
  const rel = (f: string) => path.relative(root, f);
  const problems: string[] = [];
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    graph.set(file, new Set());
    const from = layerOf(file);
    if (from === undefined) {
      problems.push(
        `${rel(file)}: not in a layer folder (src/{${LAYERS.join(',')}}/ or src/index.ts): move it into the layer it belongs to`,
      );
      continue;
    }
    for (const imp of importsOf(file, readFileSync(file, 'utf8'))) {
      graph.get(file)!.add(imp.to);
      const to = layerOf(imp.to);
      if (to === undefined) continue; // reported as a file of its own, or outside src/
      if (to > from) {
        problems.push(
          `${rel(file)}:${imp.line}: imports '${imp.spec}' from the higher layer ${LAYERS[to] ?? 'index'}/ ` +
            `(order, lowest first: ${LAYERS.join(' < ')}): move the shared code down, or pass it in`,
        );
      }
    }
  }
  for (const c of cycles(graph))
    problems.push(`import cycle: ${c.map(rel).join(' <-> ')}: one of them must stop importing the other`);
  if (problems.length) {
    console.error(`[check:imports] ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  const edges = [...graph.values()].reduce((n, s) => n + s.size, 0);
  console.log(
    `[check:imports] ${files.length} files, ${edges} imports: no cycle, no upward import (${LAYERS.join(' < ')} < index)`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
