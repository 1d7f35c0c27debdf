// Output helpers that work both in a tslab notebook (rich HTML, in-place progress, inline plotly
// without internet) and in a terminal (plain-text tables, a `\r` progress line on stderr).
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

// ---------------------------------------------------------------------------------------------
// Environment detection

/** The subset of tslab's public API used here. */
interface TslabDisplay {
  html(s: string): void;
  text(s: string): void;
}
interface TslabApi {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

const requireHere = createRequire(import.meta.url);
let tslabApi: TslabApi | null | undefined;

/**
 * tslab's API when running inside a tslab kernel, else null. Only when the kernel's marker
 * `globalThis.__tslab__` is present is `tslab` loaded (it pulls in TypeScript), through the kernel's
 * own require (which hands over the running kernel's tslab wherever it is installed: a project
 * using bert-lab as a package need not install tslab itself), else from this package's folder.
 * BERT_LAB_DISPLAY=text forces terminal output, =html forces notebook output.
 */
export function tslab(): TslabApi | null {
  if (tslabApi !== undefined) return tslabApi;
  const mode = process.env.BERT_LAB_DISPLAY;
  const kernel = (globalThis as { __tslab__?: { require?: (id: string) => unknown } }).__tslab__;
  tslabApi = null;
  if (mode !== 'text' && (kernel !== undefined || mode === 'html')) {
    for (const load of [kernel?.require, requireHere]) {
      if (typeof load !== 'function') continue;
      try {
        tslabApi = load('tslab') as TslabApi;
        break;
      } catch {
        tslabApi = null;
      }
    }
  }
  return tslabApi;
}

/**
 * Keeps a tslab kernel's messages from being lost. tslab sends every Jupyter message without
 * waiting for the send; zeromq.js (v6) defers every 512th send on a socket, so that the event loop
 * is not starved, and until that one is out it throws EBUSY ("Socket is busy writing") at any other
 * send: tslab drops that message. When it is a cell's `idle` status, the front end waits for the
 * cell forever; when it is output, the line is gone or the cell fails. A plain tslab kernel shows
 * it with one cell that prints 1,200 lines. With a send timeout of 0, zeromq.js always sends at once
 * (the kernel's PUB and ROUTER sockets never block: ZeroMQ itself drops what is past the high-water
 * mark), so sends cannot collide. Applied to the zeromq.js the kernel loaded (in the module cache).
 */
function steadyKernelSockets(): void {
  type Send = (this: { sendTimeout: number }, ...args: unknown[]) => unknown;
  type SocketClass = { prototype: { send?: Send } };
  for (const [file, mod] of Object.entries(requireHere.cache)) {
    if (!/[\\/]zeromq[\\/]lib[\\/]index\.js$/.test(file)) continue;
    const zmq = mod?.exports as Record<string, SocketClass | undefined> | undefined;
    // The socket types a kernel sends on (iopub, shell/control/stdin, heartbeat). `send` is the native
    // base class's, read-only there, so each type gets its own that sets the timeout first.
    for (const name of ['Publisher', 'Router', 'Reply']) {
      const proto = zmq?.[name]?.prototype;
      const send = proto?.send;
      if (!proto || !send || Object.prototype.hasOwnProperty.call(proto, 'send')) continue;
      Object.defineProperty(proto, 'send', {
        configurable: true,
        writable: true,
        value: function (this: { sendTimeout: number }, ...args: unknown[]) {
          if (this.sendTimeout !== 0) this.sendTimeout = 0;
          return send.apply(this, args);
        },
      });
    }
  }
}
/**
 * Sends what a cell prints in one tick as one message, as ipykernel does: tslab sends a message per
 * write, and a loop printing a thousand lines at once overflows the socket's queue (ZeroMQ's
 * high-water mark, 1,000 messages), so lines are silently lost. tslab installs its own writer at each
 * cell; the writes are gathered and handed to that writer at the end of the current tick (a
 * microtask, so before the cell's end is reported), and to the old writer when a new one comes.
 */
function coalesceKernelOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    type Write = (chunk: string) => boolean;
    let target = stream.write.bind(stream) as Write;
    let pending: string[] = [];
    const flush = () => {
      const text = pending.join('');
      pending = [];
      if (text) target(text);
    };
    const write = (chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
      if (!pending.length) queueMicrotask(flush);
      pending.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') (done as () => void)();
      return true;
    };
    Object.defineProperty(stream, 'write', {
      configurable: true,
      get: () => write,
      set: (w: Write) => {
        flush();
        target = w;
      },
    });
  }
}

