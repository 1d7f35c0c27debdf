// Removes outputs, execution counts and execution timing from notebooks/*.ipynb, so that the
// repository holds notebooks as a teacher steps through them, not as last run.
//
//   node --import tsx scripts/strip-notebooks.ts [--check] [files...]
// --check: change nothing, exit 1 when any notebook has outputs (used by CI).
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { listNotebooks, readNotebook, root, serialize, strip, writeNotebook, type Notebook } from './nb.js';

function main(): void {
  const args = process.argv.slice(2);
  const check = args.includes('--check');
  const files = args.filter((a) => !a.startsWith('--')).map((f) => path.resolve(f));
  const targets = files.length ? files : listNotebooks();
  if (!targets.length) {
    console.log('[strip] no notebooks under notebooks/');
    return;
  }
  const dirty: string[] = [];
  for (const file of targets) {
    const text = readFileSync(file, 'utf8');
    const stripped = serialize(strip(readNotebook(file)));
    if (stripped === text) continue;
    dirty.push(path.relative(root, file));
    if (!check) writeNotebook(file, JSON.parse(stripped) as Notebook);
  }
  if (check && dirty.length) {
    console.error(
      `[strip] these notebooks have outputs or are not in Jupyter's layout; run\n  node --import tsx scripts/strip-notebooks.ts\n${dirty.map((f) => '  ' + f).join('\n')}`,
    );
    process.exit(1);
  }
  console.log(
    check
      ? `[strip] ${targets.length} notebook(s) clean`
      : `[strip] stripped ${dirty.length} of ${targets.length} notebook(s)`,
  );
}

main();
