// The head view: every layer x head drawn, one layer shown at a time (a menu over the layers), each
// head on its own colour scale, every token labelled with the room its label needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headViewFigure } from '../src/ui/head-view.js';

interface Trace {
  z: number[][];
  x: string[];
  visible: boolean;
  zmin: number;
  zmax: number;
  xaxis: string;
  yaxis: string;
}
interface Button {
  label: string;
  args: [{ visible: boolean[] }, { annotations: { text: string }[] }];
}

const row = (t: number, i: number, peak: number) =>
  Array.from({ length: t }, (_, k) => (k === i ? peak : (1 - peak) / (t - 1)));
const head = (t: number, peak: number) => Array.from({ length: t }, (_, i) => row(t, i, peak));

test('headViewFigure: a trace per layer x head cut to the tokens; one layer visible; a menu button per layer', () => {
  // 3 layers x 2 heads, 5 positions of which 2 are padding; head h of layer l peaks at 0.3 + 0.1 (2l + h).
  const att = Array.from({ length: 3 }, (_, l) =>
    Array.from({ length: 2 }, (_, h) => head(5, 0.3 + 0.1 * (2 * l + h))),
  );
  const fig = headViewFigure(['[CLS]', 'fire', '[SEP]'], att, 'Attention');
  const traces = fig.data as Trace[];
  assert.equal(traces.length, 6);
  assert.equal(traces[0].z.length, 3);
  assert.equal(traces[0].z[0].length, 3, 'padding columns cut off');
  // The last layer is shown first, both of its heads.
  assert.deepEqual(
    traces.map((d) => d.visible),
    [false, false, false, false, true, true],
  );
  // Each head on its own scale: 0 to its own largest weight.
  for (const [j, d] of traces.entries()) {
    assert.equal(d.zmin, 0);
    assert.equal(d.zmax, Math.max(...d.z.flat()), `trace ${j}`);
  }
  assert.ok(Math.abs(traces[5].zmax - 0.8) < 1e-9 && Math.abs(traces[0].zmax - 0.3) < 1e-9);
  // Head h sits in the same cell (axes) in every layer.
  assert.deepEqual(
    traces.map((d) => `${d.xaxis}/${d.yaxis}`),
    ['x/y', 'x2/y2', 'x/y', 'x2/y2', 'x/y', 'x2/y2'],
  );
  const menu = (fig.layout!.updatemenus as { buttons: Button[]; active: number }[])[0];
  assert.equal(menu.active, 2);
  assert.deepEqual(
    menu.buttons.map((b) => b.label),
    ['layer 1 of 3', 'layer 2 of 3', 'layer 3 of 3'],
  );
  assert.deepEqual(menu.buttons[1].args[0].visible, [false, false, true, true, false, false]);
  // Each layer's head titles give that head's scale.
  const titles = menu.buttons[0].args[1].annotations.map((a) => a.text).filter((t) => t.startsWith('head'));
  assert.equal(titles.length, 2);
  assert.match(titles[1], /^head 2 .*brightest = 0\.40/);
  // start picks the layer shown first.
  const early = headViewFigure(['[CLS]', 'fire', '[SEP]'], att, 'x', [0, 1]);
  assert.deepEqual(
    (early.data as Trace[]).map((d) => d.visible),
    [true, true, false, false, false, false],
  );
});

test('headViewFigure: every token labelled, repeated ones kept apart, margins as wide as the longest label', () => {
  const tokens = ['[CLS]', 'emergency', 'management', 'in', 'the', 'town', 'the', '[SEP]'];
  const fig = headViewFigure(tokens, [[head(8, 0.5), head(8, 0.5), head(8, 0.5), head(8, 0.5)]], 'x');
  const d = (fig.data as Trace[])[0];
  assert.deepEqual(d.x, ['[CLS]', 'emergency', 'management', 'in', 'the', 'town', 'the (6)', '[SEP]']);
  const layout = fig.layout as Record<string, { tickvals?: string[]; title?: unknown }> & {
    margin: { l: number; b: number; t: number };
  };
  // All labels given explicitly (plotly skips some on a crowded axis otherwise); no axis title to overlap them.
  assert.deepEqual(layout.xaxis.tickvals, d.x);
  assert.deepEqual(layout.yaxis.tickvals, d.x);
  assert.equal(layout.xaxis.title, undefined);
  // "management" (10 characters) must fit: about 7 px a character.
  assert.ok(layout.margin.l >= 10 * 7 && layout.margin.b >= 10 * 7, JSON.stringify(layout.margin));
  // Four heads of a short text: one row of four cells, side by side without overlapping.
  const ax = (k: string) => (layout[k] as unknown as { domain: number[] }).domain;
  assert.ok(ax('xaxis')[1] < ax('xaxis2')[0] && ax('xaxis3')[1] < ax('xaxis4')[0], 'cells overlap');
  assert.deepEqual(ax('yaxis'), ax('yaxis4'));
  // A long text needs bigger cells: four heads as 2 x 2, the figure no wider than about a notebook.
  const long = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const big = headViewFigure(long, [[head(30, 0.5), head(30, 0.5), head(30, 0.5), head(30, 0.5)]], 'x').layout!;
  const bx = (k: string) => (big[k] as { domain: number[] }).domain;
  assert.ok(bx('yaxis3')[1] < bx('yaxis')[0], 'heads 3 and 4 sit below 1 and 2');
  assert.deepEqual(bx('xaxis3'), bx('xaxis'));
  assert.ok((big.width as number) <= 1250, `width ${big.width}`);
});

test('headViewFigure: bad input is named', () => {
  assert.throws(
    () => headViewFigure(['a', 'b', 'c'], [[head(2, 0.5)]], 'x'),
    /3 tokens but attention rows for 2 positions/,
  );
  assert.throws(() => headViewFigure(['a'], [], 'x'), /no layers/);
  assert.throws(
    () => headViewFigure(['a', 'b'], [[head(2, 0.5)], [head(2, 0.5), head(2, 0.5)]], 'x'),
    /layer 2 has 2 heads, layer 1 has 1/,
  );
});
