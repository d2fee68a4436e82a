// Minimisers for curve fitting: a robust (Huber) damped Gauss–Newton over a few
// coordinates, and a one-dimensional search on an interval.
import { choleskySolve } from './linalg.js';

/** A least-squares-style problem: residuals r_i(θ) and their gradients over the free coordinates. */
export interface ResidualProblem {
  /** Number of residuals. */
  points: number;
  /** Indices of the coordinates of θ that are optimised; the others stay as given. */
  free: readonly number[];
  /** Writes r_i(θ) for every point. */
  residuals(theta: Float64Array, r: Float64Array): void;
  /** Writes r_i(θ), and ∂r_i/∂θ_free[j] into J[i·p + j] (J is points × free.length). */
  residualsAndJacobian(theta: Float64Array, r: Float64Array, J: Float64Array): void;
}

export interface MinimiseResult {
  theta: Float64Array;
  /** Σ huber(r_i) at theta. */
  objective: number;
  iterations: number;
  converged: boolean;
}

/** The Huber loss of one residual: quadratic inside |r| ≤ δ, linear outside. */
export function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

/**
 * Minimises Σ huber(r_i(θ), δ) from `start` (which is not modified), damped
 * (Levenberg–Marquardt) with two step proposals per iteration, each kept only if the loss falls:
 * 1. Newton: the Huber loss has curvature only inside |r| ≤ δ, so its Gauss–Newton Hessian is
 *    Σ_{|r_i|≤δ} J_iJ_iᵀ. Once the set of points inside δ settles this step is nearly exact, and
 *    it converges in a few iterations where reweighting alone would crawl.
 * 2. Reweighted least squares: with w_i = ψ(r_i)/r_i = min(1, δ/|r_i|), ½Σ w_i r_i² majorises the
 *    Huber loss around the current residuals, so (JᵀWJ + λ·diag) s = −Σ ψ(r_i) J_i always descends
 *    for small enough steps: the robust fallback far from the optimum or with few points inside δ.
 * Converged: no step lowers the loss, or none moves it (relative step < 1e-11 or gain ≤ 1e-15 of
 * the loss), or the residuals are negligible (rms < 1e-10).
 */
export function minimiseHuber(start: Float64Array, problem: ResidualProblem, delta: number, maxIter: number): MinimiseResult {
  const { points: n, free } = problem;
  const p = free.length;
  const theta = Float64Array.from(start);
  const r = new Float64Array(n), rTrial = new Float64Array(n);
  const J = new Float64Array(n * p);
  const Hw = new Float64Array(p * p), Hn = new Float64Array(p * p), g = new Float64Array(p);
  const M = new Float64Array(p * p), step = new Float64Array(p), trial = new Float64Array(theta.length);
  const objective = (x: Float64Array): number => {
    problem.residuals(x, rTrial);
    let f = 0;
    for (let i = 0; i < n; i++) f += huber(rTrial[i], delta);
    return f;
  };
  let f = objective(theta);
  let lambdaW = 1e-3, lambdaN = 1e-6;
  let iterations = 0, converged = false;

  // Solves (H + λ·diag(H)) s = g and tries θ − s; true (and θ, f updated) if the loss fell.
  let relStep = 0, gain = 0;
  const tryStep = (H: Float64Array, lambda: number): boolean => {
    let maxDiag = 0;
    for (let j = 0; j < p; j++) maxDiag = Math.max(maxDiag, H[j * p + j]);
    if (!(maxDiag > 0)) return false;
    for (let j = 0; j < p; j++) {
      for (let k = 0; k <= j; k++) M[j * p + k] = H[j * p + k];
      M[j * p + j] += lambda * Math.max(H[j * p + j], 1e-9 * maxDiag);
    }
    if (!choleskySolve(M, g, step, p)) return false;
    trial.set(theta);
    for (let j = 0; j < p; j++) trial[free[j]] -= step[j];
    const ft = objective(trial);
    if (!(ft < f)) return false;
    relStep = 0;
    for (let j = 0; j < p; j++) relStep = Math.max(relStep, Math.abs(step[j]) / (1 + Math.abs(theta[free[j]])));
    gain = f - ft;
    theta.set(trial);
    f = ft;
    return true;
  };

  const work: HuberSystem = { r, J, Hw, Hn, g };
  const assemble = (): number => assembleHuber(problem, theta, delta, work);

  while (iterations < maxIter) {
    iterations++;
    const inside = assemble();
    // A Newton step that barely moves is not taken as convergence until the reweighted step
    // agrees.
    const fOld = f;
    let accepted = false, small = true;
    if (inside >= p && tryStep(Hn, lambdaN)) {
      lambdaN = Math.max(lambdaN / 10, 1e-12);
      accepted = true;
      small = relStep < 1e-11 || gain <= 1e-15 * fOld;
    } else {
      lambdaN = Math.min(lambdaN * 10, 1);
    }
    if (small) {
      if (accepted) assemble();
      while (lambdaW < 1e12) {
        if (tryStep(Hw, lambdaW)) {
          lambdaW = Math.max(lambdaW / 4, 1e-12);
          accepted = true;
          small = relStep < 1e-11 || gain <= 1e-15 * fOld;
          break;
        }
        lambdaW *= 8;
      }
    }
    // Neither step lowers the loss, or neither moves it: stationary to working precision. Or the
    // residuals are negligible (rms < 1e-10): a coordinate drifting towards −∞ (a coefficient
    // fitted on the log scale going to 0), badly scaled, would otherwise crawl on with tiny gains.
    if (!accepted || small || f <= 0.5e-20 * n) {
      converged = true;
      break;
    }
  }
  return { theta, objective: f, iterations, converged };
}

