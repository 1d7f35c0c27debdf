// Error analysis: the majority floor, the threshold sweep against scikit-learn's definitions, groups, mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracyByGroup, confidentlyWrong, majorityBaseline, thresholdSweep } from '../src/training/analysis.js';

test('majorityBaseline predicts the most frequent training label (ties to the smaller id)', () => {
  assert.deepEqual(majorityBaseline([0, 1, 1, 1], [1, 0, 1, 1]), { label: 1, accuracy: 0.75 });
  assert.equal(majorityBaseline([1, 0], [0]).label, 0);
  assert.throws(() => majorityBaseline([], [0]), /no training labels/);
});

test('thresholdSweep: precision, recall, F1 by hand; the F1-optimal threshold', () => {
  const labels = [1, 1, 0, 0, 1];
  const probs = [0.9, 0.4, 0.35, 0.1, 0.2].map((p) => [1 - p, p]);
  const { points, best } = thresholdSweep(labels, probs, { thresholds: [0.15, 0.3, 0.5] });
  // t=0.5: predicts only row 0 -> tp 1, fp 0, fn 2: precision 1, recall 1/3, F1 0.5, accuracy 3/5.
  assert.deepEqual(points[2], { threshold: 0.5, precision: 1, recall: 1 / 3, f1: 0.5, accuracy: 0.6 });
  // t=0.15: rows 0,1,2,4 -> tp 3, fp 1, fn 0: precision 0.75, recall 1, F1 6/7.
  assert.ok(Math.abs(points[0].f1 - 6 / 7) < 1e-12);
  assert.equal(best.threshold, 0.15);
  // No positive prediction: precision and F1 are 0 (zero_division=0), not NaN.
  assert.equal(
    thresholdSweep(
      [1, 0],
      [
        [0.9, 0.1],
        [0.8, 0.2],
      ],
      { thresholds: [0.5] },
    ).best.f1,
    0,
  );
  assert.equal(thresholdSweep(labels, probs).points.length, 99);
  assert.throws(
    () =>
      thresholdSweep(
        [1],
        [
          [0.5, 0.5],
          [0.1, 0.9],
        ],
      ),
    /1 labels but 2 rows/,
  );
  assert.throws(() => thresholdSweep([1], [[1]]), /row 0 has no probability for class 1/);
});

test('accuracyByGroup counts per group, largest first, and drops small groups', () => {
  const g = accuracyByGroup(['fire', 'fire', 'flood', 'fire'], [1, 0, 1, 1], [1, 1, 1, 1]);
  assert.deepEqual(g, [
    { group: 'fire', n: 3, correct: 2, accuracy: 2 / 3 },
    { group: 'flood', n: 1, correct: 1, accuracy: 1 },
  ]);
  assert.equal(accuracyByGroup(['a', 'b', 'b'], [0, 0, 0], [0, 0, 0], 2).length, 1);
  assert.throws(() => accuracyByGroup(['a'], [0, 1], [0, 1]), /must be as many/);
});

test('confidentlyWrong lists only mistakes, surest first', () => {
  const m = confidentlyWrong(
    [0, 1, 0, 1],
    [
      [0.2, 0.8],
      [0.1, 0.9],
      [0.4, 0.6],
      [0.95, 0.05],
    ],
    2,
  );
  assert.deepEqual(m, [
    { index: 3, label: 1, predicted: 0, confidence: 0.95 },
    { index: 0, label: 0, predicted: 1, confidence: 0.8 },
  ]);
});
