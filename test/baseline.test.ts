// The bag-of-words baseline: TF-IDF by hand on a tiny corpus, logistic regression at its optimum,
// then the whole pipeline against scikit-learn on the lab's tweets, cleaned and split by bert-lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cleanText } from '../src/text/clean.js';
import { readCsv, labelledFromFrame, splitIndices } from '../src/data/data.js';
import {
  denseRow,
  lbfgs,
  LogisticRegression,
  runBaseline,
  runBaselineOnData,
  TfidfVectorizer,
  type CsrMatrix,
} from '../src/training/baseline.js';
import { assertClose, cli, needsShared, repoRoot, shared } from './shared.js';

const tweets = shared('data/disaster-tweets/train.csv');

test("analyze: scikit-learn's token pattern (2+ letters, digits or _), lower-cased, then bigrams", () => {
  const v = new TfidfVectorizer();
  // Reference: TfidfVectorizer(ngram_range=(1, 2)).build_analyzer() on the same string. The
  // combining accent is not a word character in Python's \w, so 'cafés' (decomposed) gives 'cafe'.
  assert.deepEqual(v.analyze('Ünïcode café_bar 42 x cafe\u0301s ①② ΣΑΣ'), [
    'ünïcode',
    'café_bar',
    '42',
    'cafe',
    '①②',
    'σας',
    'ünïcode café_bar',
    'café_bar 42',
    '42 cafe',
    'cafe ①②',
    '①② σας',
  ]);
  assert.deepEqual(v.analyze('a I x'), []);
  assert.deepEqual(new TfidfVectorizer({ ngramRange: [2, 3] }).analyze('one two three'), [
    'one two',
    'two three',
    'one two three',
  ]);
});

test('TF-IDF of a tiny corpus, checked by hand', () => {
  const v = new TfidfVectorizer({ ngramRange: [1, 2], sublinearTf: true });
  const X = v.fitTransform(['Forest fire, fire!', 'fire truck', 'a I x']);
  // Code-point order; 'a', 'I', 'x' are single characters and not tokens.
  assert.deepEqual(v.terms, ['fire', 'fire fire', 'fire truck', 'forest', 'forest fire', 'truck']);
  // smooth idf = ln((1 + 3) / (1 + df)) + 1: 'fire' is in 2 texts, the rest in 1.
  assertClose(v.idf, [Math.log(4 / 3) + 1, ...new Array(5).fill(Math.log(2) + 1)], 'idf', 1e-15);
  assertClose(v.idf, [1.28768207, 1.69314718, 1.69314718, 1.69314718, 1.69314718, 1.69314718], 'idf (decimals)', 1e-8);
  // Text 1: 'fire' twice -> tf 1 + ln 2; the other three n-grams once -> tf 1. Then tf × idf, L2-normalised:
  // fire 1.693147 × 1.287682 = 2.180237, the others 1.693147; norm sqrt(2.180237² + 3 × 1.693147²) = 3.654256.
  assertClose(denseRow(X, 0), [0.59662724, 0.46333427, 0, 0.46333427, 0.46333427, 0], 'row 0', 1e-8);
  // Text 2: fire 1.287682, 'fire truck' and 'truck' 1.693147 each; norm 2.718753.
  assertClose(denseRow(X, 1), [0.4736296, 0, 0.62276601, 0, 0, 0.62276601], 'row 1', 1e-8);
  // No known n-gram: a row of zeros, not NaN.
  assert.deepEqual([...denseRow(X, 2)], new Array(6).fill(0));
  assert.deepEqual([...X.indptr], [0, 4, 7, 7]);
  // Unseen n-grams are ignored; raw counts without sublinear tf.
  const Y = v.transform(['fire fire fire smoke']);
  const plain = new TfidfVectorizer({ sublinearTf: false }).fit(['Forest fire, fire!', 'fire truck', 'a I x']);
  const Z = plain.transform(['fire fire fire smoke']);
  const unit = (xs: number[]) => {
    const n = Math.hypot(...xs);
    return xs.map((x) => x / n);
  };
  assertClose(
    denseRow(Y, 0),
    unit([(1 + Math.log(3)) * v.idf[0]!, (1 + Math.log(2)) * v.idf[1]!, 0, 0, 0, 0]),
    'sublinear',
    1e-12,
  );
  assertClose(denseRow(Z, 0), unit([3 * v.idf[0]!, 2 * v.idf[1]!, 0, 0, 0, 0]), 'raw counts', 1e-12);
});

