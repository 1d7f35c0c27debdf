// The bag-of-words baseline a fine-tuned BERT has to beat: TF-IDF over word uni- and bigrams, then
// L2-regularised logistic regression. Both follow scikit-learn's definitions (TfidfVectorizer with
// ngram_range=(1, 2), sublinear_tf=True; LogisticRegression(C=1.0) with lbfgs), so the numbers can
// be checked against it. Plain TypeScript on sparse rows: no tensors, deterministic, a few seconds
// for the lab's 6,090 tweets.
import { cleanText, type CleanMode } from '../text/clean.js';
import { splitIndices, type LabelledData } from '../data/data.js';
import { classificationReport, type ClassificationReport } from './metrics.js';

// ------------------------------------------------------------------------------------------------
// Sparse rows

/**
 * Compressed sparse rows (scipy's CSR): row r holds columns indices[indptr[r] .. indptr[r+1]) with
 * the values at the same positions of `data`; columns ascend within a row.
 */
export interface CsrMatrix {
  rows: number;
  cols: number;
  indptr: Int32Array; // [rows + 1]
  indices: Int32Array; // [nnz]
  data: Float64Array; // [nnz]
}

/** Row r of a CSR matrix as a dense array (for inspection and tests). */
export function denseRow(m: CsrMatrix, r: number): Float64Array {
  if (!Number.isInteger(r) || r < 0 || r >= m.rows) throw new Error(`denseRow: row ${r} is outside 0..${m.rows - 1}`);
  const out = new Float64Array(m.cols);
  for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) out[m.indices[p]] = m.data[p]!;
  return out;
}

// ------------------------------------------------------------------------------------------------
// TF-IDF

export interface TfidfOptions {
  /** Smallest and largest n-gram length in words. Default [1, 2]. */
  ngramRange?: [number, number];
  /** tf = 1 + ln(count) instead of count. Default true. */
  sublinearTf?: boolean;
  /** Lower-case before tokenizing. Default true. */
  lowercase?: boolean;
  /** idf = ln((1 + n) / (1 + df)) + 1, as if one extra document held every term. Default true. */
  smoothIdf?: boolean;
  /** Row normalisation. Default 'l2'. */
  norm?: 'l2' | 'l1' | 'none';
  /** Drop terms found in fewer documents than this. Default 1 (keep all). */
  minDf?: number;
}

// scikit-learn's token_pattern (?u)\b\w\w+\b: runs of two or more word characters. Python's \w is
// a letter, a number or '_' (not combining marks); JavaScript's \b is ASCII-only, so the run is
// matched greedily instead, which finds the same maximal runs.
const TOKEN_RE = /[\p{L}\p{N}_]{2,}/gu;

/** Code-point order, as Python sorts strings (JavaScript's default compares UTF-16 units). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!,
      y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * TF-IDF features as scikit-learn's TfidfVectorizer computes them (defaults plus `sublinear_tf`
 * and `ngram_range` as chosen): the vocabulary is every n-gram of the fitted texts in code-point
 * order; a text's row is tf × idf, then L2-normalised.
 *
 * Example:
 * ```ts
 * const v = new TfidfVectorizer({ ngramRange: [1, 2], sublinearTf: true });
 * const X = v.fitTransform(['forest fire', 'fire truck']);   // 5 columns: fire, fire truck, forest, ...
 * const Y = v.transform(['a fire in the forest']);            // unseen n-grams are ignored
 * ```
 */
export class TfidfVectorizer {
  readonly ngramRange: [number, number];
  readonly sublinearTf: boolean;
  readonly lowercase: boolean;
  readonly smoothIdf: boolean;
  readonly norm: 'l2' | 'l1' | 'none';
  readonly minDf: number;
  /** n-gram -> column. Empty until fit. */
  vocabulary: Map<string, number> = new Map();
  /** Column -> n-gram, in column order. */
  terms: string[] = [];
  /** Inverse document frequency per column. */
  idf: Float64Array = new Float64Array(0);

