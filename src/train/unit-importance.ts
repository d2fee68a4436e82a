// Scores of attention heads and FFN neurons before structured pruning: by magnitude, or by
// Taylor importance measured on a classifier's training examples (src/compress/structured.ts
// says what each is). Gradients are taken without dropout, one example at a time, and the
// model's parameters are left as they were.
import { backward, gradOf, zeroGrad } from '../engine/autograd.js';
import { tidy } from '../engine/tensor.js';
import { TlcError } from '../util/errors.js';
import { classificationBatches, type EncodedExamples } from '../data/task-batches.js';
import type { TransformerClassifier } from '../nn/classifier.js';
import type { TransformerBody } from '../nn/transformer.js';
import { TaylorScores, magnitudeScores, type BlockScores, type StructuredCriterion } from '../compress/structured.js';

/** Examples scored for Taylor importance, one at a time: the first of one shuffled epoch. */
export const TAYLOR_EXAMPLES = 512;

export function unitScores(model: TransformerBody, criterion: StructuredCriterion,
  train: EncodedExamples | null, seed = 0): BlockScores[] {
  const params = new Map(model.namedParameters());
  const values = (name: string): Float32Array => params.get(name)!.toFloat32Array();
  if (criterion === 'magnitude') return magnitudeScores(model.config, values);
  if (!train || !('labels' in model)) throw new TlcError('Taylor importance is measured on a classifier\'s labelled examples: use --structured-criterion magnitude for a language model');
  const classifier = model as TransformerClassifier;
  const taylor = new TaylorScores(model.config);
  let seen = 0;
  // one example per backward pass: the absolute gate derivative of each example, averaged
  for (const batch of classificationBatches(train, { batchSize: 1, shuffle: true, seed, epoch: 0 })) {
    if (seen >= TAYLOR_EXAMPLES) break;
    zeroGrad(params.values());
    tidy(() => backward(classifier.loss(batch, { training: false }).loss));
    taylor.add(values, (name) => {
      const g = gradOf(params.get(name)!);
      return g ? g.toFloat32Array() : null;
    });
    seen += batch.batchSize;
  }
  zeroGrad(params.values());
  return taylor.scores();
}
