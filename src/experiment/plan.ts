// `tlc plan`: which shape to train for a new budget on this machine. The scaling-law fit
// L(N, D) over a sweep's end-of-schedule losses (whole decaying runs, or the cooldown
// branches of wsd runs) predicts each candidate's loss at the tokens the budget buys it: its
// measured (or estimated) throughput times a time budget, a token budget as given, or a FLOP
// budget over its FLOPs per token. The law sees only the points past each size's plateau
// and counts repeated tokens as effective tokens (plan-regime.ts); a candidate the plateau
// makes unpredictable says so instead of a number. Chinchilla's approach 2 (approach2.ts)
// checks the optimum size. Candidates stay near the evidence: the swept sizes, shapes
// between them, and one step of the size ladder beyond each end.
import { MLM_MASK_RATE } from '../nn/config.js';
import { TlcError } from '../util/errors.js';
import { presetConfig, countParams, trainingFlopsPerToken } from '../nn/config.js';
import { type ChinchillaFit, type ScalingPoint } from './fit.js';
import type { SweepRun } from './analysis.js';
import { accelerationsOf, type Acceleration } from './acceleration.js';
import { fitRegime, predictInRegime, type Regime } from './plan-regime.js';
import { approach2, type Approach2 } from './approach2.js';
import { compareOptima, discreteOptimum, type OptimumComparison } from './plan-compare.js';
import { describePlanBudget, type PlanBudget } from './plan-budget.js';
import { EPOCH_WARNING } from '../train/warnings.js';

export type { Acceleration } from './acceleration.js';
export { EPOCH_WARNING } from '../train/warnings.js';

/** Shapes the planner may recommend besides the swept ones, in order of size. */
export const SIZE_LADDER = ['L1-D64', 'L2-D128', 'L4-D256', 'L4-D512', 'L6-D512', 'L8-D512', 'L6-D768', 'L12-D768', 'L24-D1024'];

export interface PlanOptions {
  vocabSize: number;
  seqLen: number;
  objective: 'mlm' | 'clm';
  /** Training tokens of the corpus, to count epochs and discount repeated tokens. */
  corpusTokens?: number;
  /** The unigram loss of the validation set (the plateau's reference), where the runs logged it. */
  unigramLoss?: number | null;
}

/** A valid fit point and where it came from. */
export interface FitPoint extends ScalingPoint {
  preset: string;
  /** The size's curve: the preset, or preset and batch where a size was swept at several batch sizes. */
  size: string;
  /**
   * Training seconds the point cost (the trunk up to the fork included, for a branch): its
   * tokens at the size's throughput — the probe's, in a time_in_tokens sweep (measured for every
   * size alike, before the runs), else the run's median step — which a busy machine moves less
   * than it moves the wall clock.
   */
  seconds: number;
  /** Training FLOPs the point cost (tlc's count: 6·N plus attention, per token). */
  flops: number;
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
  /** Null when the candidate cannot be predicted at this budget (`unpredictable` says why). */
  loss: number | null;
  low: number | null;
  high: number | null;
  /** N or D lies outside the fitted points: the prediction extrapolates the law. */
  extrapolated: boolean;
  unpredictable: string | null;
  /** Whether the size's own curve past its drop predicted it (own-curve.ts), not the law across sizes. */
  ownCurve: boolean;
}

/** A candidate the law predicts. */
export type PredictedCandidate = PlanCandidate & { loss: number; low: number; high: number };

export interface Plan {
  budget: PlanBudget;
  /** Seconds of training, for a time budget (else null). */
  budgetSeconds: number | null;
  regime: Regime<FitPoint>;
  fit: ChinchillaFit;
  points: FitPoint[];
  candidates: PlanCandidate[];
  best: PredictedCandidate;
  runnerUp: PredictedCandidate | null;
  /** The best candidate's 90% band overlaps the runner-up's. */
  sizeBarelyMatters: boolean;
  batchSize: { sequences: number; reason: string } | null;
  /** Approach 2 (null with a reason where it does not apply) and how it compares with approach 3. */
  optimum: OptimumComparison;
  warnings: string[];
  summary: string;
}

/**
 * The size a run's points are fitted and judged as: its preset, or preset-B<batch> where the
 * runs hold several batch sizes of that preset (each batch size is then its own curve).
 */
export function sizeLabels(runs: readonly SweepRun[]): (r: SweepRun) => string {
  const batches = new Map<string, Set<number>>();
  for (const r of runs) batches.set(r.preset, (batches.get(r.preset) ?? new Set()).add(r.batch_size));
  return (r) => ((batches.get(r.preset)?.size ?? 1) > 1 ? `${r.preset}-B${r.batch_size}` : r.preset);
}

/**
 * The sweep's valid scaling-law points: every run's end-of-schedule losses; where runs of one
 * size, batch and budget differ only in learning rate, the best rate's (so a size is not
 * judged by a rate that does not suit it).
 */
