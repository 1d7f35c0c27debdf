// A loss chart that redraws itself in place while a loop runs: in a notebook one output is
// replaced (Jupyter's update_display_data, through tslab's newDisplay) instead of a new one
// appended per step. The chart is inline SVG, so an update is a few kilobytes, needs no script
// or library in the page, and the last state survives `nbconvert --to html` as it is.
import { escapeHtml, tslab } from './display.js';

/**
 * The mean of the values added so far: what a training log should show, since one batch's loss
 * jumps around with the batch.
 *
 * Example: `const m = new RunningMean(); m.add(0.7); m.add(0.5); m.value // 0.6`
 */
export class RunningMean {
  private sum = 0;
  count = 0;
  /** Adds a value (non-finite values are counted, so a NaN loss shows as NaN) and returns the mean. */
  add(x: number): number {
    this.sum += x;
    this.count++;
    return this.value;
  }
  get value(): number {
    return this.count > 0 ? this.sum / this.count : NaN;
  }
  reset(): void {
    this.sum = 0;
    this.count = 0;
  }
}

/** One line of a chart. */
export interface Series {
  name: string;
  x: number[];
  y: number[];
  color?: string;
  /** Stroke width in pixels. Default 2. */
  width?: number;
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Pixels. Defaults 640 x 260. */
  width?: number;
  height?: number;
  /** Horizontal reference lines, e.g. the loss of a uniform guess. */
  refLines?: { y: number; label: string }[];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** A "nice" tick step (1, 2 or 5 times a power of ten) giving about `n` ticks over `span`. */
function tickStep(span: number, n: number): number {
  const raw = span / Math.max(n, 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m >= 5 ? 10 : m >= 2 ? 5 : m >= 1 ? 2 : 1) * p;
}

/**
 * A line chart as a standalone SVG element: axes with ticks, one polyline per series, a legend and
 * optional dashed reference lines. Non-finite points are skipped.
 *
 * Args:
 *   series: the lines; x and y of equal length.
 *   opts: title, axis labels, size, reference lines.
 *
 * Example: `lineChartSvg([{ name: 'loss', x: [1, 2, 3], y: [0.7, 0.6, 0.55] }], { title: 'Training loss' })`
 */
export function lineChartSvg(series: readonly Series[], opts: ChartOptions = {}): string {
  const W = opts.width ?? 640,
    H = opts.height ?? 260;
  const m = { left: 56, right: 16, top: opts.title ? 28 : 12, bottom: 40 };
  const pw = W - m.left - m.right,
    ph = H - m.top - m.bottom;
  const xs: number[] = [],
    ys: number[] = [];
  for (const s of series) {
    if (s.x.length !== s.y.length)
      throw new Error(`lineChartSvg: series "${s.name}" has ${s.x.length} x but ${s.y.length} y values`);
    s.x.forEach((x, i) => {
      if (Number.isFinite(x) && Number.isFinite(s.y[i])) {
        xs.push(x);
        ys.push(s.y[i]);
      }
    });
  }
  for (const r of opts.refLines ?? []) if (Number.isFinite(r.y)) ys.push(r.y);
  const x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const X = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const Y = (y: number) => m.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const fmt = (v: number) => String(Number(v.toPrecision(4)));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="bert-lab-live-chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="#fff" stroke="#ccc"/>`,
  ];
  if (opts.title)
    out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${escapeHtml(opts.title)}</text>`);
  const yStep = tickStep(y1 - y0, 5);
  for (let v = Math.ceil(y0 / yStep) * yStep; v <= y1; v += yStep) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${m.left - 4}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  const xStep = Math.max(tickStep(x1 - x0, 6), Number.isInteger(x0) && Number.isInteger(x1) ? 1 : 0);
  for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1; v += xStep) {
    out.push(`<text x="${X(v).toFixed(1)}" y="${m.top + ph + 14}" text-anchor="middle">${fmt(v)}</text>`);
  }
  if (opts.xLabel)
    out.push(`<text x="${m.left + pw / 2}" y="${H - 6}" text-anchor="middle">${escapeHtml(opts.xLabel)}</text>`);
  if (opts.yLabel)
    out.push(
      `<text x="12" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 12 ${m.top + ph / 2})">${escapeHtml(opts.yLabel)}</text>`,
    );
  for (const r of opts.refLines ?? []) {
    if (!Number.isFinite(r.y)) continue;
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${Y(r.y).toFixed(1)}" y2="${Y(r.y).toFixed(1)}" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${m.left + pw - 4}" y="${(Y(r.y) - 3).toFixed(1)}" text-anchor="end" fill="#555">${escapeHtml(r.label)}</text>`,
    );
  }
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    const pts = s.x
      .map((x, i) => [x, s.y[i]] as const)
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`)
      .join(' ');
    if (pts) out.push(`<polyline fill="none" stroke="${color}" stroke-width="${s.width ?? 2}" points="${pts}"/>`);
    const ly = m.top + 12 + 14 * k;
    out.push(
      `<line x1="${m.left + 8}" x2="${m.left + 26}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${m.left + 30}" y="${ly}">${escapeHtml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

export interface LiveChartOptions extends ChartOptions {
  /** Minimum milliseconds between redraws (the final state is always drawn). Default 500. */
  minIntervalMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * A line chart that grows point by point and redraws in place in a notebook (one output, replaced
 * at most every `minIntervalMs`). Outside a notebook it draws nothing: the terminal's progress
 * line already carries the numbers.
 *
 * Example:
 *   const chart = new LiveChart({ title: 'Training loss', xLabel: 'step' });
 *   for (...) chart.push('running mean', step, mean.add(loss));
 *   chart.done();
 */
export class LiveChart {
  readonly series: Series[] = [];
  private readonly display: { html(s: string): void } | null;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private dirty = false;

  constructor(private readonly opts: LiveChartOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    const t = tslab();
    this.display = t ? t.newDisplay() : null;
  }

  /** True when the chart is shown (in a notebook). */
  get live(): boolean {
    return this.display !== null;
  }

  /** Appends a point to the named series (created on first use) and redraws if due. */
  push(name: string, x: number, y: number, style: { color?: string; width?: number } = {}): void {
    let s = this.series.find((q) => q.name === name);
    if (!s) {
      s = { name, x: [], y: [], ...style };
      this.series.push(s);
    }
    s.x.push(x);
    s.y.push(y);
    this.dirty = true;
    this.render(false);
  }

  /** The chart as SVG, as it would be drawn now. */
  svg(): string {
    return lineChartSvg(this.series, this.opts);
  }

  /** Draws the final state. */
  done(): void {
    if (this.dirty) this.render(true);
  }

  private render(force: boolean): void {
    if (!this.display) return;
    const t = this.now();
    if (!force && t - this.lastDraw < (this.opts.minIntervalMs ?? 500)) return;
    this.lastDraw = t;
    this.dirty = false;
    try {
      this.display.html(`<div class="bert-lab-live">${this.svg()}</div>`);
    } catch {
      /* tslab refuses output between cells */
    }
  }
}
