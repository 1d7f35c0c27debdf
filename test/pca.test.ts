// PCA against values worked out by hand and numpy's eigendecomposition semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pca } from '../src/nn/pca.js';

test('pca finds the axes of an anisotropic cloud, their variances, and projects onto them', () => {
  // Points on a rotated ellipse: variance 9 along (1,1)/sqrt2, 1 along (1,-1)/sqrt2, offset by (5, -2).
  const s = Math.SQRT1_2;
  const pts: number[][] = [];
  for (let i = 0; i < 8; i++) {
    const a = (2 * Math.PI * i) / 8;
    const [u, w] = [3 * Math.sqrt(2) * Math.cos(a), Math.sqrt(2) * Math.sin(a)];
    pts.push([5 + s * (u + w), -2 + s * (u - w)]);
  }
  const p = pca(pts, 2);
  assert.ok(Math.abs(p.mean[0] - 5) < 1e-12 && Math.abs(p.mean[1] + 2) < 1e-12);
  // Variance with n-1 of 3*sqrt2*cos over 8 equally spaced angles: 18 * 4 / 7.
  assert.ok(Math.abs(p.explainedVariance[0] - 72 / 7) < 1e-9, `first variance ${p.explainedVariance[0]}`);
  assert.ok(Math.abs(p.explainedVariance[1] - 8 / 7) < 1e-9, `second variance ${p.explainedVariance[1]}`);
  assert.ok(Math.abs(p.explainedVarianceRatio[0] - 0.9) < 1e-9);
  assert.ok(Math.abs(p.components[0][0] - s) < 1e-9 && Math.abs(p.components[0][1] - s) < 1e-9);
  // Largest loading positive: (1,-1)/sqrt2 has a tie broken at index 0.
  assert.ok(Math.abs(p.components[1][0] - s) < 1e-9 && Math.abs(p.components[1][1] + s) < 1e-9);
  assert.ok(Math.abs(p.projected[0][0] - 3 * Math.sqrt(2)) < 1e-9 && Math.abs(p.projected[0][1]) < 1e-9);
});

test('pca refuses input it cannot project, naming the problem', () => {
  assert.throws(() => pca([[1, 2]]), /need at least 2 rows, got 1/);
  assert.throws(() => pca([[1, 2], [3]]), /row 1 has 1 values, row 0 has 2/);
  assert.throws(() => pca([[1], [2]], 2), /k must be an integer from 1 to 1, got 2/);
});
