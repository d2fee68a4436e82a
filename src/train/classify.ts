// Running a classifier over encoded examples: predictions, loss and metrics.
import { noGrad } from '../engine/autograd.js';
import { tidy } from '../engine/tensor.js';
import { classificationBatches, type EncodedExamples } from '../data/task-batches.js';
import { argmaxRows, type TransformerClassifier } from '../nn/classifier.js';
import { classificationMetrics, type ClassificationMetrics } from './classification-metrics.js';
import { runToEnd, type Pausable } from '../util/pausable.js';

export interface ClassifierEvaluation extends ClassificationMetrics {
  loss: number;
  predictions: Int32Array;
  examples: number;
}

/** Predicts every example (in order) and scores the predictions against the gold labels; pauses after each batch. */
export function* evaluateClassifierSteps(model: TransformerClassifier, encoded: EncodedExamples, batchSize = 64): Pausable<ClassifierEvaluation> {
  const n = encoded.labelIds.length;
  const predictions = new Int32Array(n);
  let lossSum = 0, at = 0;
  for (const batch of classificationBatches(encoded, { batchSize, shuffle: false, seed: 0, epoch: 0 })) {
    noGrad(() => tidy(() => {
      const { loss, logits } = model.loss(batch, { training: false });
      lossSum += loss.item() * batch.batchSize;
      predictions.set(argmaxRows(logits), at);
      at += batch.batchSize;
    }));
    yield;
  }
  const metrics = classificationMetrics(predictions, encoded.labelIds, model.labels.length);
  return { ...metrics, loss: n > 0 ? lossSum / n : NaN, predictions, examples: n };
}

/** evaluateClassifierSteps, straight through. */
export function evaluateClassifier(model: TransformerClassifier, encoded: EncodedExamples, batchSize = 64): ClassifierEvaluation {
  return runToEnd(evaluateClassifierSteps(model, encoded, batchSize));
}

/** Each example's label probabilities (softmax of the logits, in float64), in order. */
export function predictProbabilities(model: TransformerClassifier, encoded: EncodedExamples, batchSize = 64): number[][] {
  const out: number[][] = [];
  noGrad(() => {
    for (const batch of classificationBatches(encoded, { batchSize, shuffle: false, seed: 0, epoch: 0 })) {
      tidy(() => {
        const logits = model.logits(batch, { training: false }).toFloat32Array();
        const k = model.labels.length;
        for (let r = 0; r < batch.batchSize; r++) {
          const row = Array.from(logits.subarray(r * k, (r + 1) * k));
          const max = Math.max(...row);
          const exps = row.map((v) => Math.exp(v - max));
          const sum = exps.reduce((a, b) => a + b, 0);
          out.push(exps.map((e) => e / sum));
        }
      });
    }
  });
  return out;
}
