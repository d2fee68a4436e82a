// Scaling-law fit: L(N, D) = E + A/N^α + B/D^β over logged (non-embedding parameters N,
// training tokens D, validation loss L) points, as in Hoffmann et al. 2022 ("Chinchilla",
// approach 3): minimise the Huber loss (δ = 1e-3) of log-space residuals
// log L_pred − log L, with log L_pred = logsumexp(e, a − α log N, b − β log D),
// from a grid of starting points, keeping the best. Uncertainty comes from a seeded
// bootstrap over the points and from the Gauss–Newton covariance at the optimum.
// Pure math: no I/O, and every result is plain JSON-serialisable data.
import { TlcError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';

export interface ScalingPoint {
  /** Non-embedding parameter count N. */
  params: number;
  /** Training tokens D. */
  tokens: number;
  /** Validation loss (nats per token). */
  loss: number;
}

export interface FitOptions {
  /** Huber threshold on log-space residuals (default 1e-3, as in the paper). */
  delta?: number;
  /** Bootstrap resamples (default 200; 0 skips the bootstrap). */
  bootstrap?: number;
  /** Seed of the bootstrap resampling (default 0). */
  seed?: number;
  /**
   * Starting exponents α (default 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 2); at each (α, β) start
   * e, a and b are solved for by linear least squares, and every start is optimised.
   */
  alphaGrid?: number[];
  /** Starting exponents β (default as alphaGrid). */
  betaGrid?: number[];
  /** Iteration cap of each local optimisation (default 400). */
  maxIterations?: number;
}

export interface Coefficient {
  value: number;
  /** Bootstrap standard error (null without a bootstrap). */
  se: number | null;
  /** Bootstrap 90% interval: 5th and 95th percentiles of the resampled fits. */
  ci90: [number, number] | null;
  /**
   * Standard error from the Gauss–Newton covariance σ²(JᵀJ)⁻¹ of the log residuals: the
   * least-squares approximation, a little optimistic for the Huber fit (prefer se).
   */
  seAsymptotic: number | null;
  /** value ± 1.645·seAsymptotic (E, A, B: on the log scale, so the interval stays positive). */
  ci90Asymptotic: [number, number] | null;
}

/** Log-scale coefficients of one fit; a and α (b and β) are null when that term is not fitted. */
export interface LogCoefficients {
  e: number;
  a: number | null;
  alpha: number | null;
  b: number | null;
  beta: number | null;
}

export interface ChinchillaFit {
  E: Coefficient;
  A: Coefficient | null;
  alpha: Coefficient | null;
  B: Coefficient | null;
  beta: Coefficient | null;
  /** Point estimate on the log scale (e = log E, a = log A, b = log B). */
  log: LogCoefficients;
  /** Why a term was left out (null: it was fitted). */
  unidentifiable: { params: string | null; tokens: string | null };
  goodness: {
    /** R² of log loss. */
    r2: number | null;
    /** Root mean square of the log residuals. */
    rmse: number;
    maxAbsResidual: number;
    huberLoss: number;
    points: number;
    coefficients: number;
    dof: number;
  };
  optimisation: { starts: number; iterations: number; converged: boolean; delta: number };
  /**
   * Resampled fits (plain data, so a saved fit still gives prediction bands). skipped: resamples
   * with too few distinct N or D for the fitted terms, or whose fit diverged.
   */
  bootstrap: { requested: number; used: number; skipped: number; seed: number; samples: LogCoefficients[] };
  /** Observed ranges: predictions outside them are extrapolations. */
  range: { params: [number, number]; tokens: [number, number]; loss: [number, number] };
}

export interface Prediction {
  loss: number;
  /** 5th–95th percentile of the bootstrap fits' predictions (null without a bootstrap). */
  interval: [number, number] | null;
  /** N or D lies outside the range of the fitted points. */
  extrapolated: boolean;
}

export interface AllocationOptions {
  /** 'auto' (default): closed form where both terms are fitted with positive exponents. */
  method?: 'auto' | 'search';
  /** Bounds of the numeric search over N (default: the observed parameter counts). */
  paramsRange?: [number, number];
}

export interface Allocation {
  flops: number;
  params: number;
  tokens: number;
  loss: number;
  method: 'closed-form' | 'search';
  note: string | null;
  /** 5th–95th percentile of the optimum over the bootstrap fits. */
  paramsInterval: [number, number] | null;
  tokensInterval: [number, number] | null;
}

const DEFAULT_GRID = [0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2, 2];
const Z90 = 1.6448536269514722; // standard normal 95th percentile
const MIN_DISTINCT = 3; // E, A and α need at least three distinct N to be told apart (same for D)

// Internal coordinates: θ = [e, a', α, b', β] with a' = a − α·mN and b' = b − β·mD, where mN and
// mD are the mean log N and log D. The shift is linear (same optimum) but removes most of the
// correlation between a and α, which keeps the damped Gauss–Newton systems well conditioned.
const E_ = 0, A_ = 1, AL_ = 2, B_ = 3, BE_ = 4;

interface Data {
  n: number;
  xN: Float64Array; // log N − mN
  xD: Float64Array; // log D − mD
  y: Float64Array; // log L
}

interface Model {
  free: number[]; // indices of θ being fitted
  mN: number;
  mD: number;
}

interface LocalResult {
  theta: Float64Array;
  objective: number;
  iterations: number;
  converged: boolean;
}

/** Fits L(N, D) = E + A/N^α + B/D^β to the points; see the file comment. */
export function fitChinchilla(points: ScalingPoint[], opts: FitOptions = {}): ChinchillaFit {
  const delta = opts.delta ?? 1e-3;
  const nBoot = opts.bootstrap ?? 200;
  const seed = opts.seed ?? 0;
  const alphaGrid = opts.alphaGrid ?? DEFAULT_GRID;
  const betaGrid = opts.betaGrid ?? alphaGrid;
  const maxIter = opts.maxIterations ?? 400;
  if (!(delta > 0) || !Number.isFinite(delta)) throw new TlcError(`fitChinchilla: delta must be a positive number, got ${delta}`);
  if (!Number.isInteger(nBoot) || nBoot < 0) throw new TlcError(`fitChinchilla: bootstrap must be a non-negative integer, got ${nBoot}`);
  if (!Number.isSafeInteger(seed)) throw new TlcError(`fitChinchilla: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(maxIter) || maxIter < 1) throw new TlcError(`fitChinchilla: maxIterations must be a positive integer, got ${maxIter}`);
  for (const [name, grid] of [['alphaGrid', alphaGrid], ['betaGrid', betaGrid]] as const) {
    if (!Array.isArray(grid) || grid.length === 0 || grid.some((v) => !Number.isFinite(v))) {
      throw new TlcError(`fitChinchilla: ${name} must be a non-empty list of finite numbers`);
    }
  }
  validatePoints(points);

  const n = points.length;
  const logN = points.map((p) => Math.log(p.params));
  const logD = points.map((p) => Math.log(p.tokens));
  const y = Float64Array.from(points, (p) => Math.log(p.loss));
  const unidentifiable = {
    params: termProblem(logN, 'parameter count', 'N', 'A and α'),
    tokens: termProblem(logD, 'token count', 'D', 'B and β'),
  };
  const mN = mean(logN), mD = mean(logD);
  const model: Model = { free: [E_], mN, mD };
  if (unidentifiable.params === null) model.free.push(A_, AL_);
  if (unidentifiable.tokens === null) model.free.push(B_, BE_);
  const p = model.free.length;
  const distinctPairs = new Set(points.map((q) => `${q.params}:${q.tokens}`)).size;
  if (distinctPairs < p) {
    throw new TlcError(`fitChinchilla: ${distinctPairs} distinct (params, tokens) point(s) for ${p} coefficients ` +
      `(${coefficientNames(model).join(', ')}); need at least ${p}`);
  }
  const data: Data = {
    n,
    xN: Float64Array.from(logN, (v) => v - mN),
    xD: Float64Array.from(logD, (v) => v - mD),
    y,
  };

  // Every grid start, each locally optimised; keep the lowest Huber loss.
  const grid = startGrid(data, model, alphaGrid, betaGrid);
  const starts = gridStarts(grid, data, model, null);
  let best: LocalResult | null = null;
  let iterations = 0;
  for (const s of starts) {
    const r = minimiseHuber(s, model, data, delta, maxIter);
    iterations += r.iterations;
    if (finiteCoefficients(toLog(r.theta, model)) && (best === null || r.objective < best.objective)) best = r;
  }
  if (best === null) {
    throw new TlcError(`fitChinchilla: the fit diverged (E, A or B overflowing) from all ${starts.length} starting points; ` +
      'the points do not follow L = E + A/N^α + B/D^β');
  }
  const fit = best;

  // Bootstrap: resample points with replacement, refit from the full-data optimum and from the
  // best grid start of the resample. Skipped: resamples with too few distinct N or D for the
  // fitted terms, and fits that diverged.
  const samples: LogCoefficients[] = [];
  let skipped = 0;
  const rng = new Rng(seed);
  const idx = new Int32Array(n);
  for (let k = 0; k < nBoot; k++) {
    for (let i = 0; i < n; i++) idx[i] = rng.int(n);
    if (!resampleIdentifiable(idx, logN, logD, model, points)) {
      skipped++;
      continue;
    }
    const sub: Data = {
      n,
      xN: Float64Array.from(idx, (i) => data.xN[i]),
      xD: Float64Array.from(idx, (i) => data.xD[i]),
      y: Float64Array.from(idx, (i) => data.y[i]),
    };
    let r = minimiseHuber(fit.theta, model, sub, delta, maxIter);
    const fresh = minimiseHuber(gridStarts(grid, sub, model, idx)[0], model, sub, delta, maxIter);
    if (fresh.objective < r.objective) r = fresh;
    // A resample whose fit runs off to infinity says nothing useful.
    const c = toLog(r.theta, model);
    if (finiteCoefficients(c)) samples.push(c);
    else skipped++;
  }

  const point = toLog(fit.theta, model);
  const cov = gaussNewtonCovariance(fit.theta, model, data);
  const res = residuals(fit.theta, data);
  let ssRes = 0, maxAbs = 0;
  for (const r of res) {
    ssRes += r * r;
    maxAbs = Math.max(maxAbs, Math.abs(r));
  }
  const yMean = mean(Array.from(y));
  let ssTot = 0;
  for (const v of y) ssTot += (v - yMean) ** 2;
  const losses = points.map((q) => q.loss);

  const coef = (key: keyof LogCoefficients, covIdx: number, logScale: boolean): Coefficient => {
    const v = point[key]!;
    const boot = samples.map((s) => (logScale ? Math.exp(s[key]!) : s[key]!));
    const seLog = cov ? Math.sqrt(Math.max(0, cov[covIdx * 5 + covIdx])) : null;
    const value = logScale ? Math.exp(v) : v;
    return {
      value,
      se: boot.length > 1 ? stdDev(boot) : null,
      ci90: boot.length > 1 ? [quantile(boot, 0.05), quantile(boot, 0.95)] : null,
      seAsymptotic: seLog === null ? null : logScale ? value * seLog : seLog,
      ci90Asymptotic: seLog === null ? null : logScale
        ? [Math.exp(v - Z90 * seLog), Math.exp(v + Z90 * seLog)]
        : [v - Z90 * seLog, v + Z90 * seLog],
    };
  };
  const hasN = unidentifiable.params === null, hasD = unidentifiable.tokens === null;
  return {
    E: coef('e', E_, true),
    A: hasN ? coef('a', A_, true) : null,
    alpha: hasN ? coef('alpha', AL_, false) : null,
    B: hasD ? coef('b', B_, true) : null,
    beta: hasD ? coef('beta', BE_, false) : null,
    log: point,
    unidentifiable,
    goodness: {
      r2: ssTot > 0 ? 1 - ssRes / ssTot : null,
      rmse: Math.sqrt(ssRes / n),
      maxAbsResidual: maxAbs,
      huberLoss: fit.objective,
      points: n,
      coefficients: p,
      dof: n - p,
    },
    optimisation: { starts: starts.length, iterations, converged: fit.converged, delta },
    bootstrap: { requested: nBoot, used: samples.length, skipped, seed, samples },
    range: {
      params: [Math.min(...points.map((q) => q.params)), Math.max(...points.map((q) => q.params))],
      tokens: [Math.min(...points.map((q) => q.tokens)), Math.max(...points.map((q) => q.tokens))],
      loss: [Math.min(...losses), Math.max(...losses)],
    },
  };
}

/** Predicted loss at N parameters and D tokens, with the bootstrap 5th–95th percentile band. */
export function predictLoss(fit: ChinchillaFit, params: number, tokens: number): Prediction {
  checkPositive('predictLoss', 'params', params);
  checkPositive('predictLoss', 'tokens', tokens);
  const lN = Math.log(params), lD = Math.log(tokens);
  const preds = fit.bootstrap.samples.map((s) => Math.exp(logLoss(s, lN, lD)));
  const [pLo, pHi] = fit.range.params, [dLo, dHi] = fit.range.tokens;
  return {
    loss: Math.exp(logLoss(fit.log, lN, lD)),
    interval: preds.length > 1 ? [quantile(preds, 0.05), quantile(preds, 0.95)] : null,
    extrapolated: params < pLo || params > pHi || tokens < dLo || tokens > dHi,
  };
}

/**
 * The N and D = C/(6N) that minimise the predicted loss for a training budget of C FLOPs.
 * Closed form (Chinchilla eq. 4): G = (αA/βB)^(1/(α+β)), N = G·(C/6)^(β/(α+β)),
 * D = G⁻¹·(C/6)^(α/(α+β)). Without one of the terms, or with an exponent ≤ 0, the optimum is
 * searched numerically within opts.paramsRange (default: the observed parameter counts).
 */
export function computeOptimalAllocation(fit: ChinchillaFit, flops: number, opts: AllocationOptions = {}): Allocation {
  checkPositive('computeOptimalAllocation', 'flops', flops);
  const range = opts.paramsRange ?? fit.range.params;
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] > 0) || !(range[1] >= range[0]) || !Number.isFinite(range[1])) {
    throw new TlcError(`computeOptimalAllocation: paramsRange must be [min, max] with 0 < min ≤ max, got ${JSON.stringify(range)}`);
  }
  const method = (opts.method ?? 'auto') === 'auto' && closedFormApplies(fit.log) ? 'closed-form' : 'search';
  const solve = (c: LogCoefficients): number =>
    method === 'closed-form' ? closedFormParams(c, flops) : searchParams(c, flops, range);
  const params = solve(fit.log);
  const tokens = flops / (6 * params);
  const nOpt = fit.bootstrap.samples.map(solve).filter((v) => Number.isFinite(v) && v > 0);
  let note: string | null = null;
  if (method === 'search') {
    const why = [fit.unidentifiable.params, fit.unidentifiable.tokens].filter((s) => s !== null);
    if (why.length === 0 && !closedFormApplies(fit.log)) why.push(`fitted exponents α = ${fit.log.alpha}, β = ${fit.log.beta} are not both positive`);
    note = `numeric search over N in [${range[0]}, ${range[1]}]` + (why.length ? `: ${why.join('; ')}` : '');
  }
  return {
    flops,
    params,
    tokens,
    loss: Math.exp(logLoss(fit.log, Math.log(params), Math.log(tokens))),
    method,
    note,
    paramsInterval: nOpt.length > 1 ? [quantile(nOpt, 0.05), quantile(nOpt, 0.95)] : null,
    tokensInterval: nOpt.length > 1 ? [flops / (6 * quantile(nOpt, 0.95)), flops / (6 * quantile(nOpt, 0.05))] : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Model evaluation

/** log L_pred = logsumexp(e, a − α log N, b − β log D) on the original (uncentred) scale. */
function logLoss(c: LogCoefficients, lN: number, lD: number): number {
  return logSumExp3(c.e, c.a === null ? -Infinity : c.a - c.alpha! * lN, c.b === null ? -Infinity : c.b - c.beta! * lD);
}

function logSumExp3(u0: number, u1: number, u2: number): number {
  const m = Math.max(u0, u1, u2);
  return m + Math.log(Math.exp(u0 - m) + Math.exp(u1 - m) + Math.exp(u2 - m));
}

function residuals(theta: Float64Array, d: Data): Float64Array {
  const r = new Float64Array(d.n);
  for (let i = 0; i < d.n; i++) {
    r[i] = logSumExp3(theta[E_], theta[A_] - theta[AL_] * d.xN[i], theta[B_] - theta[BE_] * d.xD[i]) - d.y[i];
  }
  return r;
}

function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

function objective(theta: Float64Array, d: Data, delta: number): number {
  let f = 0;
  for (let i = 0; i < d.n; i++) {
    f += huber(logSumExp3(theta[E_], theta[A_] - theta[AL_] * d.xN[i], theta[B_] - theta[BE_] * d.xD[i]) - d.y[i], delta);
  }
  return f;
}

/**
 * Residual r_i and its gradient over the free coordinates, written into row i of J (n × p).
 * With softmax weights π_k = exp(u_k − logsumexp(u)): ∂r/∂e = π0, ∂r/∂a' = π1,
 * ∂r/∂α = −π1·xN, ∂r/∂b' = π2, ∂r/∂β = −π2·xD.
 */
function residualsAndJacobian(theta: Float64Array, m: Model, d: Data, r: Float64Array, J: Float64Array): void {
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

// ---------------------------------------------------------------------------------------------
// Local optimisation, damped (Levenberg–Marquardt) with two step proposals per iteration, each
// kept only if the Huber loss falls:
// 1. Newton: the Huber loss has curvature only inside |r| ≤ δ, so its Gauss–Newton Hessian is
//    Σ_{|r_i|≤δ} J_iJ_iᵀ. Once the set of points inside δ settles this step is nearly exact, and
//    it converges in a few iterations where reweighting alone would crawl.
// 2. Reweighted least squares: with w_i = ψ(r_i)/r_i = min(1, δ/|r_i|), ½Σ w_i r_i² majorises the
//    Huber loss around the current residuals, so (JᵀWJ + λ·diag) s = −Σ ψ(r_i) J_i always descends
//    for small enough steps: the robust fallback far from the optimum or with few points inside δ.

function minimiseHuber(start: Float64Array, m: Model, d: Data, delta: number, maxIter: number): LocalResult {
  const p = m.free.length;
  const theta = Float64Array.from(start);
  const r = new Float64Array(d.n);
  const J = new Float64Array(d.n * p);
  const Hw = new Float64Array(p * p), Hn = new Float64Array(p * p), g = new Float64Array(p);
  const M = new Float64Array(p * p), step = new Float64Array(p), trial = new Float64Array(5);
  let f = objective(theta, d, delta);
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
    for (let j = 0; j < p; j++) trial[m.free[j]] -= step[j];
    const ft = objective(trial, d, delta);
    if (!(ft < f)) return false;
    relStep = 0;
    for (let j = 0; j < p; j++) relStep = Math.max(relStep, Math.abs(step[j]) / (1 + Math.abs(theta[m.free[j]])));
    gain = f - ft;
    theta.set(trial);
    f = ft;
    return true;
  };

  // Residuals, gradient Σψ(r_i)J_i and both Hessian approximations at θ; returns how many
  // points lie inside δ.
  const assemble = (): number => {
    residualsAndJacobian(theta, m, d, r, J);
    Hw.fill(0);
    Hn.fill(0);
    g.fill(0);
    let inside = 0;
    for (let i = 0; i < d.n; i++) {
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
  };

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
    // residuals are negligible (rms < 1e-10, far below any measured loss): a coefficient drifting
    // towards 0 (log → −∞), badly scaled, would otherwise crawl on with tiny gains.
    if (!accepted || small || f <= 0.5e-20 * d.n) {
      converged = true;
      break;
    }
  }
  return { theta, objective: f, iterations, converged };
}

/** Solves M x = b for symmetric positive definite M (lower triangle used); false if not PD. */
function choleskySolve(M: Float64Array, b: Float64Array, x: Float64Array, p: number): boolean {
  const L = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    for (let k = 0; k <= j; k++) {
      let s = M[j * p + k];
      for (let t = 0; t < k; t++) s -= L[j * p + t] * L[k * p + t];
      if (j === k) {
        if (!(s > 0)) return false;
        L[j * p + j] = Math.sqrt(s);
      } else {
        L[j * p + k] = s / L[k * p + k];
      }
    }
  }
  for (let j = 0; j < p; j++) {
    let s = b[j];
    for (let t = 0; t < j; t++) s -= L[j * p + t] * x[t];
    x[j] = s / L[j * p + j];
  }
  for (let j = p - 1; j >= 0; j--) {
    let s = x[j];
    for (let t = j + 1; t < p; t++) s -= L[t * p + j] * x[t];
    x[j] = s / L[j * p + j];
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Starting points. For fixed (α, β) the model is linear in (E, A, B), so each grid point of
// exponents gets the (E, A, B) ≥ 0 minimising the relative squared error Σ((L_pred − L)/L)²
// (≈ the squared log residual), found by trying every subset of the three terms. Starts are
// returned best first by that error.

interface StartGrid {
  alphas: number[];
  betas: number[];
  expN: Float64Array[]; // exp(−α·xN) per α, over the full data
  expD: Float64Array[]; // exp(−β·xD) per β
}

function startGrid(d: Data, m: Model, alphaGrid: number[], betaGrid: number[]): StartGrid {
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
function gridStarts(grid: StartGrid, d: Data, m: Model, idx: Int32Array | null): Float64Array[] {
  const hasN = m.free.includes(A_), hasD = m.free.includes(B_);
  const { alphas, betas } = grid;
  const invL = Float64Array.from(d.y, (v) => Math.exp(-v));
  // Columns on the centred scale, divided by L: A·N^−α = exp(a')·exp(−α·xN) with a' = a − α·mN.
  const gather = (full: Float64Array) => Float64Array.from(invL, (w, i) => full[idx === null ? i : idx[i]] * w);
  const colsN = hasN ? grid.expN.map(gather) : [];
  const colsD = hasD ? grid.expD.map(gather) : [];
  const floor = 1e-3 / Math.max(...invL); // a zero coefficient starts small but positive, free to grow back
  const starts: { theta: Float64Array; err: number }[] = [];
  for (let ia = 0; ia < alphas.length; ia++) {
    for (let ib = 0; ib < betas.length; ib++) {
      const cols = [invL];
      if (hasN) cols.push(colsN[ia]);
      if (hasD) cols.push(colsD[ib]);
      const coef = nonNegativeRelativeFit(cols);
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

/**
 * min over c ≥ 0 of Σ_i (Σ_k c_k·z_k[i] − 1)², where z_k = col_k/L: least squares on every
 * subset of columns from the q×q normal equations, keeping the best with all coefficients > 0.
 */
function nonNegativeRelativeFit(z: Float64Array[]): { c: number[]; err: number } {
  const q = z.length, n = z[0].length;
  // Gram matrix G = ZᵀZ (lower triangle) and h = Zᵀ1, with the columns unrolled (q ≤ 3).
  const G = new Float64Array(q * q), h = new Float64Array(q);
  const z0 = z[0], z1 = z[q > 1 ? 1 : 0], z2 = z[q > 2 ? 2 : 0];
  let s0 = 0, s1 = 0, s2 = 0, s00 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s22 = 0;
  for (let i = 0; i < n; i++) {
    const a = z0[i], b = z1[i], c = z2[i];
    s0 += a; s1 += b; s2 += c;
    s00 += a * a; s10 += b * a; s11 += b * b; s20 += c * a; s21 += c * b; s22 += c * c;
  }
  h[0] = s0;
  G[0] = s00;
  if (q > 1) { h[1] = s1; G[q] = s10; G[q + 1] = s11; }
  if (q > 2) { h[2] = s2; G[2 * q] = s20; G[2 * q + 1] = s21; G[2 * q + 2] = s22; }
  let best: { c: number[]; err: number } = { c: new Array(q).fill(0), err: n }; // all zero: error n
  for (let mask = 1; mask < 1 << q; mask++) {
    const use = [...Array(q).keys()].filter((k) => mask & (1 << k));
    const s = use.length;
    const M = new Float64Array(s * s), b = new Float64Array(s), x = new Float64Array(s);
    for (let j = 0; j < s; j++) {
      b[j] = h[use[j]];
      for (let k = 0; k <= j; k++) M[j * s + k] = G[use[j] * q + use[k]] * (j === k ? 1 + 1e-12 : 1);
    }
    if (!choleskySolve(M, b, x, s) || x.some((v) => !(v > 0))) continue;
    // Σ(Zc − 1)² = cᵀGc − 2hᵀc + n, and at the least-squares solution cᵀGc = hᵀc.
    let hc = 0;
    for (let j = 0; j < s; j++) hc += b[j] * x[j];
    const err = n - hc;
    if (err < best.err) {
      const c = new Array(q).fill(0);
      use.forEach((k, j) => (c[k] = x[j]));
      best = { c, err };
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Uncertainty and bookkeeping

/**
 * σ²(JᵀJ)⁻¹ with σ² = Σr²/dof, mapped from the centred coordinates to (e, a, α, b, β)
 * (a = a' + α·mN, b = b' + β·mD). Returned as a 5×5 matrix; null if dof = 0 or JᵀJ is singular.
 */
function gaussNewtonCovariance(theta: Float64Array, m: Model, d: Data): Float64Array | null {
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

function invertSymmetric(M: Float64Array, p: number): Float64Array | null {
  const inv = new Float64Array(p * p), col = new Float64Array(p), e = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    e.fill(0);
    e[j] = 1;
    if (!choleskySolve(M, e, col, p)) return null;
    for (let k = 0; k < p; k++) inv[k * p + j] = col[k];
  }
  return inv.every(Number.isFinite) ? inv : null;
}

function toLog(theta: Float64Array, m: Model): LogCoefficients {
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
function finiteCoefficients(c: LogCoefficients): boolean {
  return [c.e, c.a, c.alpha, c.b, c.beta].every((v) => v === null || Number.isFinite(v)) &&
    [c.e, c.a, c.b].every((v) => v === null || Number.isFinite(Math.exp(v)));
}

function coefficientNames(m: Model): string[] {
  const names = ['E'];
  if (m.free.includes(A_)) names.push('A', 'α');
  if (m.free.includes(B_)) names.push('B', 'β');
  return names;
}

/** Why a term cannot be fitted from these values, or null if it can. */
function termProblem(logs: number[], what: string, sym: string, coefs: string): string | null {
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

function distinctValues(logs: number[]): number[] {
  const sorted = [...logs].sort((a, b) => a - b);
  const out: number[] = [];
  for (const v of sorted) if (out.length === 0 || v - out[out.length - 1] > 1e-9) out.push(v);
  return out;
}

function resampleIdentifiable(idx: Int32Array, logN: number[], logD: number[], m: Model, points: ScalingPoint[]): boolean {
  const pick = (xs: number[]) => Array.from(idx, (i) => xs[i]);
  if (m.free.includes(A_) && distinctValues(pick(logN)).length < MIN_DISTINCT) return false;
  if (m.free.includes(B_) && distinctValues(pick(logD)).length < MIN_DISTINCT) return false;
  return new Set(Array.from(idx, (i) => `${points[i].params}:${points[i].tokens}`)).size >= m.free.length;
}

function validatePoints(points: ScalingPoint[]): void {
  if (!Array.isArray(points) || points.length === 0) throw new TlcError('fitChinchilla: no points to fit');
  points.forEach((pt, i) => {
    if (pt === null || typeof pt !== 'object') throw new TlcError(`fitChinchilla: point ${i} is not an object with params, tokens and loss`);
    for (const key of ['params', 'tokens', 'loss'] as const) {
      const v = pt[key];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
        throw new TlcError(`fitChinchilla: point ${i} has ${key} = ${String(v)}; params, tokens and loss must be finite positive numbers`);
      }
    }
  });
}

function checkPositive(fn: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TlcError(`${fn}: ${name} must be a finite positive number, got ${String(v)}`);
}

function closedFormApplies(c: LogCoefficients): boolean {
  return c.a !== null && c.b !== null && c.alpha! > 0 && c.beta! > 0;
}

function closedFormParams(c: LogCoefficients, flops: number): number {
  if (!closedFormApplies(c)) return NaN;
  const alpha = c.alpha!, beta = c.beta!;
  const logG = (Math.log(alpha) + c.a! - Math.log(beta) - c.b!) / (alpha + beta);
  return Math.exp(logG + (beta / (alpha + beta)) * Math.log(flops / 6));
}

/** argmin over N in range of the predicted loss at D = C/(6N): coarse log grid, then golden section. */
function searchParams(c: LogCoefficients, flops: number, range: [number, number]): number {
  const lo = Math.log(range[0]), hi = Math.log(range[1]);
  if (hi - lo < 1e-12) return range[0];
  const lC = Math.log(flops / 6);
  const f = (lN: number) => logLoss(c, lN, lC - lN);
  const steps = 128;
  let bestK = 0, bestF = Infinity;
  for (let k = 0; k <= steps; k++) {
    const v = f(lo + ((hi - lo) * k) / steps);
    if (v < bestF) { // strict: on a flat loss the smallest N wins
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
  const lN = candidates.reduce((x, y) => (f(y) < f(x) ? y : x));
  // An optimum on the boundary is the boundary itself, not its round trip through log/exp.
  if (lN - lo < 1e-12) return range[0];
  if (hi - lN < 1e-12) return range[1];
  return Math.exp(lN);
}

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

function stdDev(xs: number[]): number {
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/** Linearly interpolated quantile (type 7) of unsorted values. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q, i = Math.floor(h);
  return i + 1 < s.length ? s[i] + (h - i) * (s[i + 1] - s[i]) : s[i];
}

/** 4 significant digits; large counts as 1e+7, 3.162e+7. */
function fmtCount(v: number): string {
  const r = Number(v.toPrecision(4));
  return r >= 1e4 ? r.toExponential() : r.toString();
}
