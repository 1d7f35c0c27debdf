// Builds dist/tfjs-gradients/register.cjs: tfjs-core's own gradient definitions (its
// register_all_gradients module) bundled into one CommonJS file. tfjs-core registers no gradient
// itself (the tfjs umbrella package does, with all of tfjs); its ES module files import directories,
// which Node's ES module loader refuses, so they are bundled once here. The registry they fill is
// tfjs's global one, shared with the tfjs-core bert-lab imports. Run by `npm install` in a checkout
// (scripts/install-native.mjs) and by `npm pack` (scripts/build-package.ts).
import { mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const gradientsFile = path.join(root, 'dist', 'tfjs-gradients', 'register.cjs');

export async function buildGradients() {
  const esbuild = await import('esbuild');
  mkdirSync(path.dirname(gradientsFile), { recursive: true });
  const tmp = `${gradientsFile}.tmp-${process.pid}`;
  await esbuild.build({
    stdin: { contents: "import '@tensorflow/tfjs-core/dist/register_all_gradients';", resolveDir: root },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    minify: true,
    legalComments: 'eof',
    outfile: tmp,
    logLevel: 'warning',
  });
  renameSync(tmp, gradientsFile);
  return gradientsFile;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  const f = await buildGradients();
  console.log(`[gradients] built ${path.relative(root, f)}`);
}
