// `tlc plan`: which shape to train for a new budget on this machine. The scaling-law fit
// L(N, D) over a sweep's end-of-schedule losses (whole decaying runs, or the cooldown
// branches of wsd runs) predicts each candidate's loss at the tokens its measured (or
// estimated) throughput buys within the budget. Candidates stay near the evidence: the
// swept sizes, shapes between them, and one step of the size ladder beyond each end.
import { MLM_MASK_RATE } from '../nn/config.js';
import { TlcError } from '../util/errors.js';
import { presetConfig, countParams, trainingFlopsPerToken } from '../nn/config.js';
import { fitChinchilla, predictLoss, type ChinchillaFit, type ScalingPoint } from './fit.js';
import type { SweepRun } from './analysis.js';

/** Shapes the planner may recommend besides the swept ones, in order of size. */
export const SIZE_LADDER = ['L1-D64', 'L2-D128', 'L4-D256', 'L4-D512', 'L6-D512', 'L8-D512', 'L6-D768', 'L12-D768', 'L24-D1024'];

export { EPOCH_WARNING } from '../train/warnings.js';
import { EPOCH_WARNING } from '../train/warnings.js';

export interface PlanOptions {
  vocabSize: number;
  seqLen: number;
  objective: 'mlm' | 'clm';
  /** Training tokens of the corpus, to count epochs. */
  corpusTokens?: number;
}

/** A valid fit point and where it came from. */
export interface FitPoint extends ScalingPoint {
  preset: string;
  /**
   * Training seconds the point cost (the trunk up to the fork included, for a branch): its
   * tokens at the size's throughput — the probe's, in a time_in_tokens sweep (measured for every
   * size alike, before the runs), else the run's median step — which a busy machine moves less
   * than it moves the wall clock.
   */
  seconds: number;
  /** Budget fraction: 1 for a whole run, the branch's fraction for a cooldown branch. */
  fraction: number;
  run: string;
}

export interface PlanCandidate {
  preset: string;
  nonEmbeddingParams: number;
  tokensPerS: number;
  /** Whether the throughput was measured in the sweep or extrapolated from its GFLOP/s. */
  measured: boolean;
  /** The size was swept, lies between swept sizes, or beyond them. */
  size: 'measured' | 'interpolated' | 'extrapolated';
  tokens: number;
  /** Passes over the corpus the budget buys (null: corpus size unknown). */
  epochs: number | null;
  loss: number;
  low: number;
  high: number;
  /** N or D lies outside the fitted points: the prediction extrapolates the law. */
  extrapolated: boolean;
}

export interface Plan {
  budgetSeconds: number;
  fit: ChinchillaFit;
  points: FitPoint[];
  candidates: PlanCandidate[];
  best: PlanCandidate;
  runnerUp: PlanCandidate | null;
  /** The best candidate's 90% band overlaps the runner-up's. */
  sizeBarelyMatters: boolean;
  batchSize: { sequences: number; reason: string } | null;
  warnings: string[];
  summary: string;
}

/**
 * The sweep's valid scaling-law points: every run's end-of-schedule losses; where runs of one
 * size, batch and budget differ only in learning rate, the best rate's (so a size is not
 * judged by a rate that does not suit it).
 */
export function fitPoints(runs: SweepRun[]): FitPoint[] {
  const best = new Map<string, FitPoint>();
  for (const r of runs) {
    const throughput = r.probe_tokens_per_s ?? r.tokens_per_s;
    for (const p of r.points) {
      const key = `${r.preset}|${r.batch_size}|${p.fraction}`;
      const point: FitPoint = {
        params: r.non_embedding_params, tokens: p.tokens, loss: p.validLoss, group: `${r.preset}-B${r.batch_size}`,
        preset: r.preset, seconds: throughput > 0 ? p.tokens / throughput : p.trainSeconds, fraction: p.fraction, run: r.run,
      };
      const seen = best.get(key);
      if (!seen || point.loss < seen.loss) best.set(key, point);
    }
  }
  return [...best.values()];
}