if ((globalThis as { __tslab__?: unknown }).__tslab__ !== undefined) {
  try {
    steadyKernelSockets();
    coalesceKernelOutput();
  } catch {
    /* another zeromq.js or stream: left as it is */
  }
}

/** True when output goes to a notebook. */
export function inNotebook(): boolean {
  return tslab() !== null;
}

/** Shows HTML in the notebook; returns false (showing nothing) outside one. */
function displayHtml(html: string): boolean {
  const t = tslab();
  if (!t) return false;
  try {
    t.display.html(html);
    return true;
  } catch {
    return false; // tslab outside a cell's execution ("Not ready")
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

export type Row = Record<string, unknown>;
/** Structural view of a table (src/data/data.ts's Frame: columns, index, row-major values) or a series (values, name). */
export interface FrameLike {
  columns?: string[];
  index: (string | number)[];
  values: unknown[] | unknown[][];
  name?: string;
}
/** A Frame (what readCsv returns), a series, or records (objects with the same keys; interfaces welcome). */
export type TableInput = FrameLike | readonly object[];

export interface TableOptions {
  /** Rows shown (head); the rest are summarised in a footer. Default 20. */
  maxRows?: number;
  /** Characters per cell before truncation with "…". Default 80. */
  maxWidth?: number;
  /** Show the index column. Default true. */
  index?: boolean;
  /** Only these columns, in this order. */
  columns?: string[];
  /** Caption above the table. */
  caption?: string;
  /** Decimal places for non-integer numbers. Default 4. */
  digits?: number;
}

export interface TableData {
  columns: string[];
  index: (string | number)[];
  rows: unknown[][];
}

function isFrame(x: TableInput): x is FrameLike {
  return !Array.isArray(x) && typeof x === 'object' && x !== null && 'values' in x && 'index' in x;
}

/** Normalises a Frame, a series or an array of records into columns, index and rows. */
export function toTableData(data: TableInput, opts: TableOptions = {}): TableData {
  let columns: string[];
  let index: (string | number)[];
  let rows: unknown[][];
  if (isFrame(data)) {
    const vals = data.values as unknown[];
    const is2d = vals.length > 0 ? Array.isArray(vals[0]) : Array.isArray(data.columns);
    if (is2d) {
      columns = (data.columns ?? []).map(String);
      rows = vals as unknown[][];
    } else {
      columns = [data.name ?? 'value'];
      rows = vals.map((v) => [v]);
    }
    index = [...data.index];
  } else {
    const records = data as readonly Row[];
    const seen = new Set<string>();
    for (const r of records) for (const k of Object.keys(r)) seen.add(k);
    columns = [...seen];
    rows = records.map((r) => columns.map((c) => r[c]));
    index = data.map((_, i) => i);
  }
  if (opts.columns) {
    const pos = opts.columns.map((c) => {
      const i = columns.indexOf(c);
      if (i < 0) throw new Error(`Unknown column "${c}" (have ${columns.join(', ')})`);
      return i;
    });
    rows = rows.map((r) => pos.map((i) => r[i]));
    columns = [...opts.columns];
  }
  return { columns, index, rows };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Cuts `s` to at most `max` characters (code points), ending with "…" when cut. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  return chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}

/** One cell as text: integers as is, other numbers with `digits` decimals, null/undefined empty. */
export function formatCell(v: unknown, digits = 4): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    return v.toFixed(digits);
  }
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v) || ArrayBuffer.isView(v))
    return `[${Array.from(v as ArrayLike<unknown>)
      .map((x) => formatCell(x, digits))
      .join(', ')}]`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ');

