// Registers the gradients of tfjs-core's ops, once, before anything is differentiated. tfjs-core
// registers none itself (the tfjs umbrella package did, with all of tfjs); its own definitions are
// bundled into dist/tfjs-gradients/register.cjs (scripts/build-gradients.mjs: by `npm install` in a
// checkout, by `npm pack` for the package) and loaded here. They fill tfjs's global gradient
// registry, the one the tfjs-core imported by bert-lab reads.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT } from '../io/paths.js';

const file = path.join(PACKAGE_ROOT, 'dist', 'tfjs-gradients', 'register.cjs');
if (!existsSync(file))
  throw new Error(
    `${file} is missing: the gradients of tfjs's ops are bundled there; in a checkout run ` +
      '`node scripts/build-gradients.mjs` (npm install does it), or reinstall the package',
  );
createRequire(import.meta.url)(file);
