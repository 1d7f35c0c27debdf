import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  f1Score,
  confusionMatrix,
  classificationReport,
  formatClassificationReport,
  type ClassMetrics,
} from '../src/training/metrics.js';

const close = (a: number, b: number, msg?: string): void =>
  assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ''} ${a} != ${b}`);
function closeMetrics(got: ClassMetrics | number | undefined, want: ClassMetrics, name: string): void {
  assert.ok(typeof got === 'object' && got !== null, `${name} missing`);
  close(got.precision, want.precision, `${name} precision`);
  close(got.recall, want.recall, `${name} recall`);
  close(got['f1-score'], want['f1-score'], `${name} f1`);
  assert.equal(got.support, want.support, `${name} support`);
}

// Binary case worked by hand: true 1 1 1 1 0 0 0 0 0 0, predicted 1 1 0 0 1 0 0 0 0 0.
const yTrue = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const yPred = [1, 1, 0, 0, 1, 0, 0, 0, 0, 0];

test('accuracy and confusion matrix (rows true, columns predicted)', () => {
  assert.equal(accuracy(yTrue, yPred), 0.7);
  assert.deepEqual(confusionMatrix(yTrue, yPred, 2), [
    [5, 1],
    [2, 2],
  ]);
  assert.deepEqual(confusionMatrix([0, 2], [1, 2], 3), [
    [0, 1, 0],
    [0, 0, 0],
    [0, 0, 1],
  ]);
});

test('classification report matches hand-computed sklearn values', () => {
  const r = classificationReport(yTrue, yPred, ['not disaster', 'disaster']);
  // class 0: tp 5, fp 2, fn 1 -> p 5/7, r 5/6, f1 10/13; class 1: tp 2, fp 1, fn 2 -> p 2/3, r 1/2, f1 4/7
  closeMetrics(r['not disaster'], { precision: 5 / 7, recall: 5 / 6, 'f1-score': 10 / 13, support: 6 }, 'class 0');
  closeMetrics(r['disaster'], { precision: 2 / 3, recall: 1 / 2, 'f1-score': 4 / 7, support: 4 }, 'class 1');
  close(r.accuracy, 0.7);
  closeMetrics(r['macro avg'], { precision: 29 / 42, recall: 2 / 3, 'f1-score': 61 / 91, support: 10 }, 'macro');
  closeMetrics(r['weighted avg'], { precision: 73 / 105, recall: 0.7, 'f1-score': 314 / 455, support: 10 }, 'weighted');
  assert.deepEqual(Object.keys(r), ['not disaster', 'disaster', 'accuracy', 'macro avg', 'weighted avg']);
});

test('zero_division gives 0 and absent classes count in the macro average', () => {
  const r = classificationReport([0, 0, 1], [0, 0, 0], ['a', 'b', 'c']);
  closeMetrics(r.a, { precision: 2 / 3, recall: 1, 'f1-score': 0.8, support: 2 }, 'a');
  closeMetrics(r.b, { precision: 0, recall: 0, 'f1-score': 0, support: 1 }, 'b');
  closeMetrics(r.c, { precision: 0, recall: 0, 'f1-score': 0, support: 0 }, 'c');
  closeMetrics(r['macro avg'], { precision: 2 / 9, recall: 1 / 3, 'f1-score': 0.8 / 3, support: 3 }, 'macro');
  closeMetrics(r['weighted avg'], { precision: 4 / 9, recall: 2 / 3, 'f1-score': 1.6 / 3, support: 3 }, 'weighted');
});

test('text table like sklearn', () => {
  const s = formatClassificationReport(classificationReport(yTrue, yPred, ['0', '1']));
  assert.match(s, /^\s+precision\s+recall\s+f1-score\s+support$/m);
  assert.match(s, /^\s+0\s+0\.71\s+0\.83\s+0\.77\s+6$/m);
  assert.match(s, /^\s+accuracy\s+0\.70\s+10$/m);
  assert.match(s, /^weighted avg\s+0\.70\s+0\.70\s+0\.69\s+10$/m);
});

test('bad input is rejected with a clear message', () => {
  assert.throws(() => accuracy([0, 1], [0]), /2 labels but yPred has 1/);
  assert.throws(() => accuracy([], []), /empty/);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 2), /yTrue\[1\] = 3 is not a class index in 0\.\.1/);
  assert.throws(() => classificationReport([0], [0], ['a', 'a']), /duplicates/);
  assert.throws(() => classificationReport([0], [0], ['accuracy', 'b']), /collides/);
});

test("f1Score: the positive class's F1 with two classes (sklearn's f1_score), the macro average with more", () => {
  // sklearn: f1_score([0,1,1,0,1], [0,1,0,1,1]) = 2*2 / (3 + 3) = 0.6667.
  assert.ok(Math.abs(f1Score([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], 2) - 2 / 3) < 1e-12);
  // No positive predicted nor true: 0 (zero_division=0).
  assert.equal(f1Score([0, 0], [0, 0], 2), 0);
  // Three classes: per-class F1 1, 1/2, 0 -> macro 1/2 (f1_score(..., average='macro')).
  const t = [0, 1, 1, 2],
    p = [0, 1, 2, 1];
  assert.ok(Math.abs(f1Score(t, p, 3) - (1 + 1 / 2 + 0) / 3) < 1e-12);
  assert.ok(Math.abs(f1Score(t, p, 3) - classificationReport(t, p, ['a', 'b', 'c'])['macro avg']['f1-score']) < 1e-12);
});