  constructor(opts: TfidfOptions = {}) {
    const [lo, hi] = opts.ngramRange ?? [1, 2];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo) {
      throw new Error(
        `TfidfVectorizer: ngramRange must be integers [min, max] with 1 <= min <= max, got [${lo}, ${hi}]`,
      );
    }
    const minDf = opts.minDf ?? 1;
    if (!Number.isInteger(minDf) || minDf < 1)
      throw new Error(`TfidfVectorizer: minDf must be an integer >= 1, got ${minDf}`);
    this.ngramRange = [lo, hi];
    this.sublinearTf = opts.sublinearTf ?? true;
    this.lowercase = opts.lowercase ?? true;
    this.smoothIdf = opts.smoothIdf ?? true;
    this.norm = opts.norm ?? 'l2';
    this.minDf = minDf;
  }

  get vocabularySize(): number {
    return this.terms.length;
  }

  /** The n-grams of one text, in scikit-learn's order: all unigrams, then bigrams, ... */
  analyze(text: string): string[] {
    if (typeof text !== 'string') throw new Error(`TfidfVectorizer.analyze: expected a string, got ${typeof text}`);
    const words = (this.lowercase ? text.toLowerCase() : text).match(TOKEN_RE) ?? [];
    const [lo, hi] = this.ngramRange;
    const out: string[] = [];
    for (let n = lo; n <= Math.min(hi, words.length); n++) {
      for (let i = 0; i + n <= words.length; i++) out.push(n === 1 ? words[i] : words.slice(i, i + n).join(' '));
    }
    return out;
  }

  /** Learns the vocabulary and idf from `texts`. */
  fit(texts: readonly string[]): this {
    if (texts.length === 0) throw new Error('TfidfVectorizer.fit: no texts');
    const df = new Map<string, number>();
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new Error(`TfidfVectorizer.fit: text ${i} is a ${typeof t}, expected a string`);
      for (const g of new Set(this.analyze(t))) df.set(g, (df.get(g) ?? 0) + 1);
    });
    const terms = [...df.keys()].filter((g) => df.get(g)! >= this.minDf).sort(compareCodePoints);
    if (terms.length === 0) {
      throw new Error(
        `TfidfVectorizer.fit: empty vocabulary: none of the ${texts.length} texts has a word of 2 or more letters or digits${this.minDf > 1 ? ` in ${this.minDf} or more texts` : ''}`,
      );
    }
    const n = texts.length + (this.smoothIdf ? 1 : 0);
    this.terms = terms;
    this.vocabulary = new Map(terms.map((g, j) => [g, j]));
    this.idf = Float64Array.from(terms, (g) => Math.log(n / (df.get(g)! + (this.smoothIdf ? 1 : 0))) + 1);
    return this;
  }

  /** TF-IDF rows of `texts` over the fitted vocabulary; n-grams not in it are ignored. */
  transform(texts: readonly string[]): CsrMatrix {
    if (this.terms.length === 0) throw new Error('TfidfVectorizer.transform: call fit first');
    const indptr = new Int32Array(texts.length + 1);
    const indices: number[] = [];
    const data: number[] = [];
    texts.forEach((t, r) => {
      if (typeof t !== 'string')
        throw new Error(`TfidfVectorizer.transform: text ${r} is a ${typeof t}, expected a string`);
      const counts = new Map<number, number>();
      for (const g of this.analyze(t)) {
        const j = this.vocabulary.get(g);
        if (j !== undefined) counts.set(j, (counts.get(j) ?? 0) + 1);
      }
      const cols = [...counts.keys()].sort((a, b) => a - b);
      const vals = cols.map((j) => (this.sublinearTf ? 1 + Math.log(counts.get(j)!) : counts.get(j)!) * this.idf[j]);
      const norm =
        this.norm === 'l2'
          ? Math.sqrt(vals.reduce((s, v) => s + v * v, 0))
          : this.norm === 'l1'
            ? vals.reduce((s, v) => s + Math.abs(v), 0)
            : 1;
      // A row with no known n-gram stays all zeros (scikit-learn leaves it unnormalised).
      for (let k = 0; k < cols.length; k++) {
        indices.push(cols[k]);
        data.push(norm > 0 ? vals[k] / norm : vals[k]);
      }
      indptr[r + 1] = indices.length;
    });
    return {
      rows: texts.length,
      cols: this.terms.length,
      indptr,
      indices: Int32Array.from(indices),
      data: Float64Array.from(data),
    };
  }

  fitTransform(texts: readonly string[]): CsrMatrix {
    return this.fit(texts).transform(texts);
  }
}

