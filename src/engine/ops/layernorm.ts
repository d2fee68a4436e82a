// Layer normalisation over the last dimension. Kernels: native/src/layernorm.cc.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectActivationDtype, expectDtype, expectRank, fmtShape, lastDim } from './check.js';
import type { ActivationDtype } from '../mixed.js';

/**
 * y[..., C] = (x − mean)/√(var + eps)·gamma + beta, with mean and (biased) variance
 * taken over the last dimension of each row. The per-row mean and 1/std are kept for
 * backward and freed with the tape record. With `out` = 'bf16' y is computed in f32 and
 * rounded once to bf16 (backward needs x, not y); its gradient is f32 like any other.
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5, out: ActivationDtype = 'f32'): Tensor {
  const op = 'layerNorm';
  expectDtype(op, 'input', x, 'f32');
  expectDtype(op, 'gamma', gamma, 'f32');
  expectDtype(op, 'beta', beta, 'f32');
  expectRank(op, 'input', x, [1, 8]);
  const C = lastDim(x);
  expect(gamma.shape.length === 1 && gamma.shape[0] === C, op,
    `gamma ${fmtShape(gamma.shape)} does not match input ${fmtShape(x.shape)}: expected [${C}]`);
  expect(beta.shape.length === 1 && beta.shape[0] === C, op,
    `beta ${fmtShape(beta.shape)} does not match input ${fmtShape(x.shape)}: expected [${C}]`);
  expect(typeof eps === 'number' && Number.isFinite(eps) && eps > 0, op, `eps must be a positive number, got ${eps}`);
  expect(x.size > 0, op, `input ${fmtShape(x.shape)} is empty`);
  const rows = x.size / C;
  expectActivationDtype(op, out);
  const y = empty(x.shape, out);
  const mean = empty([rows]), rstd = empty([rows]);
  native.layerNormForward({ x: x.handle, gamma: gamma.handle, beta: beta.handle, y: y.handle, mean: mean.handle, rstd: rstd.handle,
    rows, channels: C, eps });
  return record(op, [x, gamma, beta], y, (dy, grad) => {
    const dx = grad(0), dg = grad(1), db = grad(2);
    native.layerNormBackward({ dy: dy.handle, x: x.handle, gamma: gamma.handle, mean: mean.handle, rstd: rstd.handle,
      dx: dx?.handle ?? null, dGamma: dg?.handle ?? null, dBeta: db?.handle ?? null, rows, channels: C,
      accumulateDx: dx?.accumulate ?? false, accumulateDgamma: dg?.accumulate ?? false, accumulateDbeta: db?.accumulate ?? false });
  }, [mean, rstd]);
}
