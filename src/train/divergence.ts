// Divergence checks of the training loop: a loss far above its recent median, or a gradient
// norm that stays far above its own, stops a run before it reaches NaN.

/** Steps of loss history a divergence is judged against. */
const DIVERGENCE_WINDOW = 50;
/** A loss this many times the recent median (and at least 1 nat above it) is divergence, not noise. */
const DIVERGENCE_FACTOR = 4;

/**
 * Judges `value` against the median of the last DIVERGENCE_WINDOW values (once that many are
 * in) with `verdict`, then records it: the window both divergence checks slide.
 */
function againstRecentMedian(recent: number[], value: number, verdict: (median: number) => string | null): string | null {
  let problem: string | null = null;
  if (recent.length === DIVERGENCE_WINDOW) {
    const sorted = [...recent].sort((a, b) => a - b);
    problem = verdict((sorted[DIVERGENCE_WINDOW / 2 - 1] + sorted[DIVERGENCE_WINDOW / 2]) / 2);
    recent.shift();
  }
  recent.push(value);
  return problem;
}

/** Whether `loss` shows the run blowing up before it reaches NaN: far above the recent median; records the loss. */
export function divergence(recent: number[], loss: number): string | null {
  return againstRecentMedian(recent, loss, (median) => (loss > DIVERGENCE_FACTOR * median && loss > median + 1
    ? `loss ${loss.toFixed(3)} is more than ${DIVERGENCE_FACTOR}× the median ${median.toFixed(3)} of the last ${DIVERGENCE_WINDOW} steps` : null));
}

/**
 * A gradient norm this many times the recent median is a run blowing up, usually steps before
 * its loss does; a finetuning batch the model gets badly wrong can spike a hundredfold and be fine.
 */
const GRAD_NORM_FACTOR = 1000;
/**
 * Steps in a row the norm must stay that high: one batch far from a model that fits its data
 * almost perfectly (median norms near zero) spikes a thousandfold once, an explosion keeps growing.
 */
const GRAD_NORM_STREAK = 3;

/**
 * Whether the gradient norm (before clipping) has grown far past the recent median for
 * GRAD_NORM_STREAK steps — clipping hides such steps from the weights, but not from Adam's
 * moments, and a run whose gradients explode is about to diverge; records the norm.
 */
export function gradNormDivergence(recent: number[], norm: number): string | null {
  const before = recent.slice(-(GRAD_NORM_STREAK - 1));
  return againstRecentMedian(recent, norm, (median) => {
    const high = (x: number) => x > GRAD_NORM_FACTOR * median;
    if (Number.isFinite(norm) && !(high(norm) && before.length === GRAD_NORM_STREAK - 1 && before.every(high))) return null;
    return `the gradient norm ${norm.toPrecision(3)} is more than ${GRAD_NORM_FACTOR}× the median ${median.toPrecision(3)} of the last ` +
      `${DIVERGENCE_WINDOW} steps${Number.isFinite(norm) ? `, ${GRAD_NORM_STREAK} steps in a row` : ''}`;
  });
}