// ------------------------------------------------------------------------------------------------
// L-BFGS

export interface LbfgsOptions {
  /** Most iterations. */
  maxIter: number;
  /** Stop when the largest gradient component is at most this (scipy's gtol). */
  gtol: number;
  /** Stop when the relative decrease of f is at most this (scipy's ftol). */
  ftol: number;
  /** Past steps kept for the curvature estimate (scipy's maxcor). */
  memory: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  converged: boolean;
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const maxAbs = (a: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/**
 * Minimises a smooth function with L-BFGS (two-loop recursion) and a line search satisfying the
 * strong Wolfe conditions (c1 = 1e-3, c2 = 0.9, scipy's values). `fg(x, g)` returns f(x) and
 * writes the gradient into g. Stops on scipy's criteria: gradient or relative-decrease tolerance.
 */
export function lbfgs(
  fg: (x: Float64Array, g: Float64Array) => number,
  x0: Float64Array,
  opts: LbfgsOptions,
): LbfgsResult {
  const n = x0.length;
  let x: Float64Array = Float64Array.from(x0);
  let g: Float64Array = new Float64Array(n);
  let f = fg(x, g);
  const S: Float64Array[] = [],
    Y: Float64Array[] = [],
    RHO: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Float64Array(opts.memory);
  let iter = 0;
  while (iter < opts.maxIter) {
    if (maxAbs(g) <= opts.gtol) return { x, f, iterations: iter, converged: true };
    // d = -H g by the two-loop recursion; H0 = (s'y / y'y) I.
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let k = S.length - 1; k >= 0; k--) {
      const a = RHO[k] * dot(S[k], d);
      alpha[k] = a;
      const y = Y[k];
      for (let i = 0; i < n; i++) d[i] -= a * y[i];
    }
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = 1 / (RHO[last] * dot(Y[last], Y[last]));
      for (let i = 0; i < n; i++) d[i] *= gamma;
    }
    for (let k = 0; k < S.length; k++) {
      const b = RHO[k] * dot(Y[k], d);
      const s = S[k];
      for (let i = 0; i < n; i++) d[i] += s[i] * (alpha[k] - b);
    }
    let dg = dot(d, g);
    if (!(dg < 0)) {
      // not a descent direction: restart from steepest descent
      S.length = 0;
      Y.length = 0;
      RHO.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i];
      dg = dot(d, g);
    }
    // The first step has no curvature information yet; scipy starts it at length 1.
    const step0 = S.length === 0 ? Math.min(1, 1 / Math.sqrt(dot(d, d))) : 1;
    const ls = wolfeSearch(fg, x, f, g, d, dg, step0);
    if (!ls) return { x, f, iterations: iter, converged: false };
    iter++;
    const s = new Float64Array(n),
      y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = ls.x[i] - x[i];
      y[i] = ls.g[i] - g[i];
    }
    const sy = dot(s, y);
    const fPrev = f;
    x = ls.x;
    g = ls.g;
    f = ls.f;
    if (sy > 1e-10 * dot(y, y)) {
      // keep only pairs that preserve a positive-definite estimate
      S.push(s);
      Y.push(y);
      RHO.push(1 / sy);
      if (S.length > opts.memory) {
        S.shift();
        Y.shift();
        RHO.shift();
      }
    }
    if ((fPrev - f) / Math.max(Math.abs(fPrev), Math.abs(f), 1) <= opts.ftol)
      return { x, f, iterations: iter, converged: true };
  }
  return { x, f, iterations: iter, converged: maxAbs(g) <= opts.gtol };
}

