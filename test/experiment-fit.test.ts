// Scaling-law fit L(N, D) = E + A/N^α + B/D^β on synthetic points from known coefficients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/random.js';
import { TlcError } from '../src/util/errors.js';
import {
  computeOptimalAllocation, fitChinchilla, predictLoss, type ChinchillaFit, type ScalingPoint,
} from '../src/experiment/fit.js';

// Hoffmann et al. 2022, approach 3.
const TRUE = { E: 1.69, A: 406.4, B: 410.7, alpha: 0.34, beta: 0.28 };
const KEYS = ['E', 'A', 'B', 'alpha', 'beta'] as const;

function trueLoss(N: number, D: number): number {
  return TRUE.E + TRUE.A / N ** TRUE.alpha + TRUE.B / D ** TRUE.beta;
}

function logSpaced(lo: number, hi: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => lo * (hi / lo) ** (k === 1 ? 0 : i / (k - 1)));
}

/** Every (N, D) of a log-spaced grid, loss multiplied by exp(noise·z), z standard normal. */
function grid(Ns: number[], Ds: number[], noise: number, seed: number): ScalingPoint[] {
  const rng = new Rng(seed);
  const pts: ScalingPoint[] = [];
  for (const N of Ns) for (const D of Ds) pts.push({ params: N, tokens: D, loss: trueLoss(N, D) * Math.exp(noise * rng.normal()) });
  return pts;
}

function relErr(a: number, b: number): number {
  return Math.abs(a / b - 1);
}

function assertAllFinite(value: unknown, path = 'fit'): void {
  if (typeof value === 'number') assert.ok(Number.isFinite(value), `${path} is ${value}`);
  else if (Array.isArray(value)) value.forEach((v, i) => assertAllFinite(v, `${path}[${i}]`));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) assertAllFinite(v, `${path}.${k}`);
}

const Ns = logSpaced(1e5, 1e8, 16), Ds = logSpaced(1e6, 1e10, 16);
let noisyFit: ChinchillaFit | null = null;
/** 256 points with 0.5% multiplicative noise, fitted once with the default 200 resamples. */
function noisy(): ChinchillaFit {
  noisyFit ??= fitChinchilla(grid(Ns, Ds, 0.005, 7));
  return noisyFit;
}

test('noiseless points: every coefficient recovered within 0.5% (checked to 1e-6)', () => {
  const fit = fitChinchilla(grid(logSpaced(1e5, 1e8, 8), logSpaced(1e6, 1e10, 8), 0, 1), { bootstrap: 0 });
  for (const k of KEYS) assert.ok(relErr(fit[k]!.value, TRUE[k]) < 1e-6, `${k}: ${fit[k]!.value} vs ${TRUE[k]}`);
  assert.ok(fit.optimisation.converged);
  assert.equal(fit.goodness.points, 64);
  assert.equal(fit.goodness.coefficients, 5);
  assert.equal(fit.goodness.dof, 59);
  assert.ok(fit.goodness.rmse < 1e-8 && fit.goodness.r2! > 1 - 1e-12, JSON.stringify(fit.goodness));
  assert.deepEqual(fit.unidentifiable, { params: null, tokens: null });
  assert.equal(fit.E.se, null, 'no bootstrap, no bootstrap error');
  assert.equal(fit.bootstrap.used, 0);
  const p = predictLoss(fit, 3e6, 2e8);
  assert.ok(relErr(p.loss, trueLoss(3e6, 2e8)) < 1e-8);
  assert.equal(p.interval, null);
});