/** Refuses points the fit cannot be trusted on: fewer than three sizes, or one budget for a size. */
export function checkFitPoints(points: FitPoint[]): void {
  if (points.length === 0) {
    throw new TlcError('the sweep has no end-of-schedule losses to fit: its runs use a constant rate without cooldown branches, ' +
      'or have not ended (a mid-schedule evaluation of a decaying run is not the loss a run of that length reaches)');
  }
  const sizes = [...new Set(points.map((p) => p.preset))];
  if (sizes.length < 3) {
    throw new TlcError(`end-of-schedule losses of ${sizes.length} size(s) (${sizes.join(', ')}): the fit needs at least three sizes; sweep more sizes`);
  }
  for (const s of sizes) {
    const budgets = new Set(points.filter((p) => p.preset === s).map((p) => p.tokens)).size;
    if (budgets < 2) {
      throw new TlcError(`${s} has an end-of-schedule loss at ${budgets} budget: the fit needs two budgets per size; ` +
        'sweep with schedule: wsd and branches (e.g. [0.25, 0.5, 1])');
    }
  }
}

export function plan(runs: SweepRun[], budgetSeconds: number, opts: PlanOptions): Plan {
  if (!(budgetSeconds > 0)) throw new TlcError(`the budget must be positive, got ${budgetSeconds} s`);
  const points = fitPoints(runs);
  checkFitPoints(points);
  const fit = fitChinchilla(points);
  const candidates = candidatesFor(runs, fit, budgetSeconds, opts);
  const ranked = [...candidates].sort((a, b) => a.loss - b.loss);
  const best = ranked[0], runnerUp = ranked[1] ?? null;
  const sizeBarelyMatters = runnerUp !== null && best.high >= runnerUp.low;
  const batchSize = batchAdvice(runs, best.preset, opts);
  const warnings = planWarnings(fit, best, points);
  const mixed = precisionWarning(runs);
  if (mixed) warnings.unshift(mixed);
  return {
    budgetSeconds, fit, points, candidates, best, runnerUp, sizeBarelyMatters, batchSize, warnings,
    summary: summarize(budgetSeconds, best, runnerUp, sizeBarelyMatters, candidates, batchSize, warnings),
  };
}

/** The shapes to compare: swept ones, ladder shapes between them, one ladder step beyond each end. */
function candidatesFor(runs: SweepRun[], fit: ChinchillaFit, budgetSeconds: number, opts: PlanOptions): PlanCandidate[] {
  // achieved model GFLOP/s of the swept runs extrapolates the throughput of unswept shapes
  const rate = (r: SweepRun) => r.probe_tokens_per_s ?? r.tokens_per_s;
  const gflops = runs.map((r) => (rate(r) * trainingFlopsPerToken(configFor(r.preset, opts), opts.seqLen)) / 1e9).sort((a, b) => a - b);
  const typicalGflops = gflops[Math.floor(gflops.length / 2)];
  const measured = new Map(runs.map((r) => [r.preset, rate(r)]));
  const [lo, hi] = fit.range.params;
  const sized = [...new Set([...runs.map((r) => r.preset), ...SIZE_LADDER])]
    .map((preset) => ({ preset, n: countParams(configFor(preset, opts)).nonEmbedding }))
    .sort((a, b) => a.n - b.n);
  const below = sized.filter((s) => s.n < lo).pop();
  const above = sized.find((s) => s.n > hi);
  const chosen = sized.filter((s) => (s.n >= lo && s.n <= hi) || s === below || s === above);
  const fittedSizes = new Set(runs.filter((r) => r.points.length > 0).map((r) => r.preset));
  return chosen.map(({ preset, n }) => {
    const cfg = configFor(preset, opts);
    const tps = measured.get(preset) ?? (typicalGflops * 1e9) / trainingFlopsPerToken(cfg, opts.seqLen);
    const tokens = tps * budgetSeconds;
    const p = predictLoss(fit, n, tokens);
    const [low, high] = p.interval ?? [p.loss, p.loss];
    const size = fittedSizes.has(preset) ? 'measured' : n >= lo && n <= hi ? 'interpolated' : 'extrapolated';
    return {
      preset, nonEmbeddingParams: n, tokensPerS: tps, measured: measured.has(preset), size, tokens,
      epochs: opts.corpusTokens ? tokens / opts.corpusTokens : null, loss: p.loss, low, high, extrapolated: p.extrapolated,
    } satisfies PlanCandidate;
  });
}

