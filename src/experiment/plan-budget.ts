// The budget `tlc plan` plans for: training time ("2h"), tokens ("2B", "5e9") or FLOPs
// ("1e21flops"), as `pretrain` takes them.
import { TlcError } from '../util/errors.js';
import { formatSeconds, parseCount, parseDuration } from '../train/budget.js';

export type PlanBudget =
  | { kind: 'time'; seconds: number }
  | { kind: 'tokens'; tokens: number }
  | { kind: 'flops'; flops: number };

/**
 * "2h", "90m", "3600s" → time; "1e21flops", "3.5e18 FLOPs" → FLOPs; "2B", "500M", "5e9 tokens" →
 * tokens. A bare number names no unit, so it is refused rather than guessed.
 */
export function parsePlanBudget(text: string): PlanBudget {
  const s = text.trim();
  if (/^\d+(\.\d+)?(e\d+)?$/i.test(s)) {
    throw new TlcError(`--budget "${text}" names no unit: give a training time (${s}s), tokens (${s} tokens) or FLOPs (${s}flops)`);
  }
  const flops = /^(.+?)\s*flops?$/i.exec(s);
  if (flops) return { kind: 'flops', flops: parseCount(flops[1].replace(/E/, 'e'), 'FLOP budget') };
  // the unit letters are case-sensitive: 2m is two minutes, 2M two million tokens
  if (/^\d+(\.\d+)?([eE]\d+)?(\s*[Tt]okens?|[kKMGBTP](\s*[Tt]okens?)?)$/.test(s)) {
    const count = s.replace(/\s*[Tt]okens?$/, '').replace(/B$/, 'G').replace(/E/, 'e');
    return { kind: 'tokens', tokens: parseCount(count, 'token budget') };
  }
  try {
    return { kind: 'time', seconds: parseDuration(s) };
  } catch {
    throw new TlcError(`invalid --budget "${text}": give a training time (2h, 90m), tokens (2B, 500M, 5e9 tokens) or FLOPs (1e21flops)`);
  }
}

export function describePlanBudget(b: PlanBudget): string {
  switch (b.kind) {
    case 'time': return `${formatSeconds(b.seconds)} of training`;
    case 'tokens': return `${formatCount(b.tokens)} training tokens`;
    case 'flops': return `${b.flops.toExponential(2)} training FLOPs`;
  }
}

export function formatCount(v: number): string {
  for (const [unit, scale] of [['T', 1e12], ['B', 1e9], ['M', 1e6], ['k', 1e3]] as const) {
    if (v >= scale) return `${(v / scale).toPrecision(3)}${unit}`;
  }
  return String(Math.round(v));
}
