// The npm package as a project that depends on it gets it (issue 24): `npm pack` in the checkout
// (prepack builds dist/), the tarball installed into an empty folder with no flags or overrides
// (`--offline` first, from the registry when the npm cache lacks something), then an ES import, a
// require, a strict TypeScript build against the shipped declarations, `npx bert-lab lab --dry-run`
// and a tslab notebook in that folder. Prints the tarball's size and files and the install's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(path.join(tmpdir(), 'bert-lab-package-'));
const app = path.join(work, 'app');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

// npm run test:all passes npm's own settings down as npm_* variables; the commands here run as a
// user's would, from a clean environment.
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'),
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions & { cwd: string }): Run {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 900_000, ...opts });
  if (r.error) throw r.error;
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;

/** npm install in `app`, from the npm cache alone when it has everything, else from the registry. */
function npmInstall(args: string[]): Run {
  const offline = run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...args], { cwd: app });
  if (offline.code === 0) return offline;
  return run('npm', ['install', '--no-audit', '--no-fund', ...args], { cwd: app });
}

const du = (dir: string) => Number(run('du', ['-sk', dir], { cwd: work }).stdout.split('\t')[0]) * 1024;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

let tarball = '';

test('npm pack: compiled JavaScript (ESM + CommonJS) with declarations, README, LICENSE, the bundled models, nothing else', () => {
  const r = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
  assert.equal(r.code, 0, show(r));
  // The JSON array follows whatever the lifecycle scripts printed.
  const [info] = JSON.parse(r.stdout.slice(r.stdout.search(/^\[/m))) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string; size: number }[];
  }[];
  tarball = path.join(work, info!.filename);
  const files = info!.files.map((f) => f.path);
  const allowed =
    /^(package\.json|README\.md|LICENSE|bin\/bert-lab\.js|dist\/esm\/.+\.(js|d\.ts)|dist\/cjs\/.+\.d\.cts|dist\/cjs\/index\.cjs|dist\/tfjs-gradients\/register\.cjs|models\/bert-lab-(mini|tiny)\/[^/]+)$/;
  assert.deepEqual(
    files.filter((f) => !allowed.test(f)),
    [],
    'only the build, the bin, the models, README and LICENSE',
  );
  for (const f of [
    'LICENSE',
    'README.md',
    'bin/bert-lab.js',
    'dist/esm/index.js',
    'dist/esm/index.d.ts',
    'dist/esm/app/cli.js',
    'dist/cjs/index.cjs',
    'dist/cjs/index.d.cts',
    'dist/tfjs-gradients/register.cjs', // the gradients of tfjs-core's ops: training needs them
    'models/bert-lab-mini/model.safetensors',
    'models/bert-lab-mini/tokenizer.json',
    'models/bert-lab-tiny/model.safetensors',
  ])
    assert.ok(files.includes(f), `${f} is in the tarball`);
  const groups = new Map<string, number>();
  for (const f of files) {
    const g = f.split('/').slice(0, 2).join('/');
    groups.set(g, (groups.get(g) ?? 0) + 1);
  }
  console.log(
    `[package] ${info!.filename}: ${mb(info!.size)} packed, ${mb(info!.unpackedSize)} unpacked, ${files.length} files (${[...groups].map(([g, n]) => `${g} ${n}`).join(', ')})`,
  );
  const x = path.join(work, 'x');
  mkdirSync(x);
  assert.equal(run('tar', ['-xzf', tarball, '-C', x], { cwd: work }).code, 0);
  assert.match(readFileSync(path.join(x, 'package/LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  const pkg = JSON.parse(readFileSync(path.join(x, 'package/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    scripts: Record<string, string>;
  };
  for (const dev of ['typescript', 'tsx', '@types/node', 'danfojs', '@tensorflow/tfjs'])
    assert.equal(pkg.dependencies[dev], undefined, `${dev} is no run-time dependency`);
  for (const hook of ['preinstall', 'install', 'postinstall', 'prepare'])
    assert.equal(pkg.scripts[hook], undefined, `no ${hook} script runs in a project that installs bert-lab`);
});

test('installed as a dependency: import, require, tsc --strict, npx bert-lab lab --dry-run, a tslab notebook', () => {
  assert.ok(tarball, 'npm pack ran');
  mkdirSync(app);
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }),
  );
  const install = npmInstall([tarball]);
  assert.equal(install.code, 0, show(install));
  assert.doesNotMatch(install.stderr, /npm (warn|error)/i, 'installs without a warning');
  const size = du(path.join(app, 'node_modules'));
  console.log(`[package] production install: ${mb(size)} (du -sk node_modules)`);
  assert.ok(size <= 250 * 2 ** 20, `production install ${mb(size)}, more than 250 MB`);
  for (const tool of ['tsx', 'typescript', 'danfojs', '@tensorflow/tfjs'])
    assert.ok(!existsSync(path.join(app, 'node_modules', tool)), `${tool} is not installed with bert-lab`);

  // ES module and CommonJS entries.
  writeFileSync(
    path.join(app, 'esm.mjs'),
    "import { fineTune, cleanText, readCsv } from 'bert-lab';\nconsole.log(`esm ${typeof fineTune} ${typeof readCsv} ${cleanText('This movie is not good', 'improved')}`);\n",
  );
  const esm = run(process.execPath, ['esm.mjs'], { cwd: app });
  assert.equal(esm.code, 0, show(esm));
  assert.match(esm.stdout, /^esm function function movie not good$/m);
  writeFileSync(
    path.join(app, 'cjs.cjs'),
    "const lab = require('bert-lab');\nconsole.log(`cjs ${typeof lab.fineTune} ${lab.cleanText(\"This movie isn't good\", 'improved')}`);\n",
  );
  const cjs = run(process.execPath, ['cjs.cjs'], { cwd: app });
  assert.equal(cjs.code, 0, show(cjs));
  assert.match(cjs.stdout, /^cjs function movie isn't good$/m);

  // The CLI from the compiled code: the lab's data fallback (SpamAssassin from npm) and bundled model.
  const lab = run('npx', ['--no-install', 'bert-lab', 'lab', '--dry-run'], { cwd: app });
  assert.equal(lab.code, 0, show(lab));
  assert.match(lab.stderr + lab.stdout, /SpamAssassin/);
  assert.match(lab.stderr + lab.stdout, /node_modules\/bert-lab\/models\/bert-lab-mini/);
  assert.match(lab.stdout + lab.stderr, /[\d,]+ training samples/);
  // A real (tiny) fine-tuning: the gradients of tfjs-core's ops come with the package.
  const csv = path.join(app, 'tiny.csv');
  writeFileSync(
    csv,
    'text,target\n' +
      Array.from({ length: 40 }, (_, i) => `a fire near us ${i},1\ncalm sunny day ${i},0`).join('\n') +
      '\n',
  );
  const tiny = path.join(app, 'node_modules', 'bert-lab', 'models', 'bert-lab-tiny');
  const train = run(
    'npx',
    [
      '--no-install',
      'bert-lab',
      'train',
      '--data',
      csv,
      '--model',
      tiny,
      '--out',
      path.join(app, 'run'),
      '--epochs',
      '1',
      '--batch-size',
      '16',
    ],
    { cwd: app },
  );
  assert.equal(train.code, 0, show(train));
  assert.match(train.stdout + train.stderr, /Saved the best model so far/);

  // A strict TypeScript build (no skipLibCheck) against the ES and the CommonJS declarations.
  const dev = npmInstall(['--save-dev', 'typescript@5', '@types/node@20']);
  assert.equal(dev.code, 0, show(dev));
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
      },
      include: ['main.ts', 'main.cts'],
    }),
  );
  writeFileSync(
    path.join(app, 'main.ts'),
    [
      "import { BUNDLED_MODEL, BertTokenizer, cleanText, fineTune, readCsv, type TrainConfig } from 'bert-lab';",
      'const train: typeof fineTune = fineTune;',
      'const cfg: Partial<TrainConfig> = { epochs: 1 };',
      'const tok = await BertTokenizer.fromDir(BUNDLED_MODEL);',
      "const tokens: string[] = tok.tokenize(cleanText('Forest fire near La Ronge Sask. Canada', 'improved'));",
      'const read: typeof readCsv = readCsv;',
      "console.log(`ts ${typeof train} ${typeof read} ${cfg.epochs} ${tokens.join(' ')}`);",
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(app, 'main.cts'),
    "import lab = require('bert-lab');\nconst mode: lab.CleanMode = 'improved';\nconsole.log(`cts ${lab.cleanText('not good', mode)} ${typeof lab.fineTune}`);\n",
  );
  const tsc = run('npx', ['--no-install', 'tsc', '-p', '.'], { cwd: app });
  assert.equal(tsc.code, 0, show(tsc));
  const ts = run(process.execPath, ['out/main.js'], { cwd: app });
  assert.equal(ts.code, 0, show(ts));
  assert.match(ts.stdout, /^ts function function 1 forest fire near la ron ##ge/m);
  const cts = run(process.execPath, ['out/main.cjs'], { cwd: app });
  assert.equal(cts.code, 0, show(cts));
  assert.match(cts.stdout, /^cts not good function$/m);

  // A tslab notebook in the folder (tslab compiles cells to CommonJS: the require entry), run as
  // scripts/run-notebooks.ts runs the repository's, with this checkout's tslab as the kernel.
  const tslab = path.join(root, 'node_modules', '.bin', 'tslab');
  const jupyter = run('jupyter', ['nbconvert', '--version'], { cwd: app });
  assert.equal(jupyter.code, 0, `jupyter nbconvert is needed (environment.md): ${show(jupyter)}`);
  assert.ok(existsSync(tslab), `${tslab}: npm install`);
  const kernels = path.join(work, 'jupyter');
  mkdirSync(path.join(kernels, 'kernels', 'tslab'), { recursive: true });
  writeFileSync(
    path.join(kernels, 'kernels', 'tslab', 'kernel.json'),
    JSON.stringify({
      argv: [tslab, 'kernel', '--config-path', '{connection_file}'],
      display_name: 'TypeScript',
      language: 'typescript',
    }),
  );
  writeFileSync(
    path.join(app, 'tweets.csv'),
    'id,keyword,location,text,target\n1,,,Forest fire near La Ronge Sask. Canada,1\n2,,,I love fruits,0\n3,,,"Earthquake, ""big"" one",1\n4,,,This movie is not good,0\n',
  );
  const cells = [
    "import * as lab from 'bert-lab';\nimport * as tf from '@tensorflow/tfjs-core';\nawait lab.initBackend();\nconsole.log(`backend ${tf.getBackend()}`);",
    "const df = await lab.readCsv('tweets.csv');\nlab.showTable(df, { maxRows: 3, caption: 'tweets' });\nconst targets: number[] = df.column('target').values.map(Number);\nconsole.log(`rows ${df.shape[0]} columns ${df.columns.join(',')} targets ${targets.join('')}`);",
    "const tok = await lab.BertTokenizer.fromDir(lab.BUNDLED_MODEL);\nconsole.log(`tokens ${tok.tokenize(lab.cleanText('This movie is not good', 'improved')).join(' ')}`);",
  ];
  writeFileSync(
    path.join(app, 'uses-bert-lab.ipynb'),
    JSON.stringify({
      cells: cells.map((source) => ({ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source })),
      metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' } },
      nbformat: 4,
      nbformat_minor: 5,
    }),
  );
  const nb = run(
    'jupyter',
    [
      'nbconvert',
      '--to',
      'notebook',
      '--execute',
      '--ExecutePreprocessor.timeout=600',
      '--ExecutePreprocessor.kernel_name=tslab',
      '--output',
      'executed.ipynb',
      'uses-bert-lab.ipynb',
    ],
    { cwd: app, env: { ...env, JUPYTER_PATH: kernels, PYDEVD_DISABLE_FILE_VALIDATION: '1' } },
  );
  assert.equal(nb.code, 0, show(nb));
  const executed = JSON.parse(readFileSync(path.join(app, 'executed.ipynb'), 'utf8')) as {
    cells: { outputs: { output_type: string; text?: string | string[]; data?: Record<string, string | string[]> }[] }[];
  };
  const outputs = executed.cells.flatMap((c) => c.outputs);
  const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));
  assert.deepEqual(
    outputs.filter((o) => o.output_type === 'error'),
    [],
  );
  const streams = outputs.map((o) => text(o.text)).join('');
  const html = outputs.map((o) => text(o.data?.['text/html'])).join('');
  assert.match(streams, /^backend (wasm|cpu|tensorflow)$/m);
  assert.match(streams, /^rows 4 columns id,keyword,location,text,target targets 1010$/m);
  assert.match(streams, /^tokens movie not good$/m);
  assert.match(
    html,
    /<table class="bert-lab-table dataframe"[\s\S]*Forest fire near La Ronge[\s\S]*4 rows × 5 columns \(1 more not shown\)/,
  );
  console.log(
    `[package] in ${app}: ${[esm, cjs, ts, cts].map((r) => r.stdout.trim()).join(' | ')} | notebook: ${streams.trim().split('\n').slice(-2).join(' | ')}`,
  );
});