/** A size whose loss fell faster over a doubling of its tokens than over the doubling before. */
export interface Acceleration {
  /** The size (with its batch, `L2-D128-B32`, where the points hold several batch sizes of it). */
  label: string;
  /** Nats per doubling of tokens over the earlier and the later interval. */
  before: number;
  after: number;
  /** Tokens where the later interval ends. */
  tokens: number;
}

/**
 * An increase in gain counts when the later gain is ACCELERATION_RATIO× the earlier one, at least
 * ACCELERATION_NATS per doubling, and both that gain and the increase stand three standard
 * deviations clear of evaluation noise (EVAL_NOISE_NATS per loss). Intervals are at least
 * MIN_DOUBLINGS long: closer points are skipped, so short intervals do not magnify noise.
 */
const ACCELERATION_RATIO = 2, ACCELERATION_NATS = 0.05, EVAL_NOISE_NATS = 0.01, MIN_DOUBLINGS = 0.5;

/**
 * Sizes whose loss falls *faster* as their budget grows. L = E + A/N^α + B/D^β gains
 * βB·D^−β·ln 2 per doubling of D — less with every doubling — so a clear increase means the
 * curve is in a phase the law cannot represent (typically the end of a plateau near the
 * unigram loss, once the model learns to use context), and the law extrapolates it wrongly.
 * Each curve is one size at one batch size (a point's `group`).
 */
export function accelerations(points: FitPoint[]): Acceleration[] {
  const found: Acceleration[] = [];
  const groupOf = (p: FitPoint): string => p.group ?? p.preset;
  const groups = new Set(points.map(groupOf));
  for (const group of groups) {
    const mine = points.filter((p) => groupOf(p) === group).sort((a, b) => a.tokens - b.tokens);
    const preset = mine[0].preset;
    const label = new Set(points.filter((p) => p.preset === preset).map(groupOf)).size > 1 ? group : preset;
    // the curve at steps of at least MIN_DOUBLINGS
    const curve = [mine[0]];
    for (const p of mine) if (Math.log2(p.tokens / curve[curve.length - 1].tokens) >= MIN_DOUBLINGS) curve.push(p);
    const gains = curve.slice(1).map((p, i) => {
      const doublings = Math.log2(p.tokens / curve[i].tokens);
      return { gain: (curve[i].loss - p.loss) / doublings, doublings, tokens: p.tokens };
    });
    let worst: Acceleration | null = null;
    for (let i = 1; i < gains.length; i++) {
      const [a, b] = [gains[i - 1], gains[i]];
      // b − a = (L1 − L2)/d2 − (L0 − L1)/d1 over three noisy losses, L1 in both
      const noise = 3 * EVAL_NOISE_NATS * Math.sqrt(1 / b.doublings ** 2 + (1 / a.doublings + 1 / b.doublings) ** 2 + 1 / a.doublings ** 2);
      const increase = b.gain - a.gain;
      const clear = b.gain >= Math.max(ACCELERATION_NATS, (3 * Math.SQRT2 * EVAL_NOISE_NATS) / b.doublings) &&
        increase >= Math.max(ACCELERATION_NATS, noise) && b.gain > ACCELERATION_RATIO * Math.max(a.gain, 0);
      if (clear && (!worst || increase > worst.after - worst.before)) worst = { label, before: a.gain, after: b.gain, tokens: b.tokens };
    }
    if (worst) found.push(worst);
  }
  return found;
}

