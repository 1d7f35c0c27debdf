// Training progress: a bar per epoch (in place in a notebook, on one line in a terminal) with the
// epoch's running-mean loss, learning rate and ETA, and in a notebook a loss chart redrawn in place,
// wrapped around the loop's hooks.
import { ProgressBar } from '../ui/display.js';
import { LiveChart, RunningMean } from '../ui/live.js';
import type { TrainHooks } from '../training/train.js';
import { report, type LogFn } from '../io/log.js';

/**
 * Hooks that show training progress. The bar's `loss` is the mean over the epoch's batches so far
 * (the number the lab prints as the average training loss at the epoch's end), not the last
 * batch's, which jumps with the batch.
 *
 * Args:
 *   log: where the loop's lines go.
 *   base: hooks to call as well (their onStep runs after the display is updated).
 *   opts.chart: draw the live loss chart in a notebook (default true).
 *
 * Example: `await trainAndSave(choice, prep, 'runs/x', config, progressHooks(() => {}))`
 */
export function progressHooks(log: LogFn = report, base: TrainHooks = {}, opts: { chart?: boolean } = {}): TrainHooks {
  let bar: ProgressBar | undefined;
  let epoch = 0;
  const mean = new RunningMean();
  let chart: LiveChart | undefined;
  return {
    ...base,
    log,
    onStep: (info) => {
      if (!bar || info.epoch !== epoch) {
        bar?.done();
        epoch = info.epoch;
        mean.reset();
        bar = new ProgressBar(info.steps, { label: `epoch ${info.epoch}/${info.epochs}`, unit: 'step' });
      }
      const running = mean.add(info.loss);
      bar.update(info.step, { loss: running, lr: info.lr.toExponential(2) });
      if (opts.chart ?? true) {
        chart ??= new LiveChart({ title: 'Training loss', xLabel: 'step', yLabel: 'loss' });
        const x = (info.epoch - 1) * info.steps + info.step;
        chart.push('batch loss', x, info.loss, { color: '#9ecae1', width: 1 });
        chart.push('running mean of the epoch', x, running, { color: '#08519c' });
      }
      if (info.step === info.steps) {
        bar.done();
        bar = undefined;
        if (info.epoch === info.epochs) chart?.done();
      }
      base.onStep?.(info);
    },
  };
}
