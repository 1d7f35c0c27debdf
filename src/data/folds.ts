// Stratified k-fold cross-validation splits: choosing a recipe or a checkpoint by its mean score over
// k folds of the training data, rather than by one fixed validation split it was tuned on. Pure and
// deterministic under a seed, so a killed run resumes on the same folds and two runs compare fold by fold.
import { rng, shuffle } from '../nn/random.js';

/** One fold: the rows it validates on and the rows it trains on, each in ascending order. */
export interface Fold {
  train: number[];
  val: number[];
}

/**
 * Splits rows into `k` folds like scikit-learn's StratifiedKFold(shuffle=True): each class's rows are
 * shuffled (under `seed`) and dealt round-robin over the folds, each class starting where the
 * previous one stopped, so every fold holds floor(n_c / k) or ceil(n_c / k) rows of each class c and
 * the fold sizes differ by at most one row. Every row is validated on exactly once.
 *
 * Args:
 *   labels: the class of each row (any numbers; rows of equal value form a class).
 *   k: the number of folds, at least 2.
 *   seed: the shuffle's seed; the same labels, k and seed give the same folds.
 *
 * Example: `for (const { train, val } of stratifiedKFold(data.labels, 5, 42)) { ... }`
 */
export function stratifiedKFold(labels: readonly number[], k: number, seed: number): Fold[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`stratifiedKFold: the number of folds must be an integer of at least 2, got ${k}`);
  if (!Number.isFinite(seed)) throw new Error(`stratifiedKFold: the seed must be a finite number, got ${seed}`);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    if (!Number.isFinite(y)) throw new Error(`stratifiedKFold: the label of row ${i} is ${y}, not a finite number`);
    const rows = byClass.get(y);
    if (rows) rows.push(i);
    else byClass.set(y, [i]);
  });
  if (labels.length < k)
    throw new Error(`stratifiedKFold: ${labels.length} rows cannot make ${k} folds; use fewer folds or more rows`);
  // Classes in a fixed order (by value), so the folds do not depend on which class comes first.
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  for (const c of classes) {
    const n = byClass.get(c)!.length;
    if (n < k)
      throw new Error(
        `stratifiedKFold: class ${c} has ${n} row${n === 1 ? '' : 's'}, fewer than the ${k} folds (each fold needs one to validate on); use at most ${n} folds`,
      );
  }
  const rand = rng(seed);
  const fold = new Int32Array(labels.length);
  let next = 0;
  for (const c of classes) {
    for (const i of shuffle(byClass.get(c)!, rand)) {
      fold[i] = next;
      next = (next + 1) % k;
    }
  }
  const folds: Fold[] = Array.from({ length: k }, () => ({ train: [], val: [] }));
  for (let i = 0; i < labels.length; i++) {
    for (let f = 0; f < k; f++) (f === fold[i] ? folds[f].val : folds[f].train).push(i);
  }
  return folds;
}