/** The warning for accelerating sizes (`accelerations`), or null when there are none. */
export function accelerationWarning(found: Acceleration[]): string | null {
  if (found.length === 0) return null;
  const each = found.map((a) => `${a.label} ${a.before.toFixed(2)} then ${a.after.toFixed(2)} nats per doubling of tokens (to ${(a.tokens / 1e6).toFixed(1)}M)`);
  return `losses fall faster as the budget grows (${each.join('; ')}), which a power law in N and D never does: ` +
    'the runs are in a phase change (such as the end of a plateau near the unigram loss) that the fit cannot represent, ' +
    'so its predictions past the measured budgets are not to be trusted; measure at the budget that matters';
}

/**
 * Runs of one sweep that trained in different precisions (`auto` decides per process, so
 * parallel workers can differ near its threshold): the loss per token barely depends on it,
 * but the throughput does, and with it what a time budget buys.
 */
export function precisionWarning(runs: Pick<SweepRun, 'preset' | 'precision'>[]): string | null {
  const by = new Map<string, string[]>();
  for (const r of runs) if (r.precision) by.set(r.precision, [...(by.get(r.precision) ?? []), r.preset]);
  if (by.size < 2) return null;
  const each = [...by].map(([p, presets]) => `${p}: ${[...new Set(presets)].join(', ')}`).join('; ');
  return `the runs trained in different precisions (${each}): their throughputs, and so the tokens a time budget buys, ` +
    'are not those of one precision; sweep with an explicit precision';
}

function planWarnings(fit: ChinchillaFit, best: PlanCandidate, points: FitPoint[]): string[] {
  const w: string[] = [];
  const accelerating = accelerationWarning(accelerations(points));
  if (accelerating) w.push(accelerating);
  if (fit.alpha && fit.alpha.value <= 0) {
    w.push(`the fit has loss rising with size (α = ${fit.alpha.value.toFixed(3)}): these sizes do not follow the law at these budgets, ` +
      'so its size recommendation is not to be trusted; check the learning rate of the larger sizes');
  }
  if (fit.beta && fit.beta.value <= 0) w.push(`the fit has loss rising with tokens (β = ${fit.beta.value.toFixed(3)}): the runs are not converging as the law assumes`);
  if (fit.E.value < 1e-3 * fit.range.loss[0]) {
    w.push(`the irreducible loss E = ${fit.E.value.toPrecision(2)} is near zero: the sweep's budgets are too small to tell the floor apart from the power laws`);
  }
  if (best.size === 'extrapolated') w.push(`${best.preset} lies outside the swept sizes: sweep it before trusting the recommendation`);
  else if (best.extrapolated) w.push(`the budget buys ${best.preset} more tokens than any fitted point: the prediction extrapolates in D`);
  if (best.epochs !== null && best.epochs > EPOCH_WARNING) {
    w.push(`${best.preset} would pass over the corpus ${best.epochs.toFixed(1)} times; past ~${EPOCH_WARNING} epochs repeated tokens are worth ` +
      'less than new ones (Muennighoff et al. 2023), which the fit does not model: more data would help more than more time');
  }
  return w;
}

function summarize(budgetSeconds: number, best: PlanCandidate, runnerUp: PlanCandidate | null, barely: boolean,
  candidates: PlanCandidate[], batchSize: Plan['batchSize'], warnings: string[]): string {
  const minutes = budgetSeconds / 60;
  const budget = minutes >= 1 ? `${minutes.toFixed(minutes < 10 ? 1 : 0)} minutes` : `${budgetSeconds} s`;
  const band = (c: PlanCandidate) => `${c.loss.toFixed(3)} (90% band ${c.low.toFixed(3)}–${c.high.toFixed(3)})`;
  const smallest = candidates[0], largest = candidates[candidates.length - 1];
  const where = best === smallest ? 'the smallest shape considered' : best === largest ? 'the largest shape considered' : 'an interior optimum';
  let text = `For ${budget} of training, ${best.preset} (${(best.nonEmbeddingParams / 1e6).toFixed(2)}M non-embedding parameters, ${where}, ` +
    `${best.size}) is predicted to reach the lowest validation loss, ${band(best)}, after ${(best.tokens / 1e6).toFixed(1)}M tokens` +
    (best.epochs !== null ? ` (${best.epochs.toFixed(1)} epochs)` : '') + (best.measured ? '' : ', throughput extrapolated from the sweep') + '.';
  if (runnerUp) {
    text += barely
      ? ` The runner-up ${runnerUp.preset}, ${band(runnerUp)}, is within the uncertainty: at this budget the size barely matters between them.`
      : ` It beats the runner-up ${runnerUp.preset}, ${band(runnerUp)}, by more than the uncertainty.`;
  }
  if (batchSize) text += ` ${batchSize.reason}`;
  for (const w of warnings) text += ` Warning: ${w}.`;
  return text;
}

