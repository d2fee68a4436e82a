// The plateau rule. A language model's loss first sits on a plateau near the unigram loss and
// then drops once it learns to use context (the masked-LM "sudden drop", Chen et al. 2024); the
// drop comes later for larger sizes. L = E + A/N^α + B/D^β cannot represent it: fitted on points
// before a size's drop it extrapolates the plateau. So, per size, from its own points:
//   left        its loss accelerated over a doubling (the drop); points up to the drop are kept
//               out of the law;
//   on-plateau  no drop yet: its losses lie on the plateau line the sizes that dropped drew
//               before their drop (or above the unigram loss); the law says nothing about it;
//   unseen      no plateau in its points: all of them follow the law.
// Where two or more sizes dropped, the drop's onset is fitted as a power of size, D_on ∝ N^k,
// which tells whether another size will have left the plateau at a budget.
import { accelerationsOf, gainsOf, EVAL_NOISE_NATS, type Acceleration } from './acceleration.js';

export interface SizePoint {
  /** The size's label (a preset, or a points file's group). */
  size: string;
  params: number;
  tokens: number;
  loss: number;
}

export interface PlateauDecision {
  size: string;
  params: number;
  state: 'left' | 'on-plateau' | 'unseen';
  /** The drop lies between these token counts (state 'left'). */
  dropAfter: number | null;
  dropBy: number | null;
  /** Points kept out of the law (before the drop, or all of a size on the plateau). */
  excluded: number;
  reason: string;
  /** How far the size's points reach past the end of its drop (state 'left' with a clear fall; null otherwise). */
  dropEnd: DropEnd | null;
}

/**
 * The end of a drop: the start of the first doubling after its steepest one that fell less than
 * half as much. Past it the loss bends toward the law; over one doubling that bend and the law's
 * own slope look alike, so a size's slope past its drop is measured only over two.
 */
export interface DropEnd {
  /** Tokens where the steep fall ended (null: at the last point the loss still fell as steeply). */
  at: number | null;
  /** Doublings of tokens measured past `at` (0 when the drop is still under way). */
  doublingsPast: number;
  /** Nats per doubling over the steepest interval, and over the last one. */
  steepest: number;
  last: number;
}

/** Doublings past the end of its drop a size's points need for the law's slope there to be measured. */
export const SETTLED_DOUBLINGS = 2;
/** A ladder's budgets are whole steps, so its doublings of tokens measure a little under or over one. */
const DOUBLING_SLACK = 0.1;

export interface OnsetModel {
  /** ln D_on = c + k·ln N over the sizes that dropped. */
  c: number;
  k: number;
  sizes: string[];
}

export interface PlateauAnalysis {
  decisions: PlateauDecision[];
  /** The plateau line's loss at its centre (null: no size dropped). */
  plateauLevel: number | null;
  line: PlateauLine | null;
  onset: OnsetModel | null;
  /** Whether any point is kept out of the law. */
  active: boolean;
}

/** Below the plateau line by this much, a point has left it (three noise sds of a difference). */
export const PLATEAU_MARGIN_NATS = 3 * Math.SQRT2 * EVAL_NOISE_NATS;

/** The plateau as a line in log tokens, loss = level − slope·log2(tokens / at), through the points before each drop. */
export interface PlateauLine {
  level: number;
  at: number;
  slope: number;
  /** How far below the line a point must lie to have left it. */
  margin: number;
  /** The token range of the points it was drawn through: extrapolated at most EXTRAPOLATED_DOUBLINGS beyond, flat after. */
  from: number;
  to: number;
}

/**
 * Decides each size's regime from its points. `unigramLoss`, where known, marks a point above it
 * as on the plateau (it has learned nothing a frequency table does not know).
 */
export function analysePlateaus(points: SizePoint[], unigramLoss: number | null = null): PlateauAnalysis {
  const sizes = [...new Set(points.map((p) => p.size))];
  const curves = new Map(sizes.map((s) => [s, points.filter((p) => p.size === s).sort((a, b) => a.tokens - b.tokens)]));
  const drops = new Map(accelerationsOf(sizes.map((s) => ({ label: s, points: curves.get(s)! }))).map((a) => [a.label, a]));
  const line = plateauLine([...drops.values()].flatMap((a) => curves.get(a.label)!.filter((p) => p.tokens <= a.from)));
  const onPlateau = (p: SizePoint): boolean =>
    (unigramLoss !== null && p.loss > unigramLoss) || (line !== null && p.loss > lineAt(line, p.tokens) - line.margin);
  const decisions = sizes.map((size) => decide(size, curves.get(size)!, drops.get(size), onPlateau, unigramLoss));
  return { decisions, plateauLevel: line?.level ?? null, line, onset: fitOnset(decisions), active: decisions.some((d) => d.excluded > 0) };
}

