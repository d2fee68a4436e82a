// Validation loss of a model over a fixed evaluation set, token-weighted.
import { noGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import type { Pausable } from '../util/pausable.js';

export type ValidationLoss = { valid_loss: number; valid_ppl: number; valid_tokens: number };

/** Mean loss per target token over `batches` (no tape, no dropout), with its perplexity; pauses after each batch. */
export function* validationLossSteps<B>(batches: Iterable<B>, lossOf: (batch: B) => { loss: Tensor; tokens: number }): Pausable<ValidationLoss> {
  let sum = 0, count = 0;
  for (const b of batches) {
    noGrad(() => tidy(() => {
      const { loss, tokens } = lossOf(b);
      sum += loss.item() * tokens;
      count += tokens;
    }));
    yield;
  }
  const validLoss = count > 0 ? sum / count : NaN;
  return { valid_loss: validLoss, valid_ppl: Math.exp(validLoss), valid_tokens: count };
}