/** Strong-Wolfe line search along d (Nocedal & Wright, algorithms 3.5 and 3.6, cubic interpolation). */
function wolfeSearch(
  fg: (x: Float64Array, g: Float64Array) => number,
  x: Float64Array,
  f0: number,
  g0: Float64Array,
  d: Float64Array,
  dg0: number,
  step0: number,
): { x: Float64Array; f: number; g: Float64Array } | undefined {
  const c1 = 1e-3,
    c2 = 0.9,
    maxEvals = 50;
  const n = x.length;
  const at = (t: number) => {
    const xt = new Float64Array(n),
      gt = new Float64Array(n);
    for (let i = 0; i < n; i++) xt[i] = x[i] + t * d[i];
    const ft = fg(xt, gt);
    return { t, x: xt, f: ft, g: gt, dg: dot(gt, d) };
  };
  type Point = ReturnType<typeof at>;
  const start = { t: 0, f: f0, dg: dg0 };
  // Minimiser of the cubic through two points with their slopes, kept inside the bracket.
  const cubic = (a: { t: number; f: number; dg: number }, b: { t: number; f: number; dg: number }): number => {
    const d1 = a.dg + b.dg - (3 * (a.f - b.f)) / (a.t - b.t);
    const disc = d1 * d1 - a.dg * b.dg;
    const lo = Math.min(a.t, b.t),
      hi = Math.max(a.t, b.t);
    if (disc >= 0) {
      const d2 = Math.sign(b.t - a.t) * Math.sqrt(disc);
      const t = b.t - ((b.t - a.t) * (b.dg + d2 - d1)) / (b.dg - a.dg + 2 * d2);
      if (Number.isFinite(t) && t > lo + 0.1 * (hi - lo) && t < hi - 0.1 * (hi - lo)) return t;
    }
    return (lo + hi) / 2;
  };
  let evals = 0;
  const zoom = (
    lo: { t: number; f: number; dg: number; x?: Float64Array; g?: Float64Array },
    hi: { t: number; f: number; dg: number },
  ): Point | undefined => {
    while (evals < maxEvals) {
      const p = at(cubic(lo, hi));
      evals++;
      if (p.f > f0 + c1 * p.t * dg0 || p.f >= lo.f) hi = p;
      else {
        if (Math.abs(p.dg) <= -c2 * dg0) return p;
        if (p.dg * (hi.t - lo.t) >= 0) hi = lo;
        lo = p;
      }
      if (Math.abs(hi.t - lo.t) < 1e-16 * Math.max(1, lo.t)) break;
    }
    return 'x' in lo && lo.x ? (lo as Point) : undefined;
  };
  let prev: { t: number; f: number; dg: number; x?: Float64Array; g?: Float64Array } = start;
  let t = step0;
  while (evals < maxEvals) {
    const p = at(t);
    evals++;
    if (!Number.isFinite(p.f)) {
      t = (prev.t + t) / 2;
      continue;
    }
    if (p.f > f0 + c1 * t * dg0 || (evals > 1 && p.f >= prev.f)) return zoom(prev, p);
    if (Math.abs(p.dg) <= -c2 * dg0) return p;
    if (p.dg >= 0) return zoom(p, prev);
    prev = p;
    t *= 2;
  }
  return 'x' in prev && prev.x ? (prev as Point) : undefined;
}

// ------------------------------------------------------------------------------------------------
// Logistic regression

export interface LogisticRegressionOptions {
  /** Inverse regularisation strength: the loss is C × Σ log-loss + ½‖W‖². Default 1. */
  C?: number;
  /** Most L-BFGS iterations. Default 100 (scikit-learn's max_iter). */
  maxIter?: number;
  /** Gradient tolerance. Default 1e-4 (scikit-learn's tol). */
  tol?: number;
}

/**
 * Logistic regression with an L2 penalty on the weights (not the intercepts), fitted by L-BFGS, as
 * scikit-learn's LogisticRegression(C, solver='lbfgs'): one weight vector for 2 classes (class 1
 * vs class 0), a softmax over one vector per class for more.
 *
 * Example:
 * ```ts
 * const clf = new LogisticRegression({ C: 1 }).fit(X, [0, 1, 1, 0], 2);
 * const probs = clf.predictProba(X);   // [rows][classes]
 * const yHat = clf.predict(X);
 * ```
 */
export class LogisticRegression {
  readonly C: number;
  readonly maxIter: number;
  readonly tol: number;
  numClasses = 0;
  numFeatures = 0;
  /** Weights, one row of numFeatures per output (1 output for 2 classes, else one per class). */
  coef: Float64Array[] = [];
  intercept: Float64Array = new Float64Array(0);
  iterations = 0;
  converged = false;

