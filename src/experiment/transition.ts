// The law through the drop. A size's loss sits on a plateau P, drops once it learns to use
// context, and then follows the law; a law fitted only on points past the drop reads the drop's
// steep middle as the law's slope and extrapolates it wrongly. This model fits all of them:
//
//   L(N, D) = Λ(N, D) + (P − Λ(N, D)) · w,   Λ = E + A/N^α + B/D^β,
//   w = 1 / (1 + (D / D_on(N))^s),           D_on(N) = exp(c)·N^k,
//
// one plateau, one drop width s and an onset that moves with size, shared by every size. Nine
// coefficients, so it is fitted only where the points can tell them apart: two or more sizes
// with two or more points past their drop (transitionProblem says why not, otherwise). Minimised
// as the law is (Huber δ = 1e-3 on log residuals, from a grid of starts); bands from a wild
// cluster bootstrap over the sizes (each size's residuals flipped by one Webb weight), which keeps
// every size in every resample, as a model of the drop across sizes needs.
import { Rng } from '../engine/random.js';
import { minimiseHuber, type ResidualProblem } from '../util/numerics/optimise.js';
import { mean, quantile } from '../util/numerics/stats.js';
import { gridStarts, startGrid, type Data, type Model } from './fit-model.js';
import type { PlateauAnalysis } from './plateau.js';

export interface TransitionPoint {
  size: string;
  params: number;
  tokens: number;
  loss: number;
}

/** The coefficients on their natural scales (e, a, b, p: logs of E, A, B, P). */
export interface TransitionCoefficients {
  e: number;
  a: number;
  alpha: number;
  b: number;
  beta: number;
  /** ln D_on = c + k·ln N. */
  c: number;
  k: number;
  /** Steepness of the drop in ln D (the logistic's slope). */
  s: number;
  p: number;
}

export interface TransitionFit {
  log: TransitionCoefficients;
  samples: TransitionCoefficients[];
  points: number;
  sizes: string[];
  huber: number;
  /** Root mean square of the log residuals. */
  rmse: number;
  residuals: { size: string; params: number; tokens: number; loss: number; predicted: number }[];
  range: { params: [number, number]; tokens: [number, number] };
}

const COEFFICIENTS = 9;
/** Past-drop points a size needs for its slope past the drop to inform the law, and sizes that need them. */
const POINTS_PAST_DROP = 2;
const SIZES_PAST_DROP = 2;
const DELTA = 1e-3;
const MAX_ITERATIONS = 600;
/**
 * The law's exponents are kept in (0, MAX_EXPONENT): with the drop free to take any shape, a
 * steeper data term (β of 3–4) fits a ladder's points as well and says the loss stops falling
 * right after the drop; no measured scaling law has an exponent near 1, let alone above.
 */
const MAX_EXPONENT = 1;
const WEBB_WEIGHTS = [-Math.sqrt(1.5), -1, -Math.sqrt(0.5), Math.sqrt(0.5), 1, Math.sqrt(1.5)];

/** Why the drop cannot be fitted from these points (null: it can). */
export function transitionProblem(points: TransitionPoint[], plateau: PlateauAnalysis): string | null {
  const left = plateau.decisions.filter((d) => d.state === 'left');
  if (left.length === 0) return 'no size has left the plateau in its points';
  const past = left.filter((d) => points.filter((p) => p.size === d.size && p.tokens > d.dropAfter!).length >= POINTS_PAST_DROP);
  if (past.length < SIZES_PAST_DROP) {
    return `${past.length === 0 ? 'no size has' : `only ${past.map((d) => d.size).join(', ')} has`} ${POINTS_PAST_DROP} or more points past its drop ` +
      `(${SIZES_PAST_DROP} sizes need them to tell the drop's depth from the law's slope)`;
  }
  if (points.length < COEFFICIENTS + 3) return `${points.length} points for the drop's ${COEFFICIENTS} coefficients (it needs ${COEFFICIENTS + 3})`;
  return null;
}

// Internal coordinates, centred as the law's (fit-model.ts): θ = [e, a', α̃, b', β̃, c', k, σ, p]
// with α = MAX_EXPONENT·sigmoid(α̃) (β likewise), a' = a − α·mN, b' = b − β·mD,
// c' = c + k·mN − mD (so ln D − ln D_on = xD − c' − k·xN) and s = exp(σ).
const E_ = 0, A_ = 1, AL_ = 2, B_ = 3, BE_ = 4, C_ = 5, K_ = 6, S_ = 7, P_ = 8;
const FREE = [E_, A_, AL_, B_, BE_, C_, K_, S_, P_];

interface Centred extends Data {
  mN: number;
  mD: number;
}

/**
 * r_i = ln L_pred − ln L_i and, where J is given, ∂r_i/∂θ_j in row i. With Λ = Σ_j exp(u_j),
 * z = s·(xD − c' − k·xN), w = 1/(1 + e^z): L_pred = Λ·(1 − w) + P·w, ∂L/∂u_j = e^{u_j}(1 − w),
 * ∂L/∂w = P − Λ, ∂w/∂z = −w(1 − w), ∂z/∂c' = −s, ∂z/∂k = −s·xN, ∂z/∂σ = z, ∂L/∂p = P·w.
 */
