// Chinchilla's approach 2 (Hoffmann et al. 2022): at each compute budget, loss against log N
// is a parabola whose vertex is the measured optimum size N_opt(C); a power law through those
// optima, N_opt = k·C^a, predicts the optimum at a new budget. It asks less of the data than
// the parametric fit (approach 3): no form for how loss depends on N and D, only that each
// budget's profile has one minimum.
//
// Budgets come from the points' costs (FLOPs, or seconds of training): costs within 30% of
// each other form one budget (an iso-FLOP profile, or the branches of a time-in-tokens ladder),
// and a size with points on both sides of a budget joins its profile by interpolation in log
// cost. Bands: a seeded bootstrap over sizes (groups) or points, the whole procedure redone.
import { Rng } from '../engine/random.js';
import { quantile } from '../util/numerics/stats.js';
import { polynomialFit } from '../util/numerics/linalg.js';

export interface CostPoint {
  size: string;
  params: number;
  /** FLOPs or seconds. */
  cost: number;
  loss: number;
}

export interface IsoCostProfile {
  cost: number;
  /** Sizes on the profile (measured or interpolated). */
  sizes: number;
  /** The parabola's vertex, or null with why there is none. */
  nOpt: number | null;
  note: string | null;
}

export interface Approach2 {
  /** N_opt ∝ C^a. */
  a: number;
  /** ln N_opt = lnK + a·ln C. */
  lnK: number;
  /** N_opt at the budget, its 90% band (null without enough bootstrap fits), and whether the budget lies outside the profiles' costs. */
  nOpt: number;
  band: [number, number] | null;
  aBand: [number, number] | null;
  extrapolated: boolean;
  profiles: IsoCostProfile[];
  bootstrap: { requested: number; used: number };
}

/** Costs closer than this ratio form one budget. */
const SAME_BUDGET_RATIO = 1.3;
/** A vertex may lie this fraction of the profile's log-N span beyond its sizes. */
const VERTEX_SLACK = 0.25;

/** Approach 2 at `budget` (in the points' cost unit); null with a reason when the points cannot support it. */
export function approach2(points: CostPoint[], budget: number, opts: { bootstrap?: number; seed?: number } = {}): Approach2 | { reason: string } {
  const core = optimaLaw(points);
  if ('reason' in core) return core;
  const requested = opts.bootstrap ?? 200;
  const rng = new Rng(opts.seed ?? 0);
  const groups = groupBySize(points);
  const nOpts: number[] = [], as: number[] = [];
  for (let b = 0; b < requested; b++) {
    const sample: CostPoint[] = [];
    // resample sizes, renamed so that a size drawn twice counts twice
    for (let g = 0; g < groups.length; g++) sample.push(...groups[rng.int(groups.length)].map((p) => ({ ...p, size: `${p.size}#${g}` })));
    const fit = optimaLaw(sample);
    if ('reason' in fit) continue;
    nOpts.push(Math.exp(fit.lnK + fit.a * Math.log(budget)));
    as.push(fit.a);
  }
  const costs = core.profiles.filter((p) => p.nOpt !== null).map((p) => p.cost);
  return {
    a: core.a, lnK: core.lnK, nOpt: Math.exp(core.lnK + core.a * Math.log(budget)),
    band: nOpts.length > 1 ? [quantile(nOpts, 0.05), quantile(nOpts, 0.95)] : null,
    aBand: as.length > 1 ? [quantile(as, 0.05), quantile(as, 0.95)] : null,
    extrapolated: budget < Math.min(...costs) || budget > Math.max(...costs),
    profiles: core.profiles, bootstrap: { requested, used: nOpts.length },
  };
}

function groupBySize(points: CostPoint[]): CostPoint[][] {
  const by = new Map<string, CostPoint[]>();
  for (const p of points) by.set(p.size, [...(by.get(p.size) ?? []), p]);
  return [...by.values()];
}