function decide(size: string, curve: SizePoint[], drop: Acceleration | undefined, onPlateau: (p: SizePoint) => boolean, unigramLoss: number | null): PlateauDecision {
  const params = curve[0].params;
  if (drop) {
    const excluded = curve.filter((p) => p.tokens <= drop.from).length;
    return {
      size, params, state: 'left', dropAfter: drop.from, dropBy: drop.to, excluded, dropEnd: dropEndOf(curve, drop.from),
      reason: `its loss fell ${drop.before.toFixed(2)} then ${drop.after.toFixed(2)} nats per doubling of tokens: it left the plateau between ` +
        `${formatTokens(drop.from)} and ${formatTokens(drop.to)} tokens; the ${excluded} point(s) before are kept out of the law`,
    };
  }
  // the leading points that lie on the plateau (the drop may come before a second interval shows it)
  let lead = 0;
  while (lead < curve.length && onPlateau(curve[lead])) lead++;
  if (lead === curve.length) {
    const last = curve[curve.length - 1];
    const why = unigramLoss !== null && curve.every((p) => p.loss > unigramLoss)
      ? `every loss is above the unigram loss ${unigramLoss.toFixed(3)}`
      : `its last loss ${last.loss.toFixed(3)} (${formatTokens(last.tokens)} tokens) is still where the sizes that dropped were before their drop`;
    return { size, params, state: 'on-plateau', dropAfter: null, dropBy: null, excluded: curve.length, reason: `it has not left the plateau: ${why}`, dropEnd: null };
  }
  if (lead > 0) {
    const [from, to] = [curve[lead - 1], curve[lead]];
    return {
      size, params, state: 'left', dropAfter: from.tokens, dropBy: to.tokens, excluded: lead, dropEnd: dropEndOf(curve, from.tokens),
      reason: `its loss left the plateau between ${formatTokens(from.tokens)} and ${formatTokens(to.tokens)} tokens (${from.loss.toFixed(3)} to ${to.loss.toFixed(3)}); ` +
        `the ${lead} point(s) on it are kept out of the law`,
    };
  }
  return { size, params, state: 'unseen', dropAfter: null, dropBy: null, excluded: 0, reason: 'no plateau in its points', dropEnd: null };
}

/**
 * Where the drop that starts after `dropAfter` tokens ended, from the size's own points; null
 * where no fall past that point stands clear of evaluation noise (nothing steep to end).
 */
function dropEndOf(curve: SizePoint[], dropAfter: number): DropEnd | null {
  const gains = gainsOf(curve.filter((p) => p.tokens >= dropAfter));
  let top = 0;
  for (let i = 1; i < gains.length; i++) if (gains[i].gain > gains[top].gain) top = i;
  if (gains.length === 0 || gains[top].gain < PLATEAU_MARGIN_NATS) return null;
  const end = gains.findIndex((g, i) => i > top && g.gain < gains[top].gain / 2);
  const at = end < 0 ? null : gains[end].from.tokens;
  return {
    at, doublingsPast: at === null ? 0 : Math.log2(curve[curve.length - 1].tokens / at),
    steepest: gains[top].gain, last: gains[gains.length - 1].gain,
  };
}

/** Whether a size's points reach less than SETTLED_DOUBLINGS past the end of its drop. */
export function shortPastDrop(decision: PlateauDecision): boolean {
  return decision.dropEnd !== null && decision.dropEnd.doublingsPast < SETTLED_DOUBLINGS - DOUBLING_SLACK;
}

/**
 * The sizes whose points reach less than SETTLED_DOUBLINGS past the end of their drop, in words:
 * past their points the law's slope is a guess, and predictions there may miss by more than their
 * bands (null: every size that dropped is settled).
 */
export function unsettledDrops(decisions: readonly PlateauDecision[]): string | null {
  const short = decisions.filter(shortPastDrop);
  if (short.length === 0) return null;
  const what = short.map(({ size, dropEnd: e }) => e!.at === null
    ? (e!.last === e!.steepest
      ? `${size}'s points end in its drop (${e!.last.toFixed(2)} nats per doubling over its last interval, its steepest)`
      : `${size} still fell ${e!.last.toFixed(2)} nats per doubling at its last point (${e!.steepest.toFixed(2)} at the steepest)`)
    : `${size} reaches ${e!.doublingsPast.toFixed(1)} doubling${e!.doublingsPast.toFixed(1) === '1.0' ? '' : 's'} past the end of its drop at ${formatTokens(e!.at)} tokens ` +
      `(${e!.steepest.toFixed(2)} then ${e!.last.toFixed(2)} nats per doubling)`);
  return `${what.join('; ')}: past ${short.length > 1 ? 'their' : 'its'} points the law's slope is not measured ` +
    `(a bend toward a floor and the slope look alike over less than ${SETTLED_DOUBLINGS} doublings), so predictions there may miss by more than their bands; ` +
    `budgets ${SETTLED_DOUBLINGS} doublings past the drop would measure its slope`;
}