test('TF-IDF: bad input and options give clear errors', () => {
  assert.throws(
    () => new TfidfVectorizer({ ngramRange: [2, 1] }),
    /ngramRange must be integers \[min, max\] with 1 <= min <= max, got \[2, 1\]/,
  );
  assert.throws(() => new TfidfVectorizer().fit([]), /no texts/);
  assert.throws(() => new TfidfVectorizer().fit(['a b', '!']), /empty vocabulary: none of the 2 texts/);
  assert.throws(() => new TfidfVectorizer().transform(['fire']), /call fit first/);
  assert.throws(
    () => new TfidfVectorizer().fit(['fire', 3 as unknown as string]),
    /TfidfVectorizer.fit: text 1 is a number, expected a string/,
  );
});

test('lbfgs finds the minimum of the Rosenbrock function', () => {
  const r = lbfgs(
    (x, g) => {
      const [a, b] = [x[0]!, x[1]!];
      g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
      g[1] = 200 * (b - a * a);
      return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
    },
    Float64Array.from([-1.2, 1]),
    { maxIter: 200, gtol: 1e-8, ftol: 0, memory: 10 },
  );
  assert.ok(r.converged, `stopped after ${r.iterations} iterations`);
  assertClose(r.x, [1, 1], 'argmin', 1e-6);
});

/** The gradient of C·Σ log-loss + ½‖W‖² at the fitted weights, computed from the probabilities. */
function objectiveGradient(clf: LogisticRegression, X: CsrMatrix, y: number[]): number[] {
  const P = clf.predictProba(X);
  const K = clf.coef.length,
    d = X.cols;
  const g = new Array<number>(K * (d + 1)).fill(0);
  for (let i = 0; i < X.rows; i++) {
    for (let k = 0; k < K; k++) {
      const cls = K === 1 ? 1 : k;
      const r = P[i]![cls]! - (y[i] === cls ? 1 : 0);
      for (let p = X.indptr[i]!; p < X.indptr[i + 1]!; p++) g[k * (d + 1) + X.indices[p]!]! += clf.C * r * X.data[p]!;
      g[k * (d + 1) + d]! += clf.C * r;
    }
  }
  for (let k = 0; k < K; k++) for (let j = 0; j < d; j++) g[k * (d + 1) + j]! += clf.coef[k]![j]!;
  return g;
}

const TOY = [
  'forest fire spreads',
  'fire near the school',
  'huge flood downtown',
  'flood warning issued',
  'lovely sunny day',
  'my new shoes',
  'this song is fire',
  'sunny beach day',
  'evacuate now fire',
  'flooded my kitchen lol',
  'storm flood forest',
  'new phone day',
];

test('logistic regression stops at the optimum of its objective (intercept not penalised)', () => {
  const X = new TfidfVectorizer().fitTransform(TOY);
  const y2 = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0];
  for (const C of [1, 10]) {
    const clf = new LogisticRegression({ C, tol: 1e-8, maxIter: 500 }).fit(X, y2, 2);
    assert.ok(clf.converged);
    assert.equal(clf.coef.length, 1, 'two classes: one weight vector');
    const g = objectiveGradient(clf, X, y2);
    assert.ok(
      Math.max(...g.map(Math.abs)) < 1e-6,
      `C=${C}: gradient ${Math.max(...g.map(Math.abs))} at the fitted weights`,
    );
    // An unpenalised intercept makes the mean probability equal the positive rate.
    const mean = clf.predictProba(X).reduce((s, p) => s + p[1]!, 0) / X.rows;
    assert.ok(Math.abs(mean - 6 / 12) < 1e-7, `mean probability ${mean}`);
  }
  const y3 = [1, 1, 2, 2, 0, 0, 0, 0, 1, 2, 2, 0];
  const clf3 = new LogisticRegression({ tol: 1e-8, maxIter: 500 }).fit(X, y3, 3);
  assert.equal(clf3.coef.length, 3, 'more classes: a softmax over one vector each');
  const g3 = objectiveGradient(clf3, X, y3);
  assert.ok(Math.max(...g3.map(Math.abs)) < 1e-6, `3 classes: gradient ${Math.max(...g3.map(Math.abs))}`);
  for (const p of clf3.predictProba(X)) assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // Stronger regularisation, smaller weights.
  const small = new LogisticRegression({ C: 0.01 }).fit(X, y2, 2).coef[0]!;
  const big = new LogisticRegression({ C: 100 }).fit(X, y2, 2).coef[0]!;
  assert.ok(Math.hypot(...small) < Math.hypot(...big));
  assert.throws(() => new LogisticRegression().fit(X, y2.slice(1), 2), /X has 12 rows but y has 11 labels/);
  assert.throws(() => new LogisticRegression().fit(X, y3, 2), /y\[2\] = 2 is not a class index in 0..1/);
  assert.throws(() => new LogisticRegression({ C: 0 }), /C must be > 0/);
});