function evaluate(theta: Float64Array, d: Data, r: Float64Array, J: Float64Array | null): void {
  const s = Math.exp(theta[S_]), P = Math.exp(theta[P_]);
  const alpha = exponent(theta[AL_]), beta = exponent(theta[BE_]);
  const dAlpha = exponentSlope(theta[AL_]), dBeta = exponentSlope(theta[BE_]);
  for (let i = 0; i < d.n; i++) {
    const t0 = Math.exp(theta[E_]), t1 = Math.exp(theta[A_] - alpha * d.xN[i]), t2 = Math.exp(theta[B_] - beta * d.xD[i]);
    const law = t0 + t1 + t2;
    const z = s * (d.xD[i] - theta[C_] - theta[K_] * d.xN[i]);
    const w = z > 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z));
    const pred = law * (1 - w) + P * w;
    r[i] = Math.log(pred) - d.y[i];
    if (J === null) continue;
    const row = i * COEFFICIENTS, inv = 1 / pred, dz = (P - law) * -w * (1 - w) * inv;
    J[row + E_] = t0 * (1 - w) * inv;
    J[row + A_] = t1 * (1 - w) * inv;
    J[row + AL_] = -J[row + A_] * d.xN[i] * dAlpha;
    J[row + B_] = t2 * (1 - w) * inv;
    J[row + BE_] = -J[row + B_] * d.xD[i] * dBeta;
    J[row + C_] = dz * -s;
    J[row + K_] = dz * -s * d.xN[i];
    J[row + S_] = dz * z;
    J[row + P_] = P * w * inv;
  }
}

function exponent(x: number): number {
  return MAX_EXPONENT / (1 + Math.exp(-x));
}

function exponentSlope(x: number): number {
  const q = 1 / (1 + Math.exp(-x));
  return MAX_EXPONENT * q * (1 - q);
}

function unboundedExponent(v: number): number {
  const q = Math.min(Math.max(v / MAX_EXPONENT, 1e-6), 1 - 1e-6);
  return Math.log(q / (1 - q));
}

function problem(d: Data): ResidualProblem {
  return {
    points: d.n,
    free: FREE,
    residuals: (theta, r) => evaluate(theta, d, r, null),
    residualsAndJacobian: (theta, r, J) => evaluate(theta, d, r, J),
  };
}

/** The fit's residual problem over `points`, in the internal coordinates above (θ has nine entries). */
export function transitionResidualProblem(points: TransitionPoint[]): ResidualProblem {
  return problem(centred(points));
}

function centred(points: TransitionPoint[]): Centred {
  const lN = points.map((p) => Math.log(p.params)), lD = points.map((p) => Math.log(p.tokens));
  const mN = mean(lN), mD = mean(lD);
  return {
    n: points.length, mN, mD,
    xN: Float64Array.from(lN, (v) => v - mN), xD: Float64Array.from(lD, (v) => v - mD), y: Float64Array.from(points, (p) => Math.log(p.loss)),
  };
}

function toNatural(theta: Float64Array, d: Centred): TransitionCoefficients {
  const alpha = exponent(theta[AL_]), beta = exponent(theta[BE_]);
  return {
    e: theta[E_], a: theta[A_] + alpha * d.mN, alpha, b: theta[B_] + beta * d.mD, beta,
    c: theta[C_] - theta[K_] * d.mN + d.mD, k: theta[K_], s: Math.exp(theta[S_]), p: theta[P_],
  };
}

function finite(c: TransitionCoefficients): boolean {
  return Object.values(c).every(Number.isFinite) && [c.e, c.a, c.b, c.p].every((v) => Number.isFinite(Math.exp(v)));
}

/**
 * Starting points: the law's grid starts on the points past each drop ((E, A, B) by non-negative
 * least squares at each (α, β)), the plateau at the plateau rule's level (or the highest loss),
 * the onset from the rule's D_on ∝ N^k (or the mean of the drops), two drop widths.
 */
