// The budget `tlc plan` plans for: training time ("2h"), tokens ("2B", "5e9") or FLOPs
// ("1e21flops"), as `pretrain` takes them.
import { TlcError } from '../util/errors.js';
import { formatSeconds, parseCount, parseDuration } from '../train/budget.js';

export type PlanBudget =
  | { kind: 'time'; seconds: number }
  | { kind: 'tokens'; tokens: number }
  | { kind: 'flops'; flops: number };

/** "2h", "90m" → time; "1e21flops", "3.5e18 FLOPs" → FLOPs; "2B", "500M", "5e9" → tokens. */
export function parsePlanBudget(text: string): PlanBudget {
  const s = text.trim();
  const flops = /^(.+?)\s*flops?$/i.exec(s);
  if (flops) return { kind: 'flops', flops: parseCount(flops[1], 'FLOP budget') };
  if (/^\d+(\.\d+)?(e\d+)?[kKMGBTP]?(\s*tokens?)?$/.test(s) && !/^\d+(\.\d+)?$/.test(s)) {
    const count = s.replace(/\s*tokens?$/, '').replace(/B$/, 'G');
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
