// `tlc auto`'s first spending: a short throughput probe of one reference size gives the
// machine's achieved GFLOP/s, from which every ladder size's tokens in the whole budget — and
// so the candidates around the compute-optimal guess — follow; then one wsd trunk per
// candidate with cooldown branches (a `tlc sweep`, token budgets from each size's own probe
// for a time budget), side by side on the workers it has.
import { join } from 'node:path';
import { countParams, presetConfig, trainingFlopsPerToken } from '../nn/config.js';
import { AUTO_FILES } from '../run/layout.js';
import { SIZE_LADDER } from '../experiment/plan.js';
import { probeThroughput, runSweep, type SweepInput, type SweepResult } from '../experiment/sweep.js';
import { pretrainOptionsSchema } from '../train/args.js';
import { dataVocabSize } from '../train/pretrain.js';
import type { LoopEvents } from '../train/loop.js';
import type { WorkerSlot } from '../util/launch.js';
import { candidateSizes, COOLDOWN, EXPLORE_BRANCHES, reserveFor, splitBudget, type BudgetSplit, type SizeEstimate } from './budget-split.js';
import type { PlanBudget } from '../experiment/plan-budget.js';

/** The size whose probe measures the machine before any candidate is chosen. */
export const PRIOR_REFERENCE = 'L2-D128';

export interface AutoTraining {
  dataDir: string;
  objective: 'mlm' | 'clm';
  seqLen: number;
  batchSize: number;
  /** How long each throughput probe trains (e.g. "20s"). */
  probe: string;
}

function configOf(t: AutoTraining, preset: string, vocabSize: number) {
  return presetConfig(preset, { vocab_size: vocabSize, max_len: Math.max(t.seqLen, 128), objective: t.objective, ...(t.objective === 'clm' && { activation: 'gelu_tanh' as const }) });
}

/** GFLOP/s the machine achieves training the reference size (null if interrupted). */
export async function probeMachine(out: string, t: AutoTraining, signal?: AbortSignal): Promise<number | null> {
  const vocab = dataVocabSize(t.dataDir, t.objective);
  const model = configOf(t, PRIOR_REFERENCE, vocab);
  const options = pretrainOptionsSchema.parse({ data: t.dataDir, objective: t.objective, model, batch_size: t.batchSize, seq_len: t.seqLen });
  const rate = await probeThroughput(join(out, AUTO_FILES.prior), options, t.probe, signal);
  return rate === null ? null : (rate * trainingFlopsPerToken(model, t.seqLen)) / 1e9;
}

/** Every ladder size's tokens in the budget at the probed GFLOP/s, in order of size. */
export function ladderEstimates(t: AutoTraining, vocabSize: number, gflops: number, budget: PlanBudget): SizeEstimate[] {
  return SIZE_LADDER.map((preset) => {
    const cfg = configOf(t, preset, vocabSize);
    const perToken = trainingFlopsPerToken(cfg, t.seqLen);
    const tokens = budget.kind === 'time' ? (gflops * 1e9 * budget.seconds) / perToken : budget.kind === 'tokens' ? budget.tokens : budget.flops / perToken;
    return { preset, nonEmbedding: countParams(cfg).nonEmbedding, tokens };
  }).sort((a, b) => a.nonEmbedding - b.nonEmbedding);
}

export function proposeCandidates(t: AutoTraining, gflops: number, budget: PlanBudget): { candidates: string[]; centre: string } {
  return candidateSizes(ladderEstimates(t, dataVocabSize(t.dataDir, t.objective), gflops, budget));
}

/** One training step of a size, in the budget's unit (time at the probed GFLOP/s). */
export function stepCost(t: AutoTraining, preset: string, gflops: number, budget: PlanBudget): number {
  const tokens = t.batchSize * t.seqLen;
  const flops = trainingFlopsPerToken(configOf(t, preset, dataVocabSize(t.dataDir, t.objective)), t.seqLen) * tokens;
  return budget.kind === 'tokens' ? tokens : budget.kind === 'flops' ? flops : flops / (gflops * 1e9);
}

/** Seconds of one finetuning step of a size on `shape`'s batches, at the probed GFLOP/s. */
export function finetuneStepSeconds(t: AutoTraining, preset: string, gflops: number, shape: { batchSize: number; seqLen: number }): number {
  const cfg = configOf(t, preset, dataVocabSize(t.dataDir, t.objective));
  return (trainingFlopsPerToken(cfg, shape.seqLen) * shape.batchSize * shape.seqLen) / (gflops * 1e9);
}

/**
 * The proposed candidates, the largest dropped (and a smaller ladder size added, while there is
 * one) until every candidate trains MIN_TRUNK_STEPS steps in its exploration trunk; sizes the
 * user named are kept as named (the split then refuses them if they do not fit).
 */
export function fittingCandidates(t: AutoTraining, proposed: string[], gflops: number, budget: PlanBudget, total: number, explore: number, fixed: boolean):
  { candidates: string[]; split: BudgetSplit } {
  const vocab = dataVocabSize(t.dataDir, t.objective);
  const ladder = SIZE_LADDER.map((p) => ({ p, n: countParams(configOf(t, p, vocab)).nonEmbedding })).sort((a, b) => a.n - b.n).map((x) => x.p);
  let candidates = [...proposed];
  for (;;) {
    const steps = candidates.map((p) => stepCost(t, p, gflops, budget));
    try {
      const unit = budget.kind === 'time' ? ' s' : budget.kind === 'tokens' ? ' tokens' : ' FLOPs';
      return { candidates, split: splitBudget(total, explore, candidates.length, reserveFor(steps), Math.max(...steps), unit) };
    } catch (e) {
      // fewer than two sizes would compare nothing
      if (fixed || candidates.length <= 2) throw e;
      const smaller = ladder[ladder.indexOf(candidates[0]) - 1];
      candidates = [...(candidates.length <= 3 && smaller ? [smaller] : []), ...candidates.slice(0, -1)];
    }
  }
}

/** The exploration sweep: one wsd trunk per candidate, each `trunk` long in the budget's unit. */
export function explorationSpec(t: AutoTraining, candidates: string[], budget: PlanBudget, trunk: number): SweepInput {
  const length = budget.kind === 'time'
    ? { budget: `${trunk.toFixed(3)}s`, time_in_tokens: true, probe: t.probe }
    : budget.kind === 'tokens' ? { tokens: Math.max(1, Math.round(trunk)) } : { flops: trunk };
  return {
    data: t.dataDir, objective: t.objective, sizes: candidates, batch_sizes: [t.batchSize], seq_len: t.seqLen,
    schedule: 'wsd', branches: EXPLORE_BRANCHES, cooldown: COOLDOWN, eval_every: 0.25, ...length,
  } as SweepInput;
}

export function explore(out: string, spec: SweepInput, o: { events: (name: string) => LoopEvents; log: (line: string) => void; signal?: AbortSignal; worker: WorkerSlot | null }): Promise<SweepResult> {
  return runSweep(spec, join(out, AUTO_FILES.explore), { events: (p) => o.events(p.name), log: o.log, signal: o.signal, worker: o.worker });
}