function footer(t: TableData, shown: number): string {
  const more = t.rows.length - shown;
  return `${t.rows.length} rows × ${t.columns.length} columns${more > 0 ? ` (${more} more not shown)` : ''}`;
}

/** An HTML table: header, optional index column, truncated and escaped cells, a size footer. */
export function htmlTable(data: TableInput, opts: TableOptions = {}): string {
  const t = toTableData(data, opts);
  const maxRows = opts.maxRows ?? 20,
    width = opts.maxWidth ?? 80,
    digits = opts.digits ?? 4;
  const showIndex = opts.index ?? true;
  const cell = (v: unknown) => {
    const full = oneLine(formatCell(v, digits));
    const cut = truncate(full, width);
    const title = cut !== full ? ` title="${escapeHtml(truncate(full, 2000))}"` : '';
    const align = typeof v === 'number' ? 'right' : 'left';
    return `<td${title} style="text-align:${align}">${escapeHtml(cut)}</td>`;
  };
  const shown = Math.min(maxRows, t.rows.length);
  const out: string[] = ['<table class="bert-lab-table dataframe" border="1" style="border-collapse:collapse">'];
  if (opts.caption) out.push(`<caption style="text-align:left;font-weight:bold">${escapeHtml(opts.caption)}</caption>`);
  out.push(
    '<thead><tr>' +
      (showIndex ? '<th></th>' : '') +
      t.columns.map((c) => `<th>${escapeHtml(truncate(c, width))}</th>`).join('') +
      '</tr></thead>',
  );
  out.push('<tbody>');
  for (let i = 0; i < shown; i++) {
    out.push(
      '<tr>' + (showIndex ? `<th>${escapeHtml(String(t.index[i]))}</th>` : '') + t.rows[i].map(cell).join('') + '</tr>',
    );
  }
  out.push('</tbody></table>');
  out.push(`<p style="font-size:smaller;color:#666">${escapeHtml(footer(t, shown))}</p>`);
  return out.join('\n');
}

/** A plain-text table for terminals (same truncation rules as htmlTable). */
export function textTable(data: TableInput, opts: TableOptions = {}): string {
  const t = toTableData(data, opts);
  const maxRows = opts.maxRows ?? 20,
    width = opts.maxWidth ?? 40,
    digits = opts.digits ?? 4;
  const showIndex = opts.index ?? true;
  const shown = Math.min(maxRows, t.rows.length);
  const header = (showIndex ? [''] : []).concat(t.columns.map((c) => truncate(c, width)));
  const body = t.rows
    .slice(0, shown)
    .map((r, i) =>
      (showIndex ? [String(t.index[i])] : []).concat(r.map((v) => truncate(oneLine(formatCell(v, digits)), width))),
    );
  const numeric = (showIndex ? [true] : []).concat(
    t.columns.map((_, j) => t.rows.slice(0, shown).every((r) => typeof r[j] === 'number' || r[j] == null)),
  );
  const len = (s: string) => Array.from(s).length;
  const widths = header.map((h, j) => Math.max(len(h), ...body.map((r) => len(r[j]))));
  const pad = (s: string, j: number) =>
    numeric[j] ? ' '.repeat(widths[j] - len(s)) + s : s + ' '.repeat(widths[j] - len(s));
  const line = (cells: string[]) => cells.map(pad).join('  ').trimEnd();
  const lines = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line), footer(t, shown)];
  if (opts.caption) lines.unshift(opts.caption);
  return lines.join('\n');
}

/** Shows a table: HTML in a notebook, plain text on stdout elsewhere. */
export function showTable(data: TableInput, opts: TableOptions = {}): void {
  if (!displayHtml(htmlTable(data, opts))) console.log(textTable(data, opts));
}

// ---------------------------------------------------------------------------------------------
// Plotly, inline and offline