test('0.5% noise: coefficients within 5%, 90% bootstrap intervals hold the true values, fit statistics', () => {
  const fit = noisy();
  for (const k of KEYS) {
    const c = fit[k]!;
    assert.ok(relErr(c.value, TRUE[k]) < 0.05, `${k}: ${c.value} vs ${TRUE[k]}`);
    assert.ok(c.ci90![0] <= TRUE[k] && TRUE[k] <= c.ci90![1], `${k}: true ${TRUE[k]} outside ${c.ci90}`);
    assert.ok(c.ci90![0] <= c.value && c.value <= c.ci90![1], `${k}: estimate outside its own interval`);
    assert.ok(c.se! > 0 && c.seAsymptotic! > 0, `${k}: standard errors ${c.se}, ${c.seAsymptotic}`);
    // The two error estimates measure the same spread.
    assert.ok(c.se! / c.seAsymptotic! > 1 / 3 && c.se! / c.seAsymptotic! < 3, `${k}: se ${c.se} vs asymptotic ${c.seAsymptotic}`);
    assert.ok(c.ci90Asymptotic![0] < c.value && c.value < c.ci90Asymptotic![1]);
  }
  assert.equal(fit.bootstrap.requested, 200);
  assert.equal(fit.bootstrap.used + fit.bootstrap.skipped, 200);
  assert.ok(fit.bootstrap.used >= 195);
  assert.ok(fit.goodness.rmse > 0.004 && fit.goodness.rmse < 0.006, `rmse ${fit.goodness.rmse}`);
  assert.ok(fit.goodness.r2! > 0.999);
  assert.equal(fit.goodness.dof, 256 - 5);
  assert.ok(fit.optimisation.converged);
  // Plain data: survives a JSON round trip unchanged, no NaN or Infinity anywhere.
  assertAllFinite(fit);
  assert.deepEqual(JSON.parse(JSON.stringify(fit)), fit);
});

test('predictions interpolate between the fitted points, with a band from the bootstrap fits', () => {
  const fit = noisy();
  let covered = 0, total = 0;
  for (let i = 0; i + 1 < Ns.length; i += 3) {
    for (let j = 0; j + 1 < Ds.length; j += 3) {
      const N = Math.sqrt(Ns[i] * Ns[i + 1]), D = Math.sqrt(Ds[j] * Ds[j + 1]);
      const p = predictLoss(fit, N, D), truth = trueLoss(N, D);
      assert.ok(relErr(p.loss, truth) < 0.005, `N=${N} D=${D}: ${p.loss} vs ${truth}`);
      assert.ok(p.interval![0] <= p.loss && p.loss <= p.interval![1]);
      assert.ok(p.interval![1] / p.interval![0] < 1.02, `band ${p.interval} too wide`);
      assert.equal(p.extrapolated, false);
      total++;
      if (p.interval![0] <= truth && truth <= p.interval![1]) covered++;
    }
  }
  assert.ok(covered >= 0.75 * total, `true loss inside the 90% band at ${covered} of ${total} points`);
  const far = predictLoss(fit, 7e10, 1.4e12);
  assert.equal(far.extrapolated, true);
  assert.ok(relErr(far.loss, trueLoss(7e10, 1.4e12)) < 0.05);
});

test('a gross outlier barely moves the Huber fit', () => {
  const pts = grid(logSpaced(1e5, 1e8, 8), logSpaced(1e6, 1e10, 8), 0, 1);
  pts[27] = { ...pts[27], loss: pts[27].loss * 1.3 };
  const fit = fitChinchilla(pts, { bootstrap: 0 });
  for (const k of KEYS) assert.ok(relErr(fit[k]!.value, TRUE[k]) < 1e-3, `${k}: ${fit[k]!.value} vs ${TRUE[k]}`);
  assert.ok(Math.abs(fit.goodness.maxAbsResidual - Math.log(1.3)) < 1e-3);
});

