// The optimizer every training run uses: AdamW with decoupled weight decay on matrices
// only (biases, LayerNorm and other vectors are not decayed), global-norm clipping.
import { AdamW } from '../engine/optim.js';
import type { Tensor } from '../engine/tensor.js';
import type { OptimizerArgs } from './args.js';

export function buildOptimizer(params: Tensor[], args: OptimizerArgs): AdamW {
  return new AdamW(params, {
    lr: args.schedule.peakLr, betas: args.betas, eps: args.eps, weightDecay: args.weightDecay,
    maxGradNorm: args.maxGradNorm, noDecay: (p) => p.shape.length < 2,
  });
}