/** The arrays of one Huber iteration: residuals, Jacobian, both Hessian approximations, gradient. */
interface HuberSystem {
  r: Float64Array;
  J: Float64Array;
  /** Σ w_i J_iJ_iᵀ (reweighted) and Σ_{|r_i|≤δ} J_iJ_iᵀ (Newton), lower triangles */
  Hw: Float64Array;
  Hn: Float64Array;
  /** Σ ψ(r_i) J_i */
  g: Float64Array;
}

/** Residuals, gradient and both Hessian approximations at θ, into `s`; returns how many points lie inside δ. */
function assembleHuber(problem: ResidualProblem, theta: Float64Array, delta: number, s: HuberSystem): number {
  const { r, J, Hw, Hn, g } = s;
  const n = problem.points, p = problem.free.length;
  problem.residualsAndJacobian(theta, r, J);
  Hw.fill(0);
  Hn.fill(0);
  g.fill(0);
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(r[i]);
    const w = a <= delta ? 1 : delta / a;
    const psi = w * r[i];
    if (a <= delta) inside++;
    for (let j = 0; j < p; j++) {
      const Jij = J[i * p + j];
      g[j] += psi * Jij;
      for (let k = 0; k <= j; k++) {
        const jj = w * Jij * J[i * p + k];
        Hw[j * p + k] += jj;
        if (a <= delta) Hn[j * p + k] += jj;
      }
    }
  }
  return inside;
}

/**
 * An x in [lo, hi] minimising f: the best of `steps` + 1 evenly spaced points (the first of
 * equals, so on a flat f the lowest x wins), refined by golden-section search between its
 * neighbours; the refinement is kept only if it is strictly lower.
 */
export function minimiseOnInterval(f: (x: number) => number, lo: number, hi: number, steps = 128): number {
  let bestK = 0, bestF = Infinity;
  for (let k = 0; k <= steps; k++) {
    const v = f(lo + ((hi - lo) * k) / steps);
    if (v < bestF) {
      bestF = v;
      bestK = k;
    }
  }
  let a = lo + ((hi - lo) * Math.max(0, bestK - 1)) / steps, b = lo + ((hi - lo) * Math.min(steps, bestK + 1)) / steps;
  const phi = (Math.sqrt(5) - 1) / 2;
  let x1 = b - phi * (b - a), x2 = a + phi * (b - a), f1 = f(x1), f2 = f(x2);
  for (let it = 0; it < 100 && b - a > 1e-12; it++) {
    if (f1 <= f2) {
      b = x2; x2 = x1; f2 = f1; x1 = b - phi * (b - a); f1 = f(x1);
    } else {
      a = x1; x1 = x2; f1 = f2; x2 = a + phi * (b - a); f2 = f(x2);
    }
  }
  const mid = (a + b) / 2;
  const candidates = [lo + ((hi - lo) * bestK) / steps, mid];
  return candidates.reduce((x, y) => (f(y) < f(x) ? y : x));
}
