// `tlc plan --holdout`: the planner validated on a budget it did not see. Each size's largest
// budget is held out, the regime (plateau rule, repetition, law) refitted on the rest, and its
// predictions there — or its saying in advance that it cannot predict a size — compared with
// what was measured.
import { TlcError } from '../util/errors.js';
import type { ChinchillaFit } from './fit.js';
import type { SweepRun } from './analysis.js';
import { accelerationWarning, accelerations, checkFitPoints, fitPoints, sweepRegime, type FitPoint, type PlanOptions } from './plan.js';
import { discountsRepeats, predictInRegime, regimeJson } from './plan-regime.js';
import { describeOwnCurve } from './own-curve.js';
import { shortPastDrop } from './plateau.js';

export interface HoldoutRow {
  preset: string;
  /** Null when the refit declared the size unpredictable there (`unpredictable` says why). */
  predicted: number | null;
  low: number | null;
  high: number | null;
  unpredictable: string | null;
  /** Whether the refit's points of this size reach less than two doublings past its drop (its prediction is doubted in advance). */
  shortPastDrop: boolean;
  /** Whether `low` is the size's own last slope continued, below the fit's band. */
  lowFromOwnSlope: boolean;
  /** Whether the size's own curve past its drop predicted it (own-curve.ts), not the law across sizes. */
  fromOwnCurve: boolean;
  measured: number;
  tokens: number;
  /** |predicted / measured − 1| (null when not predicted). */
  relativeError: number | null;
}

export interface Holdout {
  /** Median training seconds of the held-out points. */
  budgetSeconds: number;
  /** The best of the predicted sizes (null when none could be predicted). */
  predictedBest: string | null;
  measuredBest: string;
  rows: HoldoutRow[];
  fit: ChinchillaFit;
  /** The refit's plateau and repetition decisions. */
  regime: Record<string, unknown>;
  /** The refit's own curves of the sizes settled past their drops, described (own-curve.ts). */
  ownCurves: string[];
  /** Why the refit may not extrapolate to the held-out budgets. */
  warnings: string[];
}

export function holdout(runs: SweepRun[], opts: Pick<PlanOptions, 'corpusTokens' | 'unigramLoss'> = {}): Holdout {
  const points = fitPoints(runs);
  checkFitPoints(points);
  const held = new Map<string, FitPoint>();
  for (const p of points) {
    const h = held.get(p.size);
    if (!h || p.tokens > h.tokens) held.set(p.size, p);
  }
  const rest = points.filter((p) => held.get(p.size) !== p);
  try {
    checkFitPoints(rest);
  } catch (e) {
    throw new TlcError(`--holdout leaves out each size's largest budget and refits on the rest, but then ${(e as Error).message}`);
  }
  const regime = sweepRegime(rest, opts);
  const rows = [...held.values()].sort((a, b) => a.params - b.params).map((h): HoldoutRow => {
    const p = predictInRegime(regime, h.size, h.params, h.tokens);
    const decision = regime.plateau.decisions.find((d) => d.size === h.size);
    return {
      preset: h.size, predicted: p.loss, low: p.low, high: p.high, unpredictable: p.unpredictable, measured: h.loss, tokens: h.tokens,
      shortPastDrop: decision !== undefined && shortPastDrop(decision), lowFromOwnSlope: p.lowFromOwnSlope, fromOwnCurve: p.fromOwnCurve,
      relativeError: p.loss === null ? null : Math.abs(p.loss / h.loss - 1),
    };
  });
  const predicted = rows.filter((r) => r.predicted !== null);
  const seconds = [...held.values()].map((h) => h.seconds).sort((a, b) => a - b);
  // what a user planning without the held-out budgets would have been told
  const accelerating = regime.plateauApplied ? null : accelerationWarning(accelerations(rest));
  return {
    budgetSeconds: seconds[Math.floor(seconds.length / 2)],
    predictedBest: predicted.length > 0 ? predicted.reduce((a, r) => (r.predicted! < a.predicted! ? r : a)).preset : null,
    measuredBest: rows.reduce((a, r) => (r.measured < a.measured ? r : a)).preset,
    rows, fit: regime.fit, regime: regimeJson(regime), ownCurves: regime.ownCurves.map((c) => describeOwnCurve(c, discountsRepeats(regime))),
    warnings: [...regime.notes, ...(accelerating ? [accelerating] : [])],
  };
}
