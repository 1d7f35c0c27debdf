// Where the package's own files are (models/, native/build/), wherever this code runs from: src/ in a
// checkout, dist/esm/ or dist/cjs/index.cjs after `npm run build` (the npm package), or dist/bert-lab.cjs in the
// notebook bundle.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest folder at or above `dir` holding package.json. */
function packageRootOf(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d)
      throw new Error(`no package.json in ${dir} or any folder above it: cannot find the bert-lab package root`);
  }
}

/** The bert-lab package's root folder (the repository root in a checkout). */
export const PACKAGE_ROOT = packageRootOf(path.dirname(fileURLToPath(import.meta.url)));