test('runBaseline scores the validation texts; deterministic', () => {
  const y = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0];
  const a = runBaseline(TOY.slice(0, 8), y.slice(0, 8), TOY.slice(8), y.slice(8), { labelNames: ['no', 'yes'] });
  const b = runBaseline(TOY.slice(0, 8), y.slice(0, 8), TOY.slice(8), y.slice(8), { labelNames: ['no', 'yes'] });
  assert.deepEqual(a.predictions, b.predictions);
  assert.deepEqual(a.probabilities, b.probabilities);
  assert.equal(a.predictions.length, 4);
  assert.equal(a.accuracy, a.predictions.filter((p, i) => p === y[8 + i]).length / 4);
  assert.equal(a.positiveF1, a.f1.yes);
  assert.equal(a.labels.join(), 'no,yes');
  assert.throws(() => runBaseline(TOY, y.slice(1), TOY, y), /12 training texts but 11 training labels/);
  assert.throws(() => runBaseline(TOY, new Array(12).fill(0), TOY, y), /single class/);
});

/** A python3 that has scikit-learn: Debian's in /usr/bin first, since an earlier one on PATH may lack it. */
function sklearnPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', 'import sklearn'], { stdio: 'ignore' });
      return py;
    } catch {
      /* try the next */
    }
  }
  return undefined;
}

