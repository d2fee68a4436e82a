// Which points the law is fitted on, and in what units: the plateau rule keeps each size's
// points before its drop out of it (plateau.ts), and the data term counts effective tokens
// where the points repeat the corpus (repetition.ts). Shared by `plan` on a sweep, its
// holdout, and `plan --points`.
import { fitChinchilla, predictLoss, type ChinchillaFit } from './fit.js';
import type { ScalingPoint } from './fit-model.js';
import { EVAL_NOISE_NATS, MIN_DOUBLINGS } from './acceleration.js';
import { analysePlateaus, formatTokens, plateauBlocks, shortPastDrop, unsettledDrops, type PlateauAnalysis, type PlateauDecision } from './plateau.js';
import { decideRepetition, effectiveTokens, withEffectiveTokens, type RepetitionDecision } from './repetition.js';
import { fitTransition, predictTransition, transitionOnset, transitionProblem, type TransitionFit } from './transition.js';
import { fitOwnCurve, ownCurveAt, ownCurveBand, ownCurveReach, type OwnCurve } from './own-curve.js';

/** A point with the size it belongs to (a preset, or a points file's group or parameter count). */
export interface SizedPoint extends ScalingPoint {
  size: string;
}

export interface Regime<P extends SizedPoint> {
  plateau: PlateauAnalysis;
  /** Whether the plateau rule's exclusions were applied (false: too few points would be left). */
  plateauApplied: boolean;
  /** The points the law is fitted on, tokens as measured. */
  kept: P[];
  repetition: RepetitionDecision | null;
  fit: ChinchillaFit;
  /** The law through the drop, fitted on every point (null: not fitted; `transitionNote` says why). */
  transition: TransitionFit | null;
  transitionNote: string | null;
  /** Every point, tokens as measured. */
  points: P[];
  /** The curves of the sizes settled past their drop, from their own points (own-curve.ts); tokens as the law counts them. */
  ownCurves: OwnCurve[];
  notes: string[];
}

export interface RegimeOptions<P> {
  unigramLoss?: number | null;
  /** Unique training tokens of the corpus (null: unknown, no repetition term). */
  corpusTokens?: number | null;
  /** Throws when the points cannot be fitted (too few sizes or budgets). */
  check: (points: P[]) => void;
  bootstrap?: number;
}

export function fitRegime<P extends SizedPoint>(points: P[], o: RegimeOptions<P>): Regime<P> {
  const plateau = analysePlateaus(points, o.unigramLoss ?? null);
  const excluded = excludedPoints(points, plateau);
  let kept = points.filter((p) => !excluded.has(p));
  let plateauApplied = plateau.active;
  const notes: string[] = [];
  if (plateau.active) {
    try {
      o.check(kept);
    } catch (e) {
      // a size with a single point past its drop tells the law nothing about D: fit without it
      const counts = new Map<string, number>();
      for (const p of kept) counts.set(p.size, (counts.get(p.size) ?? 0) + 1);
      const single = [...counts].filter(([, n]) => n < 2).map(([size]) => size);
      const withoutSingles = kept.filter((p) => !single.includes(p.size));
      if (single.length > 0 && passes(o.check, withoutSingles)) {
        kept = withoutSingles;
        notes.push(`${single.join(', ')} ${single.length > 1 ? 'have' : 'has'} one point past the drop, which cannot tell the law anything about tokens: left out of the fit`);
      } else {
        kept = points;
        plateauApplied = false;
        notes.push(`the plateau rule would keep ${points.length - excluded.size} of ${points.length} points, too few for the law ` +
          `(${(e as Error).message}): it is fitted on all of them, and its predictions past the plateau cannot be trusted`);
      }
    }
  }
  const unsettled = unsettledDrops(plateau.decisions);
  if (unsettled) notes.push(unsettled);
  const corpus = o.corpusTokens ?? null;
  const repetition = corpus !== null && corpus > 0 ? decideRepetition(kept, corpus) : null;
  const lawPoints = repetition ? withEffectiveTokens(kept, corpus!, repetition.rStar) : kept;
  const fit = fitChinchilla(lawPoints, o.bootstrap === undefined ? {} : { bootstrap: o.bootstrap });
  // where sizes were seen leaving the plateau, the drop itself is modelled, fitted on every point
  let transition: TransitionFit | null = null;
  let transitionNote: string | null = null;
  if (plateau.active) {
    transitionNote = transitionProblem(points, plateau);
    if (transitionNote === null) {
      const all = repetition ? withEffectiveTokens(points, corpus!, repetition.rStar) : points;
      transition = fitTransition(all, plateau, o.bootstrap === undefined ? {} : { bootstrap: o.bootstrap });
      if (transition === null) transitionNote = 'the fit of the drop diverged from every start';
    }
  } else {
    transitionNote = 'no size was seen on a plateau';
  }
  const ownCurves = settledCurves(points, plateau, repetition ? (d) => effectiveTokens(d, corpus!, repetition.rStar) : (d) => d);
  return { plateau, plateauApplied, kept, repetition, fit, transition, transitionNote, points, ownCurves, notes };
}

