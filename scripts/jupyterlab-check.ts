// Opens a notebook in JupyterLab itself, as a student does: starts JupyterLab headless on a free port
// with a token, loads the notebook in headless Chromium, runs its first cells from the keyboard
// (Shift+Enter, cell after cell), waits for each to finish, fails on an error output, and saves a
// screenshot. The notebook runs from a scratch copy beside it (same folder, so its relative paths
// hold), deleted afterwards, with autosave off: the file under notebooks/ is never written.
//
//   node --import tsx scripts/jupyterlab-check.ts [--venv DIR] [--cells N] [notebooks/01-fine-tune-bert.ipynb]
//
// --venv: the Python environment holding JupyterLab and the tslab kernel registered into it with
// --sys-prefix (default .cache/jlab-venv; see environment.md). --cells: the code cells to run
// (default: up to and including the third code cell after the "parameters" cell, else the first 5).
// env CHROMIUM: browser binary (default /usr/bin/chromium). Screenshot: artifacts/jupyterlab/NAME.png.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Page } from 'playwright-core';
import { artifactsDir, notebooksDir, readNotebook, root, type Notebook } from './nb.js';
import { CHROMIUM_ARGS, chromiumExecutable } from './chromium.js';

const TAG_PARAMETERS = 'parameters';

/** How many code cells to run: through the third code cell after the parameters cell. */
export function cellsToRun(nb: Notebook, fallback = 5): number {
  const code = nb.cells.filter((c) => c.cell_type === 'code');
  const p = code.findIndex((c) => ((c.metadata.tags as string[] | undefined) ?? []).includes(TAG_PARAMETERS));
  return Math.min(code.length, p >= 0 ? p + 4 : fallback);
}

/**
 * An error output: an exception, or what tslab prints to stderr for one (a TypeScript diagnostic
 * "3:14 - Cannot find name ...", an error's first line, a failed build).
 */
export function isError(o: { mime: string; text: string }): boolean {
  if (o.mime === 'application/vnd.jupyter.error') return true;
  return (
    o.mime === 'application/vnd.jupyter.stderr' &&
    /^\s*\w*Error( \[\w+\])?: |^\d+:\d+ - |\[ERROR\]|^\s+at .+:\d+:\d+\)?$/m.test(o.text)
  );
}