test(
  "the lab's split: same vocabulary and accuracy as scikit-learn",
  { ...needsShared, timeout: 600_000 },
  async (t) => {
    const py = sklearnPython();
    if (!py) {
      const why = 'python3 with scikit-learn not found (apt-get install -y python3-sklearn)';
      if (process.env.CI) assert.fail(`${why}: the baseline is checked against it under CI`);
      t.skip(why);
      return;
    }
    // The lab's data, cleaning and split (seed 42), as prepareData does them.
    const data = labelledFromFrame(await readCsv(tweets), { text: 'text', label: 'target', id: 'id' }, tweets);
    const cleaned = data.texts.map((s) => cleanText(s, 'lab'));
    const { train, val } = splitIndices(cleaned.length, 0.2, 42);
    const input = {
      train_texts: train.map((i) => cleaned[i]!),
      train_labels: train.map((i) => data.labels[i]!),
      val_texts: val.map((i) => cleaned[i]!),
      val_labels: val.map((i) => data.labels[i]!),
      rows: [0, 1, 2],
    };
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bert-baseline-'));
    try {
      await writeFile(path.join(dir, 'in.json'), JSON.stringify(input));
      execFileSync(
        py,
        [path.join(repoRoot, 'test/sklearn_baseline.py'), path.join(dir, 'in.json'), path.join(dir, 'out.json')],
        { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 },
      );
      const ref = JSON.parse(await readFile(path.join(dir, 'out.json'), 'utf8')) as {
        vocabulary: string[];
        idf: number[];
        rows: { indices: number[]; data: number[] }[];
        accuracy: number;
        positive_f1: number;
        predictions: number[];
        probabilities: number[][];
      };
      const r = runBaseline(input.train_texts, input.train_labels, input.val_texts, input.val_labels, {
        labelNames: data.labelNames,
      });
      assert.equal(r.vocabularySize, ref.vocabulary.length, 'vocabulary size');
      const vec = new TfidfVectorizer().fit(input.train_texts);
      assert.deepEqual(vec.terms, ref.vocabulary, 'vocabulary');
      assertClose(vec.idf, ref.idf, 'idf', 1e-12);
      const X = vec.transform(input.train_texts.slice(0, 3));
      ref.rows.forEach((row, k) => {
        // scipy leaves a row's columns in insertion order; compare them sorted.
        const order = row.indices.map((_, p) => p).sort((a, b) => row.indices[a]! - row.indices[b]!);
        assert.deepEqual(
          [...X.indices.subarray(X.indptr[k]!, X.indptr[k + 1]!)],
          order.map((p) => row.indices[p]!),
          `row ${k} columns`,
        );
        assertClose(
          X.data.subarray(X.indptr[k]!, X.indptr[k + 1]!),
          order.map((p) => row.data[p]!),
          `row ${k} values`,
          1e-12,
        );
      });
      assert.ok(Math.abs(r.accuracy - ref.accuracy) <= 0.005, `accuracy ${r.accuracy} vs scikit-learn ${ref.accuracy}`);
      assert.ok(
        Math.abs(r.positiveF1! - ref.positive_f1) <= 0.01,
        `positive-class F1 ${r.positiveF1} vs scikit-learn ${ref.positive_f1}`,
      );
      // Both solvers stop near the same optimum: predictions agree, probabilities to a few 1e-3.
      const agree = r.predictions.filter((p, i) => p === ref.predictions[i]).length / r.predictions.length;
      assert.ok(agree >= 0.995, `predictions agree on ${(agree * 100).toFixed(2)}%`);
      assertClose(
        r.probabilities.map((p) => p[1]!),
        ref.probabilities.map((p) => p[1]!),
        'P(class 1)',
        5e-3,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

test("runBaselineOnData uses the lab's split and --limit", needsShared, async () => {
  const data = labelledFromFrame(await readCsv(tweets), { text: 'text', label: 'target', id: 'id' }, tweets);
  const r = runBaselineOnData(data, { limit: 700, seed: 3, file: tweets });
  assert.equal(r.trainSize, 560);
  assert.equal(r.valSize, 140);
  const { train, val } = splitIndices(700, 0.2, 3);
  const cleaned = data.texts.slice(0, 700).map((s) => cleanText(s, 'lab'));
  const direct = runBaseline(
    train.map((i) => cleaned[i]!),
    train.map((i) => data.labels[i]!),
    val.map((i) => cleaned[i]!),
    val.map((i) => data.labels[i]!),
  );
  assert.deepEqual(r.predictions, direct.predictions);
  assert.equal(r.vocabularySize, direct.vocabularySize);
  assert.throws(
    () => runBaselineOnData({ ...data, labels: data.labels.map(() => 0) }, { limit: 10, file: 'x.csv' }),
    /x.csv: the first 10 rows hold a single class; raise --limit/,
  );
});

test(
  'bert-lab baseline prints accuracy, F1, vocabulary and time; bad input gives one clear error',
  { ...needsShared, timeout: 300_000 },
  () => {
    const r = cli('baseline', '--data', tweets, '--limit', '800');
    assert.equal(r.code, 0, r.stderr);
    for (const re of [
      /640 training and 160 validation samples \(seed 42\)/,
      /Validation accuracy: 0\.\d{4}/,
      /Positive-class F1 \(disaster\): 0\.\d{4}/,
      /Vocabulary: [\d,]+ n-grams/,
      /Time: [\d.]+ s/,
    ]) {
      assert.match(r.stdout, re);
    }
    const j = cli('baseline', '--data', tweets, '--limit', '800', '--json');
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout);
    assert.equal(out.val_size, 160);
    assert.ok(r.stdout.includes(`Validation accuracy: ${out.accuracy.toFixed(4)}`), 'the same numbers in both forms');
    assert.ok(r.stdout.includes(`Vocabulary: ${out.vocabulary_size.toLocaleString('en-US')} n-grams`));
    const bad = cli('baseline', '--data', tweets, '--label-col', 'nope');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /train\.csv: no column "nope"; available columns: id, keyword, location, text, target/);
    const usage = cli('baseline', '--data', tweets, '--val-split', 'x');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--val-split must be a (decimal )?number/);
  },
);
