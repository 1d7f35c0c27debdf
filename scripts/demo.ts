// Serves the browser demo (examples/web/) with an exported model, everything from this machine:
// transformers.js and ONNX Runtime Web's wasm from node_modules, the lab's cleaning compiled from
// src/text/clean.ts, the model from an export folder. `--out DIR` writes the same files as one static
// folder for any static host instead.
//
//   npm run demo [-- --model runs/lab/onnx --port 8080 --host 127.0.0.1]
//   npm run demo -- --model runs/lab/onnx --out site/
//
// --model: a folder written by `bert-lab export`. The default, runs/lab/onnx, is exported from
// runs/lab/best (what `npm run lab` trains) when it does not exist yet.
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';

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
    if (!existsSync(path.join(modelDir, f))) {
      throw new Error(
        `${modelDir} has no ${f}: pass a folder written by \`bert-lab export --model DIR --out ${modelDir}\``,
      );
    }
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

/** Writes `site` as a static folder, swapped in whole when complete. */
export async function writeSite(site: Map<string, Source>, outDir: string): Promise<void> {
  const out = path.resolve(outDir);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  try {
    for (const [key, src] of site) {
      const dest = path.join(tmp, key);
      await mkdir(path.dirname(dest), { recursive: true });
      if ('file' in src) await cp(src.file, dest);
      else await writeFile(dest, src.content);
    }
    const old = `${tmp}.old`;
    if (existsSync(out)) await rename(out, old);
    await rename(tmp, out);
    await rm(old, { recursive: true, force: true });
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
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
    await writeSite(site, v.out);
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