test('compute-optimal allocation: closed form, its agreement with a numeric search, and its bootstrap band', () => {
  const exact = fitChinchilla(grid(logSpaced(1e5, 1e8, 8), logSpaced(1e6, 1e10, 8), 0, 1), { bootstrap: 0 });
  for (const C of [1e18, 5.76e23]) {
    const a = computeOptimalAllocation(exact, C);
    assert.equal(a.method, 'closed-form');
    const { E, A, B, alpha, beta } = TRUE;
    const G = ((alpha * A) / (beta * B)) ** (1 / (alpha + beta));
    assert.ok(relErr(a.params, G * (C / 6) ** (beta / (alpha + beta))) < 1e-6, `N ${a.params}`);
    assert.ok(relErr(a.tokens, (C / 6) ** (alpha / (alpha + beta)) / G) < 1e-6, `D ${a.tokens}`);
    assert.ok(relErr(6 * a.params * a.tokens, C) < 1e-12);
    assert.ok(relErr(a.loss, E + A / a.params ** alpha + B / a.tokens ** beta) < 1e-6);
    // A stationary minimum along 6·N·D = C.
    for (const f of [0.8, 1.25]) assert.ok(trueLoss(a.params * f, a.tokens / f) > a.loss);
    const searched = computeOptimalAllocation(exact, C, { method: 'search', paramsRange: [1e3, 1e13] });
    assert.equal(searched.method, 'search');
    assert.ok(relErr(searched.params, a.params) < 1e-4, `search ${searched.params} vs closed form ${a.params}`);
  }
  const b = computeOptimalAllocation(noisy(), 1e20);
  assert.ok(b.paramsInterval![0] < b.params && b.params < b.paramsInterval![1]);
  assert.ok(b.tokensInterval![0] < b.tokens && b.tokens < b.tokensInterval![1]);
  assert.ok(relErr(b.params, computeOptimalAllocation(exact, 1e20).params) < 0.2);
});

test('a single model size: the N term is left out with a reason, the rest is fitted, no NaN', () => {
  const N0 = 1e7;
  const fit = fitChinchilla(grid([N0], logSpaced(1e6, 1e10, 12), 0, 1), { bootstrap: 50 });
  assert.equal(fit.A, null);
  assert.equal(fit.alpha, null);
  assert.equal(fit.log.a, null);
  assert.match(fit.unidentifiable.params!, /all points have the same parameter count \(N = 1e\+7\).*absorbed into E/);
  assert.equal(fit.unidentifiable.tokens, null);
  assert.equal(fit.goodness.coefficients, 3);
  // E absorbs the constant A/N0^α.
  assert.ok(relErr(fit.E.value, TRUE.E + TRUE.A / N0 ** TRUE.alpha) < 1e-6, `E ${fit.E.value}`);
  assert.ok(relErr(fit.B!.value, TRUE.B) < 1e-6 && relErr(fit.beta!.value, TRUE.beta) < 1e-6);
  assertAllFinite(fit);
  assert.ok(relErr(predictLoss(fit, N0, 3e7).loss, trueLoss(N0, 3e7)) < 1e-6);
  const a = computeOptimalAllocation(fit, 1e18);
  assert.equal(a.method, 'search');
  assert.equal(a.params, N0);
  assert.match(a.note!, /numeric search.*same parameter count/);
});

test('a single token count, two model sizes, and one point repeated: only identifiable terms', () => {
  const oneD = fitChinchilla(grid(logSpaced(1e5, 1e8, 6), [1e9], 0, 2), { bootstrap: 20 });
  assert.equal(oneD.B, null);
  assert.equal(oneD.beta, null);
  assert.match(oneD.unidentifiable.tokens!, /same token count \(D = 1e\+9\)/);
  assert.ok(relErr(oneD.E.value, TRUE.E + TRUE.B / 1e9 ** TRUE.beta) < 1e-6);
  assert.ok(relErr(oneD.A!.value, TRUE.A) < 1e-6 && relErr(oneD.alpha!.value, TRUE.alpha) < 1e-6);
  assertAllFinite(oneD);
  // With one token count, more compute means a larger model: the search ends at the largest N seen.
  assert.equal(computeOptimalAllocation(oneD, 1e18).params, 1e8);

  const twoN = fitChinchilla(grid([1e6, 1e7], logSpaced(1e6, 1e10, 5), 0, 3), { bootstrap: 20 });
  assert.equal(twoN.A, null);
  assert.match(twoN.unidentifiable.params!, /only 2 distinct parameter counts \(N = 1e\+6 and 1e\+7\).*at least 3/);
  assertAllFinite(twoN);

  const repeated = fitChinchilla([1.02, 0.99, 1.0, 1.01].map((f) => ({ params: 1e6, tokens: 1e8, loss: 3 * f })), { bootstrap: 20 });
  assert.equal(repeated.A, null);
  assert.equal(repeated.B, null);
  assert.equal(repeated.goodness.coefficients, 1);
  assert.equal(repeated.goodness.dof, 3);
  assert.ok(repeated.E.value > 2.97 && repeated.E.value < 3.06);
  assertAllFinite(repeated);
});

