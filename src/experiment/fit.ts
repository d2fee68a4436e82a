// Scaling-law fit: L(N, D) = E + A/N^α + B/D^β over logged (non-embedding parameters N,
// training tokens D, validation loss L) points, as in Hoffmann et al. 2022 ("Chinchilla",
// approach 3): minimise the Huber loss (δ = 1e-3) of log-space residuals
// log L_pred − log L, with log L_pred = logsumexp(e, a − α log N, b − β log D),
// from a grid of starting points, keeping the best. Uncertainty comes from a seeded
// bootstrap over the points and from the Gauss–Newton covariance at the optimum.
// Pure math: no I/O, and every result is plain JSON-serialisable data. The generic numerics
// (the Huber minimiser, Cholesky solves, non-negative least squares, quantiles) live in
// src/util/numerics/, the model in its internal coordinates in fit-model.ts; this file holds
// the fit as a whole, its uncertainty, predictions and compute-optimal allocations.
import { TlcError } from '../util/errors.js';
import { Rng } from '../engine/random.js';
import { minimiseOnInterval, type MinimiseResult } from '../util/numerics/optimise.js';
import { mean, quantile, stdDev } from '../util/numerics/stats.js';
import {
  A_, AL_, B_, BE_, E_, coefficientNames, finiteCoefficients, gaussNewtonCovariance, gridStarts, groupsOf, logLoss, minimiseLoss,
  resampleIdentifiable, residualProblem, startGrid, termProblem, toLog,
  type Data, type LogCoefficients, type Model, type ScalingPoint, type StartGrid,
} from './fit-model.js';

export type { LogCoefficients, ScalingPoint } from './fit-model.js';

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
    unit: 'groups' | 'points' | 'wild-groups'; units: number;
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
/** Fits L(N, D) = E + A/N^α + B/D^β to the points; see the file comment. */
export function fitChinchilla(points: ScalingPoint[], opts: FitOptions = {}): ChinchillaFit {
  const o = resolveFitOptions(opts);
  validatePoints(points);
  const { data, model, unidentifiable } = fitData(points);
  // every grid start, each locally optimised; the lowest Huber loss is the fit
  const grid = startGrid(data, model, o.alphaGrid, o.betaGrid);
  const { fit, starts, iterations } = bestOfStarts(gridStarts(grid, data, model, null), model, data, o);
  const res = new Float64Array(data.n);
  residualProblem(model, data).residuals(fit.theta, res);
  const boot = bootstrapFits(points, data, model, grid, fit, res, o);
  const point = toLog(fit.theta, model);
  const cov = gaussNewtonCovariance(fit.theta, model, data);
  const coef = (key: keyof LogCoefficients, index: number, logScale: boolean): Coefficient =>
    coefficient(point[key]!, boot.samples.map((s) => s[key]!), cov ? variance(cov, index) : null, logScale);
  const hasN = unidentifiable.params === null, hasD = unidentifiable.tokens === null;
  return {
    E: coef('e', E_, true),
    A: hasN ? coef('a', A_, true) : null,
    alpha: hasN ? coef('alpha', AL_, false) : null,
    B: hasD ? coef('b', B_, true) : null,
    beta: hasD ? coef('beta', BE_, false) : null,
    log: point,
    unidentifiable,
    goodness: { ...goodnessOfFit(data.y, res), huberLoss: fit.objective, points: data.n, coefficients: model.free.length, dof: data.n - model.free.length },
    optimisation: { starts, iterations, converged: fit.converged, delta: o.delta },
    bootstrap: {
      requested: o.bootstrap, used: boot.samples.length, skipped: boot.skipped, seed: o.seed, samples: boot.samples,
      unit: boot.wild ? 'wild-groups' : boot.groups ? 'groups' : 'points', units: boot.groups ? boot.groups.length : data.n,
    },
    residuals: points.map((q, i) => ({
      params: q.params, tokens: q.tokens, loss: q.loss, predicted: Math.exp(data.y[i] + res[i]), residual: res[i],
      ...(q.group !== undefined ? { group: q.group } : {}),
    })),
    range: {
      params: extent(points.map((q) => q.params)), tokens: extent(points.map((q) => q.tokens)), loss: extent(points.map((q) => q.loss)),
    },
  };
}