function starts(points: TransitionPoint[], d: Centred, plateau: PlateauAnalysis): Float64Array[] {
  const pastIdx = points.map((p, i) => [p, i] as const).filter(([p]) => {
    const dec = plateau.decisions.find((x) => x.size === p.size);
    return dec?.state === 'left' && p.tokens > dec.dropAfter!;
  }).map(([, i]) => i);
  const past: Data = {
    n: pastIdx.length, xN: Float64Array.from(pastIdx, (i) => d.xN[i]), xD: Float64Array.from(pastIdx, (i) => d.xD[i]), y: Float64Array.from(pastIdx, (i) => d.y[i]),
  };
  const lawModel: Model = { free: [0, 1, 2, 3, 4], mN: d.mN, mD: d.mD };
  const grid = [0.1, 0.3, 0.6, 0.9];
  const laws = gridStarts(startGrid(past, lawModel, grid, grid), past, lawModel, null).slice(0, 4);
  const level = plateau.plateauLevel ?? Math.max(...points.map((p) => p.loss));
  const onset = plateau.onset;
  const drops = plateau.decisions.filter((x) => x.state === 'left').map((x) => 0.5 * (Math.log(x.dropAfter!) + Math.log(x.dropBy!)));
  const c = onset ? onset.c : mean(drops), k = onset ? onset.k : 0;
  const out: Float64Array[] = [];
  for (const law of laws) {
    for (const s of [1, 3]) {
      const theta = new Float64Array(COEFFICIENTS);
      theta.set(law.map((v) => (Number.isFinite(v) ? v : -10)), 0);
      theta[AL_] = unboundedExponent(law[AL_]);
      theta[BE_] = unboundedExponent(law[BE_]);
      theta[C_] = c + k * d.mN - d.mD;
      theta[K_] = k;
      theta[S_] = Math.log(s);
      theta[P_] = Math.log(level);
      out.push(theta);
    }
  }
  return out;
}

/** Fits the drop and the law together; call only where transitionProblem returned null. */
export function fitTransition(points: TransitionPoint[], plateau: PlateauAnalysis, opts: { bootstrap?: number; seed?: number } = {}): TransitionFit | null {
  const d = centred(points);
  const prob = problem(d);
  let best: { theta: Float64Array; objective: number } | null = null;
  for (const s of starts(points, d, plateau)) {
    const r = minimiseHuber(s, prob, DELTA, MAX_ITERATIONS);
    if (Number.isFinite(r.objective) && finite(toNatural(r.theta, d)) && (best === null || r.objective < best.objective)) best = r;
  }
  if (best === null) return null;
  const res = new Float64Array(d.n);
  evaluate(best.theta, d, res, null);
  const samples = wildBootstrap(points, d, best.theta, res, opts.bootstrap ?? 200, opts.seed ?? 0);
  const rmse = Math.sqrt(res.reduce((a, v) => a + v * v, 0) / d.n);
  const params = points.map((p) => p.params), tokens = points.map((p) => p.tokens);
  return {
    log: toNatural(best.theta, d), samples, points: d.n, sizes: [...new Set(points.map((p) => p.size))], huber: best.objective, rmse,
    residuals: points.map((p, i) => ({ size: p.size, params: p.params, tokens: p.tokens, loss: p.loss, predicted: Math.exp(d.y[i] + res[i]) })),
    range: { params: [Math.min(...params), Math.max(...params)], tokens: [Math.min(...tokens), Math.max(...tokens)] },
  };
}

function wildBootstrap(points: TransitionPoint[], d: Centred, theta: Float64Array, res: Float64Array, count: number, seed: number): TransitionCoefficients[] {
  const rng = new Rng(seed);
  const sizes = [...new Set(points.map((p) => p.size))];
  const out: TransitionCoefficients[] = [];
  for (let k = 0; k < count; k++) {
    const y = new Float64Array(d.n);
    for (const size of sizes) {
      const w = WEBB_WEIGHTS[rng.int(WEBB_WEIGHTS.length)];
      points.forEach((p, i) => {
        if (p.size === size) y[i] = d.y[i] + res[i] - w * res[i];
      });
    }
    const r = minimiseHuber(theta, problem({ ...d, y }), DELTA, MAX_ITERATIONS);
    const c = toNatural(r.theta, d);
    if (Number.isFinite(r.objective) && finite(c)) out.push(c);
  }
  return out;
}

/** The model's loss at (N, D). */
export function transitionLoss(c: TransitionCoefficients, params: number, tokens: number): number {
  const lN = Math.log(params), lD = Math.log(tokens);
  const law = Math.exp(c.e) + Math.exp(c.a - c.alpha * lN) + Math.exp(c.b - c.beta * lD);
  const z = c.s * (lD - c.c - c.k * lN);
  const w = z > 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z));
  return law * (1 - w) + Math.exp(c.p) * w;
}

/** Tokens at which a size of `params` is halfway through its drop. */
export function transitionOnset(c: TransitionCoefficients, params: number): number {
  return Math.exp(c.c + c.k * Math.log(params));
}

/** Predicted loss and the bootstrap 5th–95th percentile band. */
export function predictTransition(fit: TransitionFit, params: number, tokens: number): { loss: number; interval: [number, number] | null; extrapolated: boolean } {
  const preds = fit.samples.map((s) => transitionLoss(s, params, tokens));
  const [pLo, pHi] = fit.range.params, [dLo, dHi] = fit.range.tokens;
  return {
    loss: transitionLoss(fit.log, params, tokens),
    interval: preds.length > 1 ? [quantile(preds, 0.05), quantile(preds, 0.95)] : null,
    extrapolated: params < pLo || params > pHi || tokens < dLo || tokens > dHi,
  };
}
