// Scaling-law fit: L(N, D) = E + A/N^α + B/D^β over logged (non-embedding parameters N,
// training tokens D, validation loss L) points, as in Hoffmann et al. 2022 ("Chinchilla",
// approach 3): minimise the Huber loss (δ = 1e-3) of log-space residuals
// log L_pred − log L, with log L_pred = logsumexp(e, a − α log N, b − β log D),
// from a grid of starting points, keeping the best. Uncertainty comes from a seeded
// bootstrap over the points and from the Gauss–Newton covariance at the optimum.
// Pure math: no I/O, and every result is plain JSON-serialisable data. The generic numerics
// (the Huber minimiser, Cholesky solves, non-negative least squares, quantiles) live in
// src/util/numerics/; this file holds the model, its parametrisation and its uncertainty.
import { TlcError } from '../engine/errors.js';
import { Rng } from '../engine/random.js';
import { invertSymmetric, nonNegativeLeastSquares } from '../util/numerics/linalg.js';
import { minimiseHuber, minimiseOnInterval, type MinimiseResult, type ResidualProblem } from '../util/numerics/optimise.js';
import { mean, quantile, stdDev } from '../util/numerics/stats.js';

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

export interface FitOptions {
  /** Huber threshold on log-space residuals (default 1e-3, as in the paper). */
  delta?: number;
  /** Bootstrap resamples (default 200; 0 skips the bootstrap). */
  bootstrap?: number;
  /** Seed of the bootstrap resampling (default 0). */
  seed?: number;
  /**
   * What the bootstrap resamples: 'groups' (default when every point names one: whole runs or
   * sizes, as their points are correlated) or single 'points'.
   */
  resample?: 'groups' | 'points';
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
  bootstrap: {
    requested: number; used: number; skipped: number; seed: number; samples: LogCoefficients[];
    /** What was resampled, and how many of them there were. */
    unit: 'groups' | 'points'; units: number;
  };
  /** Each point with its fitted loss; residual = log predicted − log observed. */
  residuals: { params: number; tokens: number; loss: number; predicted: number; residual: number; group?: string }[];
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
  let best: MinimiseResult | null = null;
  let iterations = 0;
  for (const s of starts) {
    const r = minimiseLoss(s, model, data, delta, maxIter);
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
  const byGroup = (opts.resample ?? 'groups') === 'groups' && points.every((q) => q.group !== undefined) ? groupsOf(points) : null;
  for (let k = 0; k < nBoot; k++) {
    const picked: number[] = [];
    if (byGroup) {
      for (let g = 0; g < byGroup.length; g++) picked.push(...byGroup[rng.int(byGroup.length)]);
    } else {
      for (let i = 0; i < n; i++) picked.push(rng.int(n));
    }
    const idx = Int32Array.from(picked);
    if (!resampleIdentifiable(idx, logN, logD, model, points)) {
      skipped++;
      continue;
    }
    const sub: Data = {
      n: idx.length,
      xN: Float64Array.from(idx, (i) => data.xN[i]),
      xD: Float64Array.from(idx, (i) => data.xD[i]),
      y: Float64Array.from(idx, (i) => data.y[i]),
    };
    let r = minimiseLoss(fit.theta, model, sub, delta, maxIter);
    const fresh = minimiseLoss(gridStarts(grid, sub, model, idx)[0], model, sub, delta, maxIter);
    if (fresh.objective < r.objective) r = fresh;
    // A resample whose fit runs off to infinity says nothing useful.
    const c = toLog(r.theta, model);
    if (finiteCoefficients(c)) samples.push(c);
    else skipped++;
  }

  const point = toLog(fit.theta, model);
  const cov = gaussNewtonCovariance(fit.theta, model, data);
  const res = new Float64Array(n);
  residualProblem(model, data).residuals(fit.theta, res);
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
    bootstrap: {
      requested: nBoot, used: samples.length, skipped, seed, samples,
      unit: byGroup ? 'groups' : 'points', units: byGroup ? byGroup.length : n,
    },
    residuals: points.map((q, i) => ({
      params: q.params, tokens: q.tokens, loss: q.loss, predicted: Math.exp(y[i] + res[i]), residual: res[i],
      ...(q.group !== undefined ? { group: q.group } : {}),
    })),
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

/** The log residuals of data d as a problem over the model's free coordinates. */
function residualProblem(m: Model, d: Data): ResidualProblem {
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
function minimiseLoss(start: Float64Array, m: Model, d: Data, delta: number, maxIter: number): MinimiseResult {
  return minimiseHuber(start, residualProblem(m, d), delta, maxIter);
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

/** The indices of the points of each group, groups in order of first appearance. */
function groupsOf(points: ScalingPoint[]): number[][] {
  const groups = new Map<string, number[]>();
  points.forEach((q, i) => {
    const g = groups.get(q.group!) ?? [];
    g.push(i);
    groups.set(q.group!, g);
  });
  return [...groups.values()];
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
  const lN = minimiseOnInterval((x) => logLoss(c, x, lC - x), lo, hi, 128);
  // An optimum on the boundary is the boundary itself, not its round trip through log/exp.
  if (lN - lo < 1e-12) return range[0];
  if (hi - lN < 1e-12) return range[1];
  return Math.exp(lN);
}

/** 4 significant digits; large counts as 1e+7, 3.162e+7. */
function fmtCount(v: number): string {
  const r = Number(v.toPrecision(4));
  return r >= 1e4 ? r.toExponential() : r.toString();
}
