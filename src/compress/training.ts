// What compression changes in a finetuning step, as hooks for the training loop
// (src/train/loop.ts, which this module does not need to know): the interface each method's
// hooks implement (src/experiment/compression/), the gradual schedule they share, and how the
// hooks of several methods (a pruning method and QAT) make one.
// A method's state (masks, Taylor sums) travels with every checkpoint through save/restore, so a
// resumed run continues exactly.
import { cubicSparsity } from './pruning.js';

export interface CompressionHooks {
  /** Before a step's forward passes: swap in what the step computes with; returns how to put it back. */
  beforeForward?(): () => void;
  /** After backward: e.g. zero the gradients of pruned weights. */
  afterBackward?(): void;
  /** After the optimizer step, at budget progress `progress`: e.g. re-apply or tighten a mask. */
  afterStep?(progress: number): void;
  /** Writes its state into a checkpoint's directory. */
  save?(checkpointDir: string): void;
  /** Reads it back on resume. */
  restore?(checkpointDir: string): void;
}

/** The gradual schedule reaches its final sparsity at this fraction of the budget. */
const GRADUAL_END = 0.75;

/**
 * The gradual schedule's target at `progress`, for a final fraction: the cubic rise of Zhu &
 * Gupta (2017) over the first 3/4 of the budget, so that the last quarter recovers at the
 * final sparsity.
 */
export function gradualTarget(progress: number, final: number): number {
  return cubicSparsity(progress, { initial: 0, final, startStep: 0, endStep: GRADUAL_END });
}

/** Several methods' hooks as one: each event runs them in order; what beforeForward swapped in is put back in reverse. */
export function composeHooks(all: readonly CompressionHooks[]): CompressionHooks {
  const each = <K extends keyof CompressionHooks>(k: K) => all.filter((h) => h[k] !== undefined);
  const swapping = each('beforeForward');
  return {
    ...(swapping.length > 0 ? {
      beforeForward: () => {
        const undo = swapping.map((h) => h.beforeForward!());
        return () => {
          for (let i = undo.length - 1; i >= 0; i--) undo[i]();
        };
      },
    } : {}),
    afterBackward: () => each('afterBackward').forEach((h) => h.afterBackward!()),
    afterStep: (progress) => each('afterStep').forEach((h) => h.afterStep!(progress)),
    save: (dir) => each('save').forEach((h) => h.save!(dir)),
    restore: (dir) => each('restore').forEach((h) => h.restore!(dir)),
  };
}
