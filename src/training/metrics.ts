// Classification metrics with scikit-learn's definitions and output shapes, so the numbers in the
// notebook and the CLI read like the lab's sklearn output.

export interface ClassMetrics {
  precision: number;
  recall: number;
  'f1-score': number;
  support: number;
}

/**
 * Shaped like sklearn's classification_report(output_dict=True): one entry per class name,
 * plus 'accuracy', 'macro avg' and 'weighted avg'.
 */
export type ClassificationReport = {
  [label: string]: ClassMetrics | number;
  accuracy: number;
  'macro avg': ClassMetrics;
  'weighted avg': ClassMetrics;
};

const RESERVED = new Set(['accuracy', 'macro avg', 'weighted avg']);

function checkPair(yTrue: readonly number[], yPred: readonly number[]): void {
  if (yTrue.length !== yPred.length) throw new Error(`yTrue has ${yTrue.length} labels but yPred has ${yPred.length}`);
  if (yTrue.length === 0) throw new Error('no labels to score (yTrue and yPred are empty)');
}

function checkClass(y: number, i: number, numClasses: number, name: string): void {
  if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
    throw new Error(`${name}[${i}] = ${y} is not a class index in 0..${numClasses - 1}`);
  }
}

/** Fraction of positions where the prediction equals the truth. */
export function accuracy(yTrue: readonly number[], yPred: readonly number[]): number {
  checkPair(yTrue, yPred);
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

/** Counts with rows = true class, columns = predicted class (sklearn's convention). */
export function confusionMatrix(yTrue: readonly number[], yPred: readonly number[], numClasses: number): number[][] {
  checkPair(yTrue, yPred);
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new Error(`numClasses must be a positive integer, got ${numClasses}`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    checkClass(yTrue[i], i, numClasses, 'yTrue');
    checkClass(yPred[i], i, numClasses, 'yPred');
    m[yTrue[i]][yPred[i]]++;
  }
  return m;
}

// zero_division=0: an undefined ratio counts as 0, as sklearn does with that setting.
const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Per-class precision, recall, F1 and support, with macro and support-weighted averages. */
export function classificationReport(
  yTrue: readonly number[],
  yPred: readonly number[],
  labelNames: readonly string[],
): ClassificationReport {
  const k = labelNames.length;
  if (k < 1) throw new Error('labelNames is empty');
  if (new Set(labelNames).size !== k) throw new Error(`labelNames has duplicates: ${labelNames.join(', ')}`);
  for (const n of labelNames) if (RESERVED.has(n)) throw new Error(`label name "${n}" collides with a report key`);
  const cm = confusionMatrix(yTrue, yPred, k);
  const per: ClassMetrics[] = labelNames.map((_, c) => {
    const tp = cm[c][c];
    const support = cm[c].reduce((s, x) => s + x, 0);
    const predicted = cm.reduce((s, row) => s + row[c], 0);
    const precision = ratio(tp, predicted);
    const recall = ratio(tp, support);
    return { precision, recall, 'f1-score': ratio(2 * precision * recall, precision + recall), support };
  });
  const total = yTrue.length;
  const avg = (weights: number[]): ClassMetrics => {
    const wsum = weights.reduce((s, w) => s + w, 0);
    const mean = (key: 'precision' | 'recall' | 'f1-score'): number =>
      ratio(
        per.reduce((s, m, c) => s + m[key] * weights[c], 0),
        wsum,
      );
    return { precision: mean('precision'), recall: mean('recall'), 'f1-score': mean('f1-score'), support: total };
  };
  const report: ClassificationReport = {
    accuracy: accuracy(yTrue, yPred),
    'macro avg': avg(per.map(() => 1)),
    'weighted avg': avg(per.map((m) => m.support)),
  };
  labelNames.forEach((n, c) => {
    report[n] = per[c]!;
  });
  // Key order as sklearn prints it: classes first, then the summary rows.
  const ordered: ClassificationReport = Object.fromEntries([
    ...labelNames.map((n) => [n, report[n]] as const),
    ['accuracy', report.accuracy],
    ['macro avg', report['macro avg']],
    ['weighted avg', report['weighted avg']],
  ]) as ClassificationReport;
  return ordered;
}

/**
 * The F1 score a best epoch can be chosen by: with two classes the positive class's (id 1), as
 * sklearn's `f1_score(y_true, y_pred)` (average='binary'); with more, the macro average.
 *
 * Example: `f1Score([0, 1, 1], [0, 1, 0], 2)` is 2/3.
 */
export function f1Score(yTrue: readonly number[], yPred: readonly number[], numClasses: number): number {
  const cm = confusionMatrix(yTrue, yPred, numClasses);
  const f1 = (c: number) => {
    const tp = cm[c][c];
    const support = cm[c].reduce((s, x) => s + x, 0);
    const predicted = cm.reduce((s, row) => s + row[c], 0);
    return ratio(2 * tp, support + predicted);
  };
  if (numClasses === 2) return f1(1);
  let sum = 0;
  for (let c = 0; c < numClasses; c++) sum += f1(c);
  return sum / numClasses;
}

/** The report as sklearn's text table (classification_report(..., digits)). */
export function formatClassificationReport(report: ClassificationReport, digits = 2): string {
  const names = Object.keys(report).filter((n) => !RESERVED.has(n));
  const width = Math.max('weighted avg'.length, ...names.map((n) => n.length), digits);
  const heads = ['precision', 'recall', 'f1-score', 'support'];
  // sklearn's layout: name right-aligned to the widest name, then ' ' + 9-wide cells.
  const cells = (xs: string[]): string => xs.map((x) => ' ' + x.padStart(9)).join('');
  const f = (x: number): string => x.toFixed(digits);
  const row = (name: string, m: ClassMetrics): string =>
    `${name.padStart(width)} ${cells([f(m.precision), f(m.recall), f(m['f1-score']), String(m.support)])}`;
  const lines = [`${' '.repeat(width)} ${cells(heads)}`, ''];
  for (const n of names) lines.push(row(n, report[n] as ClassMetrics));
  lines.push('');
  const total = report['macro avg'].support;
  lines.push(`${'accuracy'.padStart(width)} ${cells(['', '', f(report.accuracy), String(total)])}`);
  lines.push(row('macro avg', report['macro avg']));
  lines.push(row('weighted avg', report['weighted avg']));
  return lines.join('\n') + '\n';
}
