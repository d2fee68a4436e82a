// The distillation loss against a float64 reference written from its definition (log-sum-exp
// form), its gradient against finite differences, and its limits: α = 0 is the cross-entropy,
// a student equal to its teacher has no soft loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backward, gradOf, noGrad } from '../src/engine/autograd.js';
import { tensor, tidy } from '../src/engine/tensor.js';
import { crossEntropy } from '../src/engine/ops/crossentropy.js';
import { distillationLoss } from '../src/engine/ops/distillation.js';
import { assertGradcheck, randn } from './helpers.js';

const N = 5, K = 7;

function lse(v: number[]): number {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((a, x) => a + Math.exp(x - m), 0));
}

/** (1−α)·CE + α·T²·KL(pt‖ps), written with log-sum-exps. */
function reference(z: Float32Array, t: Float32Array, y: Int32Array, alpha: number, T: number): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    const zs = Array.from(z.subarray(n * K, (n + 1) * K)), ts = Array.from(t.subarray(n * K, (n + 1) * K));
    const ce = lse(zs) - zs[y[n]];
    const lt = lse(ts.map((v) => v / T)), ls = lse(zs.map((v) => v / T));
    let kl = 0;
    for (let k = 0; k < K; k++) {
      const logPt = ts[k] / T - lt, logPs = zs[k] / T - ls;
      kl += Math.exp(logPt) * (logPt - logPs);
    }
    total += (1 - alpha) * ce + alpha * T * T * kl;
  }
  return total / N;
}

test('distillation: the loss equals the float64 reference, and the gradient finite differences', () => {
  const z = randn([N, K], 1, 2).toFloat32Array(), t = randn([N, K], 2, 3).toFloat32Array();
  const y = Int32Array.from({ length: N }, (_, i) => (3 * i + 1) % K);
  for (const [alpha, T] of [[0.5, 2], [0.9, 4], [0.2, 1]]) {
    const loss = noGrad(() => tidy(() => distillationLoss(tensor(z, [N, K]), tensor(y, [N], 'i32'), t, { alpha, temperature: T }).item()));
    const ref = reference(z, t, y, alpha, T);
    assert.ok(Math.abs(loss - ref) <= 1e-6 * Math.abs(ref), `α ${alpha}, T ${T}: ${loss} vs ${ref}`);
    assertGradcheck(`distillation α ${alpha} T ${T}`, (logits) => distillationLoss(logits, tensor(y, [N], 'i32'), t, { alpha, temperature: T }),
      [tensor(z, [N, K])]);
  }
  // α = 0 is the plain cross-entropy; a student that is its teacher has no soft term (α = 1: loss 0, gradient 0)
  const ce = noGrad(() => tidy(() => crossEntropy(tensor(z, [N, K]), tensor(y, [N], 'i32')).item()));
  const hard = noGrad(() => tidy(() => distillationLoss(tensor(z, [N, K]), tensor(y, [N], 'i32'), t, { alpha: 0, temperature: 3 }).item()));
  assert.ok(Math.abs(ce - hard) < 1e-6 * ce);
  tidy(() => {
    const logits = tensor(z, [N, K]);
    logits.requiresGrad = true;
    const self = distillationLoss(logits, tensor(y, [N], 'i32'), z, { alpha: 1, temperature: 2 });
    assert.ok(Math.abs(self.item()) < 1e-7);
    backward(self);
    assert.ok(gradOf(logits)!.toFloat32Array().every((g) => Math.abs(g) < 1e-7));
  });
  assert.throws(() => distillationLoss(tensor(z, [N, K]), tensor(y, [N], 'i32'), t.subarray(1), { alpha: 0.5, temperature: 2 }), /teacher logits hold/);
  assert.throws(() => distillationLoss(tensor(z, [N, K]), tensor(y, [N], 'i32'), t, { alpha: 1.5, temperature: 2 }), /alpha must be in \[0, 1\]/);
});
