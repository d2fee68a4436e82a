// Training budgets: wall-clock of training (evaluation and checkpoints excluded),
// tokens, optimizer steps or FLOPs. Progress through the budget drives the LR schedule.
import { TlcError } from '../util/errors.js';

export type BudgetKind = 'time' | 'tokens' | 'steps' | 'flops';

export interface Budget {
  kind: BudgetKind;
  /** Seconds, tokens, steps or FLOPs. */
  limit: number;
}

/** Where a run stands; all counters are cumulative over resumes. */
export interface BudgetUsage {
  trainSeconds: number;
  tokens: number;
  steps: number;
  flops: number;
}

const UNITS: Record<string, number> = { ms: 1e-3, s: 1, m: 60, min: 60, h: 3600, d: 86400 };

/** "90s", "10m", "1.5h", "2h30m" or plain seconds → seconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    if (!(Number(s) > 0)) throw new TlcError(`invalid duration "${text}": a budget must be positive`);
    return Number(s);
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|min|m|h|d)/gy;
  let total = 0, matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (matched !== s.length || matched === 0 || !(total > 0)) {
    throw new TlcError(`invalid duration "${text}": use e.g. 90s, 10m, 2h or 1h30m`);
  }
  return total;
}

/** "5e9", "2M", "1.5G", "3T" or an integer → number. */
export function parseCount(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)([kKMGTP]?)$/.exec(text.trim());
  const mult: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
  if (!m) throw new TlcError(`invalid ${what} "${text}": use e.g. 1000000, 2M, 5e9, 1.5G`);
  const v = Number(m[1]) * mult[m[2]];
  if (!(v > 0) || !Number.isFinite(v)) throw new TlcError(`invalid ${what} "${text}": must be positive`);
  return v;
}

/** The flags (and sweep or run.json keys) that set a budget: --budget is a duration, the others counts. */
export const BUDGET_FLAGS = ['budget', 'tokens', 'steps', 'flops'] as const;

export function budgetFromFlags(flags: { budget?: string; tokens?: string; steps?: string; flops?: string }): Budget {
  const given = BUDGET_FLAGS.filter((k) => flags[k] !== undefined);
  if (given.length === 0) throw new TlcError('no budget: pass one of --budget <duration>, --tokens N, --steps N, --flops N');
  if (given.length > 1) throw new TlcError(`pass exactly one budget, got ${given.map((g) => '--' + g).join(', ')}`);
  const k = given[0];
  if (k === 'budget') return { kind: 'time', limit: parseDuration(flags.budget!) };
  if (k === 'steps') {
    const n = parseCount(flags.steps!, 'step count');
    if (!Number.isInteger(n)) throw new TlcError(`--steps must be an integer, got ${flags.steps}`);
    return { kind: 'steps', limit: n };
  }
  return { kind: k, limit: parseCount(flags[k]!, k === 'tokens' ? 'token count' : 'FLOP count') };
}

export function used(b: Budget, u: BudgetUsage): number {
  switch (b.kind) {
    case 'time': return u.trainSeconds;
    case 'tokens': return u.tokens;
    case 'steps': return u.steps;
    case 'flops': return u.flops;
  }
}

/** Fraction of the budget spent, in [0, 1]. */
export function budgetProgress(b: Budget, u: BudgetUsage): number {
  return Math.min(1, used(b, u) / b.limit);
}

export function budgetSpent(b: Budget, u: BudgetUsage): boolean {
  return used(b, u) >= b.limit;
}

export function describeBudget(b: Budget): string {
  switch (b.kind) {
    case 'time': return `${formatSeconds(b.limit)} of training time`;
    case 'tokens': return `${b.limit.toExponential(2)} tokens`;
    case 'steps': return `${b.limit} steps`;
    case 'flops': return `${b.limit.toExponential(2)} FLOPs`;
  }
}

export function formatSeconds(s: number): string {
  if (s < 59.5) return `${s.toFixed(s < 9.95 ? 1 : 0)}s`;
  const whole = Math.round(s);
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
