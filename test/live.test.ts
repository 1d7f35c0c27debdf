// The live chart and progress bar in notebook mode: the kernel's display channel is captured, so
// the test sees the same display_data / update_display_data messages Jupyter would receive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

process.env.BERT_LAB_DISPLAY = 'html'; // before the first display call: notebook output
const { LiveChart, RunningMean, lineChartSvg } = await import('../src/ui/live.js');
const { ProgressBar } = await import('../src/ui/display.js');
const { progressHooks } = await import('../src/app/progress.js');

interface Message {
  data: Record<string, string>;
  transient: { display_id?: string };
  update: boolean;
}
const messages: Message[] = [];
const jupyter = createRequire(import.meta.url)('tslab/dist/jupyter.js') as {
  lastWriteDisplayData: ((d: Omit<Message, 'update'>, update: boolean) => void) | null;
};
jupyter.lastWriteDisplayData = (d, update) => messages.push({ ...d, update: Boolean(update) }); // first call: undefined

test('RunningMean is the mean of what was added, reset per epoch', () => {
  const m = new RunningMean();
  assert.ok(Number.isNaN(m.value));
  assert.equal(m.add(0.7), 0.7);
  assert.ok(Math.abs(m.add(0.5) - 0.6) < 1e-12);
  m.reset();
  assert.equal(m.add(2), 2);
});

test('lineChartSvg: one polyline per series with its finite points, escaped names, reference lines', () => {
  const svg = lineChartSvg(
    [
      { name: 'loss <train>', x: [1, 2, 3, 4], y: [0.7, NaN, 0.6, 0.5] },
      { name: 'val', x: [1, 4], y: [0.65, 0.55] },
    ],
    { title: 'Loss', refLines: [{ y: Math.LN2, label: 'ln 2' }] },
  );
  const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1].split(' ').length);
  assert.deepEqual(lines, [3, 2]);
  assert.match(svg, /loss &lt;train&gt;/);
  assert.match(svg, /stroke-dasharray="4 3"/);
  assert.match(svg, />ln 2</);
  assert.throws(() => lineChartSvg([{ name: 'bad', x: [1, 2], y: [1] }]), /series "bad" has 2 x but 1 y values/);
});

test('LiveChart redraws one display in place (update_display_data), throttled, final state drawn', () => {
  messages.length = 0;
  let t = 0;
  const chart = new LiveChart({ title: 'Training loss', minIntervalMs: 100, now: () => t });
  assert.ok(chart.live);
  for (let step = 1; step <= 10; step++) {
    t += 30;
    chart.push('loss', step, 1 / step);
  }
  chart.done();
  assert.ok(messages.length >= 3 && messages.length < 10, `${messages.length} redraws for 10 points`);
  const id = messages[0].transient.display_id;
  assert.ok(id, 'no display_id: the output could not be replaced');
  assert.ok(messages.every((m) => m.transient.display_id === id));
  assert.deepEqual(
    messages.map((m) => m.update),
    [false, ...messages.slice(1).map(() => true)],
  );
  const last = messages.at(-1)!.data['text/html'];
  assert.equal([...last.matchAll(/<polyline[^>]*points="([^"]*)"/g)][0][1].split(' ').length, 10);
});

test('progressHooks: the bar shows the running-mean loss, the chart both curves, in place', () => {
  messages.length = 0;
  const hooks = progressHooks(() => {});
  const losses = [0.9, 0.5, 0.7, 0.3];
  losses.forEach((loss, i) =>
    hooks.onStep!({ epoch: 1, epochs: 1, step: i + 1, steps: 4, loss, lr: 1e-4, gradNorm: 1, elapsed: i }),
  );
  const html = messages.map((m) => m.data['text/html']);
  const bars = html.filter((h) => h.includes('bert-lab-progress'));
  assert.match(bars.at(-1)!, /loss=0\.6000/, 'the final bar must show the mean 0.6, not the last batch 0.3');
  assert.doesNotMatch(bars.at(-1)!, /loss=0\.3000/);
  const charts = html.filter((h) => h.includes('bert-lab-live-chart'));
  assert.ok(charts.length >= 1);
  assert.match(charts.at(-1)!, /batch loss/);
  assert.match(charts.at(-1)!, /running mean of the epoch/);
  // Two displays (bar and chart), each only ever replaced after its first message.
  assert.equal(new Set(messages.map((m) => m.transient.display_id)).size, 2);
  assert.equal(messages.filter((m) => !m.update).length, 2);
});

test('ProgressBar in a notebook updates one output in place', () => {
  messages.length = 0;
  let t = 0;
  const bar = new ProgressBar(5, { now: () => t, minIntervalMs: 0 });
  for (let i = 0; i < 5; i++) {
    t += 10;
    bar.tick();
  }
  bar.done();
  assert.ok(messages.length >= 5);
  assert.equal(new Set(messages.map((m) => m.transient.display_id)).size, 1);
  assert.match(messages.at(-1)!.data['text/html'], /5\/5/);
});
