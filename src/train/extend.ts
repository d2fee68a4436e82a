// `--resume <run>` with a budget flag: the run continues to a larger budget of the same kind.
// run.json then records the new budget and the earlier limits (`extended_from`), from which
// the schedule gets one segment per extension (src/train/schedule.ts): a linear or cosine run,
// whose rate had decayed to zero, re-warms over the extension's warmup share and decays to
// zero again at the new end; a constant or wsd trunk goes on at its peak rate.
//
// A wsd trunk keeps its cooldown branches: they are end-of-schedule points at fixed amounts of
// training, so what they are called changes, not what they are. Going from budget B to B′, a
// branch or tagged checkpoint at fraction f (of B) becomes fraction f·B/B′ (of B′); the run's
// fractions become those, plus the configured fractions of B′ the trunk has not reached yet
// (doubling a budget with branches at 1/8, 1/4, 1/2, 1 forks just one new branch, at the end).
// The renames are journaled (extension.json), so an extension interrupted half-way is finished
// by the next resume instead of being done twice.
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { bf16Missing } from '../engine/mixed.js';
import { warn } from '../util/warn.js';
import { RUN_FILES, runFile } from '../run/layout.js';
import { rewriteRunOptions } from '../run/run-args.js';
import { lockRun } from '../run/lock.js';
import { writesRuns } from '../run/rank.js';
import { agreed, dataParallel } from './data-parallel.js';
import { eventsOf, readMetrics } from '../run/metrics.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { budgetFromFlags, describeBudget, used, type Budget } from './budget.js';
import { budgetCheckpointName, readStateFile } from './checkpoint.js';
import { branchDir } from './branches.js';
import { readJsonFile } from '../util/json-file.js';

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
  save_at?: number[];
  branches?: number[];
}

const KIND_FLAG: Record<Budget['kind'], string> = { time: '--budget', tokens: '--tokens', steps: '--steps', flops: '--flops' };

function budgetOf(o: Extendable): Budget {
  const str = (v: string | number | undefined) => (v === undefined ? undefined : String(v));
  return budgetFromFlags({ budget: str(o.budget), tokens: str(o.tokens), steps: str(o.steps), flops: str(o.flops) });
}

/**
 * A run keeps the precision it started in (resume is bit-identical): one in bf16 — asked for, or
 * chosen by `auto` (its state says) — cannot go on where bf16 products do not run, and is
 * refused before an extension or anything else is written.
 */
function refuseWhatCannotRun(runDir: string, options: Extendable & { precision?: string }): void {
  const missing = bf16Missing();
  if (missing === null) return;
  let precision = options.precision;
  if (precision === 'auto' && existsSync(runFile(runDir, 'state'))) precision = readStateFile(runDir).precision;
  if (precision === 'bf16') throw new TlcError(`${runDir} trains in bf16, as it started, but ${missing}: resume it where bf16 runs, or start a new run`);
}

/**
 * Resumes the run in `runDir` under its lock: `read` gives its options — extended first when
 * `extend` names a larger budget (rank 0 writes run.json, the other ranks read it after) — and
 * `body` trains with them, told whether there is a checkpoint to resume from (as rank 0 sees it).
 * An extension that was interrupted half-way is finished first; asking for the budget it was
 * extending to then just resumes.
 */
export async function resumeRun<O extends Extendable, T>(runDir: string, read: () => O, extend: BudgetFlags | undefined,
  body: (options: O, resumed: boolean) => Promise<T>): Promise<T> {
  refuseWhatCannotRun(runDir, read()); // "nothing to resume" and a precision this CPU lacks before anything else
  // then the lock: an extension rewrites run.json and metrics.jsonl (the nested take in the run shares it)
  const release = writesRuns() ? lockRun(runDir) : () => {};
  try {
    if (writesRuns()) finishExtension(runDir);
    let options = read();
    // the run's own budget (the command that started it, rerun), one it was extended from, or the one an interrupted
    // extension reached, extends nothing
    const asked = extend !== undefined ? budgetFromFlags(extend) : null;
    const current = budgetOf(options);
    const already = asked !== null && (sameBudget(current, asked) || (asked.kind === current.kind && (options.extended_from ?? []).includes(asked.limit)));
    if (extend && writesRuns() && !already) options = extendRun(runDir, options, extend);
    if (extend) {
      dataParallel()?.barrier();
      options = read();
    }
    return await body(options, agreed(existsSync(runFile(runDir, 'state'))));
  } finally {
    release();
  }
}

function sameBudget(a: Budget, b: Budget): boolean {
  return a.kind === b.kind && a.limit === b.limit;
}

/**
 * The options of `runDir` extended to the budget in `flags`, written back to its run.json;
 * refuses a budget of another kind, one that is not larger, or a run that stopped early.
 */
