// The scaling-law fit's model in its internal coordinates: residuals and their Jacobian in log
// space, the local optimisation, the grid of starting points, the Gauss–Newton covariance, and
// which terms a set of points can identify. fit.ts builds the public fit, predictions and
// allocations on these.
import { invertSymmetric, nonNegativeLeastSquares } from '../util/numerics/linalg.js';
import { minimiseHuber, type MinimiseResult, type ResidualProblem } from '../util/numerics/optimise.js';

export interface ScalingPoint {
  /** Non-embedding parameter count N. */
  params: number;
  /** Training tokens D. */
  tokens: number;
  /** Validation loss (nats per token). */
  loss: number;
  /**
   * The run (or size) the point came from. Points of one group share a trunk, a data order
   * and an initialisation, so their errors are correlated: the bootstrap resamples groups.
   */
  group?: string;
}

/** Log-scale coefficients of one fit; a and α (b and β) are null when that term is not fitted. */
export interface LogCoefficients {
  e: number;
  a: number | null;
  alpha: number | null;
  b: number | null;
  beta: number | null;
}

export const MIN_DISTINCT = 3; // E, A and α need at least three distinct N to be told apart (same for D)

// Internal coordinates: θ = [e, a', α, b', β] with a' = a − α·mN and b' = b − β·mD, where mN and
// mD are the mean log N and log D. The shift is linear (same optimum) but removes most of the
// correlation between a and α, which keeps the damped Gauss–Newton systems well conditioned.
export const E_ = 0, A_ = 1, AL_ = 2, B_ = 3, BE_ = 4;

export interface Data {
  n: number;
  xN: Float64Array; // log N − mN
  xD: Float64Array; // log D − mD
  y: Float64Array; // log L
}

export interface Model {
  free: number[]; // indices of θ being fitted
  mN: number;
  mD: number;
}

/** log L_pred = logsumexp(e, a − α log N, b − β log D) on the original (uncentred) scale. */
export function logLoss(c: LogCoefficients, lN: number, lD: number): number {
  return logSumExp3(c.e, c.a === null ? -Infinity : c.a - c.alpha! * lN, c.b === null ? -Infinity : c.b - c.beta! * lD);
}

export function logSumExp3(u0: number, u1: number, u2: number): number {
  const m = Math.max(u0, u1, u2);
  return m + Math.log(Math.exp(u0 - m) + Math.exp(u1 - m) + Math.exp(u2 - m));
}

/**
 * Residual r_i and its gradient over the free coordinates, written into row i of J (n × p).
 * With softmax weights π_k = exp(u_k − logsumexp(u)): ∂r/∂e = π0, ∂r/∂a' = π1,
 * ∂r/∂α = −π1·xN, ∂r/∂b' = π2, ∂r/∂β = −π2·xD.
 */
export function residualsAndJacobian(theta: Float64Array, m: Model, d: Data, r: Float64Array, J: Float64Array): void {
  const p = m.free.length;
  const g = new Float64Array(5);
  for (let i = 0; i < d.n; i++) {
    const u0 = theta[E_], u1 = theta[A_] - theta[AL_] * d.xN[i], u2 = theta[B_] - theta[BE_] * d.xD[i];
    const mx = Math.max(u0, u1, u2);
    const e0 = Math.exp(u0 - mx), e1 = Math.exp(u1 - mx), e2 = Math.exp(u2 - mx);
    const s = e0 + e1 + e2;
    r[i] = mx + Math.log(s) - d.y[i];
    g[E_] = e0 / s;
    g[A_] = e1 / s;
    g[AL_] = -g[A_] * d.xN[i];
    g[B_] = e2 / s;
    g[BE_] = -g[B_] * d.xD[i];
    for (let j = 0; j < p; j++) J[i * p + j] = g[m.free[j]];
  }
}

/** The log residuals of data d as a problem over the model's free coordinates. */
export function residualProblem(m: Model, d: Data): ResidualProblem {
  return {
    points: d.n,
    free: m.free,
    residuals: (theta, r) => {
      for (let i = 0; i < d.n; i++) {
        r[i] = logSumExp3(theta[E_], theta[A_] - theta[AL_] * d.xN[i], theta[B_] - theta[BE_] * d.xD[i]) - d.y[i];
      }
    },
    residualsAndJacobian: (theta, r, J) => residualsAndJacobian(theta, m, d, r, J),
  };
}

