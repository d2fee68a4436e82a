// Approach 2 against approach 3: the optimum size each predicts for the budget, with its
// bootstrap band. Where the bands do not overlap, the two ways of reading the same points
// disagree by more than their uncertainty, and the plan says so and names the more
// conservative choice: the smaller size, cheaper to train and to run, whose loss the points
// constrain more closely.
import { quantile } from '../util/numerics/stats.js';
import { logLoss, type LogCoefficients } from './fit-model.js';
import type { Approach2 } from './approach2.js';
import type { Regime, SizedPoint } from './plan-regime.js';
import { effectiveTokens } from './repetition.js';

export interface Optimum {
  nOpt: number;
  band: [number, number] | null;
}

export interface OptimumComparison {
  approach3: Optimum | null;
  approach2: Approach2 | { reason: string };
  /** A sentence when the two disagree beyond their bands, naming the conservative choice (else null). */
  disagreement: string | null;
  /** The more conservative N_opt where they disagree (else null). */
  conservative: number | null;
}

/**
 * `grid`: the sizes approach 3 chose among (a sweep's candidates), where its optimum is one of
 * them; approach 2's band is then widened to the candidates nearest its ends before comparing.
 * Without both bands there is no claim to make.
 */
export function compareOptima(a3: Optimum | null, a2: Approach2 | { reason: string }, grid?: number[]): OptimumComparison {
  const agree = { approach3: a3, approach2: a2, disagreement: null, conservative: null };
  if (a3 === null || 'reason' in a2 || a3.band === null || a2.band === null) return agree;
  const [lo3, hi3] = a3.band;
  const [lo2, hi2] = grid && grid.length > 0 ? [nearest(grid, a2.band[0]), nearest(grid, a2.band[1])] : a2.band;
  if (hi3 >= lo2 && hi2 >= lo3) return agree;
  const conservative = Math.min(a3.nOpt, a2.nOpt);
  const m = (n: number) => `${(n / 1e6).toPrecision(3)}M`;
  const disagreement = `approach 2 (per-budget parabolas) puts the optimum at ${m(a2.nOpt)} non-embedding parameters (90% band ${m(lo2)}–${m(hi2)}), ` +
    `approach 3 (the parametric law) at ${m(a3.nOpt)} (${m(lo3)}–${m(hi3)}): they disagree beyond their bands; the more conservative choice is ` +
    `the smaller, ${m(conservative)} (${conservative === a2.nOpt ? 'approach 2' : 'approach 3'})`;
  return { approach3: a3, approach2: a2, disagreement, conservative };
}

/** The grid value nearest `v` in log. */
function nearest(grid: number[], v: number): number {
  return grid.reduce((a, g) => (Math.abs(Math.log(g / v)) < Math.abs(Math.log(a / v)) ? g : a));
}

/**
 * Approach 3's optimum among discrete candidates (each with the tokens the budget buys it):
 * the argmin of the fitted law, and the 5th–95th percentile of the argmin over the bootstrap fits.
 */
export function discreteOptimum<P extends SizedPoint>(regime: Regime<P>, candidates: { params: number; tokens: number }[], corpusTokens: number | null): Optimum | null {
  if (candidates.length === 0) return null;
  const rep = regime.repetition;
  const lD = candidates.map((c) => Math.log(rep && corpusTokens ? effectiveTokens(c.tokens, rep.uniqueTokens, rep.rStar) : c.tokens));
  const argmin = (s: LogCoefficients): number => {
    let best = 0;
    for (let i = 1; i < candidates.length; i++) {
      if (logLoss(s, Math.log(candidates[i].params), lD[i]) < logLoss(s, Math.log(candidates[best].params), lD[best])) best = i;
    }
    return candidates[best].params;
  };
  const samples = regime.fit.bootstrap.samples.map(argmin);
  return { nOpt: argmin(regime.fit.log), band: samples.length > 1 ? [quantile(samples, 0.05), quantile(samples, 0.95)] : null };
}