/** The profiles' vertices and the power law through them. */
function optimaLaw(points: CostPoint[]): { a: number; lnK: number; profiles: IsoCostProfile[] } | { reason: string } {
  const profiles = budgetsOf(points).map((cost) => profileAt(points, cost));
  const valid = profiles.filter((p) => p.nOpt !== null);
  if (valid.length < 2) {
    return { reason: `${valid.length} of ${profiles.length} budget(s) have a profile with an interior minimum over three or more sizes; approach 2 needs two` };
  }
  const x = valid.map((p) => Math.log(p.cost)), y = valid.map((p) => Math.log(p.nOpt!));
  if (Math.max(...x) - Math.min(...x) < Math.log(2)) return { reason: 'the budgets with an interior minimum span less than a factor of two' };
  const line = polynomialFit(x, y, 1);
  if (!line) return { reason: 'the budgets with an interior minimum are too few to fit a power law' };
  const [lnK, a] = line;
  return { a, lnK, profiles };
}

/** Budgets: the points' costs, those within SAME_BUDGET_RATIO of the previous one merged (geometric mean). */
function budgetsOf(points: CostPoint[]): number[] {
  const costs = [...new Set(points.map((p) => p.cost))].sort((a, b) => a - b);
  const clusters: number[][] = [];
  for (const c of costs) {
    const last = clusters[clusters.length - 1];
    if (last && c / last[0] < SAME_BUDGET_RATIO) last.push(c);
    else clusters.push([c]);
  }
  return clusters.map((cl) => Math.exp(cl.reduce((s, c) => s + Math.log(c), 0) / cl.length));
}

function profileAt(points: CostPoint[], cost: number): IsoCostProfile {
  const onProfile: { x: number; loss: number }[] = [];
  for (const group of groupBySize(points)) {
    const loss = lossAt(group, cost);
    if (loss !== null) onProfile.push({ x: Math.log(group[0].params), loss });
  }
  const distinct = new Set(onProfile.map((p) => p.x)).size;
  if (distinct < 3) return { cost, sizes: distinct, nOpt: null, note: `${distinct} size(s) at this budget` };
  const parabola = polynomialFit(onProfile.map((p) => p.x), onProfile.map((p) => p.loss), 2);
  if (!parabola) return { cost, sizes: distinct, nOpt: null, note: 'the sizes do not determine a parabola' };
  const [, c1, c2] = parabola;
  if (!(c2 > 0)) return { cost, sizes: distinct, nOpt: null, note: 'loss is not convex in log N here: no interior minimum' };
  const vertex = -c1 / (2 * c2);
  const xs = onProfile.map((p) => p.x);
  const lo = Math.min(...xs), hi = Math.max(...xs), slack = VERTEX_SLACK * (hi - lo);
  if (vertex < lo - slack || vertex > hi + slack) {
    return { cost, sizes: distinct, nOpt: null, note: `the minimum lies ${vertex < lo ? 'below the smallest' : 'above the largest'} size measured here` };
  }
  return { cost, sizes: distinct, nOpt: Math.exp(vertex), note: null };
}

/** A size's loss at `cost`: a point within SAME_BUDGET_RATIO, or interpolation in log cost between two around it. */
function lossAt(group: CostPoint[], cost: number): number | null {
  const sorted = [...group].sort((a, b) => a.cost - b.cost);
  const near = sorted.filter((p) => Math.abs(Math.log(p.cost / cost)) < Math.log(SAME_BUDGET_RATIO) / 2);
  if (near.length > 0) return near.reduce((s, p) => s + p.loss, 0) / near.length;
  for (let i = 0; i + 1 < sorted.length; i++) {
    const [p, q] = [sorted[i], sorted[i + 1]];
    if (p.cost <= cost && cost <= q.cost) {
      const t = Math.log(cost / p.cost) / Math.log(q.cost / p.cost);
      return p.loss + t * (q.loss - p.loss);
    }
  }
  return null;
}