export function extendRun<T extends Extendable>(runDir: string, options: T, flags: BudgetFlags): T {
  const old = budgetOf(options), next = budgetFromFlags(flags);
  if (next.kind !== old.kind) {
    throw new TlcError(`${runDir} has a ${old.kind} budget (${describeBudget(old)}); extend it with ${KIND_FLAG[old.kind]}, not ${KIND_FLAG[next.kind]}`);
  }
  if (!(next.limit > old.limit)) {
    throw new TlcError(`${runDir} has a budget of ${describeBudget(old)}; --resume with a budget extends a run, so the new one must be larger, got ${describeBudget(next)}`);
  }
  const flag = Object.keys(flags).find((k) => flags[k as keyof BudgetFlags] !== undefined) as keyof BudgetFlags;
  const end = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'end').pop();
  if (end?.stopped_early) {
    throw new TlcError(`${runDir} stopped early (its validation stopped improving for --patience evaluations); a larger budget would not train it further`);
  }
  let extended: T = {
    ...options, budget: undefined, tokens: undefined, steps: undefined, flops: undefined, [flag]: flags[flag],
    extended_from: [...(options.extended_from ?? []), old.limit],
  };
  let renames: Journal['renames'] = [];
  if (options.schedule === 'wsd') ({ options: extended, renames } = rescaleFractions(runDir, extended, old, next));
  // everything the extension changes is written down first, then done: a crash in between is finished by the next resume
  writeJsonAtomic(runFile(runDir, 'extension'), { options: extended, renames } satisfies Journal);
  finishExtension(runDir);
  const how = options.schedule === 'linear' || options.schedule === 'cosine'
    ? 'the rate re-warms and decays to zero again at the new end' : 'the rate goes on at its peak';
  warn(`extending ${runDir} from ${describeBudget(old)} to ${describeBudget(next)}: ${how}`);
  return extended;
}

interface Journal {
  /** The run's options after the extension (run.json). */
  options: object;
  /** Directories relative to the run directory, in the order they are renamed; a branch's new fraction. */
  renames: { from: string; to: string; fraction?: number }[];
}

/**
 * A wsd run's fractions re-expressed in the budget `next`: the tagged checkpoints and branches
 * to rename, and options that list the renamed fractions plus the configured ones still ahead
 * of the trunk.
 */
function rescaleFractions<T extends Extendable>(runDir: string, options: T, old: Budget, next: Budget): { options: T; renames: Journal['renames'] } {
  const r = old.limit / next.limit;
  const configured = [...new Set([...(options.branches ?? [1])])];
  const saveAt = options.save_at ?? [];
  const usedSoFar = existsSync(runFile(runDir, 'state')) ? used(old, readStateFile(runDir).usage) : 0;
  const ahead = (f: number) => f * next.limit > usedSoFar;
  const scaled = (fs: number[]) => fs.map((f) => f * r);
  const union = (...lists: number[][]) => [...new Set(lists.flat())].sort((a, b) => a - b);
  const renames: Journal['renames'] = [];
  // ascending: each new name is smaller than every old one not yet renamed, so none is taken
  for (const f of union(configured, saveAt)) {
    const checkpoint = (x: number) => join(RUN_FILES.checkpoints, budgetCheckpointName(x));
    if (existsSync(join(runDir, checkpoint(f)))) renames.push({ from: checkpoint(f), to: checkpoint(f * r) });
    const branch = (x: number) => branchDir('', x).replace(/^\//, '');
    if (existsSync(join(runDir, branch(f)))) renames.push({ from: branch(f), to: branch(f * r), fraction: f * r });
  }
  return {
    options: { ...options, branches: union(scaled(configured), configured.filter(ahead)), save_at: union(scaled(saveAt), saveAt.filter(ahead)) },
    renames,
  };
}

/**
 * Completes the extension journaled in the run directory, if there is one, and returns its
 * options (null when there was none): each rename is done unless it already was (a branch's
 * branch.json and state.json's checkpoint pointer follow), run.json gets the new options, and
 * the run's end event goes (the loop goes on; readers see it unfinished until its new end).
 */
function finishExtension(runDir: string): object | null {
  const path = runFile(runDir, 'extension');
  if (!existsSync(path)) return null;
  const { options, renames } = readJsonFile(path, 'an interrupted extension left it') as Journal;
  for (const { from, to, fraction } of renames) {
    const [source, target] = [join(runDir, from), join(runDir, to)];
    if (existsSync(source) && existsSync(target)) throw new TlcError(`${path}: cannot rename ${from} to ${to}, which exists already`);
    if (existsSync(source)) renameSync(source, target);
    const infoPath = join(runDir, to, RUN_FILES.branch);
    if (fraction !== undefined && existsSync(infoPath)) {
      writeJsonAtomic(infoPath, { ...(readJsonFile(infoPath, 'the branch was not forked') as object), fraction });
    }
  }
  const statePath = runFile(runDir, 'state');
  if (existsSync(statePath)) {
    const state = readJsonFile(statePath, 'the run has no state') as { checkpoint: string };
    const moved = renames.find((m) => state.checkpoint === m.from);
    if (moved) writeJsonAtomic(statePath, { ...state, checkpoint: moved.to });
  }
  rewriteRunOptions(runDir, options as Record<string, unknown>);
  const events = readMetrics(runFile(runDir, 'metrics'));
  if (eventsOf(events, 'end').length > 0) {
    writeFileAtomic(runFile(runDir, 'metrics'), events.filter((e) => e.event !== 'end').map((e) => JSON.stringify(e) + '\n').join(''));
  }
  rmSync(path);
  return options;
}
