// Serves the browser demo (examples/web/) with an exported model, everything from this machine:
// transformers.js and ONNX Runtime Web's wasm from node_modules, the lab's cleaning compiled from
// src/text/clean.ts, the model from an export folder. `--out DIR` writes the same files as one static
// folder for any static host instead (a new or empty folder, or one it wrote before: nothing else is
// ever replaced).
//
//   npm run demo [-- --model runs/lab/onnx --port 8080 --host 127.0.0.1]
//   npm run demo -- --model runs/lab/onnx --out site/
//
// --model: a folder written by `bert-lab export`. The default, runs/lab/onnx, is exported from
// runs/lab/best (what `npm run lab` trains) when it does not exist yet.
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { replaceDir } from '../src/io/atomic.js';
import { checkOutput, writeMarker } from '../src/io/outputs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const webDir = path.join(root, 'examples/web');

/** A file of the demo site: a path on disk or generated content. */
type Source = { file: string } | { content: string };

function walk(dir: string, prefix: string, out: Map<string, Source>): void {
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) walk(full, `${prefix}${name}/`, out);
    else out.set(`${prefix}${name}`, { file: full });
  }
}

/**
 * The demo site as URL path -> source, for a model folder written by `bert-lab export`.
 *
 * Args:
 *   modelDir: the export (config.json, tokenizer.json, onnx/model.onnx, ...).
 *
 * Example:
 *   const files = demoSite('runs/lab/onnx'); // 'index.html', 'vendor/transformers/transformers.js', 'models/classifier/onnx/model.onnx', ...
 */
