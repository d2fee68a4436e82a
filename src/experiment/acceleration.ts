// Losses that fall *faster* as the budget grows. L = E + A/N^α + B/D^β gains βB·D^−β·ln 2 per
// doubling of D — less with every doubling — so a clear increase means a curve is in a phase the
// law cannot represent (typically the end of a plateau near the unigram loss, once the model
// learns to use context), and the law extrapolates it wrongly.

/** A size whose loss fell faster over a doubling of its tokens than over the doubling before. */
export interface Acceleration {
  /** The size (with its batch, `L2-D128-B32`, where the points hold several batch sizes of it). */
  label: string;
  /** Nats per doubling of tokens over the earlier and the later interval. */
  before: number;
  after: number;
  /** Tokens where the later interval starts (the last point before the fast fall) and ends. */
  from: number;
  to: number;
  /** The loss where the later interval starts. */
  fromLoss: number;
  /** Tokens where the later interval ends (= to). */
  tokens: number;
}

/**
 * An increase in gain counts when the later gain is ACCELERATION_RATIO× the earlier one, at least
 * ACCELERATION_NATS per doubling, and both that gain and the increase stand three standard
 * deviations clear of evaluation noise (EVAL_NOISE_NATS per loss). Intervals are at least
 * MIN_DOUBLINGS long: closer points are skipped, so short intervals do not magnify noise.
 */
const ACCELERATION_RATIO = 2, ACCELERATION_NATS = 0.05;
export const MIN_DOUBLINGS = 0.5;
export const EVAL_NOISE_NATS = 0.01;

export interface Curve {
  label: string;
  points: { tokens: number; loss: number }[];
}

/** The fall of a curve's loss over one interval, in nats per doubling of tokens. */
export interface Gain<P extends { tokens: number; loss: number }> {
  gain: number;
  doublings: number;
  from: P;
  to: P;
}

/** A curve's gains between consecutive points at least MIN_DOUBLINGS apart (closer points are skipped). */
export function gainsOf<P extends { tokens: number; loss: number }>(points: readonly P[]): Gain<P>[] {
  const mine = [...points].sort((a, b) => a.tokens - b.tokens);
  if (mine.length === 0) return [];
  const curve = [mine[0]];
  for (const p of mine) if (Math.log2(p.tokens / curve[curve.length - 1].tokens) >= MIN_DOUBLINGS) curve.push(p);
  return curve.slice(1).map((p, i) => {
    const doublings = Math.log2(p.tokens / curve[i].tokens);
    return { gain: (curve[i].loss - p.loss) / doublings, doublings, from: curve[i], to: p };
  });
}

/** The sharpest clear acceleration of each curve (none for a curve that never accelerates). */
export function accelerationsOf(curves: Curve[]): Acceleration[] {
  const found: Acceleration[] = [];
  for (const { label, points } of curves) {
    const gains = gainsOf(points);
    let worst: Acceleration | null = null;
    for (let i = 1; i < gains.length; i++) {
      const [a, b] = [gains[i - 1], gains[i]];
      // b − a = (L1 − L2)/d2 − (L0 − L1)/d1 over three noisy losses, L1 in both
      const noise = 3 * EVAL_NOISE_NATS * Math.sqrt(1 / b.doublings ** 2 + (1 / a.doublings + 1 / b.doublings) ** 2 + 1 / a.doublings ** 2);
      const increase = b.gain - a.gain;
      const clear = b.gain >= Math.max(ACCELERATION_NATS, (3 * Math.SQRT2 * EVAL_NOISE_NATS) / b.doublings) &&
        increase >= Math.max(ACCELERATION_NATS, noise) && b.gain > ACCELERATION_RATIO * Math.max(a.gain, 0);
      if (clear && (!worst || increase > worst.after - worst.before)) {
        worst = { label, before: a.gain, after: b.gain, from: b.from.tokens, to: b.to.tokens, fromLoss: b.from.loss, tokens: b.to.tokens };
      }
    }
    if (worst) found.push(worst);
  }
  return found;
}
