import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import {
  escapeHtml,
  truncate,
  formatCell,
  htmlTable,
  textTable,
  toTableData,
  plotHtml,
  plotlyLibrary,
  formatDuration,
  formatRate,
  ProgressBar,
  inNotebook,
} from '../src/ui/display.js';
import { Frame } from '../src/data/data.js';

test('escapeHtml escapes markup and quotes', () => {
  assert.equal(escapeHtml(`<b a="1">'x' & y</b>`), '&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;');
});

test('truncate cuts by code point and ends with an ellipsis', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('abcdefghij', 10), 'abcdefghij');
  assert.equal(truncate('abcdefghijk', 10), 'abcdefghi…');
  assert.equal(Array.from(truncate('🔥'.repeat(20), 5)).length, 5);
  assert.equal(truncate('🔥🔥🔥', 2), '🔥…');
});

test('formatCell formats numbers, empties, arrays', () => {
  assert.equal(formatCell(3), '3');
  assert.equal(formatCell(0.123456), '0.1235');
  assert.equal(formatCell(0.5, 2), '0.50');
  assert.equal(formatCell(null), '');
  assert.equal(formatCell(undefined), '');
  assert.equal(formatCell(NaN), 'NaN');
  assert.equal(formatCell([1, 2.5]), '[1, 2.5000]');
  assert.equal(formatCell(new Int32Array([1, 2])), '[1, 2]');
});

test('htmlTable from records: index, columns, escaping, truncation, footer', () => {
  const rows = [
    { id: 1, text: '<script>alert(1)</script> & more', target: 1 },
    { id: 2, text: 'x'.repeat(200), target: 0 },
    { id: 3, text: 'line\nbreak', target: 0 },
  ];
  const html = htmlTable(rows, { maxWidth: 20, maxRows: 2 });
  assert.match(html, /^<table/);
  assert.match(html, /<th>id<\/th><th>text<\/th><th>target<\/th>/);
  assert.match(html, /<th>0<\/th>/); // index column
  assert.ok(!html.includes('<script>'), 'cell HTML is escaped');
  assert.ok(html.includes('&lt;script&gt;'));
  assert.ok(html.includes('x'.repeat(19) + '…'), 'long text truncated to 20 chars');
  assert.ok(html.includes('title="' + 'x'.repeat(200) + '"'), 'full text kept in the tooltip');
  assert.ok(!html.includes('line\nbreak'));
  assert.match(html, /3 rows × 3 columns \(1 more not shown\)/);
  assert.equal((html.match(/<tr>/g) ?? []).length, 3); // header + 2 rows
});

test('htmlTable from a DataFrame-like object and a Series-like object', () => {
  const df = {
    columns: ['a', 'b'],
    index: ['r1', 'r2'],
    values: [
      [1, 'x'],
      [2, 'y'],
    ],
  };
  const html = htmlTable(df, { index: true });
  assert.match(html, /<th>r1<\/th><td style="text-align:right">1<\/td><td style="text-align:left">x<\/td>/);
  const s = { index: [0, 1], values: [0.25, 0.75], name: 'p' };
  assert.deepEqual(toTableData(s), { columns: ['p'], index: [0, 1], rows: [[0.25], [0.75]] });
  assert.deepEqual(toTableData(df, { columns: ['b'] }).rows, [['x'], ['y']]);
  assert.throws(() => toTableData(df, { columns: ['zz'] }), /Unknown column "zz"/);
  assert.ok(!htmlTable(df, { index: false }).includes('<th>r1</th>'));
});

test('htmlTable and textTable draw a Frame (what readCsv returns) with its row numbers', () => {
  const df = new Frame({ id: [1, 2, 3], text: ['fire <b>', 'flood', ''], target: [1, 0, 1] });
  const html = htmlTable(df, { maxRows: 2, caption: 'First rows' });
  assert.match(html, /<th><\/th><th>id<\/th><th>text<\/th><th>target<\/th>/);
  assert.match(
    html,
    /<tr><th>0<\/th><td style="text-align:right">1<\/td><td style="text-align:left">fire &lt;b&gt;<\/td><td style="text-align:right">1<\/td><\/tr>/,
  );
  assert.match(html, /3 rows × 3 columns \(1 more not shown\)/);
  assert.deepEqual(textTable(df, { maxRows: 1 }).split('\n').slice(0, 3), [
    '   id  text      target',
    '-  --  --------  ------',
    '0   1  fire <b>       1',
  ]);
});

