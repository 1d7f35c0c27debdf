// Builds what the npm package ships (`npm run build`; `npm pack` runs it as prepack):
//   dist/esm/   src/ compiled by tsc (tsconfig.build.json): ES modules with .d.ts beside them; the
//               `import` entry (dist/esm/index.js) and the CLI bin/bert-lab.js runs (dist/esm/app/cli.js)
//   dist/cjs/   the `require` entry: src/index.ts bundled as one CommonJS file (index.cjs; npm packages
//               stay external) and the same declarations as .d.cts, for TypeScript in CommonJS projects
// Then checks that every package the compiled code imports is one the package declares (a dependency,
// an optional peer or a Node built-in): a consumer gets only those, whatever the checkout holds.
//
//   node --import tsx scripts/build-package.ts
import { spawnSync } from 'node:child_process';
import { builtinModules, createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleCjs } from './build-notebook-lib.js';
import { buildGradients } from './build-gradients.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const esmDir = path.join(root, 'dist', 'esm');
const cjsDir = path.join(root, 'dist', 'cjs');
const rel = (f: string) => path.relative(root, f);

/** Every file under `dir` whose name ends with `ext`. */
function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(f, ext) : e.name.endsWith(ext) ? [f] : [];
  });
}

function compileEsm(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--pretty', 'false'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`[build] tsc -p tsconfig.build.json failed:\n${(r.stdout + r.stderr).trim()}`);
}

/**
 * The ES declarations as CommonJS ones: x.d.ts -> x.d.cts with relative imports './y.js' -> './y.cjs',
 * so that TypeScript under module nodenext types `require('bert-lab')` as CommonJS (no .js-for-ESM mix).
 */
function cjsDeclarations(): number {
  const files = filesUnder(esmDir, '.d.ts');
  for (const f of files) {
    const out = path.join(cjsDir, path.relative(esmDir, f)).replace(/\.d\.ts$/, '.d.cts');
    mkdirSync(path.dirname(out), { recursive: true });
    const text = readFileSync(f, 'utf8').replace(/(['"])(\.{1,2}\/[^'"]*?)\.js\1/g, '$1$2.cjs$1');
    writeFileSync(out, text);
  }
  return files.length;
}

/** Package names imported by the compiled code (static, dynamic and require), with the sources that import each. */
function importedPackages(): Map<string, string[]> {
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  const found = new Map<string, string[]>();
  // The source a compiled file came from: dist/esm/x/y.js <- src/x/y.ts (the bundle: src/index.ts's graph).
  const source = (f: string) =>
    f.startsWith(esmDir) ? path.join('src', path.relative(esmDir, f)).replace(/\.js$/, '.ts') : rel(f);
  for (const f of [...filesUnder(esmDir, '.js'), path.join(cjsDir, 'index.cjs')]) {
    // TypeScript's own scanner: imports, exports, import() and require() with a literal, not comments.
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles) {
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      const files = found.get(name) ?? [];
      if (!files.includes(source(f))) files.push(source(f));
      found.set(name, files);
    }
  }
  return found;
}

function checkImports(): void {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
  // tslab is only loaded inside its own kernel (src/ui/display.ts), where it is always installed.
  const providedByHost = new Set(['tslab']);
  const builtins = new Set(builtinModules);
  const bad = [...importedPackages()].filter(
    ([name]) => !declared.has(name) && !builtins.has(name) && !providedByHost.has(name),
  );
  if (bad.length)
    throw new Error(
      `[build] the compiled code imports packages the package does not declare (a consumer would not have them):\n${bad
        .map(
          ([name, files]) =>
            `  ${name}, imported by ${files.join(', ')}${name === '@tensorflow/tfjs' ? ': import @tensorflow/tfjs-core instead (the cpu backend is registered by src/backend/wasm.ts)' : pkg.devDependencies?.[name] ? ': a devDependency only' : ''}`,
        )
        .join('\n')}`,
    );
}

export async function buildPackage(): Promise<void> {
  const t0 = performance.now();
  rmSync(esmDir, { recursive: true, force: true });
  rmSync(cjsDir, { recursive: true, force: true });
  compileEsm();
  await buildGradients(); // dist/tfjs-gradients/register.cjs: tfjs-core's gradients, which src/backend/gradients.ts loads
  await bundleCjs(path.join(root, 'src', 'index.ts'), path.join(cjsDir, 'index.cjs'), false);
  const n = cjsDeclarations();
  checkImports();
  // stderr: `npm pack --json` prints its result on stdout, after this (prepack) script.
  console.error(
    `[build] ${rel(esmDir)} (ES modules + .d.ts), ${rel(cjsDir)}/index.cjs (CommonJS bundle) + ${n} .d.cts in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildPackage().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
