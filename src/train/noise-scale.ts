// The gradient noise scale B_simple = tr(Σ) / |G|² (McCandlish et al. 2018), estimated
// online from two gradient norms that every step with gradient accumulation already has:
// the first micro-batch's gradient (a small batch) and the whole step's (a big batch).
// From E|G_B|² = |G|² + tr(Σ)/B at the two batch sizes:
//   |G|²  ≈ (B_big·|G_big|² − B_small·|G_small|²) / (B_big − B_small)
//   tr(Σ) ≈ (|G_small|² − |G_big|²) / (1/B_small − 1/B_big)
// Both are noisy per step, so each is averaged (exponentially) before taking the ratio.
// B_simple estimates the critical batch size: batches much larger than it waste compute.

export interface NoiseScaleState {
  /** Exponential averages of the |G|² and tr(Σ) estimates, and how many steps went in. */
  gradSq: number;
  trace: number;
  steps: number;
}

export const NOISE_EMA = 0.95;

export function initialNoiseScale(): NoiseScaleState {
  return { gradSq: 0, trace: 0, steps: 0 };
}

/**
 * Folds one step into the running estimate. `smallSq`/`bigSq` are squared norms of the
 * mean gradients over `small` and `big` items (targets or examples). Returns B_simple in
 * items, or null while the estimate is not yet meaningful.
 */
export function updateNoiseScale(s: NoiseScaleState, small: number, smallSq: number, big: number, bigSq: number): number | null {
  if (!(big > small && small > 0) || !Number.isFinite(smallSq) || !Number.isFinite(bigSq)) return current(s);
  const gradSq = (big * bigSq - small * smallSq) / (big - small);
  const trace = (smallSq - bigSq) / (1 / small - 1 / big);
  s.gradSq = NOISE_EMA * s.gradSq + (1 - NOISE_EMA) * gradSq;
  s.trace = NOISE_EMA * s.trace + (1 - NOISE_EMA) * trace;
  s.steps++;
  return current(s);
}

function current(s: NoiseScaleState): number | null {
  // the bias of a zero-started average cancels in the ratio; positive |G|² is required
  return s.steps >= 10 && s.gradSq > 0 && s.trace > 0 ? s.trace / s.gradSq : null;
}