/** The own curve of each size whose points reach two doublings or more past the end of its drop. */
function settledCurves(points: readonly SizedPoint[], plateau: PlateauAnalysis, toLaw: (tokens: number) => number): OwnCurve[] {
  return plateau.decisions.flatMap((d) => {
    const endedAt = d.dropEnd?.at ?? null;
    if (d.state !== 'left' || endedAt === null || shortPastDrop(d)) return [];
    const past = points.filter((p) => p.size === d.size && p.tokens >= endedAt).map((p) => ({ tokens: toLaw(p.tokens), loss: p.loss }));
    const curve = fitOwnCurve(d.size, past);
    return curve ? [curve] : [];
  });
}

function passes<P>(check: (points: P[]) => void, points: P[]): boolean {
  try {
    check(points);
    return true;
  } catch {
    return false;
  }
}

/** The points before each size's drop, and every point of a size still on its plateau. */
function excludedPoints<P extends SizedPoint>(points: P[], plateau: PlateauAnalysis): Set<P> {
  const out = new Set<P>();
  for (const d of plateau.decisions) {
    for (const p of points) {
      if (p.size !== d.size) continue;
      if (d.state === 'on-plateau' || (d.state === 'left' && p.tokens <= d.dropAfter!)) out.add(p);
    }
  }
  return out;
}

export interface RegimePrediction {
  /** Null when the size cannot be predicted there (then `unpredictable` says why). */
  loss: number | null;
  low: number | null;
  high: number | null;
  extrapolated: boolean;
  unpredictable: string | null;
  /** The tokens the law saw (effective tokens under repetition). */
  effectiveTokens: number;
  /** Whether `low` is the size's own last slope continued (below the fit's band, or the own curve's), a bound from below. */
  lowFromOwnSlope: boolean;
  /** Whether the size's own curve past its drop predicted it (own-curve.ts), not the law across sizes. */
  fromOwnCurve: boolean;
}

/**
 * A size's predicted loss at `tokens` under the regime. A size settled past its drop, within its
 * own curve's reach, is predicted by that curve (own-curve.ts); otherwise the law across sizes
 * (through the drop where it is modelled), unless the size's plateau stands in the way. Where the
 * size's points reach less than two doublings past the end of its drop, the fit cannot tell a
 * floor from the slope there, and its band reaches down to the continuation of its own last slope
 * where that bounds it (ownSlopeBound).
 */
export function predictInRegime<P extends SizedPoint>(r: Regime<P>, size: string | null, params: number, tokens: number): RegimePrediction {
  const decision: PlateauDecision | null = size === null ? null : r.plateau.decisions.find((d) => d.size === size) ?? null;
  const own = predictFromOwnCurve(r, size, tokens);
  if (own) return own;
  const p = predictFromFit(r, decision, params, tokens);
  const bound = decision && p.low !== null ? ownSlopeBound(r.points, decision, tokens) : null;
  return bound !== null && bound < p.low! ? { ...p, low: bound, lowFromOwnSlope: true } : p;
}

