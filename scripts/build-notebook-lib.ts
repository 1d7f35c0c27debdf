// Builds the library bundle the notebooks import: dist/bert-lab.cjs (+ dist/bert-lab.d.cts types).
//
// Why: tslab compiles each cell to CommonJS with its own TypeScript (rootDir = the notebook's
// folder), so cells cannot import ../src/*.ts directly ("not under rootDir", and `import.meta`
// breaks when tslab turns src files into CommonJS). A CommonJS bundle with a declaration file
// works: `import * as lab from '../dist/bert-lab.cjs'` is typed and runs in the kernel.
//
// Entry: src/index.ts, the public API, so `lab.prepareData`, `lab.initBackend` etc. are the names
// a program importing the package uses. Library modules must not use top-level await (CommonJS
// cannot express it). npm packages stay external, so tfjs is the single instance shared with the
// cells. Up-to-date outputs are kept unless --force.
//
//   node --import tsx scripts/build-notebook-lib.ts [--force] [--quiet]
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = path.join(root, 'src');
const dist = path.join(root, 'dist');
const outJs = path.join(dist, 'bert-lab.cjs');
const outDts = path.join(dist, 'bert-lab.d.cts');
const typesDir = path.join(dist, 'types');
const force = process.argv.includes('--force');
const quiet = process.argv.includes('--quiet');
const log = (s: string) => {
  if (!quiet) console.log(s);
};

const entryFile = path.join(srcDir, 'index.ts');
const entryDts = './types/src/index.js';

/** Every source file under src/, for the up-to-date check. */
function sources(dir = srcDir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

function newestInput(): number {
  const files = sources().concat(fileURLToPath(import.meta.url), path.join(root, 'package.json'));
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

function upToDate(): boolean {
  if (!existsSync(outJs) || !existsSync(outDts)) return false;
  return Math.min(statSync(outJs).mtimeMs, statSync(outDts).mtimeMs) >= newestInput();
}

function loadEsbuild(): typeof import('esbuild') {
  // esbuild comes with tsx; resolve it from there so a nested install also works.
  const req = createRequire(import.meta.url);
  try {
    return req('esbuild') as typeof import('esbuild');
  } catch {
    /* fall through */
  }
  return createRequire(req.resolve('tsx/package.json'))('esbuild') as typeof import('esbuild');
}

/**
 * src/index.ts (or `entry`) as one CommonJS file: npm packages stay external, so tfjs is the single
 * instance shared with the code that requires it. Also the package's CommonJS entry (build-package.ts).
 */
export async function bundleCjs(
  entry: string,
  outfile: string,
  sourcemap: boolean | 'inline' = 'inline',
): Promise<void> {
  const esbuild = loadEsbuild();
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    sourcemap,
    logLevel: 'warning',
    // import.meta.url in src/ becomes the bundle's own URL; paths computed from it look upwards
    // for package.json (src/io/paths.ts), which finds the package root from dist/ too.
    define: { 'import.meta.url': '__bert_lab_import_meta_url' },
    banner: { js: "const __bert_lab_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  });
}

export async function build(): Promise<void> {
  if (!force && upToDate()) {
    log(`[notebook-lib] ${path.relative(root, outJs)} is up to date`);
    return;
  }
  const t0 = performance.now();
  const file = entryFile,
    dts = entryDts;
  mkdirSync(dist, { recursive: true });
  // Built beside their place and renamed into it: a notebook (or another build) reading the bundle
  // or its types meanwhile sees the old ones or the new ones, never half of either.
  const tag = `.tmp-${process.pid}`;
  await bundleCjs(file, outJs + tag);
  renameSync(outJs + tag, outJs);
  const t1 = performance.now();
  const newTypes = typesDir + tag;
  rmSync(newTypes, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      file,
      '--declaration',
      '--emitDeclarationOnly',
      '--outDir',
      newTypes,
      '--rootDir',
      root,
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--strict',
      '--esModuleInterop',
      '--skipLibCheck',
      '--resolveJsonModule',
      '--types',
      'node',
      '--pretty',
      'false',
    ],
    { cwd: root, encoding: 'utf8' },
  );
  const dtsFile = path.join(newTypes, path.relative(typesDir, path.join(dist, dts.replace(/\.js$/, '.d.ts'))));
  if (!existsSync(dtsFile)) {
    rmSync(newTypes, { recursive: true, force: true });
    throw new Error(
      `[notebook-lib] declaration emit failed (no ${path.relative(root, dtsFile)}):\n${r.stdout}${r.stderr}`,
    );
  }
  if (r.status !== 0) {
    // Types are emitted even with errors; the bundle still works. Show them, don't stop.
    console.warn(
      `[notebook-lib] type errors while emitting declarations (bundle built anyway):\n${(r.stdout + r.stderr).trim().split('\n').slice(0, 20).join('\n')}`,
    );
  }
  const oldTypes = typesDir + `.old-${process.pid}`;
  if (existsSync(typesDir)) renameSync(typesDir, oldTypes);
  renameSync(newTypes, typesDir);
  rmSync(oldTypes, { recursive: true, force: true });
  writeFileSync(
    outDts + tag,
    `// Generated by scripts/build-notebook-lib.ts: types of bert-lab.cjs.\nexport * from '${dts}';\n`,
  );
  renameSync(outDts + tag, outDts);
  log(
    `[notebook-lib] built ${path.relative(root, outJs)} from ${path.relative(root, file)} (bundle ${((t1 - t0) / 1000).toFixed(1)} s, types ${((performance.now() - t1) / 1000).toFixed(1)} s)`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  build().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