export interface Holdout {
  /** Median training seconds of the held-out points. */
  budgetSeconds: number;
  predictedBest: string;
  measuredBest: string;
  rows: { preset: string; predicted: number; low: number; high: number; measured: number; tokens: number }[];
  fit: ChinchillaFit;
  /** Why the refit may not extrapolate to the held-out budgets (accelerating losses in the points it was fitted on). */
  warnings: string[];
}

/**
 * Predicts each size's loss at its largest budget from a fit without those points, and
 * compares it, and the size it says is best, with what was measured there.
 */
export function holdout(runs: SweepRun[]): Holdout {
  const points = fitPoints(runs);
  checkFitPoints(points);
  const held = new Map<string, FitPoint>();
  for (const p of points) {
    const h = held.get(p.preset);
    if (!h || p.tokens > h.tokens) held.set(p.preset, p);
  }
  const rest = points.filter((p) => held.get(p.preset) !== p);
  try {
    checkFitPoints(rest);
  } catch (e) {
    throw new TlcError(`--holdout leaves out each size's largest budget and refits on the rest, but then ${(e as Error).message}`);
  }
  const fit = fitChinchilla(rest);
  const rows = [...held.values()].sort((a, b) => a.params - b.params).map((h) => {
    const p = predictLoss(fit, h.params, h.tokens);
    const [low, high] = p.interval ?? [p.loss, p.loss];
    return { preset: h.preset, predicted: p.loss, low, high, measured: h.loss, tokens: h.tokens };
  });
  const argmin = (key: 'predicted' | 'measured') => rows.reduce((a, r) => (r[key] < a[key] ? r : a)).preset;
  const seconds = [...held.values()].map((h) => h.seconds).sort((a, b) => a - b);
  // what a user planning without the held-out budgets would have been told
  const accelerating = accelerationWarning(accelerations(rest));
  return {
    budgetSeconds: seconds[Math.floor(seconds.length / 2)], predictedBest: argmin('predicted'), measuredBest: argmin('measured'), rows, fit,
    warnings: accelerating ? [accelerating] : [],
  };
}

function configFor(preset: string, opts: { vocabSize: number; seqLen: number; objective: 'mlm' | 'clm' }) {
  return presetConfig(preset, { vocab_size: opts.vocabSize, max_len: Math.max(opts.seqLen, 128), objective: opts.objective });
}

/**
 * The gradient noise scale estimates the critical batch size in predicted items (masked
 * tokens or sequences); converted to sequences, it bounds the batch that still uses
 * compute efficiently (McCandlish et al. 2018).
 */
function batchAdvice(runs: SweepRun[], preset: string, opts: { seqLen: number; objective: 'mlm' | 'clm' }): Plan['batchSize'] {
  const withNoise = runs.filter((r) => r.noiseScale !== null);
  if (withNoise.length === 0) return null;
  const run = withNoise.find((r) => r.preset === preset) ?? withNoise[withNoise.length - 1];
  const targetsPerSequence = opts.objective === 'mlm' ? MLM_MASK_RATE * (opts.seqLen - 1) : opts.seqLen;
  const critical = run.noiseScale! / targetsPerSequence;
  const sequences = 2 ** Math.max(3, Math.min(10, Math.round(Math.log2(Math.max(1, critical)))));
  return {
    sequences,
    reason: `The gradient noise scale measured in ${run.name} (≈${Math.round(critical)} sequences) suggests a batch of about ` +
      `${sequences} sequences: larger batches would mostly buy noise reduction the model does not need yet — grow the model, not the batch.`,
  };
}
