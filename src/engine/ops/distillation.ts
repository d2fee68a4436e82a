// Knowledge distillation of a classifier (Hinton et al. 2015), as the loss of compression
// finetuning: (1 − α)·CE(z, y) + α·T²·KL(softmax(t/T) ‖ softmax(z/T)), averaged over the rows,
// for student logits z, teacher logits t and labels y. The T² keeps the soft term's gradient
// on the scale of the hard one's as T grows. Computed on the host in float64: a classifier's
// logits are [batch, labels], a few hundred values.
//   d/dz = [(1 − α)·(softmax(z) − onehot(y)) + α·T·(softmax(z/T) − softmax(t/T))] / N
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectDtype, expectRank, fmtShape } from './check.js';

export interface DistillationOptions {
  /** Weight of the soft (teacher) term, in [0, 1]. */
  alpha: number;
  /** Softmax temperature, > 0. */
  temperature: number;
}

function softmaxRow(z: ArrayLike<number>, offset: number, K: number, scale: number): Float64Array {
  const out = new Float64Array(K);
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, z[offset + k] * scale);
  let sum = 0;
  for (let k = 0; k < K; k++) sum += (out[k] = Math.exp(z[offset + k] * scale - max));
  for (let k = 0; k < K; k++) out[k] /= sum;
  return out;
}

/** The distillation loss [1] of student logits [N, K] against labels i32 [N] and teacher logits [N·K]. */
export function distillationLoss(logits: Tensor, labels: Tensor, teacher: Float32Array, opts: DistillationOptions): Tensor {
  const op = 'distillationLoss';
  expectDtype(op, 'logits', logits, 'f32');
  expectDtype(op, 'labels', labels, 'i32');
  expectRank(op, 'logits', logits, 2);
  const [N, K] = logits.shape;
  expect(labels.size === N, op, `labels ${fmtShape(labels.shape)} do not match logits ${fmtShape(logits.shape)}`);
  expect(teacher.length === N * K, op, `teacher logits hold ${teacher.length} values for logits ${fmtShape(logits.shape)}`);
  const { alpha, temperature: T } = opts;
  expect(alpha >= 0 && alpha <= 1, op, `alpha must be in [0, 1], got ${alpha}`);
  expect(T > 0 && Number.isFinite(T), op, `temperature must be positive, got ${T}`);
  const z = logits.toFloat32Array(), y = labels.toArray() as Int32Array;
  let total = 0;
  const grad = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    const p = softmaxRow(z, n * K, K, 1), ps = softmaxRow(z, n * K, K, 1 / T), pt = softmaxRow(teacher, n * K, K, 1 / T);
    let kl = 0;
    for (let k = 0; k < K; k++) if (pt[k] > 0) kl += pt[k] * (Math.log(pt[k]) - Math.log(ps[k]));
    total += (1 - alpha) * -Math.log(p[y[n]]) + alpha * T * T * kl;
    for (let k = 0; k < K; k++) {
      grad[n * K + k] = ((1 - alpha) * (p[k] - (k === y[n] ? 1 : 0)) + alpha * T * (ps[k] - pt[k])) / N;
    }
  }
  const loss = empty([1]);
  loss.write(Float32Array.of(total / N));
  return record(op, [logits, labels], loss, (dloss, target) => {
    const d = target(0);
    if (!d) return;
    const scale = dloss.toFloat32Array()[0];
    const values = Float32Array.from(grad, (g) => g * scale);
    if (d.accumulate) {
      const current = d.tensor.toFloat32Array();
      for (let i = 0; i < values.length; i++) values[i] += current[i];
    }
    d.tensor.write(values);
  });
}