type ResolvedFitOptions = Required<Pick<FitOptions, 'delta' | 'bootstrap' | 'seed' | 'alphaGrid' | 'betaGrid' | 'maxIterations'>> &
  Pick<FitOptions, 'resample'>;

function resolveFitOptions(opts: FitOptions): ResolvedFitOptions {
  const alphaGrid = opts.alphaGrid ?? DEFAULT_GRID;
  const o: ResolvedFitOptions = {
    delta: opts.delta ?? 1e-3, bootstrap: opts.bootstrap ?? 200, seed: opts.seed ?? 0, alphaGrid,
    betaGrid: opts.betaGrid ?? alphaGrid, maxIterations: opts.maxIterations ?? 400, resample: opts.resample,
  };
  if (!(o.delta > 0) || !Number.isFinite(o.delta)) throw new TlcError(`fitChinchilla: delta must be a positive number, got ${o.delta}`);
  if (!Number.isInteger(o.bootstrap) || o.bootstrap < 0) throw new TlcError(`fitChinchilla: bootstrap must be a non-negative integer, got ${o.bootstrap}`);
  if (!Number.isSafeInteger(o.seed)) throw new TlcError(`fitChinchilla: seed must be an integer, got ${o.seed}`);
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1) throw new TlcError(`fitChinchilla: maxIterations must be a positive integer, got ${o.maxIterations}`);
  for (const [name, grid] of [['alphaGrid', o.alphaGrid], ['betaGrid', o.betaGrid]] as const) {
    if (!Array.isArray(grid) || grid.length === 0 || grid.some((v) => !Number.isFinite(v))) {
      throw new TlcError(`fitChinchilla: ${name} must be a non-empty list of finite numbers`);
    }
  }
  return o;
}

/** The points in the fit's centred log coordinates, and which terms they can identify. */
function fitData(points: ScalingPoint[]): { data: Data; model: Model; unidentifiable: ChinchillaFit['unidentifiable'] } {
  const logN = points.map((p) => Math.log(p.params));
  const logD = points.map((p) => Math.log(p.tokens));
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
    n: points.length,
    xN: Float64Array.from(logN, (v) => v - mN),
    xD: Float64Array.from(logD, (v) => v - mD),
    y: Float64Array.from(points, (q) => Math.log(q.loss)),
  };
  return { data, model, unidentifiable };
}

/** The lowest Huber loss reached from `starts`, each locally optimised; an error if every fit diverged. */
function bestOfStarts(starts: Float64Array[], model: Model, data: Data, o: ResolvedFitOptions):
  { fit: MinimiseResult; starts: number; iterations: number } {
  let best: MinimiseResult | null = null;
  let iterations = 0;
  for (const s of starts) {
    const r = minimiseLoss(s, model, data, o.delta, o.maxIterations);
    iterations += r.iterations;
    if (finiteCoefficients(toLog(r.theta, model)) && (best === null || r.objective < best.objective)) best = r;
  }
  if (best === null) {
    throw new TlcError(`fitChinchilla: the fit diverged (E, A or B overflowing) from all ${starts.length} starting points; ` +
      'the points do not follow L = E + A/N^α + B/D^β');
  }
  return { fit: best, starts: starts.length, iterations };
}

/**
 * Fewer groups than this and resampling whole groups mostly draws too few distinct sizes (with
 * three, only the draws of all three, each the original data, are fittable): the bootstrap then
 * keeps every point and flips each group's residuals instead (a wild cluster bootstrap with
 * Webb's six-point weights; Cameron, Gelbach & Miller 2008; Webb 2014).
 */
const MIN_GROUPS_TO_RESAMPLE = 5;
const WEBB_WEIGHTS = [-Math.sqrt(1.5), -1, -Math.sqrt(0.5), Math.sqrt(0.5), 1, Math.sqrt(1.5)];

/**
 * Bootstrap: resample whole groups (runs) when every point has one, else points, with
 * replacement; refit from the full-data optimum and from the best grid start of the resample.
 * Skipped: resamples with too few distinct N or D for the fitted terms, and fits that diverged.
 * `res`: the fit's log residuals (predicted − observed), for the wild bootstrap of few groups.
 */
