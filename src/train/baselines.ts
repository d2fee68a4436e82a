// Reference points for a language model's loss: what a model that ignores context would get.
import type { LMBatch } from '../nn/transformer.js';
import { IGNORE_INDEX } from '../nn/transformer.js';
import type { TokenArray } from './lm-batches.js';

/**
 * Cross-entropy of the evaluation targets under the training shard's unigram
 * distribution (add-½ smoothing): the loss of the best context-free predictor. A model
 * whose validation loss is not below it has learned nothing about context.
 */
export function unigramLoss(train: TokenArray, evalSet: LMBatch[], vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(0.5);
  for (let i = 0; i < train.length; i++) counts[train[i]]++;
  const total = train.length + 0.5 * vocabSize;
  let sum = 0, n = 0;
  for (const b of evalSet) {
    for (const t of b.targets!) {
      if (t === IGNORE_INDEX) continue;
      sum -= Math.log(counts[t] / total);
      n++;
    }
  }
  return n > 0 ? sum / n : NaN;
}
