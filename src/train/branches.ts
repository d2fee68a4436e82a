// Cooldown branches of a warmup–stable–decay run (Hägele et al. 2024). The trunk trains at
// a constant rate after warmup and keeps a checkpoint at each branch fraction f; a branch
// forks from it and trains on for `cooldown`·(the training done by then) while the rate
// falls to zero, then evaluates: a valid end-of-schedule loss for a run of that length,
// at a fraction of the cost of a separate run. Each branch is a run directory of its own
// (<run>/branches/<f>/) that resumes like any run; its cost is the usage it adds past the fork.
import { BUDGET_KINDS } from '../run/budget-kinds.js';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { CHECKPOINT_FILES, RUN_FILES, runFile } from '../run/layout.js';
import { eventsOf, readMetrics } from '../run/metrics.js';
import { used, type Budget, type BudgetUsage } from './budget.js';
import { budgetCheckpointName, type StateFile, type TrainerState } from './checkpoint.js';
import type { PretrainArgs } from './args.js';
import { makeDirs } from '../util/make-dirs.js';

const FORK_CHECKPOINT = 'fork';

const usageSchema = z.object({ trainSeconds: z.number(), tokens: z.number(), steps: z.number(), flops: z.number() });
const branchSchema = z.object({
  fraction: z.number(),
  fork_step: z.number().int(),
  fork_usage: usageSchema,
  cooldown: z.number(),
  cooldown_shape: z.string(),
  budget: z.object({ kind: z.enum(BUDGET_KINDS), limit: z.number() }),
});
export type BranchInfo = z.infer<typeof branchSchema>;

export function branchDir(runDir: string, fraction: number): string {
  return join(runDir, RUN_FILES.branches, budgetCheckpointName(fraction).replace(/^budget-/, ''));
}

/** The branch directories of a run, with where each forked (none for other runs). */
export function listBranches(runDir: string): { dir: string; info: BranchInfo }[] {
  const root = join(runDir, RUN_FILES.branches);
  if (!existsSync(root)) return [];
  return readdirSync(root).sort().map((name) => join(root, name)).filter((dir) => existsSync(join(dir, RUN_FILES.branch)))
    .map((dir) => ({ dir, info: readBranchInfo(dir) }))
    .sort((a, b) => a.info.fraction - b.info.fraction);
}

export function readBranchInfo(dir: string): BranchInfo {
  const path = join(dir, RUN_FILES.branch);
  return parseWith(branchSchema, readJsonFile(path, 'the branch was not forked'), path, 'branch description');
}

/** Whether a run directory (trunk or branch) has written its end. */
export function runEnded(dir: string): boolean {
  return eventsOf(readMetrics(runFile(dir, 'metrics')), 'end').length > 0;
}

/**
 * Forks branch f from the trunk's checkpoint at f: copies that checkpoint into the branch's
 * directory and points the branch's state.json at it, as if the branch had been
 * interrupted right at the fork. Idempotent until the branch has a state.json.
 */
export function forkBranch(runDir: string, args: PretrainArgs, fraction: number): BranchInfo {
  const dir = branchDir(runDir, fraction);
  const source = join(runDir, RUN_FILES.checkpoints, budgetCheckpointName(fraction));
  if (!existsSync(join(source, CHECKPOINT_FILES.trainer))) {
    throw new TlcError(`${runDir}: no checkpoint at budget fraction ${fraction} to fork a cooldown branch from (${source})`);
  }
  const target = join(dir, RUN_FILES.checkpoints, FORK_CHECKPOINT);
  makeDirs(target);
  for (const f of [CHECKPOINT_FILES.weights, CHECKPOINT_FILES.optimizer, CHECKPOINT_FILES.trainer]) {
    copyFileSync(join(source, f), join(target, f));
  }
  for (const f of ['config', 'tokenizer'] as const) copyFileSync(runFile(runDir, f), runFile(dir, f));
  const trainer = readJsonFile(join(target, CHECKPOINT_FILES.trainer), 'the fork is incomplete') as TrainerState;
  const info: BranchInfo = {
    fraction, fork_step: trainer.step, fork_usage: trainer.usage, cooldown: args.cooldown, cooldown_shape: args.cooldownShape,
    budget: branchBudget(args.budget, trainer.usage, args.cooldown),
  };
  writeJsonAtomic(join(dir, RUN_FILES.branch), info);
  // a fresh start for the branch's own triggers and ending
  const state: StateFile = {
    ...trainer, done: false, stopped_early: false, triggers: {}, best: null, evals_since_best: 0,
    checkpoint: `${RUN_FILES.checkpoints}/${FORK_CHECKPOINT}`,
  };
  writeJsonAtomic(runFile(dir, 'state'), state);
  return info;
}

/** The branch's budget: what the trunk had used at the fork, plus the cooldown's share of it. */
export function branchBudget(trunk: Budget, atFork: BudgetUsage, cooldown: number): Budget {
  return { kind: trunk.kind, limit: used(trunk, atFork) * (1 + cooldown) };
}

/** The arguments a branch trains with: the trunk's, over the branch's budget, decaying after the fork. */
export function branchArgs(args: PretrainArgs, info: BranchInfo): PretrainArgs {
  return {
    ...args,
    budget: info.budget,
    // after the trunk's warmup the rate is at its peak, whatever budget extensions the trunk had
    schedule: { ...args.schedule, segments: undefined, cooldown: { start: 1 / (1 + info.cooldown), shape: info.cooldown_shape as PretrainArgs['cooldownShape'] } },
    // one evaluation, at the end of the branch; checkpoints as the trunk's, one kept
    evalEvery: { kind: 'fraction', value: 1 }, saveAt: [], branches: [], keep: 1,
  };
}
