// A settled size's own curve. Past the end of its drop, a size whose points span two doublings or
// more is predicted from those points alone, L = E + B·D^−β (the per-model curve of Hoffmann et
// al.'s approach 1), rather than from the law across sizes: the drop model shares one data term
// and one drop shape among all sizes, and bends each size's curve by what the others do (on the
// README's hour-scale ladder it missed its own points by up to 9%). The curve is trusted as far past its
// points as they span; its band runs from the size's last slope continued (past the drop the law's
// slope only shrinks, so that bounds the loss from below) to its last loss (a loss that stops
// falling at once).
import { formatTokens } from './plateau.js';
import { MIN_DOUBLINGS } from './acceleration.js';

/** L(D) = E + B·(D/ref)^−β through one size's points past its drop. */
export interface OwnCurve {
  size: string;
  E: number;
  B: number;
  beta: number;
  /** Token count the curve's B is scaled to (its last point). */
  ref: number;
  /** The points it goes through: tokens (as the regime counts them) and losses, in order. */
  points: { tokens: number; loss: number }[];
  /** Root mean square of the relative residuals (0 through exactly three points). */
  rmse: number;
}

const MIN_POINTS = 3;
/** β is searched on a log grid over this range, then refined. */
const BETA_RANGE: [number, number] = [1e-3, 4];
const GRID = 400;

/**
 * Least squares on relative residuals, (E + B·x − L)/L with x = (D/ref)^−β: linear in E and B for
 * each β, so β is searched and E, B solved exactly (E ≥ 0). Null with fewer than three points or
 * where no falling curve fits (the points do not fall).
 */
export function fitOwnCurve(size: string, points: readonly { tokens: number; loss: number }[]): OwnCurve | null {
  const sorted = [...points].sort((a, b) => a.tokens - b.tokens);
  // three points at least, over a doubling at least: a slope to continue and a bend to measure
  if (sorted.length < MIN_POINTS || Math.log2(sorted[sorted.length - 1].tokens / sorted[0].tokens) < 1) return null;
  const ref = sorted[sorted.length - 1].tokens;
  let best: { E: number; B: number; beta: number; err: number } | null = null;
  const consider = (beta: number) => {
    const s = solveAt(sorted, ref, beta);
    if (s && (best === null || s.err < best.err)) best = { ...s, beta };
  };
  const [lo, hi] = BETA_RANGE.map(Math.log);
  for (let i = 0; i <= GRID; i++) consider(Math.exp(lo + ((hi - lo) * i) / GRID));
  if (best === null) return null;
  // golden-section refinement within one grid step either side
  const step = (hi - lo) / GRID;
  let a = Math.max(lo, Math.log((best as { beta: number }).beta) - step), b = Math.min(hi, a + 2 * step);
  const errAt = (logBeta: number) => solveAt(sorted, ref, Math.exp(logBeta))?.err ?? Infinity;
  for (let k = 0; k < 60; k++) {
    const m1 = b - (b - a) / 1.618033988749895, m2 = a + (b - a) / 1.618033988749895;
    if (errAt(m1) < errAt(m2)) b = m2;
    else a = m1;
  }
  consider(Math.exp((a + b) / 2));
  const { E, B, beta, err } = best as { E: number; B: number; beta: number; err: number };
  return { size, E, B, beta, ref, points: sorted, rmse: Math.sqrt(err / sorted.length) };
}

/** E and B at one β, and the sum of squared relative residuals; null where the curve would not fall. */
function solveAt(points: readonly { tokens: number; loss: number }[], ref: number, beta: number): { E: number; B: number; err: number } | null {
  let sw = 0, swx = 0, swxx = 0, swl = 0, swxl = 0;
  for (const p of points) {
    const w = 1 / (p.loss * p.loss), x = (p.tokens / ref) ** -beta;
    sw += w; swx += w * x; swxx += w * x * x; swl += w * p.loss; swxl += w * x * p.loss;
  }
  const det = sw * swxx - swx * swx;
  let E = det > 0 ? (swxx * swl - swx * swxl) / det : 0;
  let B = det > 0 ? (sw * swxl - swx * swl) / det : 0;
  if (!(E >= 0)) {
    E = 0;
    B = swxl / swxx;
  }
  if (!(B > 0)) return null;
  let err = 0;
  for (const p of points) err += ((E + B * (p.tokens / ref) ** -beta - p.loss) / p.loss) ** 2;
  return { E, B, err };
}

/**
 * "L2-D128: past the end of its drop its 3 points (50.6M–202M tokens) set its curve, L = 1.077 +
 * 2.049·(D/202M)^−0.233, trusted up to 809M tokens"; `effective`: its tokens are effective tokens
 * (repeated ones discounted), and so said.
 */
export function describeOwnCurve(c: OwnCurve, effective: boolean): string {
  const first = c.points[0].tokens, last = c.points[c.points.length - 1].tokens;
  const unit = effective ? 'effective tokens' : 'tokens';
  return `${c.size}: past the end of its drop its ${c.points.length} points (${formatTokens(first)}–${formatTokens(last)} ${unit}) set its curve, ` +
    `L = ${c.E.toFixed(3)} + ${c.B.toFixed(3)}·(D/${formatTokens(c.ref)})^−${c.beta.toFixed(3)}` +
    `${c.rmse > 1e-9 ? ` (RMSE ${(100 * c.rmse).toFixed(2)}%)` : ''}, trusted up to ${formatTokens(ownCurveReach(c))} ${unit}`;
}

export function ownCurveAt(c: OwnCurve, tokens: number): number {
  return c.E + c.B * (tokens / c.ref) ** -c.beta;
}

/** How far past its last point the curve is trusted: as many doublings as its points span. */
export function ownCurveReach(c: OwnCurve): number {
  return c.points[c.points.length - 1].tokens * (c.points[c.points.length - 1].tokens / c.points[0].tokens);
}

/**
 * The band of an own-curve prediction at `tokens` (as the curve counts them), widened by the
 * evaluation's `noise`. Within its points: the measured losses either side (a curve past its drop
 * only falls). Past them: from the last slope continued (measured over at least half a doubling)
 * to the last loss.
 */
export function ownCurveBand(c: OwnCurve, tokens: number, predicted: number, noise: number): { low: number; high: number; fromSlope: boolean } {
  const pts = c.points;
  const last = pts[pts.length - 1];
  if (tokens <= last.tokens) {
    const after = pts.find((p) => p.tokens >= tokens)!;
    const before = [...pts].reverse().find((p) => p.tokens <= tokens) ?? pts[0];
    return { low: Math.min(predicted, after.loss) - noise, high: Math.max(predicted, before.loss) + noise, fromSlope: false };
  }
  const prev = pts.filter((p) => Math.log2(last.tokens / p.tokens) >= MIN_DOUBLINGS).pop()!;
  const slope = Math.log(prev.loss / last.loss) / Math.log(last.tokens / prev.tokens);
  const bound = last.loss * (tokens / last.tokens) ** -slope;
  return { low: Math.min(predicted, bound) - noise, high: Math.max(predicted, last.loss) + noise, fromSlope: bound < predicted };
}