test('the same points and seed give the same fit; another seed other bootstrap samples', () => {
  const pts = grid(logSpaced(1e5, 1e8, 5), logSpaced(1e6, 1e10, 5), 0.005, 11);
  const a = fitChinchilla(pts, { bootstrap: 20, seed: 3 });
  assert.deepEqual(fitChinchilla(pts, { bootstrap: 20, seed: 3 }), a);
  const b = fitChinchilla(pts, { bootstrap: 20, seed: 4 });
  assert.deepEqual(b.log, a.log);
  assert.notDeepEqual(b.bootstrap.samples, a.bootstrap.samples);
});

test('bad input is a TlcError that says what is wrong', () => {
  const isTlc = (re: RegExp) => (e: unknown) => e instanceof TlcError && re.test(e.message);
  const good = grid(logSpaced(1e5, 1e8, 3), logSpaced(1e6, 1e10, 3), 0, 1);
  assert.throws(() => fitChinchilla([]), isTlc(/no points to fit/));
  const diagonal = [0, 1, 2, 3].map((i) => ({ params: 10 ** (5 + i), tokens: 10 ** (6 + i), loss: 3 - 0.2 * i }));
  assert.throws(() => fitChinchilla(diagonal), isTlc(/4 distinct \(params, tokens\) point\(s\) for 5 coefficients \(E, A, α, B, β\); need at least 5/));
  // Repeats do not count as more points.
  assert.throws(() => fitChinchilla([...diagonal, diagonal[0], diagonal[1]]), isTlc(/4 distinct .* for 5 coefficients/));
  const bad = (i: number, patch: Partial<ScalingPoint>) => good.map((p, j) => (j === i ? { ...p, ...patch } : p));
  assert.throws(() => fitChinchilla(bad(2, { loss: 0 })), isTlc(/point 2 has loss = 0; .*must be finite positive numbers/));
  assert.throws(() => fitChinchilla(bad(0, { params: -1e6 })), isTlc(/point 0 has params = -1000000/));
  assert.throws(() => fitChinchilla(bad(5, { tokens: NaN })), isTlc(/point 5 has tokens = NaN/));
  assert.throws(() => fitChinchilla(bad(1, { loss: Infinity })), isTlc(/point 1 has loss = Infinity/));
  assert.throws(() => fitChinchilla([null as unknown as ScalingPoint]), isTlc(/point 0 is not an object/));
  assert.throws(() => fitChinchilla(good, { delta: 0 }), isTlc(/delta must be a positive number/));
  assert.throws(() => fitChinchilla(good, { bootstrap: -1 }), isTlc(/bootstrap must be a non-negative integer/));
  assert.throws(() => fitChinchilla(good, { alphaGrid: [] }), isTlc(/alphaGrid must be a non-empty list/));
  const fit = fitChinchilla(good, { bootstrap: 0 });
  assert.throws(() => predictLoss(fit, 0, 1e9), isTlc(/predictLoss: params must be a finite positive number, got 0/));
  assert.throws(() => predictLoss(fit, 1e6, NaN), isTlc(/predictLoss: tokens must be/));
  assert.throws(() => computeOptimalAllocation(fit, -1), isTlc(/computeOptimalAllocation: flops must be a finite positive number, got -1/));
  assert.throws(() => computeOptimalAllocation(fit, 1e18, { paramsRange: [1e8, 1e6] }), isTlc(/paramsRange must be \[min, max\]/));
});