export function demoSite(modelDir: string): Map<string, Source> {
  for (const f of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
    if (!existsSync(path.join(modelDir, f))) throw new Error(`${modelDir} has no ${f}: ${notAnExport(modelDir)}`);
  }
  const site = new Map<string, Source>();
  for (const f of ['index.html', 'app.js', 'style.css']) site.set(f, { file: path.join(webDir, f) });
  // The lab's cleaning, so the page feeds the model text cleaned as in training.
  const clean = ts.transpileModule(readFileSync(path.join(root, 'src/text/clean.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  site.set('lib/clean.js', { content: clean });
  // transformers.js's browser bundle, and the ONNX Runtime Web build it was made with.
  const require = createRequire(path.join(root, 'package.json'));
  // Its package.json is not exported; the Node entry point lies in dist/ of the package.
  const tjs = path.resolve(path.dirname(require.resolve('@huggingface/transformers')), '..');
  site.set('vendor/transformers/transformers.js', { file: path.join(tjs, 'dist/transformers.js') });
  const fromTjs = createRequire(path.join(tjs, 'package.json'));
  for (const ext of ['mjs', 'wasm']) {
    const name = `ort-wasm-simd-threaded.asyncify.${ext}`;
    site.set(`vendor/ort/${name}`, { file: fromTjs.resolve(`onnxruntime-web/${name}`) });
  }
  walk(path.resolve(modelDir), 'models/classifier/', site);
  return site;
}

/**
 * What to do with a folder that is not an export. A model folder (config.json beside its weights) is
 * exported to a folder of its own, never into itself (the export would replace the model); a model
 * without a classification head is fine-tuned first, since the page classifies texts.
 */
export function notAnExport(modelDir: string): string {
  const weights = ['model.safetensors', 'pytorch_model.bin'].some((f) => existsSync(path.join(modelDir, f)));
  if (!weights || !existsSync(path.join(modelDir, 'config.json')))
    return 'pass a folder written by `bert-lab export --model MODEL --out DIR` (DIR a new folder)';
  let architecture = 'a model';
  try {
    const config = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as { architectures?: unknown };
    if (Array.isArray(config.architectures) && typeof config.architectures[0] === 'string')
      architecture = config.architectures[0];
  } catch {
    // An unreadable config.json: the export will say what is wrong with it.
  }
  const dir = modelDir.replace(/[\\/]+$/, '');
  const onnx = `${dir}-onnx`;
  if (architecture !== 'BertForSequenceClassification') {
    const run = path.join('runs', `${path.basename(path.resolve(dir))}-finetuned`);
    return (
      `it is a model folder (${architecture}), not an export, and has no classification head: the demo classifies ` +
      `texts; fine-tune it first (bert-lab train --model ${modelDir} --data CSV --out ${run}), then export ` +
      `its best model to a new folder (bert-lab export --model ${run}/best --out ${run}/onnx) and pass that folder`
    );
  }
  return (
    `it is a model folder, not an export: export it to a new folder (bert-lab export --model ${modelDir} --out ${onnx}), ` +
    `then pass --model ${onnx}`
  );
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

/** Serves `site` on http://host:port/ (port 0: any free port). Resolves once listening. */
export async function serveDemo(
  site: Map<string, Source>,
  port = 8080,
  host = '127.0.0.1',
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const key = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
    const src = site.get(key);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (!src) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: /${key}\n`);
      return;
    }
    const body = 'file' in src ? readFileSync(src.file) : src.content;
    res.writeHead(200, {
      'content-type': MIME[path.extname(key)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return { url: `http://${host}:${actual}/`, server };
}

/** The file every site written by `--out` holds: what marks the folder as the demo's to replace. */
export const DEMO_MARKER = '.bert-lab-demo.json';

/**
 * Writes `site` as a static folder, swapped in whole when complete. `outDir` must be new, empty or
 * a site written here before (DEMO_MARKER); anything else, and a folder that is, holds or lies inside
 * the model folder or the page's sources, is refused before anything is written.
 *
 * Example: `await writeSite(demoSite('runs/lab/onnx'), 'site', 'runs/lab/onnx')`
 */
export async function writeSite(site: Map<string, Source>, outDir: string, modelDir?: string): Promise<void> {
  const { path: target } = await checkOutput(outDir, {
    kind: 'folder',
    command: 'npm run demo',
    marker: DEMO_MARKER,
    overwrite: true,
    inputs: [
      ...(modelDir ? [{ path: modelDir, what: 'the model folder --model' }] : []),
      { path: webDir, what: "the page's sources" },
    ],
  });
  // A symbolic link to a folder: the folder is written, the link kept.
  await replaceDir(target, async (tmp) => {
    for (const [key, src] of site) {
      const dest = path.join(tmp, key);
      await mkdir(path.dirname(dest), { recursive: true });
      if ('file' in src) await cp(src.file, dest);
      else await writeFile(dest, src.content);
    }
    await writeMarker(tmp, DEMO_MARKER, { command: 'npm run demo', model: modelDir });
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      model: { type: 'string' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      out: { type: 'string' },
    },
  });
  let model = v.model;
  if (!model) {
    model = path.join(root, 'runs/lab/onnx');
    const trained = path.join(root, 'runs/lab/best');
    if (!existsSync(path.join(model, 'onnx/model.onnx'))) {
      if (!existsSync(path.join(trained, 'config.json'))) {
        throw new Error(
          'no model: run `npm run lab` (trains runs/lab/best), or pass --model DIR (a folder written by `bert-lab export`)',
        );
      }
      console.error(`[demo] exporting ${trained} to ${model}`);
      const { exportOnnx } = await import('../src/app/export-onnx.js');
      await exportOnnx(trained, model, { quantize: true, log: (s) => console.error(`[demo] ${s}`) });
    }
  }
  const site = demoSite(model);
  if (v.out) {
    await writeSite(site, v.out, model);
    console.log(
      `[demo] wrote ${site.size} files to ${path.resolve(v.out)}: serve that folder with any static web server`,
    );
    return;
  }
  const port = Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be an integer in 0..65535, got "${v.port}"`);
  const { url } = await serveDemo(site, port, v.host);
  console.log(`[demo] ${model} at ${url}  (Ctrl-C stops)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e: Error) => {
    console.error(`[demo] ${e.message}`);
    process.exitCode = 1;
  });
}
