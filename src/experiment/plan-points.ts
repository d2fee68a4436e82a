// `tlc plan --points <file>`: the planner's machinery on points from any source. Without
// throughputs, budgets are compute (FLOPs, C = 6·N·D as the law's papers count it) or tokens:
// for FLOPs, approach 3's compute-optimal allocation and approach 2's N_opt(C), each with
// bootstrap bands; for tokens, each size's predicted loss at that D.
import { TlcError } from '../util/errors.js';
import { computeOptimalAllocation, type Allocation, type ChinchillaFit } from './fit.js';
import { approach2 } from './approach2.js';
import { compareOptima, type OptimumComparison } from './plan-compare.js';
import { fitRegime, predictInRegime, type Regime, type SizedPoint } from './plan-regime.js';
import { describePlanBudget, formatCount, type PlanBudget } from './plan-budget.js';
import type { FilePoint } from './points-file.js';

export type LabelledPoint = FilePoint & SizedPoint;

export interface PointsPlanRow {
  size: string;
  params: number;
  tokens: number;
  loss: number | null;
  low: number | null;
  high: number | null;
  unpredictable: string | null;
  /** Whether the size's own curve past its drop predicted it (own-curve.ts). */
  ownCurve: boolean;
}

export interface PointsPlan {
  budget: PlanBudget;
  points: LabelledPoint[];
  regime: Regime<LabelledPoint>;
  fit: ChinchillaFit;
  /** Approach 3's compute-optimal N and D (FLOP budgets). */
  allocation: Allocation | null;
  optimum: OptimumComparison;
  /** Each size of the points at the budget. */
  rows: PointsPlanRow[];
  warnings: string[];
  summary: string;
}

export function checkPoints(points: SizedPoint[]): void {
  const params = new Set(points.map((p) => p.params)).size, tokens = new Set(points.map((p) => p.tokens)).size;
  if (params < 3) throw new TlcError(`the points hold ${params} distinct parameter count(s): the fit needs at least three sizes`);
  if (tokens < 2) throw new TlcError(`the points hold ${tokens} distinct token count(s): the fit needs at least two`);
}

export function planPoints(file: FilePoint[], budget: PlanBudget): PointsPlan {
  if (budget.kind === 'time') {
    throw new TlcError('--points carry no throughput, so a time budget cannot be turned into tokens: give --budget in FLOPs (1e21flops) or tokens (2B)');
  }
  const points: LabelledPoint[] = file.map((p) => ({ ...p, size: p.label }));
  checkPoints(points);
  const regime = fitRegime(points, { check: checkPoints });
  const sizes = [...new Map(points.map((p) => [p.size, p.params])).entries()].sort((a, b) => a[1] - b[1]);
  const tokensFor = (n: number) => (budget.kind === 'flops' ? budget.flops / (6 * n) : budget.tokens);
  const rows = sizes.map(([size, params]): PointsPlanRow => {
    const p = predictInRegime(regime, size, params, tokensFor(params));
    return { size, params, tokens: tokensFor(params), loss: p.loss, low: p.low, high: p.high, unpredictable: p.unpredictable, ownCurve: p.fromOwnCurve };
  });
  let allocation: Allocation | null = null;
  let optimum: OptimumComparison;
  if (budget.kind === 'flops') {
    allocation = computeOptimalAllocation(regime.fit, budget.flops);
    const a2 = approach2(regime.kept.map((p) => ({ size: p.size, params: p.params, cost: 6 * p.params * p.tokens, loss: p.loss })), budget.flops);
    optimum = compareOptima({ nOpt: allocation.params, band: allocation.paramsInterval }, a2);
  } else {
    optimum = compareOptima(null, { reason: 'a token budget fixes D, not compute: at fixed D the law only says that larger sizes reach lower losses' });
  }
  const warnings = [...regime.notes, ...(optimum.disagreement ? [optimum.disagreement] : [])];
  return { budget, points, regime, fit: regime.fit, allocation, optimum, rows, warnings, summary: summarizePoints(budget, allocation, optimum, rows) };
}

function summarizePoints(budget: PlanBudget, allocation: Allocation | null, optimum: OptimumComparison, rows: PointsPlanRow[]): string {
  const m = (n: number) => formatCount(n);
  let text = `For ${describePlanBudget(budget)}`;
  if (allocation) {
    text += `, approach 3 (the parametric law) puts the compute-optimal size at ${m(allocation.params)} non-embedding parameters` +
      (allocation.paramsInterval ? ` (90% band ${m(allocation.paramsInterval[0])}–${m(allocation.paramsInterval[1])})` : '') +
      ` trained on ${m(allocation.tokens)} tokens, predicted loss ${allocation.loss.toFixed(3)}.`;
    const a2 = optimum.approach2;
    text += 'reason' in a2
      ? ` Approach 2 does not apply: ${a2.reason}.`
      : ` Approach 2 (per-budget parabolas, N_opt ∝ C^${a2.a.toFixed(3)}) puts it at ${m(a2.nOpt)}` +
        (a2.band ? ` (90% band ${m(a2.band[0])}–${m(a2.band[1])})` : '') + (a2.extrapolated ? ', beyond the budgets it was measured at' : '') + '.';
  } else {
    const predicted = rows.filter((r) => r.loss !== null);
    const best = predicted.reduce<PointsPlanRow | null>((a, r) => (a === null || r.loss! < a.loss! ? r : a), null);
    text += best ? `, ${best.size} is predicted lowest, ${best.loss!.toFixed(3)}: at fixed tokens a larger size does better wherever the law holds.` : ', no size can be predicted.';
  }
  if (optimum.disagreement) text += ` Warning: ${optimum.disagreement}.`;
  return text;
}
