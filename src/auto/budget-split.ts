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

/**
 * A run stops at the first step that reaches its budget, so each training segment (a trunk, a
 * cooldown, an extension) may pass its share by up to one step: `stepCost` (one step of the
 * costliest candidate, in the budget's unit) is held back for each, so that all of them
 * together stay within `total`.
 */
export function splitBudget(total: number, explore: number, candidates: number, stepCost = 0): BudgetSplit {
  if (!(explore > 0 && explore < 1)) throw new RangeError(`the exploration share must lie between 0 and 1, got ${explore}`);
  const segments = candidates * (1 + EXPLORE_BRANCHES.length) + 2;
  const usable = total - segments * stepCost;
  if (!(usable > 0)) throw new RangeError(`a budget of ${total} is less than one step of each of the ${segments} training segments (${stepCost} each)`);
  const exploreCost = usable * explore;
  const trunk = exploreCost / (candidates * trunkCostFactor());
  // the first cooldown must fork after at least one step of its trunk
  const firstFork = Math.min(...EXPLORE_BRANCHES);
  if (trunk * firstFork < stepCost) {
    const least = ((stepCost / firstFork) * candidates * trunkCostFactor()) / explore + segments * stepCost;
    throw new RangeError(`each of the ${candidates} candidates would train less than a step before its first cooldown; the budget must be at least ${least.toPrecision(3)}`);
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
