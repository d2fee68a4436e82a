// Classification metrics: accuracy, per-label precision/recall/F1, macro-F1 and the
// confusion matrix, computed as scikit-learn does.
//
// Macro-F1 follows sklearn.metrics.f1_score(average='macro', zero_division=0) with the
// default `labels`: the unweighted mean of the F1 of every label that occurs in the gold
// labels or the predictions. A label that occurs in neither is left out of the mean (it has
// no F1 to speak of); a label that is predicted but never gold, or gold but never predicted,
// counts with F1 0. Precision with no predictions and recall with no gold examples are 0.
import { TlcError } from '../util/errors.js';

export interface LabelMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Gold examples of the label. */
  support: number;
}

export interface ClassificationMetrics {
  accuracy: number;
  macroF1: number;
  /** Indexed by label id; a label absent from gold and predictions has all zeros. */
  perLabel: LabelMetrics[];
  /** confusion[gold][predicted]: examples of gold label `gold` predicted as `predicted`. */
  confusion: number[][];
}

export function classificationMetrics(predicted: Int32Array, gold: Int32Array, numLabels: number): ClassificationMetrics {
  if (!Number.isInteger(numLabels) || numLabels < 1) throw new TlcError(`classificationMetrics: numLabels must be a positive integer, got ${numLabels}`);
  if (predicted.length !== gold.length) {
    throw new TlcError(`classificationMetrics: ${predicted.length} predictions for ${gold.length} gold labels`);
  }
  if (gold.length === 0) throw new TlcError('classificationMetrics: no examples');
  const confusion = Array.from({ length: numLabels }, () => new Array<number>(numLabels).fill(0));
  for (let i = 0; i < gold.length; i++) {
    const g = gold[i], p = predicted[i];
    if (!(g >= 0 && g < numLabels)) throw new TlcError(`classificationMetrics: gold label ${g} at ${i} is outside 0..${numLabels - 1}`);
    if (!(p >= 0 && p < numLabels)) throw new TlcError(`classificationMetrics: predicted label ${p} at ${i} is outside 0..${numLabels - 1}`);
    confusion[g][p]++;
  }
  let correct = 0;
  let f1Sum = 0;
  let present = 0;
  const perLabel: LabelMetrics[] = [];
  for (let k = 0; k < numLabels; k++) {
    const truePositives = confusion[k][k];
    let support = 0, predictedAs = 0;
    for (let j = 0; j < numLabels; j++) {
      support += confusion[k][j];
      predictedAs += confusion[j][k];
    }
    const precision = predictedAs > 0 ? truePositives / predictedAs : 0;
    const recall = support > 0 ? truePositives / support : 0;
    // 2PR / (P + R) written as sklearn computes it: 2TP / (2TP + FP + FN) = 2TP / (predicted + gold)
    const f1 = predictedAs + support > 0 ? (2 * truePositives) / (predictedAs + support) : 0;
    perLabel.push({ precision, recall, f1, support });
    correct += truePositives;
    if (support > 0 || predictedAs > 0) {
      f1Sum += f1;
      present++;
    }
  }
  return { accuracy: correct / gold.length, macroF1: f1Sum / present, perLabel, confusion };
}