export interface Figure {
  data: unknown[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}
export interface PlotOptions {
  /** Embed plotly.js in this output. Default: only the first plot of the session does. */
  includeLibrary?: boolean;
  /** Outside a notebook: write a standalone HTML page here. */
  file?: string;
}

let plotlyIncluded = false;
let plotCounter = 0;
let plotlySource: string | undefined;

/** The text of plotly.min.js from the installed plotly.js-dist-min (no network). */
export function plotlyLibrary(): string {
  plotlySource ??= readFileSync(requireHere.resolve('plotly.js-dist-min'), 'utf8');
  return plotlySource;
}

/** Makes the next plot embed plotly.js again (e.g. after clearing outputs). */
export function resetPlotly(): void {
  plotlyIncluded = false;
}

/** JSON safe inside a <script> element. */
function scriptJson(x: unknown): string {
  return JSON.stringify(x ?? null)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The HTML for one figure: a div and a script drawing it with window.Plotly. With `library`, the
 * plotly.js source is included first, shielded from AMD/CommonJS loaders so it always sets
 * window.Plotly. Without it, the script waits up to 10 s for an earlier output to define Plotly.
 */
export function plotHtml(fig: Figure, library: boolean, id = `bert-lab-plot-${process.pid}-${++plotCounter}`): string {
  const lib = library
    ? `<script type="text/javascript">(function(){var define, module, exports;\n${plotlyLibrary().replace(/<\/script/gi, '<\\/script')}\n}).call(window);</script>\n`
    : '';
  const config = { responsive: true, displaylogo: false, ...(fig.config ?? {}) };
  const draw = `(function(){var el=document.getElementById(${scriptJson(id)});var n=0;
function go(){if(window.Plotly){window.Plotly.newPlot(el,${scriptJson(fig.data)},${scriptJson(fig.layout ?? {})},${scriptJson(config)});}
else if(++n<100){setTimeout(go,100);}else{el.textContent='plotly.js is not loaded: run the notebook from the top (or call lab.resetPlotly() and plot again).';}}
go();})();`;
  return `${lib}<div id="${escapeHtml(id)}" class="bert-lab-plot" style="width:100%;min-height:${Number((fig.layout?.height as number) ?? 420)}px"></div>\n<script type="text/javascript">${draw}</script>`;
}

/**
 * Draws a plotly figure inline in the notebook (the first call of the session embeds plotly.js;
 * no internet needed, and it survives `nbconvert --to html`). Outside a notebook, writes a
 * standalone page to `opts.file` if given and prints a one-line summary.
 */
export function plot(fig: Figure, opts: PlotOptions = {}): void {
  if (inNotebook()) {
    const lib = opts.includeLibrary ?? !plotlyIncluded;
    displayHtml(plotHtml(fig, lib));
    if (lib) plotlyIncluded = true;
    return;
  }
  const title = fig.layout?.title as { text?: string } | string | undefined;
  const name = typeof title === 'string' ? title : (title?.text ?? 'figure');
  if (opts.file) {
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(name)}</title></head><body>\n${plotHtml(fig, true)}\n</body></html>\n`;
    writeFileSync(opts.file, page);
    console.log(`[plot] ${name}: ${fig.data.length} trace(s) written to ${opts.file}`);
  } else {
    console.log(`[plot] ${name}: ${fig.data.length} trace(s) (shown in notebooks; pass {file} to save HTML)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Progress

/** "1:02:03" / "2:03" / "0:05" for seconds; "?" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? h + ':' : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

/** Steps per second as text: "12.3 it/s" or "4.56 s/it" when slower than one step a second. */
export function formatRate(perSecond: number, unit = 'it'): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `? ${unit}/s`;
  return perSecond >= 1
    ? `${perSecond.toFixed(perSecond >= 100 ? 0 : 1)} ${unit}/s`
    : `${(1 / perSecond).toFixed(2)} s/${unit}`;
}

export type ProgressInfo = Record<string, string | number>;

export interface ProgressOptions {
  label?: string;
  /** Bar width in characters (terminal). Default 24. */
  width?: number;
  /** Unit shown in the rate. Default "it". */
  unit?: string;
  /** Minimum milliseconds between redraws (the final state is always drawn). Default 200 in a
   *  TTY/notebook, 10000 in non-TTY logs. */
  minIntervalMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Where terminal output goes. Default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force terminal output even inside a notebook. */
  text?: boolean;
}

/**
 * A progress bar: updates one output in place in a notebook (tslab.newDisplay), or redraws one
 * line with `\r` on a terminal (one line per update interval when stderr is not a TTY).
 */
export class ProgressBar {
  readonly total: number;
  current = 0;
  info: ProgressInfo = {};
  private readonly start: number;
  private lastDraw = -Infinity;
  private drawnAt = -1;
  private finished = false;
  private readonly now: () => number;
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly display: TslabDisplay | null;
  private readonly interval: number;

  constructor(
    total: number,
    private readonly opts: ProgressOptions = {},
  ) {
    this.total = total;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.stream = opts.stream ?? process.stderr;
    const t = opts.text ? null : tslab();
    this.display = t ? t.newDisplay() : null;
    this.interval = opts.minIntervalMs ?? (this.display || this.stream.isTTY ? 200 : 10000);
    this.render(true);
  }

  /** Seconds since the bar was created. */
  elapsed(): number {
    return (this.now() - this.start) / 1000;
  }
  /** Steps per second so far. */
  rate(): number {
    const e = this.elapsed();
    return e > 0 ? this.current / e : NaN;
  }
  /** Seconds left at the current rate. */
  eta(): number {
    const r = this.rate();
    return this.current >= this.total ? 0 : r > 0 ? (this.total - this.current) / r : NaN;
  }

  /** Advances by `n` steps, merging `info` (e.g. {loss: 0.53}) into what is shown. */
  tick(n = 1, info?: ProgressInfo): void {
    this.update(this.current + n, info);
  }

  /** Sets the position to `current`. */
  update(current: number, info?: ProgressInfo): void {
    this.current = Math.min(current, this.total);
    if (info) Object.assign(this.info, info);
    this.render(this.current >= this.total);
  }

  /** Draws the final state (and ends the terminal line). */
  done(info?: ProgressInfo): void {
    if (info) Object.assign(this.info, info);
    if (this.finished) return;
    if (info || this.drawnAt !== this.current) this.render(true);
    this.finished = true;
    if (!this.display && this.stream.isTTY) this.stream.write('\n');
  }

  /** The status text: "label  45/100  45%  12.3 it/s  elapsed 0:04  ETA 0:04  loss=0.5300". */
  format(): string {
    const pct = this.total > 0 ? Math.floor((100 * this.current) / this.total) : 100;
    const parts = [
      `${this.current}/${this.total}`,
      `${pct}%`,
      formatRate(this.rate(), this.opts.unit),
      `elapsed ${formatDuration(this.elapsed())}`,
      `ETA ${formatDuration(this.eta())}`,
      ...Object.entries(this.info).map(([k, v]) => `${k}=${typeof v === 'number' ? formatCell(v) : v}`),
    ];
    return (this.opts.label ? this.opts.label + '  ' : '') + parts.join('  ');
  }

  /** The text bar "[#######-----]" for the current fraction. */
  bar(): string {
    const w = this.opts.width ?? 24;
    const filled = this.total > 0 ? Math.round((w * this.current) / this.total) : w;
    return `[${'#'.repeat(filled)}${'-'.repeat(w - filled)}]`;
  }

  /** The notebook rendering. */
  html(): string {
    const max = Math.max(this.total, 1);
    return `<div class="bert-lab-progress" style="font-family:monospace"><progress value="${this.current}" max="${max}" style="width:16em;vertical-align:middle"></progress> ${escapeHtml(this.format())}</div>`;
  }

  private render(force: boolean): void {
    if (this.finished) return;
    const t = this.now();
    if (!force && t - this.lastDraw < this.interval) return;
    this.lastDraw = t;
    this.drawnAt = this.current;
    if (this.display) {
      try {
        this.display.html(this.html());
      } catch {
        /* tslab refuses output between cells */
      }
      return;
    }
    const line = `${this.bar()} ${this.format()}`;
    if (this.stream.isTTY) this.stream.write(`\r${line}\x1b[K`);
    else this.stream.write(line + '\n');
  }
}
