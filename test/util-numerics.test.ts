// The generic numerics behind the scaling-law fit, each checked against a hand-computed answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choleskySolve, invertSymmetric, nonNegativeLeastSquares } from '../src/util/numerics/linalg.js';
import { huber, minimiseHuber, minimiseOnInterval, type ResidualProblem } from '../src/util/numerics/optimise.js';
import { mean, quantile, stdDev } from '../src/util/numerics/stats.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('Cholesky solve and symmetric inverse of a 3×3 SPD matrix; an indefinite matrix is refused', () => {
  // M = [[4, 2, 0], [2, 5, 1], [0, 1, 3]] (only the lower triangle is read: the upper holds junk)
  const M = Float64Array.from([4, 99, 99, 2, 5, 99, 0, 1, 3]);
  const x = new Float64Array(3);
  assert.ok(choleskySolve(M, Float64Array.from([2, 7, 7]), x, 3));
  [0, 1, 2].forEach((i) => close(x[i], [0, 1, 2][i], 1e-14, `x[${i}]`)); // M·[0, 1, 2] = [2, 5 + 2, 1 + 6]
  const inv = invertSymmetric(M, 3)!;
  const full = [[4, 2, 0], [2, 5, 1], [0, 1, 3]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const v = full[i].reduce((s, m, k) => s + m * inv[k * 3 + j], 0);
      close(v, i === j ? 1 : 0, 1e-14, `(M·M⁻¹)[${i}][${j}]`);
    }
  }
  assert.equal(choleskySolve(Float64Array.from([1, 0, 2, 1]), Float64Array.from([1, 1]), new Float64Array(2), 2), false);
  assert.equal(invertSymmetric(Float64Array.from([1, 0, 1, 1]), 2), null);
});

test('non-negative least squares drops a column whose unconstrained coefficient is negative', () => {
  // y = 2·a − 1·b exactly: unconstrained c = [2, −1]; with c ≥ 0 the best is b dropped, c = [ya/aa, 0]
  const a = Float64Array.from([1, 2, 3, 4]), b = Float64Array.from([1, 0, 1, 0]);
  const y = Float64Array.from(a, (v, i) => 2 * v - b[i]);
  const r = nonNegativeLeastSquares([a, b], y);
  const aa = 30, ya = y.reduce((s, v, i) => s + v * a[i], 0);
  close(r.c[0], ya / aa, 1e-9, 'c0'); // up to the 1e-12 ridge
  assert.equal(r.c[1], 0);
  close(r.err, y.reduce((s, v) => s + v * v, 0) - (ya * ya) / aa, 1e-9, 'err');
  // both admissible: recovered exactly
  const z = nonNegativeLeastSquares([a, b], Float64Array.from(a, (v, i) => 2 * v + 3 * b[i]));
  close(z.c[0], 2, 1e-9, 'c0');
  close(z.c[1], 3, 1e-9, 'c1');
  close(z.err, 0, 1e-9, 'err');
});

test('the Huber minimiser fits a line, ignoring an outlier that would pull least squares away', () => {
  const xs = [0, 1, 2, 3, 4, 5, 6, 7];
  const ys = xs.map((x) => 0.5 + 0.25 * x);
  ys[3] += 5; // gross outlier
  const problem: ResidualProblem = {
    points: xs.length,
    free: [0, 1],
    residuals: (t, r) => xs.forEach((x, i) => (r[i] = t[0] + t[1] * x - ys[i])),
    residualsAndJacobian: (t, r, J) => xs.forEach((x, i) => {
      r[i] = t[0] + t[1] * x - ys[i];
      J[i * 2] = 1;
      J[i * 2 + 1] = x;
    }),
  };
  const fit = minimiseHuber(Float64Array.from([0, 0]), problem, 1e-3, 400);
  assert.ok(fit.converged);
  // least squares would move the line by +0.83 (intercept) and −0.06 (slope); Huber by O(δ)
  close(fit.theta[0], 0.5, 1e-3, 'intercept');
  close(fit.theta[1], 0.25, 1e-3, 'slope');
  close(fit.objective, huber(5, 1e-3), 1e-5, 'objective: the outlier alone');
  // a coordinate that is not free stays where it started
  const fixed = minimiseHuber(Float64Array.from([0.5, 0]), { ...problem, free: [1] }, 1e-3, 400);
  assert.equal(fixed.theta[0], 0.5);
});

test('interval search: an interior minimum to 1e-9, a minimum at the boundary, the lowest x of a flat function', () => {
  close(minimiseOnInterval((x) => (x - 0.3) ** 2, -2, 5), 0.3, 1e-6, 'interior');
  assert.equal(minimiseOnInterval((x) => x, 1, 4), 1);
  assert.equal(minimiseOnInterval(() => 7, 1, 4), 1);
  close(minimiseOnInterval((x) => -x, 1, 4), 4, 1e-9, 'upper boundary');
});

test('mean, sample standard deviation and type-7 quantiles match R', () => {
  const xs = [10, 1, 4, 3, 2];
  assert.equal(mean(xs), 4);
  close(stdDev(xs), Math.sqrt(12.5), 1e-14, 'sd'); // R: sd(c(10, 1, 4, 3, 2))
  // R: quantile(c(10, 1, 4, 3, 2), c(0, 0.05, 0.5, 0.95, 1)) = 1, 1.2, 3, 8.8, 10
  [[0, 1], [0.05, 1.2], [0.5, 3], [0.95, 8.8], [1, 10]].forEach(([q, v]) => close(quantile(xs, q), v, 1e-12, `q${q}`));
  assert.deepEqual(xs, [10, 1, 4, 3, 2], 'the input is not sorted in place');
});