/**
 * The loss of a size at `tokens` if it kept falling as fast, in log-log terms, as over its last
 * interval: a bound from below where that interval lies past the end of its drop, since there the
 * curve is the law's, whose slope of ln L against ln D, βu/(C + u) with u = B·D^−β, shrinks as D
 * grows. Null where the size is settled past its drop (the fit knows its slope), where its last
 * interval is still in the drop, or where `tokens` is within its points.
 */
function ownSlopeBound(points: readonly SizedPoint[], decision: PlateauDecision, tokens: number): number | null {
  const endedAt = decision.dropEnd?.at ?? null;
  if (!shortPastDrop(decision) || endedAt === null) return null;
  const own = points.filter((p) => p.size === decision.size).sort((a, b) => a.tokens - b.tokens);
  const last = own[own.length - 1];
  // the latest point past the drop's end that is far enough before the last to measure a slope
  const before = own.filter((p) => p.tokens >= endedAt && Math.log2(last.tokens / p.tokens) >= MIN_DOUBLINGS).pop();
  if (!before || tokens <= last.tokens || !(before.loss > 0 && last.loss > 0)) return null;
  const slope = Math.log(before.loss / last.loss) / Math.log(last.tokens / before.tokens);
  return last.loss * (tokens / last.tokens) ** -slope;
}

/** A settled size within its own curve's reach (from its first point past the drop to as far again past its last): that curve's prediction. */
function predictFromOwnCurve<P extends SizedPoint>(r: Regime<P>, size: string | null, tokens: number): RegimePrediction | null {
  const curve = r.ownCurves.find((c) => c.size === size);
  const effective = r.repetition ? effectiveTokens(tokens, r.repetition.uniqueTokens, r.repetition.rStar) : tokens;
  if (!curve || effective < curve.points[0].tokens || effective > ownCurveReach(curve)) return null;
  const loss = ownCurveAt(curve, effective);
  const band = ownCurveBand(curve, effective, loss, EVAL_NOISE_NATS);
  return {
    loss, low: band.low, high: band.high, extrapolated: effective > curve.points[curve.points.length - 1].tokens, unpredictable: null,
    effectiveTokens: effective, lowFromOwnSlope: band.fromSlope, fromOwnCurve: true,
  };
}

function predictFromFit<P extends SizedPoint>(r: Regime<P>, decision: PlateauDecision | null, params: number, tokens: number): RegimePrediction {
  const effective = r.repetition ? effectiveTokens(tokens, r.repetition.uniqueTokens, r.repetition.rStar) : tokens;
  if (r.transition) return predictThroughDrop(r, r.transition, decision, params, tokens, effective);
  // a size seen on its plateau stays unpredictable even where too few points past the drops left the law fitted on all of them
  const blocked = plateauBlocks(r.plateau, params, tokens, decision);
  if (blocked) return { loss: null, low: null, high: null, extrapolated: true, unpredictable: blocked, effectiveTokens: effective, lowFromOwnSlope: false, fromOwnCurve: false };
  const p = predictLoss(r.fit, params, effective);
  const [low, high] = p.interval ?? [p.loss, p.loss];
  return { loss: p.loss, low, high, extrapolated: p.extrapolated, unpredictable: null, effectiveTokens: effective, lowFromOwnSlope: false, fromOwnCurve: false };
}

/**
 * A prediction of the model of the drop. A size whose own points show no drop yet (or a size
 * larger than every size that dropped) is predicted only well past its drop by the fit across
 * sizes (three logistic widths past the onset, where under 5% of the drop is left): on its
 * plateau and in the drop, nothing of its own tells where its loss will be.
 */
