// The optimizer of every training run: AdamW at the schedule's peak learning rate (the loop
// passes each step's rate to step()), decoupled weight decay on weight matrices and
// embeddings only (no decay on biases and norms: every 1-D parameter), global-norm clipping.
import { AdamW } from '../engine/optim.js';
import type { Tensor } from '../engine/tensor.js';
import type { OptimizerArgs } from './args.js';

export function buildOptimizer(params: Tensor[], args: OptimizerArgs): AdamW {
  return new AdamW(params, {
    lr: args.schedule.peakLr, betas: args.betas, eps: args.eps, weightDecay: args.weightDecay,
    maxGradNorm: args.maxGradNorm, noDecay: (p) => p.shape.length < 2,
  });
}
