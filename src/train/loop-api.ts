// What the training loop takes and gives: its arguments, the task it trains, the hooks that
// reshape a step, the events it reports and its result (the loop itself: loop.ts).
import type { Tensor } from '../engine/tensor.js';
import type { PrecisionChoice } from '../engine/mixed.js';
import type { TransformerBody } from '../nn/transformer.js';
import type { Budget, BudgetUsage } from './budget.js';
import type { Interval, OptimizerArgs } from './args.js';
import type { Pausable } from '../util/pausable.js';

/** Where data parallelism, compression, bf16 (anything that reshapes a step) plug into the loop. */
export interface LoopHooks {
  /**
   * Before a step's forward passes: may replace the weights the step computes with
   * (quantization-aware training swaps in quantized weights) and returns how to undo
   * that, which runs after backward and before the optimizer step, so the gradient of
   * the replaced weights updates the originals (a straight-through estimator).
   */
  beforeForward?(): (() => void) | void;
  /** After backward, before the optimizer step: e.g. sum the ranks' gradients, zero the gradients of pruned weights. */
  afterBackward?(): void;
  /** After the optimizer step changed the weights. */
  afterOptimizerStep?(): void;
  /** After the optimizer step, with the budget progress reached: e.g. re-apply a mask, tighten it. */
  afterStep?(progress: number): void;
}

export interface LoopArgs extends OptimizerArgs {
  budget: Budget;
  /** Micro-batches per optimizer step (gradient accumulation). */
  microBatches: number;
  evalEvery: Interval;
  saveEvery: Interval;
  saveAt: number[];
  keep: number;
  /** Copy each checkpoint's weights to <run>/model.safetensors (default true). */
  publishLatest?: boolean;
  /** Stop when this many evaluations in a row did not beat the best (needs task.isBetter). */
  patience?: number;
  /** Matrix products in f32 (default) or bf16 with f32 accumulation; `auto` resolves by the CPU. A resumed run keeps its own. */
  precision?: PrecisionChoice;
}

/** What the loop trains: the model, its data and its evaluation. */
export interface LoopTask<B> {
  model: TransformerBody;
  /** The next micro-batch. */
  nextBatch(): B;
  /** Mean loss of a micro-batch. */
  loss(batch: B): Tensor;
  /**
   * Tokens (for throughput and token budgets), FLOPs, and weight of one micro-batch: the
   * number of items its mean loss averages over (targets, examples).
   */
  cost(batch: B): { tokens: number; flops: number; weight: number };
  /**
   * Evaluation metrics; must include `valid_loss`. Runs without gradients, pausing between
   * batches so that a signal can stop a long evaluation.
   */
  evaluate(): Pausable<Record<string, number>>;
  /** Data position for checkpoints. */
  dataPosition: unknown;
  /** Whether evaluation `m` beats the best so far (enables best-model keeping and early stopping). */
  isBetter?(m: Record<string, number>, best: Record<string, number>): boolean;
  /** Called when an evaluation is the best so far: save what should be kept. */
  saveBest?(): void;
  /** Writes task files that belong in a checkpoint (e.g. the best weights) into its directory. */
  saveExtras?(checkpointDir: string): void;
  /** Restores them on resume from the checkpoint directory. */
  restoreExtras?(checkpointDir: string): void;
  /** Extra fields for the start event. */
  describe?(): Record<string, unknown>;
  /** Training tokens of the corpus, for the warning when the budget buys more than a few epochs of it. */
  corpusTokens?: number;
  /** The loss every model must beat (a unigram table's), for the warning when the final one does not. */
  baseline?: { name: string; loss: number };
  hooks?: LoopHooks;
}

export interface LoopEvents {
  onStart?(info: { resumed: boolean; params: number; budget: string; step: number }): void;
  onStep?(info: { step: number; loss: number; lr: number; progress: number; tokensPerS: number; usage: BudgetUsage }): void;
  onEval?(info: { step: number; metrics: Record<string, number>; progress: number }): void;
  onCheckpoint?(info: { step: number; path: string }): void;
}

export interface LoopResult {
  steps: number;
  usage: BudgetUsage;
  /** Metrics of the last evaluation. */
  lastEval: Record<string, number>;
  /** The best evaluation (when the task ranks evaluations). */
  best: ({ step: number } & Record<string, number>) | null;
  interrupted: boolean;
  stoppedEarly: boolean;
}
