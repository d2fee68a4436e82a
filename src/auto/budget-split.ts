// How `tlc auto` spends a pretraining budget: a share explores (one warmup–stable–decay trunk
// per candidate size, with cooldown branches), the rest trains the chosen size on — its trunk
// extended, then one final cooldown. Everything here is in the budget's own unit (seconds of
// one worker, tokens or FLOPs); the caller turns seconds into each size's tokens with its
// measured throughput. Pure arithmetic, no I/O.

/** Where exploration trunks fork cooldown branches (fractions of the trunk). */
export const EXPLORE_BRANCHES = [0.25, 0.5, 1];
/** A cooldown trains on for this share of the training done before it (wsd, 1 − √t). */
export const COOLDOWN = 0.2;
/** Default share of the pretraining budget spent exploring. */
export const DEFAULT_EXPLORE = 0.2;

/** What a wsd trunk of length T costs with its branches: T·(1 + cooldown·Σ fractions). */
export function trunkCostFactor(branches: readonly number[] = EXPLORE_BRANCHES, cooldown = COOLDOWN): number {
  return 1 + cooldown * branches.reduce((s, f) => s + f, 0);
}

export interface BudgetSplit {
  /** The whole pretraining budget. */
  total: number;
  /** Spent exploring, all candidates together (trunks and branches). */
  explore: number;
  /** Each candidate's trunk length. */
  trunk: number;
  /** Left for the chosen size's extension and final cooldown. */
  final: number;
}

/** An exploration trunk trains at least this many steps (its first cooldown forks after a quarter of them). */
export const MIN_TRUNK_STEPS = 40;

/**
 * A run stops at the first step that reaches its budget, so each training segment may pass its
 * share by up to one step. Held back: one step of each candidate for its trunk and each of its
 * cooldowns, and two of the costliest for the final extension and cooldown (in the budget's unit).
 */
export function reserveFor(stepCosts: number[]): number {
  return stepCosts.reduce((s, c) => s + (1 + EXPLORE_BRANCHES.length) * c, 0) + 2 * Math.max(0, ...stepCosts);
}

/**
 * The split of `total` among `candidates` exploration trunks and the final training, with
 * `reserve` held back; refused when the costliest candidate (one step: `maxStep`) would train
 * fewer than MIN_TRUNK_STEPS steps in its trunk.
 */
export function splitBudget(total: number, explore: number, candidates: number, reserve = 0, maxStep = 0, unit = ''): BudgetSplit {
  if (!(explore > 0 && explore < 1)) throw new RangeError(`the exploration share must lie between 0 and 1, got ${explore}`);
  const usable = total - reserve;
  const exploreCost = usable * explore;
  const trunk = exploreCost / (candidates * trunkCostFactor());
  if (!(usable > 0) || trunk < MIN_TRUNK_STEPS * maxStep) {
    const least = (MIN_TRUNK_STEPS * maxStep * candidates * trunkCostFactor()) / explore + reserve;
    throw new RangeError(`each of the ${candidates} candidates would train fewer than ${MIN_TRUNK_STEPS} steps in its exploration; the budget must be at least ${least.toPrecision(3)}${unit}`);
  }
  return { total, explore: exploreCost, trunk, final: usable - exploreCost };
}

/**
 * The trunk length B′ the chosen size reaches when it goes on from its exploration trunk T
 * with `remaining` budget: the extension (B′ − T) and one cooldown at the end (cooldown·B′)
 * together spend it, so B′ = (remaining + T) / (1 + cooldown).
 */
export function finalTrunk(trunk: number, remaining: number, cooldown = COOLDOWN): number {
  return Math.max(trunk, (remaining + trunk) / (1 + cooldown));
}

/** Chinchilla's rule of thumb: about 20 training tokens per parameter is compute-optimal. */
export const TOKENS_PER_PARAM = 20;

export interface SizeEstimate {
  preset: string;
  nonEmbedding: number;
  /** Tokens the whole budget buys this size. */
  tokens: number;
}

/**
 * The candidate sizes: the one whose tokens per parameter in the whole budget come nearest to
 * TOKENS_PER_PARAM (a prior only: the exploration measures), one size below it and two above
 * (larger sizes are the paper's bet), within the ladder given in order of size.
 */
export function candidateSizes(ladder: SizeEstimate[], count = 4): { candidates: string[]; centre: string } {
  if (ladder.length === 0) throw new RangeError('no sizes to choose from');
  const distance = (s: SizeEstimate) => Math.abs(Math.log(s.tokens / s.nonEmbedding / TOKENS_PER_PARAM));
  const centre = ladder.reduce((best, s, i) => (distance(s) < distance(ladder[best]) ? i : best), 0);
  let lo = Math.max(0, centre - 1);
  const hi = Math.min(ladder.length, lo + count);
  lo = Math.max(0, hi - count);
  return { candidates: ladder.slice(lo, hi).map((s) => s.preset), centre: ladder[centre].preset };
}
