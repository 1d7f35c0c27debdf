// Principal component analysis for looking at vectors in 2-D (e.g. BERT's [CLS] vectors): the top
// components of the centred data by power iteration on the covariance, as scikit-learn's PCA
// projects (signs fixed so that each component's largest loading is positive).

/** A fitted projection: the mean, the components and the variance each one explains. */
export interface Pca {
  mean: Float64Array;
  /** [k][d] unit vectors, largest variance first. */
  components: Float64Array[];
  /** Variance along each component (covariance with n - 1, as scikit-learn). */
  explainedVariance: number[];
  /** Its share of the total variance. */
  explainedVarianceRatio: number[];
  /** The rows projected: [n][k]. */
  projected: number[][];
}

/**
 * Fits PCA with `k` components to `rows` ([n][d], n >= 2) and projects them.
 *
 * Args:
 *   rows: the vectors, all of one length.
 *   k: components to keep (default 2, at most d).
 *   iterations: power-iteration steps per component (default 200).
 *
 * Example: `const { projected, explainedVarianceRatio } = pca(clsVectors, 2);`
 */
export function pca(rows: readonly ArrayLike<number>[], k = 2, iterations = 200): Pca {
  const n = rows.length;
  if (n < 2) throw new Error(`pca: need at least 2 rows, got ${n}`);
  const d = rows[0].length;
  rows.forEach((r, i) => {
    if (r.length !== d) throw new Error(`pca: row ${i} has ${r.length} values, row 0 has ${d}`);
  });
  if (!Number.isInteger(k) || k < 1 || k > d) throw new Error(`pca: k must be an integer from 1 to ${d}, got ${k}`);
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const x = rows.map((r) => Float64Array.from({ length: d }, (_, j) => r[j] - mean[j]));
  // Covariance [d, d]; d is a hidden size (<= a few thousand), so it fits in memory.
  const cov = new Float64Array(d * d);
  for (const r of x)
    for (let a = 0; a < d; a++) {
      const ra = r[a];
      if (ra === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += ra * r[b];
    }
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= n - 1;
      cov[b * d + a] = cov[a * d + b];
    }
  const total = Array.from({ length: d }, (_, j) => cov[j * d + j]).reduce((s, v) => s + v, 0);
  const components: Float64Array[] = [];
  const explainedVariance: number[] = [];
  for (let c = 0; c < k; c++) {
    // Deterministic start that is not orthogonal to the top eigenvector in practice.
    let v = Float64Array.from({ length: d }, (_, j) => 1 + ((j * 7919 + c * 104729) % 97) / 97);
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      const w = new Float64Array(d);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b] * v[b];
        w[a] = s;
      }
      // Deflation: remove the components found already.
      for (const u of components) {
        const dot = u.reduce((s, ui, j) => s + ui * w[j], 0);
        for (let j = 0; j < d; j++) w[j] -= dot * u[j];
      }
      const norm = Math.hypot(...w);
      if (norm === 0) break;
      lambda = norm;
      v = w.map((wi) => wi / norm);
    }
    let big = 0;
    for (let j = 1; j < d; j++) if (Math.abs(v[j]) > Math.abs(v[big])) big = j;
    if (v[big] < 0) v = v.map((vi) => -vi);
    components.push(v);
    explainedVariance.push(lambda);
  }
  const projected = x.map((r) => components.map((u) => u.reduce((s, ui, j) => s + ui * r[j], 0)));
  return {
    mean,
    components,
    explainedVariance,
    explainedVarianceRatio: explainedVariance.map((v) => (total > 0 ? v / total : 0)),
    projected,
  };
}