/** Least squares through the pre-drop points (flat through a single one); null without any. */
function plateauLine(pre: SizePoint[]): PlateauLine | null {
  if (pre.length === 0) return null;
  const x = pre.map((p) => Math.log2(p.tokens)), y = pre.map((p) => p.loss);
  const mx = x.reduce((a, b) => a + b, 0) / x.length, my = y.reduce((a, b) => a + b, 0) / y.length;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  // a plateau never rises: a positive fitted slope is noise
  const slope = sxx > 0 ? Math.max(0, -sxy / sxx) : 0;
  const residuals = x.map((xi, i) => y[i] - (my - slope * (xi - mx)));
  const rms = Math.sqrt(residuals.reduce((a, r) => a + r * r, 0) / residuals.length);
  const tokens = pre.map((p) => p.tokens);
  return { level: my, at: 2 ** mx, slope, margin: Math.max(PLATEAU_MARGIN_NATS, 2 * rms), from: Math.min(...tokens), to: Math.max(...tokens) };
}

const EXTRAPOLATED_DOUBLINGS = 2;

function lineAt(line: PlateauLine, tokens: number): number {
  const reach = 2 ** EXTRAPOLATED_DOUBLINGS;
  const within = Math.min(line.to * reach, Math.max(line.from / reach, tokens));
  return line.level - line.slope * Math.log2(within / line.at);
}

/** ln D_on = c + k·ln N through the drops' midpoints (geometric), from two or more sizes. */
function fitOnset(decisions: PlateauDecision[]): OnsetModel | null {
  const left = decisions.filter((d) => d.state === 'left');
  const byParams = new Map<number, number[]>();
  for (const d of left) byParams.set(d.params, [...(byParams.get(d.params) ?? []), 0.5 * (Math.log(d.dropAfter!) + Math.log(d.dropBy!))]);
  if (byParams.size < 2) return null;
  const xs = [...byParams.keys()].map(Math.log);
  const ys = [...byParams.values()].map((v) => v.reduce((a, b) => a + b, 0) / v.length);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length, my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const k = sxy / sxx;
  return { c: my - k * mx, k, sizes: left.map((d) => d.size) };
}

/** Tokens at which a size of `params` is expected to leave its plateau. */
export function predictedOnset(onset: OnsetModel, params: number): number {
  return Math.exp(onset.c + onset.k * Math.log(params));
}

/**
 * Whether the law may predict a size of `params` at `tokens`: null when it may, else why not.
 * `decision` is the size's own (null for a size without points). A size past its drop, or
 * predicted by the onset model to be a doubling past it, follows the law; one predicted still
 * on its plateau, or in the middle of its drop, cannot be predicted by it.
 */
export function plateauBlocks(analysis: PlateauAnalysis, params: number, tokens: number, decision: PlateauDecision | null): string | null {
  if (!analysis.active) return null;
  if (decision && decision.state !== 'on-plateau') return null;
  const onset = analysis.onset;
  if (onset === null) {
    if (decision) return `${decision.reason}; fewer than two sizes have dropped, so when it will is unknown`;
    const past = analysis.decisions.filter((d) => d.state !== 'on-plateau').map((d) => d.params);
    if (past.length > 0 && params <= Math.max(...past)) return null;
    return 'no size this large has left the plateau in the points, and fewer than two sizes have dropped to tell when it would';
  }
  const at = predictedOnset(onset, params);
  if (tokens >= 2 * at) return null;
  const own = decision ? `${decision.reason}; ` : '';
  return `${own}the drop's onset, fitted across ${onset.sizes.join(', ')} (D_on ∝ N^${onset.k.toFixed(2)}), is expected near ${formatTokens(at)} tokens, ` +
    `and ${formatTokens(tokens)} tokens is ${tokens < at ? 'before it' : 'within a doubling of it'}: the law cannot say where its loss will be`;
}

/** A token count as 12.6M, 1.2B or 640k. */
export function formatTokens(tokens: number): string {
  return tokens >= 1e9 ? `${(tokens / 1e9).toPrecision(3)}B` : tokens >= 1e6 ? `${(tokens / 1e6).toPrecision(3)}M` : `${Math.round(tokens / 1e3)}k`;
}
