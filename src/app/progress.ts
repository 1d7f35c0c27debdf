// Training progress: a bar per epoch (in place in a notebook, on one line in a terminal) with
// loss, learning rate and ETA, wrapped around the loop's hooks.
import { ProgressBar } from '../ui/display.js';
import type { TrainHooks } from '../training/train.js';
import { report, type LogFn } from '../io/log.js';

export function progressHooks(log: LogFn = report, base: TrainHooks = {}): TrainHooks {
  let bar: ProgressBar | undefined;
  let epoch = 0;
  return {
    ...base,
    log,
    onStep: (info) => {
      if (!bar || info.epoch !== epoch) {
        bar?.done();
        epoch = info.epoch;
        bar = new ProgressBar(info.steps, { label: `epoch ${info.epoch}/${info.epochs}`, unit: 'step' });
      }
      bar.update(info.step, { loss: info.loss, lr: info.lr.toExponential(2) });
      if (info.step === info.steps) {
        bar.done();
        bar = undefined;
      }
      base.onStep?.(info);
    },
  };
}