/** A TCP port nothing listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts JupyterLab; resolves once it answers on `port`. */
async function startLab(venv: string, port: number, token: string, settingsDir: string): Promise<ChildProcess> {
  const bin = path.join(venv, 'bin', 'jupyter');
  if (!existsSync(bin))
    throw new Error(
      `${bin} not found: set up JupyterLab first (python3 -m venv ${venv} && ${venv}/bin/pip install jupyterlab, ` +
        `then npx tslab install --sys-prefix --python=${venv}/bin/python --binary=$PWD/node_modules/.bin/tslab; see environment.md)`,
    );
  const log: string[] = [];
  const lab = spawn(
    bin,
    [
      'lab',
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`,
      // CI runs as root; jupyter refuses root unless told.
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        JUPYTERLAB_SETTINGS_DIR: settingsDir,
        JUPYTERLAB_WORKSPACES_DIR: path.join(settingsDir, 'workspaces'),
        PYDEVD_DISABLE_FILE_VALIDATION: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean));
  lab.stdout!.on('data', keep);
  lab.stderr!.on('data', keep);
  const t0 = Date.now();
  for (;;) {
    if (lab.exitCode !== null) throw new Error(`jupyter lab exited (${lab.exitCode}):\n${log.slice(-20).join('\n')}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/status?token=${token}`);
      if (r.ok) return lab;
    } catch {
      /* not up yet */
    }
    if (Date.now() - t0 > 90_000) {
      lab.kill('SIGTERM');
      throw new Error(`jupyter lab did not answer on port ${port} within 90 s:\n${log.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The executed cells' prompts ("[3]:", "[*]:", "[ ]:") and their outputs, in page order. */
async function cellStates(page: Page): Promise<{ prompt: string; outputs: { mime: string; text: string }[] }[]> {
  return page.$$eval('.jp-Notebook .jp-CodeCell', (cells) =>
    cells.map((c) => ({
      prompt: (c.querySelector('.jp-InputPrompt')?.textContent ?? '').trim(),
      outputs: Array.from(c.querySelectorAll('.jp-OutputArea-output')).map((o) => ({
        mime: o.getAttribute('data-mime-type') ?? '',
        text: (o.textContent ?? '').slice(0, 2000),
      })),
    })),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const venv = path.resolve(opt('--venv') ?? process.env.JLAB_VENV ?? path.join(root, '.cache', 'jlab-venv'));
  const file = path.resolve(
    args.find((a, i) => !a.startsWith('--') && !['--venv', '--cells'].includes(args[i - 1] ?? '')) ??
      path.join(notebooksDir, '01-fine-tune-bert.ipynb'),
  );
  const name = path.basename(file, '.ipynb');
  const nb = readNotebook(file);
  const nCells = Number(opt('--cells') ?? cellsToRun(nb));
  const executablePath = chromiumExecutable();
  const outDir = path.join(artifactsDir, 'jupyterlab');
  mkdirSync(outDir, { recursive: true });

  // The copy JupyterLab opens; the original is compared afterwards to prove it was not written.
  const original = readFileSync(file, 'utf8');
  const copy = path.join(path.dirname(file), `_jupyterlab-check-${name}.ipynb`);
  writeFileSync(copy, original);
  const settingsDir = mkdtempSync(path.join(os.tmpdir(), 'bert-lab-jlab-settings-'));
  // Autosave off (the copy stays as written too); no news pop-up over the notebook.
  const put = (plugin: string, body: unknown) => {
    const f = path.join(settingsDir, `${plugin}.jupyterlab-settings`);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, JSON.stringify(body));
  };
  put('@jupyterlab/docmanager-extension/plugin', { autosave: false });
  put('@jupyterlab/apputils-extension/notification', { fetchNews: 'false', checkForUpdates: false });
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'bert-lab-chromium-'));
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const t0 = performance.now();
  let lab: ChildProcess | undefined;
  const problems: string[] = [];
  const screenshot = path.join(outDir, `${name}.png`);
  let states: Awaited<ReturnType<typeof cellStates>> = [];
  try {
    lab = await startLab(venv, port, token, settingsDir);
    console.log(`[jupyterlab] JupyterLab on 127.0.0.1:${port} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1000 },
    });
    try {
      const page = await context.newPage();
      // The debugger panel asks every kernel for a debug session; tslab has none (not a failure).
      page.on('pageerror', (e) => {
        if (!/debugger session/i.test(e.message)) problems.push(`page error: ${e.message}`);
      });
      const rel = path.relative(root, copy).split(path.sep).join('/');
      await page.goto(`http://127.0.0.1:${port}/lab/tree/${rel}?token=${token}`, { timeout: 120_000 });
      await page.waitForSelector('.jp-Notebook .jp-Cell', { timeout: 120_000 });
      // The kernel is up when the status bar says "TypeScript | Idle".
      await page.waitForFunction(() => /TypeScript \| Idle/.test(document.body.innerText), undefined, {
        timeout: 180_000,
      });
      console.log(`[jupyterlab] ${rel} open, TypeScript kernel idle; running ${nCells} code cell(s) with Shift+Enter`);
      // Command mode on the first cell, then Shift+Enter cell after cell (markdown cells render), each
      // code cell waited for before the next, as a student steps through.
      await page.click('.jp-Notebook .jp-Cell >> nth=0');
      await page.keyboard.press('Escape');
      let codeRun = 0;
      for (let i = 0; codeRun < nCells && i < nb.cells.length; i++) {
        await page.keyboard.press('Shift+Enter');
        if (nb.cells[i]!.cell_type !== 'code') continue;
        const k = codeRun++;
        const t = Date.now();
        for (;;) {
          states = await cellStates(page);
          const s = states[k];
          if (s && /^\[\d+\]/.test(s.prompt)) break;
          if (Date.now() - t > 300_000) {
            problems.push(`code cell ${k + 1} still running after 300 s (prompt ${s?.prompt ?? '?'})`);
            break;
          }
          await page.waitForTimeout(250);
        }
        if (problems.length || states[k]!.outputs.some(isError)) break; // as Run All stops at an error
      }
      states = states.slice(0, codeRun);
      for (const [k, s] of states.entries())
        for (const o of s.outputs.filter(isError))
          problems.push(`code cell ${k + 1} ${s.prompt} shows an error: ${o.text.slice(0, 600)}`);
      if (!states.some((s) => s.outputs.length)) problems.push('no cell showed any output');
      await page.screenshot({ path: screenshot, fullPage: false });
    } finally {
      await context.close();
    }
  } finally {
    if (lab && lab.exitCode === null) {
      lab.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1500));
      if (lab.exitCode === null) lab.kill('SIGKILL');
    }
    rmSync(copy, { force: true });
    rmSync(path.join(path.dirname(file), '.ipynb_checkpoints', `_jupyterlab-check-${name}-checkpoint.ipynb`), {
      force: true,
    });
    rmSync(settingsDir, { recursive: true, force: true });
    rmSync(userDataDir, { recursive: true, force: true });
  }
  if (readFileSync(file, 'utf8') !== original) problems.push(`${file} was modified while the check ran`);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  for (const [k, s] of states.entries())
    console.log(
      `[jupyterlab]   code cell ${k + 1} ${s.prompt} ${s.outputs.length} output(s)` +
        (s.outputs[0] ? `: ${s.outputs[0].text.replace(/\s+/g, ' ').slice(0, 100)}` : ''),
    );
  console.log(
    `[jupyterlab] ${problems.length ? 'FAIL' : 'OK  '} ${name}: ${states.length} cell(s) run in JupyterLab in ${seconds} s -> ${path.relative(root, screenshot)}`,
  );
  for (const p of problems) console.log(`    ${p}`);
  if (problems.length) process.exit(1);
}

if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  });