function bootstrapFits(points: ScalingPoint[], data: Data, model: Model, grid: StartGrid, fit: MinimiseResult, res: Float64Array, o: ResolvedFitOptions):
  { samples: LogCoefficients[]; skipped: number; groups: number[][] | null; wild: boolean } {
  const samples: LogCoefficients[] = [];
  let skipped = 0;
  const rng = new Rng(o.seed);
  const groups = (o.resample ?? 'groups') === 'groups' && points.every((q) => q.group !== undefined) ? groupsOf(points) : null;
  const wild = groups !== null && groups.length < MIN_GROUPS_TO_RESAMPLE;
  const logN = points.map((p) => Math.log(p.params)), logD = points.map((p) => Math.log(p.tokens));
  const all = Int32Array.from({ length: data.n }, (_, i) => i);
  for (let k = 0; k < o.bootstrap; k++) {
    if (wild) {
      // the fitted values plus each group's residuals times one weight of the group
      const y = new Float64Array(data.n);
      for (const members of groups) {
        const w = WEBB_WEIGHTS[rng.int(WEBB_WEIGHTS.length)];
        for (const i of members) y[i] = data.y[i] + res[i] - w * res[i];
      }
      const c = refit({ ...data, y }, all, model, grid, fit, o);
      if (c) samples.push(c);
      else skipped++;
      continue;
    }
    const picked: number[] = [];
    if (groups) {
      for (let g = 0; g < groups.length; g++) picked.push(...groups[rng.int(groups.length)]);
    } else {
      for (let i = 0; i < data.n; i++) picked.push(rng.int(data.n));
    }
    const idx = Int32Array.from(picked);
    if (!resampleIdentifiable(idx, logN, logD, model, points)) {
      skipped++;
      continue;
    }
    const c = refit(data, idx, model, grid, fit, o);
    if (c) samples.push(c);
    else skipped++;
  }
  return { samples, skipped, groups, wild };
}

/** The fit of the points `idx` of `data`, from the full fit and from the best grid start; null if it diverged. */
function refit(data: Data, idx: Int32Array, model: Model, grid: StartGrid, fit: MinimiseResult, o: ResolvedFitOptions): LogCoefficients | null {
  const sub: Data = {
    n: idx.length,
    xN: Float64Array.from(idx, (i) => data.xN[i]),
    xD: Float64Array.from(idx, (i) => data.xD[i]),
    y: Float64Array.from(idx, (i) => data.y[i]),
  };
  let r = minimiseLoss(fit.theta, model, sub, o.delta, o.maxIterations);
  const fresh = minimiseLoss(gridStarts(grid, sub, model, idx)[0], model, sub, o.delta, o.maxIterations);
  if (fresh.objective < r.objective) r = fresh;
  // a resample whose fit runs off to infinity says nothing useful
  const c = toLog(r.theta, model);
  return finiteCoefficients(c) ? c : null;
}

/** The variance of coordinate `index` in a 5 × 5 covariance matrix stored row-major. */
function variance(cov: Float64Array, index: number): number {
  return cov[index * 5 + index];
}

/**
 * A coefficient from its fitted log (or plain) value, its bootstrap values and the asymptotic
 * variance of its log: bootstrap standard error and 90% band, and the asymptotic ones.
 */
function coefficient(v: number, samples: number[], logVariance: number | null, logScale: boolean): Coefficient {
  const boot = logScale ? samples.map(Math.exp) : samples;
  const seLog = logVariance === null ? null : Math.sqrt(Math.max(0, logVariance));
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
}

/** R² (null for constant losses), RMSE and the largest residual, all in log loss. */
function goodnessOfFit(y: Float64Array, residuals: Float64Array): { r2: number | null; rmse: number; maxAbsResidual: number } {
  let ssRes = 0, maxAbs = 0;
  for (const r of residuals) {
    ssRes += r * r;
    maxAbs = Math.max(maxAbs, Math.abs(r));
  }
  const yMean = mean(Array.from(y));
  let ssTot = 0;
  for (const v of y) ssTot += (v - yMean) ** 2;
  return { r2: ssTot > 0 ? 1 - ssRes / ssTot : null, rmse: Math.sqrt(ssRes / y.length), maxAbsResidual: maxAbs };
}

function extent(values: number[]): [number, number] {
  return [Math.min(...values), Math.max(...values)];
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