test('clustered points: resampling whole runs gives wider, honest bands than resampling points', () => {
  // five sizes, one run each with four budgets; each run's points share one error (its seed,
  // its data order) and have a much smaller error of their own
  const rng = new Rng(11);
  const points: ScalingPoint[] = [];
  for (const N of logSpaced(1e5, 1e7, 5)) {
    const runError = 0.03 * rng.normal();
    for (const D of logSpaced(1e7, 1e9, 4)) {
      points.push({ params: N, tokens: D, loss: trueLoss(N, D) * Math.exp(runError + 0.002 * rng.normal()), group: `N${N.toFixed(0)}` });
    }
  }
  const byRun = fitChinchilla(points, { bootstrap: 100 });
  const byPoint = fitChinchilla(points, { bootstrap: 100, resample: 'points' });
  assert.equal(byRun.bootstrap.unit, 'groups');
  assert.equal(byRun.bootstrap.units, 5);
  assert.equal(byPoint.bootstrap.unit, 'points');
  const width = (f: ChinchillaFit) => f.alpha!.ci90![1] - f.alpha!.ci90![0];
  assert.ok(width(byRun) > 1.5 * width(byPoint), `α band over runs ${width(byRun)}, over points ${width(byPoint)}`);
  // the residuals are reported point by point
  assert.equal(byRun.residuals.length, points.length);
  for (const r of byRun.residuals) assert.ok(Math.abs(Math.log(r.predicted / r.loss) - r.residual) < 1e-12);
});

test('the planner refuses points a fit cannot be trusted on: under three sizes, or one budget for a size', async () => {
  const { checkFitPoints } = await import('../src/experiment/plan.js');
  const pt = (preset: string, params: number, tokens: number) => ({ preset, params, tokens, loss: trueLoss(params, tokens), size: preset, seconds: 1, flops: 6 * params * tokens, fraction: 1, run: preset });
  assert.throws(() => checkFitPoints([pt('a', 1e5, 1e7), pt('a', 1e5, 1e8), pt('b', 1e6, 1e7), pt('b', 1e6, 1e8)]),
    /end-of-schedule losses of 2 size\(s\) \(a, b\): the fit needs at least three sizes/);
  assert.throws(() => checkFitPoints([pt('a', 1e5, 1e7), pt('a', 1e5, 1e8), pt('b', 1e6, 1e7), pt('b', 1e6, 1e8), pt('c', 1e7, 1e8)]),
    /c has an end-of-schedule loss at 1 budget: the fit needs two budgets per size/);
  assert.throws(() => checkFitPoints([]), /no end-of-schedule losses/);
  checkFitPoints([pt('a', 1e5, 1e7), pt('a', 1e5, 1e8), pt('b', 1e6, 1e7), pt('b', 1e6, 1e8), pt('c', 1e7, 1e7), pt('c', 1e7, 1e8)]);
});

test('with three runs the bootstrap flips each run\'s residuals (wild), so its bands are not the point itself; with many it resamples runs', () => {
  const byRun = (ns: number[]) => grid(ns, logSpaced(1e7, 1e9, 5), 0.01, 11).map((p) => ({ ...p, group: `N${p.params}` }));
  const three = fitChinchilla(byRun([1e5, 1e6, 1e7]), { bootstrap: 60 });
  assert.equal(three.bootstrap.unit, 'wild-groups');
  assert.equal(three.bootstrap.used, 60);
  const [lo, hi] = three.beta!.ci90!;
  assert.ok(lo < three.beta!.value && three.beta!.value < hi, `β ${three.beta!.value} inside [${lo}, ${hi}]`);
  const p = predictLoss(three, 3e6, 3e9);
  assert.ok(p.interval![1] - p.interval![0] > 1e-3, `a band of width ${p.interval![1] - p.interval![0]}`);
  const six = fitChinchilla(byRun(logSpaced(1e5, 1e8, 6)), { bootstrap: 20 });
  assert.equal(six.bootstrap.unit, 'groups');
});