function predictThroughDrop<P extends SizedPoint>(r: Regime<P>, t: TransitionFit, decision: PlateauDecision | null, params: number, tokens: number, effective: number): RegimePrediction {
  // the fit, and so its onset, counts effective tokens under repetition
  const toFit = (d: number) => (r.repetition ? effectiveTokens(d, r.repetition.uniqueTokens, r.repetition.rStar) : d);
  const onset = transitionOnset(t.log, params);
  const own = r.points.filter((p) => p.size === decision?.size);
  // a size whose own points show no drop, but reach where the fit puts it, is taken as past it,
  // unless its points were found on the plateau
  const reached = decision?.state === 'unseen' && own.length > 0 && toFit(Math.max(...own.map((p) => p.tokens))) >= onset;
  const seenDrop = decision?.state === 'left' || reached;
  const dropped = r.plateau.decisions.filter((d) => d.state === 'left').map((d) => d.params);
  const covered = decision === null && params <= Math.max(...dropped);
  const widths = t.log.s * Math.log(effective / onset);
  if (!seenDrop && !covered && widths < DROP_OVER_WIDTHS) {
    const why = decision === null ? 'no size this large left the plateau in the points; '
      : decision.state === 'unseen' ? 'its points show no drop; ' : `${decision.reason}; `;
    const at = effective === tokens ? `${formatTokens(tokens)} tokens` : `${formatTokens(tokens)} tokens (${formatTokens(effective)} effective)`;
    return {
      loss: null, low: null, high: null, extrapolated: true, effectiveTokens: effective, lowFromOwnSlope: false, fromOwnCurve: false,
      unpredictable: `${why}the drop's onset, fitted across ${t.sizes.join(', ')}, is expected near ${formatTokens(onset)}` +
        `${r.repetition ? ' effective' : ''} tokens, and ${at} is ${widths <= -DROP_OVER_WIDTHS ? 'before it' : 'within the drop'}: ` +
        'where its loss will be there, its own points cannot tell',
    };
  }
  const p = predictTransition(t, params, effective);
  const [low, high] = p.interval ?? [p.loss, p.loss];
  return { loss: p.loss, low, high, extrapolated: p.extrapolated, unpredictable: null, effectiveTokens: effective, lowFromOwnSlope: false, fromOwnCurve: false };
}

/** Logistic widths (1/s in ln D) past the onset at which the drop counts as over (1/(1 + e³): under 5% left). */
const DROP_OVER_WIDTHS = 3;

/** The plateau and repetition decisions as plain data (the plan's JSON). */
export function regimeJson<P extends SizedPoint>(r: Regime<P>): Record<string, unknown> {
  return {
    plateau: {
      applied: r.plateauApplied, level: r.plateau.plateauLevel,
      onset: r.plateau.onset && { k: r.plateau.onset.k, c: r.plateau.onset.c, sizes: r.plateau.onset.sizes },
      sizes: r.plateau.decisions.map((d) => ({
        size: d.size, params: d.params, state: d.state, drop_after: d.dropAfter, drop_by: d.dropBy, excluded: d.excluded, reason: d.reason,
        drop_ended_at: d.dropEnd?.at ?? null, doublings_past_drop: d.dropEnd?.doublingsPast ?? null,
      })),
    },
    transition: r.transition
      ? {
        applied: true, E: Math.exp(r.transition.log.e), A: Math.exp(r.transition.log.a), alpha: r.transition.log.alpha, B: Math.exp(r.transition.log.b),
        beta: r.transition.log.beta, P: Math.exp(r.transition.log.p), onset_c: r.transition.log.c, onset_k: r.transition.log.k, steepness: r.transition.log.s,
        points: r.transition.points, rmse: r.transition.rmse, bootstrap: r.transition.samples.length,
      }
      : { applied: false, reason: r.transitionNote },
    own_curves: r.ownCurves.map((c) => ({
      size: c.size, E: c.E, B: c.B, beta: c.beta, ref_tokens: c.ref, points: c.points.length, from_tokens: c.points[0].tokens,
      to_tokens: c.points[c.points.length - 1].tokens, reach_tokens: ownCurveReach(c), rmse: c.rmse, effective_tokens: discountsRepeats(r),
    })),
    repetition: r.repetition && {
      unique_tokens: r.repetition.uniqueTokens, r_star: Number.isFinite(r.repetition.rStar) ? r.repetition.rStar : null, source: r.repetition.source, max_epochs: r.repetition.maxEpochs, note: r.repetition.note,
    },
  };
}

/** Whether the regime counts effective tokens (repeated ones worth less), so its curves' token counts are effective ones. */
export function discountsRepeats<P extends SizedPoint>(r: Regime<P>): boolean {
  return r.repetition !== null && Number.isFinite(r.repetition.rStar);
}