export function fitPoints(runs: SweepRun[]): FitPoint[] {
  const best = new Map<string, FitPoint>();
  const sizeOf = sizeLabels(runs);
  for (const r of runs) {
    const throughput = r.probe_tokens_per_s ?? r.tokens_per_s;
    const group = `${r.preset}-B${r.batch_size}`;
    for (const p of r.points) {
      const key = `${r.preset}|${r.batch_size}|${p.fraction}`;
      const point: FitPoint = {
        params: r.non_embedding_params, tokens: p.tokens, loss: p.validLoss, group, size: sizeOf(r),
        preset: r.preset, seconds: throughput > 0 ? p.tokens / throughput : p.trainSeconds, flops: p.flops, fraction: p.fraction, run: r.run,
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

/** The law's regime for a sweep's points (plateau rule, repetition, the fit). */
export function sweepRegime(points: FitPoint[], opts: Pick<PlanOptions, 'corpusTokens' | 'unigramLoss'>): Regime<FitPoint> {
  return fitRegime(points, { unigramLoss: opts.unigramLoss ?? null, corpusTokens: opts.corpusTokens ?? null, check: checkFitPoints });
}

export function plan(runs: SweepRun[], budget: PlanBudget, opts: PlanOptions): Plan {
  const points = fitPoints(runs);
  checkFitPoints(points);
  const regime = sweepRegime(points, opts);
  const candidates = candidatesFor(runs, regime, budget, opts);
  const ranked = candidates.filter(isPredicted).sort((a, b) => a.loss - b.loss);
  if (ranked.length === 0) {
    throw new TlcError(`no candidate can be predicted at ${describePlanBudget(budget)}: ` + candidates.map((c) => `${c.preset}: ${c.unpredictable}`).join('; '));
  }
  const best = ranked[0], runnerUp = ranked[1] ?? null;
  const sizeBarelyMatters = runnerUp !== null && best.high >= runnerUp.low;
  const batchSize = batchAdvice(runs, best.preset, opts);
  const optimum = optimumCheck(regime, ranked, budget, opts);
  const warnings = [...regime.notes, ...planWarnings(regime.fit, best, points, regime)];
  if (optimum.disagreement) warnings.push(optimum.disagreement);
  const mixed = precisionWarning(runs);
  if (mixed) warnings.unshift(mixed);
  return {
    budget, budgetSeconds: budget.kind === 'time' ? budget.seconds : null, regime, fit: regime.fit, points, candidates, best, runnerUp,
    sizeBarelyMatters, batchSize, optimum, warnings,
    summary: summarize(budget, best, runnerUp, sizeBarelyMatters, candidates, batchSize, warnings),
  };
}

function isPredicted(c: PlanCandidate): c is PredictedCandidate {
  return c.loss !== null;
}

/** The tokens a budget buys a shape that trains `tokensPerS` and costs `flopsPerToken`. */
function tokensIn(budget: PlanBudget, tokensPerS: number, flopsPerToken: number): number {
  switch (budget.kind) {
    case 'time': return tokensPerS * budget.seconds;
    case 'tokens': return budget.tokens;
    case 'flops': return budget.flops / flopsPerToken;
  }
}

/** The shapes to compare: swept ones, ladder shapes between them, one ladder step beyond each end. */
function candidatesFor(runs: SweepRun[], regime: Regime<FitPoint>, budget: PlanBudget, opts: PlanOptions): PlanCandidate[] {
  // achieved model GFLOP/s of the swept runs extrapolates the throughput of unswept shapes
  const rate = (r: SweepRun) => r.probe_tokens_per_s ?? r.tokens_per_s;
  const gflops = runs.map((r) => (rate(r) * trainingFlopsPerToken(configFor(r.preset, opts), opts.seqLen)) / 1e9).sort((a, b) => a - b);
  const typicalGflops = gflops[Math.floor(gflops.length / 2)];
  const measured = new Map(runs.map((r) => [r.preset, rate(r)]));
  const [lo, hi] = regime.fit.range.params;
  const sized = [...new Set([...runs.map((r) => r.preset), ...SIZE_LADDER])]
    .map((preset) => ({ preset, n: countParams(configFor(preset, opts)).nonEmbedding }))
    .sort((a, b) => a.n - b.n);
  const below = sized.filter((s) => s.n < lo).pop();
  const above = sized.find((s) => s.n > hi);
  const fittedSizes = new Set(regime.kept.map((p) => p.preset));
  const swept = new Set(runs.filter((r) => r.points.length > 0).map((r) => r.preset));
  const chosen = sized.filter((s) => (s.n >= lo && s.n <= hi) || s === below || s === above || swept.has(s.preset));
  return chosen.map(({ preset, n }) => {
    const cfg = configFor(preset, opts);
    const flopsPerToken = trainingFlopsPerToken(cfg, opts.seqLen);
    const tps = measured.get(preset) ?? (typicalGflops * 1e9) / flopsPerToken;
    const tokens = tokensIn(budget, tps, flopsPerToken);
    const sizeLabel = swept.has(preset) ? regime.plateau.decisions.find((d) => d.size === preset || d.size.startsWith(`${preset}-B`))?.size ?? null : null;
    const p = predictInRegime(regime, sizeLabel, n, tokens);
    const size = fittedSizes.has(preset) || swept.has(preset) ? 'measured' : n >= lo && n <= hi ? 'interpolated' : 'extrapolated';
    return {
      preset, nonEmbeddingParams: n, tokensPerS: tps, measured: measured.has(preset), size, tokens,
      epochs: opts.corpusTokens ? tokens / opts.corpusTokens : null, loss: p.loss, low: p.low, high: p.high,
      extrapolated: p.extrapolated, unpredictable: p.unpredictable, ownCurve: p.fromOwnCurve,
    } satisfies PlanCandidate;
  });
}

/**
 * Approach 2 on the regime's points, with costs in the budget's unit (seconds or FLOPs), next
 * to approach 3's optimum among the predicted candidates; a token budget fixes D, not compute,
 * so neither has an optimum size there.
 */
function optimumCheck(regime: Regime<FitPoint>, predicted: PredictedCandidate[], budget: PlanBudget, opts: PlanOptions): OptimumComparison {
  if (budget.kind === 'tokens') {
    return compareOptima(null, { reason: 'a token budget fixes D, not compute: at fixed D the law only says that larger sizes reach lower losses' });
  }
  const costOf = (p: FitPoint) => (budget.kind === 'time' ? p.seconds : p.flops);
  const a2: Approach2 | { reason: string } = approach2(regime.kept.map((p) => ({ size: p.size, params: p.params, cost: costOf(p), loss: p.loss })),
    budget.kind === 'time' ? budget.seconds : budget.flops);
  const a3 = discreteOptimum(regime, predicted.map((c) => ({ params: c.nonEmbeddingParams, tokens: c.tokens })), opts.corpusTokens ?? null);
  return compareOptima(a3, a2, predicted.map((c) => c.nonEmbeddingParams));
}

/**
 * Sizes whose loss falls *faster* as their budget grows (see acceleration.ts); each curve is one
 * size at one batch size (a point's `group`).
 */
export function accelerations(points: FitPoint[]): Acceleration[] {
  const groupOf = (p: FitPoint): string => p.group ?? p.preset;
  const groups = [...new Set(points.map(groupOf))];
  return accelerationsOf(groups.map((group) => {
    const mine = points.filter((p) => groupOf(p) === group);
    const preset = mine[0].preset;
    const label = new Set(points.filter((p) => p.preset === preset).map(groupOf)).size > 1 ? group : preset;
    return { label, points: mine };
  }));
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

function planWarnings(fit: ChinchillaFit, best: PredictedCandidate, points: FitPoint[], regime: Regime<FitPoint>): string[] {
  const w: string[] = [];
  // with the plateau rule applied, the drops are accounted for; otherwise they still mislead the law
  const accelerating = regime.plateauApplied ? null : accelerationWarning(accelerations(points));
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
    const rStar = regime.repetition?.rStar;
    w.push(`${best.preset} would pass over the corpus ${best.epochs.toFixed(1)} times; past ~${EPOCH_WARNING} epochs repeated tokens are worth ` +
      'less than new ones (Muennighoff et al. 2023)' + (rStar !== undefined && Number.isFinite(rStar) ? `, which the fit counts with R* = ${rStar}` : '') +
      ': more data would help more than more time');
  }
  return w;
}

function summarize(budget: PlanBudget, best: PredictedCandidate, runnerUp: PredictedCandidate | null, barely: boolean,
  candidates: PlanCandidate[], batchSize: Plan['batchSize'], warnings: string[]): string {
  const band = (c: PredictedCandidate) => `${c.loss.toFixed(3)} (90% band ${c.low.toFixed(3)}–${c.high.toFixed(3)})`;
  const smallest = candidates[0], largest = candidates[candidates.length - 1];
  const where = best === smallest ? 'the smallest shape considered' : best === largest ? 'the largest shape considered' : 'an interior optimum';
  let text = `For ${describePlanBudget(budget)}, ${best.preset} (${(best.nonEmbeddingParams / 1e6).toFixed(2)}M non-embedding parameters, ${where}, ` +
    `${best.size}) is predicted to reach the lowest validation loss, ${band(best)}, after ${(best.tokens / 1e6).toFixed(1)}M tokens` +
    (best.epochs !== null ? ` (${best.epochs.toFixed(1)} epochs)` : '') + (best.measured || budget.kind !== 'time' ? '' : ', throughput extrapolated from the sweep') + '.';
  if (runnerUp) {
    text += barely
      ? ` The runner-up ${runnerUp.preset}, ${band(runnerUp)}, is within the uncertainty: at this budget the size barely matters between them.`
      : ` It beats the runner-up ${runnerUp.preset}, ${band(runnerUp)}, by more than the uncertainty.`;
  }
  const unknown = candidates.filter((c) => c.loss === null);
  if (unknown.length > 0) text += ` Cannot say for ${unknown.map((c) => c.preset).join(', ')}: ${unknown[0].unpredictable}.`;
  if (batchSize) text += ` ${batchSize.reason}`;
  for (const w of warnings) text += ` Warning: ${w}.`;
  return text;
}

export function configFor(preset: string, opts: { vocabSize: number; seqLen: number; objective: 'mlm' | 'clm' }) {
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
