// Repeated tokens are worth less than new ones. Muennighoff et al. 2023 ("Scaling Data-Constrained
// Language Models") model the data term of the law with effective tokens
//   D' = U·(1 + R*·(1 − e^(−R/R*))),  R = D/U − 1 repetitions of U unique tokens,
// so D' ≈ D for a few epochs and saturates at U·(1 + R*) past ~R* repetitions. They fitted
// R* ≈ 15.4; where a sweep's points span enough epochs to tell, tlc fits its own.
import { fitChinchilla } from './fit.js';
import type { ScalingPoint } from './fit-model.js';

/** Muennighoff et al.'s fitted R*_D. */
export const PUBLISHED_R_STAR = 15.4;
/** R* is fitted only when the points pass over the corpus at least this many times. */
export const MIN_EPOCHS_TO_FIT_R_STAR = 4;
// Infinity: repeated tokens worth as much as new ones (no discount), which the data may prefer
const R_STAR_GRID = [1, 2, 4, 8, PUBLISHED_R_STAR, 32, 64, Infinity];

export function effectiveTokens(tokens: number, uniqueTokens: number, rStar: number): number {
  if (!(uniqueTokens > 0) || tokens <= uniqueTokens || rStar === Infinity) return tokens;
  const repetitions = tokens / uniqueTokens - 1;
  return uniqueTokens * (1 + rStar * (1 - Math.exp(-repetitions / rStar)));
}

export interface RepetitionDecision {
  uniqueTokens: number;
  rStar: number;
  /** 'fitted' from the points (they span enough epochs), else Muennighoff et al.'s value. Infinity: no discount. */
  source: 'fitted' | 'published';
  /** The most epochs any fitted point trained for. */
  maxEpochs: number;
  note: string;
}

/**
 * The R* for these points: the one of a grid whose fit reaches the lowest Huber objective, when
 * the points span MIN_EPOCHS_TO_FIT_R_STAR epochs or more; Muennighoff et al.'s otherwise.
 */
export function decideRepetition(points: ScalingPoint[], uniqueTokens: number): RepetitionDecision {
  const maxEpochs = Math.max(...points.map((p) => p.tokens / uniqueTokens));
  if (maxEpochs < MIN_EPOCHS_TO_FIT_R_STAR) {
    const note = maxEpochs <= 1
      ? `every point trained under one epoch of the ${(uniqueTokens / 1e6).toFixed(1)}M-token corpus: no repetition to account for`
      : `the points reach ${maxEpochs.toFixed(1)} epochs, too few to fit R*: Muennighoff et al.'s R* = ${PUBLISHED_R_STAR} discounts repeated tokens`;
    return { uniqueTokens, rStar: PUBLISHED_R_STAR, source: 'published', maxEpochs, note };
  }
  let best = { rStar: PUBLISHED_R_STAR, objective: Infinity };
  for (const rStar of R_STAR_GRID) {
    try {
      const fit = fitChinchilla(withEffectiveTokens(points, uniqueTokens, rStar), { bootstrap: 0 });
      if (fit.goodness.huberLoss < best.objective) best = { rStar, objective: fit.goodness.huberLoss };
    } catch {
      // a grid value whose fit diverges is simply not chosen
    }
  }
  return {
    uniqueTokens, rStar: best.rStar, source: 'fitted', maxEpochs,
    note: `the points reach ${maxEpochs.toFixed(1)} epochs: ` + (best.rStar === Infinity
      ? 'they fit best with repeated tokens worth as much as new ones (no discount)'
      : `R* = ${best.rStar} fits them best (of ${R_STAR_GRID.filter(Number.isFinite).join(', ')} and no discount; Muennighoff et al. fitted ${PUBLISHED_R_STAR})`),
  };
}

export function withEffectiveTokens<P extends ScalingPoint>(points: P[], uniqueTokens: number, rStar: number): P[] {
  return points.map((p) => ({ ...p, tokens: effectiveTokens(p.tokens, uniqueTokens, rStar) }));
}
