// What a pretraining run (language model or encoder–decoder) reports when it stops.
import type { BudgetUsage } from './budget.js';
import type { LoopEvents } from './loop.js';

export type PretrainEvents = LoopEvents & {
  /** A cooldown branch starts (or resumes). */
  onBranch?(info: { fraction: number; dir: string }): void;
};

/** A finished cooldown branch of a wsd run: an end-of-schedule point. */
export interface BranchResult {
  fraction: number;
  dir: string;
  steps: number;
  /** Cumulative, trunk included: the training a run of this length would have had. */
  usage: BudgetUsage;
  validLoss: number;
  /** What the branch added past its fork. */
  cost: BudgetUsage;
}

export interface PretrainResult {
  runDir: string;
  steps: number;
  usage: BudgetUsage;
  finalValidLoss: number;
  /** seq2seq only: BLEU of the last evaluation. */
  finalValidBleu?: number;
  interrupted: boolean;
  /** wsd: the cooldown branches, in fraction order. */
  branches?: BranchResult[];
}