/** Local optimisation of the Huber loss of the log residuals (src/util/numerics/optimise.ts). */
export function minimiseLoss(start: Float64Array, m: Model, d: Data, delta: number, maxIter: number): MinimiseResult {
  return minimiseHuber(start, residualProblem(m, d), delta, maxIter);
}

// ---------------------------------------------------------------------------------------------
// Starting points. For fixed (α, β) the model is linear in (E, A, B), so each grid point of
// exponents gets the (E, A, B) ≥ 0 minimising the relative squared error Σ((L_pred − L)/L)²
// (≈ the squared log residual), found by trying every subset of the three terms. Starts are
// returned best first by that error.

export interface StartGrid {
  alphas: number[];
  betas: number[];
  expN: Float64Array[]; // exp(−α·xN) per α, over the full data
  expD: Float64Array[]; // exp(−β·xD) per β
}

export function startGrid(d: Data, m: Model, alphaGrid: number[], betaGrid: number[]): StartGrid {
  const alphas = m.free.includes(A_) ? alphaGrid : [0];
  const betas = m.free.includes(B_) ? betaGrid : [0];
  return {
    alphas,
    betas,
    expN: alphas.map((al) => Float64Array.from(d.xN, (x) => Math.exp(-al * x))),
    expD: betas.map((be) => Float64Array.from(d.xD, (x) => Math.exp(-be * x))),
  };
}

/** Starting points for data d, best first; idx maps d's points to the full data (a resample). */
export function gridStarts(grid: StartGrid, d: Data, m: Model, idx: Int32Array | null): Float64Array[] {
  const hasN = m.free.includes(A_), hasD = m.free.includes(B_);
  const { alphas, betas } = grid;
  const invL = Float64Array.from(d.y, (v) => Math.exp(-v));
  // Columns on the centred scale, divided by L: A·N^−α = exp(a')·exp(−α·xN) with a' = a − α·mN.
  const gather = (full: Float64Array) => Float64Array.from(invL, (w, i) => full[idx === null ? i : idx[i]] * w);
  const colsN = hasN ? grid.expN.map(gather) : [];
  const colsD = hasD ? grid.expD.map(gather) : [];
  const floor = 1e-3 / Math.max(...invL); // a zero coefficient starts small but positive, free to grow back
  const ones = new Float64Array(d.n).fill(1); // target of Σ_k c_k·col_k/L: the relative error is the distance to 1
  const starts: { theta: Float64Array; err: number }[] = [];
  for (let ia = 0; ia < alphas.length; ia++) {
    for (let ib = 0; ib < betas.length; ib++) {
      const cols = [invL];
      if (hasN) cols.push(colsN[ia]);
      if (hasD) cols.push(colsD[ib]);
      const coef = nonNegativeLeastSquares(cols, ones);
      const theta = new Float64Array(5);
      theta[A_] = -Infinity;
      theta[B_] = -Infinity;
      theta[E_] = Math.log(Math.max(coef.c[0], floor));
      let c = 1;
      if (hasN) {
        theta[A_] = Math.log(Math.max(coef.c[c++], floor));
        theta[AL_] = alphas[ia];
      }
      if (hasD) {
        theta[B_] = Math.log(Math.max(coef.c[c++], floor));
        theta[BE_] = betas[ib];
      }
      starts.push({ theta, err: coef.err });
    }
  }
  starts.sort((x, y) => x.err - y.err);
  return starts.map((s) => s.theta);
}

// ---------------------------------------------------------------------------------------------
// Uncertainty and bookkeeping

/**
 * σ²(JᵀJ)⁻¹ with σ² = Σr²/dof, mapped from the centred coordinates to (e, a, α, b, β)
 * (a = a' + α·mN, b = b' + β·mD). Returned as a 5×5 matrix; null if dof = 0 or JᵀJ is singular.
 */