  constructor(opts: LogisticRegressionOptions = {}) {
    this.C = opts.C ?? 1;
    this.maxIter = opts.maxIter ?? 100;
    this.tol = opts.tol ?? 1e-4;
    if (!(this.C > 0)) throw new Error(`LogisticRegression: C must be > 0, got ${this.C}`);
    if (!Number.isInteger(this.maxIter) || this.maxIter < 1)
      throw new Error(`LogisticRegression: maxIter must be an integer >= 1, got ${this.maxIter}`);
    if (!(this.tol >= 0)) throw new Error(`LogisticRegression: tol must be >= 0, got ${this.tol}`);
  }

  /** Fits on rows of X with labels y in 0..numClasses-1. */
  fit(X: CsrMatrix, y: readonly number[], numClasses: number): this {
    if (y.length !== X.rows)
      throw new Error(`LogisticRegression.fit: X has ${X.rows} rows but y has ${y.length} labels`);
    if (!Number.isInteger(numClasses) || numClasses < 2)
      throw new Error(`LogisticRegression.fit: need at least 2 classes, got ${numClasses}`);
    y.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0 || c >= numClasses)
        throw new Error(`LogisticRegression.fit: y[${i}] = ${c} is not a class index in 0..${numClasses - 1}`);
    });
    const d = X.cols,
      n = X.rows;
    const K = numClasses === 2 ? 1 : numClasses; // outputs
    const invC = 1 / this.C;
    const raw = new Float64Array(n * K);
    const resid = new Float64Array(n * K);
    // Parameters laid out per output as [w (d), b].
    const fg = (w: Float64Array, g: Float64Array): number => {
      scores(X, w, K, raw);
      let loss = 0;
      if (K === 1) {
        for (let i = 0; i < n; i++) {
          const z = raw[i];
          // log(1 + e^z) - y z, without overflow
          loss += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - (y[i] === 1 ? z : 0);
          resid[i] = 1 / (1 + Math.exp(-z)) - (y[i] === 1 ? 1 : 0);
        }
      } else {
        for (let i = 0; i < n; i++) {
          let m = -Infinity;
          for (let k = 0; k < K; k++) m = Math.max(m, raw[i * K + k]);
          let sum = 0;
          for (let k = 0; k < K; k++) sum += Math.exp(raw[i * K + k] - m);
          loss += m + Math.log(sum) - raw[i * K + y[i]];
          for (let k = 0; k < K; k++) resid[i * K + k] = Math.exp(raw[i * K + k] - m) / sum - (k === y[i] ? 1 : 0);
        }
      }
      g.fill(0);
      for (let i = 0; i < n; i++) {
        for (let p = X.indptr[i]; p < X.indptr[i + 1]; p++) {
          const j = X.indices[p],
            v = X.data[p];
          for (let k = 0; k < K; k++) g[k * (d + 1) + j] += v * resid[i * K + k];
        }
        for (let k = 0; k < K; k++) g[k * (d + 1) + d] += resid[i * K + k];
      }
      let reg = 0;
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < d; j++) {
          const wj = w[k * (d + 1) + j];
          reg += wj * wj;
          g[k * (d + 1) + j] += invC * wj;
        }
      }
      return loss + 0.5 * invC * reg;
    };
    // scipy's L-BFGS-B settings as scikit-learn passes them: maxcor 10, ftol 64 × machine epsilon.
    const r = lbfgs(fg, new Float64Array(K * (d + 1)), {
      maxIter: this.maxIter,
      gtol: this.tol,
      ftol: 64 * Number.EPSILON,
      memory: 10,
    });
    this.numClasses = numClasses;
    this.numFeatures = d;
    this.coef = Array.from({ length: K }, (_, k) => r.x.slice(k * (d + 1), k * (d + 1) + d));
    this.intercept = Float64Array.from({ length: K }, (_, k) => r.x[k * (d + 1) + d]);
    this.iterations = r.iterations;
    this.converged = r.converged;
    return this;
  }

  /** Raw scores [rows][outputs]: one column for 2 classes (log-odds of class 1), else one per class. */
  decisionFunction(X: CsrMatrix): number[][] {
    if (this.coef.length === 0) throw new Error('LogisticRegression: call fit first');
    if (X.cols !== this.numFeatures)
      throw new Error(`LogisticRegression: X has ${X.cols} columns, the model was fitted on ${this.numFeatures}`);
    const K = this.coef.length,
      d = this.numFeatures;
    const w = new Float64Array(K * (d + 1));
    for (let k = 0; k < K; k++) {
      w.set(this.coef[k], k * (d + 1));
      w[k * (d + 1) + d] = this.intercept[k]!;
    }
    const raw = new Float64Array(X.rows * K);
    scores(X, w, K, raw);
    return Array.from({ length: X.rows }, (_, i) => Array.from(raw.subarray(i * K, i * K + K)));
  }

  /** Class probabilities [rows][classes]. */
  predictProba(X: CsrMatrix): number[][] {
    return this.decisionFunction(X).map((z) => {
      if (z.length === 1) {
        const p = 1 / (1 + Math.exp(-z[0]));
        return [1 - p, p];
      }
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
  }

  /** The most probable class of each row (ties go to the lower class, as numpy's argmax). */
  predict(X: CsrMatrix): number[] {
    return this.decisionFunction(X).map((z) => {
      if (z.length === 1) return z[0] > 0 ? 1 : 0;
      let best = 0;
      for (let k = 1; k < z.length; k++) if (z[k] > z[best]) best = k;
      return best;
    });
  }
}

/** raw[i, k] = x_i · w_k + b_k, with w laid out per output as [w (cols), b]. */
function scores(X: CsrMatrix, w: Float64Array, K: number, raw: Float64Array): void {
  const d = X.cols;
  for (let i = 0; i < X.rows; i++) {
    for (let k = 0; k < K; k++) {
      let z = w[k * (d + 1) + d];
      for (let p = X.indptr[i]; p < X.indptr[i + 1]; p++) z += X.data[p] * w[k * (d + 1) + X.indices[p]];
      raw[i * K + k] = z;
    }
  }
}

// ------------------------------------------------------------------------------------------------
// The baseline

export interface BaselineOptions extends TfidfOptions, LogisticRegressionOptions {
  /** Class names in label order; default '0', '1', ... */
  labelNames?: string[];
}

export interface BaselineResult {
  labels: string[];
  accuracy: number;
  /** F1 of each class, by name. */
  f1: Record<string, number>;
  /** F1 of the positive class (the second label) for 2 classes, else undefined. */
  positiveF1: number | undefined;
  macroF1: number;
  /** scikit-learn's classification_report(output_dict=True) on the validation texts. */
  report: ClassificationReport;
  vocabularySize: number;
  /** Predicted class index of each validation text. */
  predictions: number[];
  /** Probability of each class for each validation text. */
  probabilities: number[][];
  iterations: number;
  converged: boolean;
  /** Wall time of fitting and predicting. */
  seconds: number;
}

/**
 * Fits TF-IDF (word 1- and 2-grams, sublinear tf) and logistic regression (C = 1) on the training
 * texts and scores the validation texts. The texts are used as given: clean them as the model
 * being compared does.
 *
 * Example:
 * ```ts
 * const r = runBaseline(trainTexts, trainLabels, valTexts, valLabels, { labelNames: ['0', '1'] });
 * console.log(r.accuracy, r.positiveF1, r.vocabularySize);
 * ```
 */
export function runBaseline(
  trainTexts: readonly string[],
  trainLabels: readonly number[],
  valTexts: readonly string[],
  valLabels: readonly number[],
  opts: BaselineOptions = {},
): BaselineResult {
  if (trainTexts.length !== trainLabels.length)
    throw new Error(`runBaseline: ${trainTexts.length} training texts but ${trainLabels.length} training labels`);
  if (valTexts.length !== valLabels.length)
    throw new Error(`runBaseline: ${valTexts.length} validation texts but ${valLabels.length} validation labels`);
  if (valTexts.length === 0) throw new Error('runBaseline: no validation texts');
  const numClasses = opts.labelNames?.length ?? Math.max(...trainLabels, ...valLabels) + 1;
  const labels = opts.labelNames ?? Array.from({ length: numClasses }, (_, k) => String(k));
  if (new Set(trainLabels).size < 2)
    throw new Error(
      `runBaseline: the training labels hold a single class (${labels[trainLabels[0]] ?? trainLabels[0]}); need at least 2`,
    );
  const t0 = performance.now();
  const vec = new TfidfVectorizer(opts);
  const Xtrain = vec.fitTransform(trainTexts);
  const clf = new LogisticRegression(opts).fit(Xtrain, trainLabels, numClasses);
  const Xval = vec.transform(valTexts);
  const probabilities = clf.predictProba(Xval);
  const predictions = clf.predict(Xval);
  const seconds = (performance.now() - t0) / 1000;
  const report = classificationReport(valLabels, predictions, labels);
  const f1 = Object.fromEntries(labels.map((n) => [n, (report[n] as { 'f1-score': number })['f1-score']]));
  return {
    labels,
    accuracy: report.accuracy,
    f1,
    positiveF1: numClasses === 2 ? f1[labels[1]] : undefined,
    macroF1: report['macro avg']['f1-score'],
    report,
    vocabularySize: vec.vocabularySize,
    predictions,
    probabilities,
    iterations: clf.iterations,
    converged: clf.converged,
    seconds,
  };
}

/** The numbers of a baseline run for report.json and `bert-lab baseline --json` (without per-text arrays). */
export interface BaselineSummary {
  accuracy: number;
  positive_f1: number | null;
  macro_f1: number;
  f1: Record<string, number>;
  vocabulary_size: number;
  iterations: number;
  converged: boolean;
  seconds: number;
  labels: string[];
  report: ClassificationReport;
}

/**
 * The JSON form of a result, snake_case as report.json's other keys.
 *
 * Example:
 * ```ts
 * report.baseline = baselineSummary(runBaseline(trainTexts, trainLabels, valTexts, valLabels));
 * ```
 */
export function baselineSummary(r: BaselineResult): BaselineSummary {
  return {
    accuracy: r.accuracy,
    positive_f1: r.positiveF1 ?? null,
    macro_f1: r.macroF1,
    f1: r.f1,
    vocabulary_size: r.vocabularySize,
    iterations: r.iterations,
    converged: r.converged,
    seconds: r.seconds,
    labels: r.labels,
    report: r.report,
  };
}

export interface BaselineSplitOptions extends BaselineOptions {
  /** Cleaning applied to every text first. Default 'lab'. */
  clean?: CleanMode;
  /** Fraction held out for validation. Default 0.2. */
  valSplit?: number;
  /** Split seed. Default 42. */
  seed?: number;
  /** Use only the first N rows. */
  limit?: number;
  /** Where the data came from, for error messages. */
  file?: string;
}

/**
 * The baseline on labelled data with the lab's preparation: the same cleaning, and the same
 * train/validation split for the same seed (splitIndices), so its numbers sit beside BERT's.
 */
export function runBaselineOnData(
  data: LabelledData,
  opts: BaselineSplitOptions = {},
): BaselineResult & { trainSize: number; valSize: number } {
  const file = opts.file ?? 'data';
  let { texts, labels } = data;
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 2)
      throw new Error(`--limit must be an integer of at least 2, got ${opts.limit}`);
    texts = texts.slice(0, opts.limit);
    labels = labels.slice(0, opts.limit);
    if (new Set(labels).size < 2)
      throw new Error(`${file}: the first ${opts.limit} rows hold a single class; raise --limit`);
  }
  const mode = opts.clean ?? 'lab';
  // Pairs are joined to their text: a bag of words has no segments.
  const cleaned = texts.map((t, i) => cleanText(data.pairs ? `${t} ${data.pairs[i]}` : t, mode));
  const { train, val } = splitIndices(texts.length, opts.valSplit ?? 0.2, opts.seed ?? 42);
  const r = runBaseline(
    train.map((i) => cleaned[i]),
    train.map((i) => labels[i]),
    val.map((i) => cleaned[i]),
    val.map((i) => labels[i]),
    { ...opts, labelNames: data.labelNames },
  );
  return { ...r, trainSize: train.length, valSize: val.length };
}
