// Validation loss of a model over a fixed evaluation set, token-weighted.
import { noGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';

/** Mean loss per target token over `batches` (no tape, no dropout), with its perplexity. */
export function validationLoss<B>(batches: Iterable<B>, lossOf: (batch: B) => { loss: Tensor; tokens: number }):
  { valid_loss: number; valid_ppl: number; valid_tokens: number } {
  let sum = 0, count = 0;
  noGrad(() => {
    for (const b of batches) {
      tidy(() => {
        const { loss, tokens } = lossOf(b);
        sum += loss.item() * tokens;
        count += tokens;
      });
    }
  });
  const validLoss = count > 0 ? sum / count : NaN;
  return { valid_loss: validLoss, valid_ppl: Math.exp(validLoss), valid_tokens: count };
}
