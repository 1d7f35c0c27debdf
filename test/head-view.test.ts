// The head view figure: one heat-map per layer and head, one visible, a menu that selects each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headViewFigure } from '../src/ui/head-view.js';

test('headViewFigure: a trace per layer x head cut to the tokens, the chosen one visible, a menu button each', () => {
  const row = (t: number, i: number) => Array.from({ length: t }, (_, k) => (k === i ? 1 : 0));
  const square = (t: number) => Array.from({ length: t }, (_, i) => row(t, i));
  const att = [
    [square(5), square(5)],
    [square(5), square(5)],
  ]; // 2 layers x 2 heads, 5 positions (2 of them padding)
  const fig = headViewFigure(['[CLS]', 'fire', '[SEP]'], att, 'Attention');
  assert.equal(fig.data.length, 4);
  const traces = fig.data as { z: number[][]; visible: boolean; y: string[] }[];
  assert.deepEqual(traces[0].z, square(3));
  assert.deepEqual(
    traces.map((d) => d.visible),
    [false, false, true, false],
    'last layer, first head',
  );
  const menu = (fig.layout!.updatemenus as { buttons: { label: string; args: [{ visible: boolean[] }] }[] }[])[0];
  assert.equal(menu.buttons[1].label, 'layer 1, head 2');
  assert.deepEqual(menu.buttons[1].args[0].visible, [false, true, false, false]);
  assert.deepEqual(headViewFigure(['a', 'b', 'a'], [[square(3)]], 'x').data.length, 1);
  assert.deepEqual((headViewFigure(['a', 'b', 'a'], [[square(3)]], 'x').data[0] as { x: string[] }).x, [
    'a',
    'b',
    'a (2)',
  ]);
  assert.throws(
    () => headViewFigure(['a', 'b', 'c'], [[square(2)]], 'x'),
    /3 tokens but attention rows for 2 positions/,
  );
});
