// Stratified k-fold splits (src/data/folds.ts): disjoint folds that cover every row once as
// validation, each class's share kept within one row per fold, the same folds for the same seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stratifiedKFold, type Fold } from '../src/data/folds.js';
import { rng, shuffle } from '../src/nn/random.js';

/** Labels shaped like the lab's train.csv: 7,613 rows, 3,271 of class 1, in random order. */
function tweetLikeLabels(): number[] {
  return shuffle(
    Array.from({ length: 7613 }, (_, i): number => (i < 3271 ? 1 : 0)),
    rng(7),
  );
}

const count = (labels: readonly number[], idx: readonly number[], c: number) =>
  idx.reduce((n, i) => n + (labels[i] === c ? 1 : 0), 0);

function checkPartition(folds: Fold[], n: number): void {
  const seen = new Array<number>(n).fill(0);
  for (const [f, { train, val }] of folds.entries()) {
    assert.ok(val.length > 0, `fold ${f} has no validation rows`);
    assert.equal(train.length + val.length, n, `fold ${f}: train and validation rows do not add up to ${n}`);
    const inVal = new Set(val);
    assert.equal(inVal.size, val.length, `fold ${f}: a validation row appears twice`);
    assert.ok(!train.some((i) => inVal.has(i)), `fold ${f}: a row is both in training and validation`);
    assert.deepEqual(
      val,
      [...val].sort((a, b) => a - b),
      `fold ${f}: validation rows are not ascending`,
    );
    assert.deepEqual(
      train,
      [...train].sort((a, b) => a - b),
      `fold ${f}: training rows are not ascending`,
    );
    for (const i of val) seen[i]!++;
  }
  assert.ok(
    seen.every((s) => s === 1),
    'every row is validated on exactly once',
  );
}

test('5 folds of tweet-like labels: disjoint, covering every row once, fold sizes within one row', () => {
  const labels = tweetLikeLabels();
  const folds = stratifiedKFold(labels, 5, 42);
  assert.equal(folds.length, 5);
  checkPartition(folds, labels.length);
  const sizes = folds.map((f) => f.val.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes.join(', ')}`);
  assert.deepEqual([...sizes].sort(), [1522, 1522, 1523, 1523, 1523]);
});

test("each fold keeps each class's share within one row, in validation and in training", () => {
  const labels = tweetLikeLabels();
  for (const k of [2, 3, 5, 10]) {
    const folds = stratifiedKFold(labels, k, 1);
    for (const c of [0, 1]) {
      const total = count(
        labels,
        labels.map((_, i) => i),
        c,
      );
      for (const [f, { train, val }] of folds.entries()) {
        const v = count(labels, val, c);
        assert.ok(
          v === Math.floor(total / k) || v === Math.ceil(total / k),
          `k=${k} fold ${f}: ${v} validation rows of class ${c}, expected ${total / k} ± 1`,
        );
        assert.equal(count(labels, train, c), total - v);
      }
    }
  }
});

test('three unbalanced classes with labels that are not 0..n-1 are stratified too', () => {
  const labels = [...Array<number>(17).fill(5), ...Array<number>(4).fill(-1), ...Array<number>(9).fill(2)];
  const folds = stratifiedKFold(labels, 4, 3);
  checkPartition(folds, labels.length);
  for (const [c, total] of [
    [5, 17],
    [-1, 4],
    [2, 9],
  ] as const) {
    for (const { val } of folds) {
      const v = count(labels, val, c);
      assert.ok(v === Math.floor(total / 4) || v === Math.ceil(total / 4), `class ${c}: ${v} of ${total} in a fold`);
    }
  }
});

test('deterministic under the seed; another seed gives other folds', () => {
  const labels = tweetLikeLabels();
  assert.deepEqual(stratifiedKFold(labels, 5, 42), stratifiedKFold(labels, 5, 42));
  const a = stratifiedKFold(labels, 5, 42);
  const b = stratifiedKFold(labels, 5, 43);
  checkPartition(b, labels.length);
  assert.notDeepEqual(
    a.map((f) => f.val),
    b.map((f) => f.val),
  );
  // Not just a relabelling of the same folds: fold 0 of seed 42 is spread over seed 43's folds.
  const overlap = b.map((f) => f.val.filter((i) => new Set(a[0]!.val).has(i)).length);
  assert.ok(
    Math.max(...overlap) < a[0]!.val.length / 2,
    `fold 0 of seed 42 against seed 43's folds: ${overlap.join(', ')}`,
  );
});

test('the input is left as it was', () => {
  const labels = [0, 1, 0, 1, 0, 1, 1, 0];
  const copy = [...labels];
  stratifiedKFold(labels, 2, 0);
  assert.deepEqual(labels, copy);
});

test('clear errors: fewer than 2 folds, a class with fewer rows than folds, too few rows, a bad label', () => {
  const labels = [0, 0, 0, 1, 1, 1];
  assert.throws(() => stratifiedKFold(labels, 1, 42), /number of folds must be an integer of at least 2, got 1/);
  assert.throws(() => stratifiedKFold(labels, 2.5, 42), /at least 2, got 2\.5/);
  assert.throws(
    () => stratifiedKFold([0, 0, 0, 0, 0, 1, 1], 3, 42),
    /class 1 has 2 rows, fewer than the 3 folds .*use at most 2 folds/,
  );
  assert.throws(() => stratifiedKFold([0, 1, 0], 5, 42), /3 rows cannot make 5 folds/);
  assert.throws(() => stratifiedKFold([0, NaN, 1, 1], 2, 42), /label of row 1 is NaN/);
  assert.throws(() => stratifiedKFold(labels, 2, NaN), /seed must be a finite number/);
});
