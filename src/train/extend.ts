// `--resume <run>` with a budget flag: the run continues to a larger budget of the same kind.
// run.json then records the new budget and the earlier limits (`extended_from`), from which
// the schedule gets one segment per extension (src/train/schedule.ts): a linear or cosine run,
// whose rate had decayed to zero, re-warms over the extension's warmup share and decays to
// zero again at the new end; a constant or wsd trunk goes on at its peak rate. A wsd trunk
// extends only before it keeps its first checkpoint for a branch: branches are fractions of the budget.
import { existsSync, readdirSync } from 'node:fs';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { runFile } from '../run/layout.js';
import { rewriteRunOptions } from '../run/run-args.js';
import { lockRun } from '../run/lock.js';
import { writesRuns } from '../run/rank.js';
import { agreed, dataParallel } from './data-parallel.js';
import { eventsOf, readMetrics } from '../run/metrics.js';
import { writeFileAtomic } from '../util/atomic.js';
import { budgetFromFlags, describeBudget, type Budget } from './budget.js';

export interface BudgetFlags {
  budget?: string;
  tokens?: string;
  steps?: string;
  flops?: string;
}

interface Extendable {
  budget?: string | number;
  tokens?: string | number;
  steps?: string | number;
  flops?: string | number;
  extended_from?: number[];
  schedule?: string;
}

const KIND_FLAG: Record<Budget['kind'], string> = { time: '--budget', tokens: '--tokens', steps: '--steps', flops: '--flops' };

function budgetOf(o: Extendable): Budget {
  const str = (v: string | number | undefined) => (v === undefined ? undefined : String(v));
  return budgetFromFlags({ budget: str(o.budget), tokens: str(o.tokens), steps: str(o.steps), flops: str(o.flops) });
}

/**
 * Resumes the run in `runDir` under its lock: `read` gives its options — extended first when
 * `extend` names a larger budget (rank 0 writes run.json, the other ranks read it after) — and
 * `body` trains with them, told whether there is a checkpoint to resume from (as rank 0 sees it).
 */
export async function resumeRun<O extends Extendable, T>(runDir: string, read: () => O, extend: BudgetFlags | undefined,
  body: (options: O, resumed: boolean) => Promise<T>): Promise<T> {
  read(); // "nothing to resume" before anything else
  // then the lock: an extension rewrites run.json and metrics.jsonl (the nested take in the run shares it)
  const release = writesRuns() ? lockRun(runDir) : () => {};
  try {
    let options = read();
    if (extend && writesRuns()) options = extendRun(runDir, options, extend);
    if (extend) {
      dataParallel()?.barrier();
      options = read();
    }
    return await body(options, agreed(existsSync(runFile(runDir, 'state'))));
  } finally {
    release();
  }
}

/**
 * The options of `runDir` extended to the budget in `flags`, written back to its run.json;
 * refuses a budget of another kind, one that is not larger, or a wsd run that has forked.
 */
export function extendRun<T extends Extendable>(runDir: string, options: T, flags: BudgetFlags): T {
  const old = budgetOf(options), next = budgetFromFlags(flags);
  if (next.kind !== old.kind) {
    throw new TlcError(`${runDir} has a ${old.kind} budget (${describeBudget(old)}); extend it with ${KIND_FLAG[old.kind]}, not ${KIND_FLAG[next.kind]}`);
  }
  if (!(next.limit > old.limit)) {
    throw new TlcError(`${runDir} has a budget of ${describeBudget(old)}; --resume with a budget extends a run, so the new one must be larger, got ${describeBudget(next)}`);
  }
  if (options.schedule === 'wsd') {
    const branches = runFile(runDir, 'branches');
    if (existsSync(branches) && readdirSync(branches).length > 0) {
      throw new TlcError(`${runDir}: a wsd run extends only before its first cooldown branch forks (its branches are fractions of the budget, ` +
        'and some have forked); start a new run with the larger budget');
    }
    const checkpoints = runFile(runDir, 'checkpoints');
    if (existsSync(checkpoints) && readdirSync(checkpoints).some((n) => n.startsWith('budget-'))) {
      throw new TlcError(`${runDir}: a wsd run extends only before it keeps its first checkpoint for a branch (kept at fractions of the ` +
        'budget, which a larger budget would move); start a new run with the larger budget');
    }
  }
  const flag = Object.keys(flags).find((k) => flags[k as keyof BudgetFlags] !== undefined) as keyof BudgetFlags;
  const extended = {
    ...options, budget: undefined, tokens: undefined, steps: undefined, flops: undefined, [flag]: flags[flag],
    extended_from: [...(options.extended_from ?? []), old.limit],
  };
  const events = readMetrics(runFile(runDir, 'metrics'));
  const end = eventsOf(events, 'end').pop();
  if (end?.stopped_early) {
    throw new TlcError(`${runDir} stopped early (its validation stopped improving for --patience evaluations); a larger budget would not train it further`);
  }
  rewriteRunOptions(runDir, extended);
  // no longer ended: the loop goes on, and readers see the run as unfinished until its new end
  if (end) writeFileAtomic(runFile(runDir, 'metrics'), events.filter((e) => e.event !== 'end').map((e) => JSON.stringify(e) + '\n').join(''));
  const how = options.schedule === 'linear' || options.schedule === 'cosine'
    ? 'the rate re-warms and decays to zero again at the new end' : 'the rate goes on at its peak';
  warn(`extending ${runDir} from ${describeBudget(old)} to ${describeBudget(next)}: ${how}`);
  return extended as T;
}
