// The whole lab's time projected from one measured training step: what `doctor` tells a user before
// a run, and what bench/lab.ts projects from its timed steps.

/** What the lab runs: rows, batch size and epochs (defaults: the lab's tweets, 6,090 / 1,523 rows, 4 epochs). */
export interface LabShape {
  batchSize: number;
  trainRows?: number;
  valRows?: number;
  epochs?: number;
}

/**
 * A validation batch (forward only, no dropout, no optimizer) as a share of a training step of the
 * same shape. Measured with bench/lab.ts (CPU time, one thread, batch 32 x 45): bert-base 0.34
 * (3.91 s / 11.58 s), the same ratio as PyTorch 1.13's.
 */
export const FORWARD_SHARE = 0.34;

/**
 * The lab's training and validation time from one training step of `stepSeconds` at the lab's
 * batch shape (and, when measured, one validation batch of `valBatchSeconds`): every epoch trains
 * ceil(trainRows / batch) steps and validates ceil(valRows / batch) batches.
 *
 * Example: `projectLabSeconds(11.6, { batchSize: 32 }).totalSeconds` -> about 9,590 (bert-base, one core).
 */
export function projectLabSeconds(
  stepSeconds: number,
  lab: LabShape,
  valBatchSeconds = FORWARD_SHARE * stepSeconds,
): { steps: number; trainSeconds: number; valSeconds: number; totalSeconds: number } {
  const epochs = lab.epochs ?? 4,
    trainRows = lab.trainRows ?? 6090,
    valRows = lab.valRows ?? 1523;
  if (!(lab.batchSize >= 1)) throw new Error(`batch size ${lab.batchSize}: give 1 or more`);
  const steps = Math.ceil(trainRows / lab.batchSize) * epochs;
  const trainSeconds = steps * stepSeconds;
  const valSeconds = Math.ceil(valRows / lab.batchSize) * epochs * valBatchSeconds;
  return { steps, trainSeconds, valSeconds, totalSeconds: trainSeconds + valSeconds };
}