export function gaussNewtonCovariance(theta: Float64Array, m: Model, d: Data): Float64Array | null {
  const p = m.free.length, dof = d.n - p;
  if (dof <= 0) return null;
  const r = new Float64Array(d.n), J = new Float64Array(d.n * p);
  residualsAndJacobian(theta, m, d, r, J);
  let ss = 0;
  for (const v of r) ss += v * v;
  const sigma2 = ss / dof;
  const JtJ = new Float64Array(p * p);
  for (let i = 0; i < d.n; i++) {
    for (let j = 0; j < p; j++) for (let k = 0; k <= j; k++) JtJ[j * p + k] += J[i * p + j] * J[i * p + k];
  }
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) JtJ[k * p + j] = JtJ[j * p + k];
  const inv = invertSymmetric(JtJ, p);
  if (inv === null) return null;
  // T: internal (free) → original 5 coordinates.
  const T = new Float64Array(5 * p);
  m.free.forEach((f, j) => {
    T[f * p + j] = 1;
    if (f === AL_) T[A_ * p + j] = m.mN;
    if (f === BE_) T[B_ * p + j] = m.mD;
  });
  const cov = new Float64Array(25);
  for (let u = 0; u < 5; u++) {
    for (let v = 0; v < 5; v++) {
      let s = 0;
      for (let j = 0; j < p; j++) for (let k = 0; k < p; k++) s += T[u * p + j] * inv[j * p + k] * T[v * p + k];
      cov[u * 5 + v] = sigma2 * s;
    }
  }
  return cov;
}

export function toLog(theta: Float64Array, m: Model): LogCoefficients {
  const hasN = m.free.includes(A_), hasD = m.free.includes(B_);
  return {
    e: theta[E_],
    a: hasN ? theta[A_] + theta[AL_] * m.mN : null,
    alpha: hasN ? theta[AL_] : null,
    b: hasD ? theta[B_] + theta[BE_] * m.mD : null,
    beta: hasD ? theta[BE_] : null,
  };
}

/** All coefficients finite, and E, A and B too (not overflowing exp). */
export function finiteCoefficients(c: LogCoefficients): boolean {
  return [c.e, c.a, c.alpha, c.b, c.beta].every((v) => v === null || Number.isFinite(v)) &&
    [c.e, c.a, c.b].every((v) => v === null || Number.isFinite(Math.exp(v)));
}

export function coefficientNames(m: Model): string[] {
  const names = ['E'];
  if (m.free.includes(A_)) names.push('A', 'α');
  if (m.free.includes(B_)) names.push('B', 'β');
  return names;
}

/** Why a term cannot be fitted from these values, or null if it can. */
export function termProblem(logs: number[], what: string, sym: string, coefs: string): string | null {
  const distinct = distinctValues(logs);
  if (distinct.length >= MIN_DISTINCT) return null;
  const shown = distinct.map((v) => fmtCount(Math.exp(v))).join(' and ');
  if (distinct.length === 1) {
    return `all points have the same ${what} (${sym} = ${shown}): ${coefs} cannot be separated from E, ` +
      `so the ${sym} term is left out and its effect is absorbed into E`;
  }
  return `only ${distinct.length} distinct ${what}s (${sym} = ${shown}): E, ${coefs} need at least ${MIN_DISTINCT} ` +
    `to be told apart, so the ${sym} term is left out`;
}

export function distinctValues(logs: number[]): number[] {
  const sorted = [...logs].sort((a, b) => a - b);
  const out: number[] = [];
  for (const v of sorted) if (out.length === 0 || v - out[out.length - 1] > 1e-9) out.push(v);
  return out;
}

export function resampleIdentifiable(idx: Int32Array, logN: number[], logD: number[], m: Model, points: ScalingPoint[]): boolean {
  const pick = (xs: number[]) => Array.from(idx, (i) => xs[i]);
  if (m.free.includes(A_) && distinctValues(pick(logN)).length < MIN_DISTINCT) return false;
  if (m.free.includes(B_) && distinctValues(pick(logD)).length < MIN_DISTINCT) return false;
  return new Set(Array.from(idx, (i) => `${points[i].params}:${points[i].tokens}`)).size >= m.free.length;
}

/** The indices of the points of each group, groups in order of first appearance. */
export function groupsOf(points: ScalingPoint[]): number[][] {
  const groups = new Map<string, number[]>();
  points.forEach((q, i) => {
    const g = groups.get(q.group!) ?? [];
    g.push(i);
    groups.set(q.group!, g);
  });
  return [...groups.values()];
}

function fmtCount(v: number): string {
  const r = Number(v.toPrecision(4));
  return r >= 1e4 ? r.toExponential() : r.toString();
}