test('textTable aligns columns and right-aligns numbers', () => {
  const txt = textTable(
    [
      { name: 'a', n: 1 },
      { name: 'bbbb', n: 100 },
    ],
    { index: false },
  );
  const lines = txt.split('\n');
  assert.equal(lines[0], 'name    n');
  assert.equal(lines[2], 'a       1');
  assert.equal(lines[3], 'bbbb  100');
  assert.equal(lines[4], '2 rows × 2 columns');
});

test('plotHtml embeds plotly.js only when asked and keeps JSON script-safe', () => {
  const fig = {
    data: [{ x: [1, 2], y: [3, 4], type: 'scatter', name: '</script><b>' }],
    layout: { title: { text: 't' } },
  };
  const withLib = plotHtml(fig, true, 'p1');
  const without = plotHtml(fig, false, 'p2');
  assert.ok(withLib.length > plotlyLibrary().length);
  assert.ok(without.length < 5000);
  assert.ok(withLib.includes('var define, module, exports;'));
  assert.ok(without.includes('<div id="p2"'));
  assert.ok(without.includes('window.Plotly.newPlot'));
  assert.ok(!without.includes('</script><b>'), 'data cannot close the script element');
  assert.ok(without.includes('\\u003c/script\\u003e'));
});

test('formatDuration and formatRate', () => {
  assert.equal(formatDuration(5), '0:05');
  assert.equal(formatDuration(125), '2:05');
  assert.equal(formatDuration(3723), '1:02:03');
  assert.equal(formatDuration(NaN), '?');
  assert.equal(formatRate(12.34), '12.3 it/s');
  assert.equal(formatRate(250), '250 it/s');
  assert.equal(formatRate(0.5, 'batch'), '2.00 s/batch');
  assert.equal(formatRate(0), '? it/s');
});

class Capture extends Writable {
  chunks: string[] = [];
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(c: Buffer, _e: BufferEncoding, cb: () => void) {
    this.chunks.push(c.toString());
    cb();
  }
}

test('ProgressBar computes rate and ETA and redraws in place on a TTY', () => {
  let t = 0;
  const stream = new Capture(true);
  const bar = new ProgressBar(100, { label: 'epoch 1', now: () => t, stream, minIntervalMs: 0, width: 10, text: true });
  t = 10_000; // 10 s for 25 steps: 2.5 it/s, 75 left: 30 s
  bar.tick(25, { loss: 0.53 });
  assert.equal(bar.format(), 'epoch 1  25/100  25%  2.5 it/s  elapsed 0:10  ETA 0:30  loss=0.5300');
  assert.equal(bar.bar(), '[###-------]');
  assert.ok(stream.chunks.at(-1)!.startsWith('\r[###-------] epoch 1  25/100'));
  t = 40_000;
  bar.update(100);
  assert.equal(bar.eta(), 0);
  bar.done();
  assert.equal(stream.chunks.at(-1), '\n');
  const before = stream.chunks.length;
  bar.tick(1);
  bar.done();
  assert.equal(stream.chunks.length, before, 'nothing drawn after done()');
});

test('ProgressBar throttles redraws and writes whole lines when not a TTY', () => {
  let t = 0;
  const stream = new Capture(false);
  const bar = new ProgressBar(1000, { now: () => t, stream, text: true }); // 10 s interval off-TTY
  for (let i = 0; i < 1000; i++) {
    t += 50;
    bar.tick();
  }
  bar.done();
  // initial line + one per 10 s over 50 s + the final line
  assert.ok(stream.chunks.length <= 8, `too many lines: ${stream.chunks.length}`);
  assert.ok(stream.chunks.every((c) => c.endsWith('\n') && !c.includes('\r')));
  assert.match(stream.chunks.at(-1)!, /1000\/1000  100%  20\.0 it\/s  elapsed 0:50  ETA 0:00/);
});

test('outside a kernel, output is terminal text', () => {
  assert.equal(inNotebook(), false);
});
