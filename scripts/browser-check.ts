// Opens the HTML exports from scripts/run-notebooks.ts in headless Chromium and checks that the
// plotly charts were drawn (offline: plotly.js is embedded by src/ui/display.ts) and the tables are
// there, and that the charts a notebook names (metadata.bert_lab.charts) were drawn. Screenshots go
// to artifacts/screenshots/ (one per named chart as NAME-TITLE.png).
//
//   node --import tsx scripts/browser-check.ts [artifacts/notebooks/NAME.html ...]
// env CHROMIUM: browser binary (default /usr/bin/chromium).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, chromiumExecutable } from './chromium.js';
import { artifactsDir, notebooksDir, readNotebook, root } from './nb.js';

const htmlDir = path.join(artifactsDir, 'notebooks');
const shotDir = path.join(artifactsDir, 'screenshots');

export interface PageReport {
  name: string;
  ok: boolean;
  plots: number;
  drawn: number;
  tables: number;
  problems: string[];
  screenshot: string;
}

async function main(): Promise<void> {
  const picked = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('--'))
    .map((f) => path.resolve(f));
  const pages = picked.length
    ? picked
    : existsSync(htmlDir)
      ? readdirSync(htmlDir)
          .filter((f) => f.endsWith('.html'))
          .sort()
          .map((f) => path.join(htmlDir, f))
      : [];
  if (!pages.length) {
    console.log('[browser] no HTML exports in artifacts/notebooks/: nothing to check');
    return;
  }
  mkdirSync(shotDir, { recursive: true });
  const executablePath = chromiumExecutable();
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'bert-lab-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const reports: PageReport[] = [];
  try {
    for (const file of pages) reports.push(await checkPage(context, file));
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  const failed = reports.filter((r) => !r.ok);
  for (const r of reports) {
    console.log(
      `[browser] ${r.ok ? 'OK  ' : 'FAIL'} ${r.name}: ${r.drawn}/${r.plots} plot(s) drawn, ${r.tables} table(s) -> ${path.relative(root, r.screenshot)}`,
    );
    for (const p of r.problems) console.log(`    ${p}`);
  }
  console.log(`[browser] ${reports.length - failed.length}/${reports.length} page(s) passed`);
  if (failed.length) process.exit(1);
}

async function checkPage(context: import('playwright-core').BrowserContext, file: string): Promise<PageReport> {
  const name = path.basename(file, '.html');
  const src = path.join(notebooksDir, `${name}.ipynb`);
  const checks = existsSync(src) ? (readNotebook(src).metadata.bert_lab ?? {}) : {};
  const minPlots = checks.plots ?? 1,
    minTables = checks.tables ?? 1;
  const problems: string[] = [];
  const page = await context.newPage();
  // The exports reference CDNs (require.js, MathJax); this check must not depend on them.
  await page.route(/^https?:/, (route) => route.abort());
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/ERR_FAILED|ERR_INTERNET_DISCONNECTED|Failed to load resource|net::/.test(m.text()))
      problems.push(`console error: ${m.text()}`);
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'domcontentloaded', timeout: 60_000 });
  const plots = await page.locator('.bert-lab-plot').count();
  if (plots > 0) {
    try {
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll('.bert-lab-plot')).every((d) => d.querySelector('svg.main-svg')),
        undefined,
        { timeout: 30_000 },
      );
    } catch {
      /* counted below */
    }
  }
  const drawn = await page.locator('.bert-lab-plot:has(svg.main-svg)').count();
  const tables = await page.locator('table').count();
  if (plots < minPlots) problems.push(`expected at least ${minPlots} plot(s), found ${plots}`);
  if (drawn < plots) problems.push(`${plots - drawn} plot(s) not drawn (no svg.main-svg)`);
  if (tables < minTables) problems.push(`expected at least ${minTables} table(s), found ${tables}`);
  // Named charts (metadata.bert_lab.charts): each must be drawn, found by the title plotly renders.
  for (const title of checks.charts ?? []) {
    const chart = page
      .locator('.bert-lab-plot:has(svg.main-svg)')
      .filter({ has: page.locator('.gtitle', { hasText: title }) });
    if ((await chart.count()) === 0) {
      problems.push(`chart "${title}" not drawn (no plot with that title)`);
      continue;
    }
    const slug = title
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
    await chart
      .first()
      .screenshot({ path: path.join(shotDir, `${name}-${slug}.png`) })
      .catch(() => undefined);
  }
  await page.addStyleTag({ content: '#MathJax_Message{display:none!important}' }).catch(() => undefined);
  const screenshot = path.join(shotDir, `${name}.png`);
  await page.screenshot({ path: screenshot, fullPage: true });
  const plotDivs = page.locator('.bert-lab-plot');
  for (let i = 0; i < Math.min(drawn, 6); i++) {
    await plotDivs
      .nth(i)
      .screenshot({ path: path.join(shotDir, `${name}-plot${i + 1}.png`) })
      .catch(() => undefined);
  }
  await page.close();
  return { name, ok: problems.length === 0, plots, drawn, tables, problems, screenshot };
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exit(1);
});
