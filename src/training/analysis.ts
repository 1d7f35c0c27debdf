// Error analysis of a classifier's validation predictions: the score to beat without a model, where
// it goes wrong (most confident mistakes, accuracy by group) and the decision threshold that
// maximises F1 of the positive class instead of argmax's 0.5.

/** The majority class of the training labels, and its accuracy on `valLabels`: the floor any model must beat. */
export function majorityBaseline(trainLabels: readonly number[], valLabels: readonly number[]): MajorityBaseline {
  if (!trainLabels.length) throw new Error('majorityBaseline: no training labels');
  const counts = new Map<number, number>();
  for (const y of trainLabels) counts.set(y, (counts.get(y) ?? 0) + 1);
  // Ties go to the smaller id, as numpy's bincount().argmax() decides them.
  const label = [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  const correct = valLabels.filter((y) => y === label).length;
  return { label, accuracy: valLabels.length ? correct / valLabels.length : NaN };
}
export interface MajorityBaseline {
  /** The most frequent training label. */
  label: number;
  /** Its accuracy when predicted for every validation row. */
  accuracy: number;
}

/** Scores of predicting `positive` when its probability is at least `threshold`. */
export interface ThresholdPoint {
  threshold: number;
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
}

/**
 * Precision, recall, F1 (of class `positive`) and accuracy at each decision threshold on that class's
 * probability, and the F1-optimal one (the lowest threshold among ties). Precision with no positive
 * prediction is 0, as scikit-learn's zero_division=0.
 *
 * Args:
 *   labels: true class ids; probabilities: per row, the class probabilities (e.g. `evaluate(...).probabilities`).
 *   opts: `positive` class id (default 1); `thresholds` (default 0.01, 0.02, ..., 0.99).
 *
 * Example: `const { best } = thresholdSweep(prep.val.labels, ev.probabilities); best.threshold`
 */
export function thresholdSweep(
  labels: readonly number[],
  probabilities: readonly (readonly number[])[],
  opts: { positive?: number; thresholds?: readonly number[] } = {},
): { points: ThresholdPoint[]; best: ThresholdPoint } {
  if (labels.length !== probabilities.length)
    throw new Error(`thresholdSweep: ${labels.length} labels but ${probabilities.length} rows of probabilities`);
  if (!labels.length) throw new Error('thresholdSweep: no rows');
  const positive = opts.positive ?? 1;
  const thresholds = opts.thresholds ?? Array.from({ length: 99 }, (_, i) => (i + 1) / 100);
  const p = probabilities.map((row, i) => {
    const v = row[positive];
    if (typeof v !== 'number') throw new Error(`thresholdSweep: row ${i} has no probability for class ${positive}`);
    return v;
  });
  const points = thresholds.map((threshold) => {
    let tp = 0,
      fp = 0,
      fn = 0,
      correct = 0;
    p.forEach((v, i) => {
      const pred = v >= threshold;
      const pos = labels[i] === positive;
      if (pred && pos) tp++;
      else if (pred) fp++;
      else if (pos) fn++;
      if (pred === pos) correct++;
    });
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { threshold, precision, recall, f1, accuracy: correct / labels.length };
  });
  const best = points.reduce((a, b) => (b.f1 > a.f1 ? b : a));
  return { points, best };
}

/** One group's share of correct predictions. */
export interface GroupAccuracy {
  group: string;
  n: number;
  correct: number;
  accuracy: number;
}

/**
 * Accuracy per group (e.g. the tweets' `keyword`), largest groups first; groups with fewer than
 * `minCount` rows are left out.
 *
 * Example: `accuracyByGroup(keywords, prep.val.labels, ev.predictions, 5).slice(0, 10)`
 */
export function accuracyByGroup(
  groups: readonly string[],
  labels: readonly number[],
  predictions: readonly number[],
  minCount = 1,
): GroupAccuracy[] {
  if (groups.length !== labels.length || predictions.length !== labels.length)
    throw new Error(
      `accuracyByGroup: ${groups.length} groups, ${labels.length} labels and ${predictions.length} predictions must be as many`,
    );
  const by = new Map<string, GroupAccuracy>();
  groups.forEach((group, i) => {
    const g = by.get(group) ?? { group, n: 0, correct: 0, accuracy: 0 };
    g.n++;
    if (labels[i] === predictions[i]) g.correct++;
    by.set(group, g);
  });
  return [...by.values()]
    .filter((g) => g.n >= minCount)
    .map((g) => ({ ...g, accuracy: g.correct / g.n }))
    .sort((a, b) => b.n - a.n || a.accuracy - b.accuracy || a.group.localeCompare(b.group));
}

/** A wrong prediction and how sure the model was of it. */
export interface Mistake {
  /** Row in the evaluated data. */
  index: number;
  label: number;
  predicted: number;
  /** The probability the model gave its (wrong) prediction. */
  confidence: number;
}

/**
 * The `k` wrong predictions the model was surest of (argmax class, highest probability first).
 *
 * Example: `confidentlyWrong(prep.val.labels, ev.probabilities, 10).map((m) => texts[m.index])`
 */
export function confidentlyWrong(
  labels: readonly number[],
  probabilities: readonly (readonly number[])[],
  k = 10,
): Mistake[] {
  if (labels.length !== probabilities.length)
    throw new Error(`confidentlyWrong: ${labels.length} labels but ${probabilities.length} rows of probabilities`);
  const out: Mistake[] = [];
  probabilities.forEach((row, index) => {
    let predicted = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[predicted]) predicted = j;
    if (predicted !== labels[index]) out.push({ index, label: labels[index], predicted, confidence: row[predicted] });
  });
  return out.sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, k);
}
