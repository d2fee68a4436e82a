// Activations: GELU (exact and tanh-approximated) and tanh. Kernels: native/src/activation.cc.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectActivationDtype, expectDtype } from './check.js';
import type { ActivationDtype } from '../mixed.js';

/**
 * Which GELU: 'none' is the exact x·Φ(x) = ½x(1 + erf(x/√2)) (PyTorch's default, BERT,
 * RoBERTa); 'tanh' is ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (GPT-2).
 */
export type GeluApproximate = 'none' | 'tanh';

/**
 * Element-wise GELU; the backward pass uses the exact derivative of the chosen form. With
 * `out` = 'bf16' the result is computed in f32 and rounded once (backward needs x, not y).
 */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none', out: ActivationDtype = 'f32'): Tensor {
  const op = 'gelu';
  expectDtype(op, 'input', x, 'f32');
  expect(approximate === 'none' || approximate === 'tanh', op,
    `approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
  expectActivationDtype(op, out);
  const approx = approximate === 'tanh';
  const y = empty(x.shape, out);
  native.geluForward({ x: x.handle, y: y.handle, n: x.size, approximate: approx });
  return record(op, [x], y, (dy, grad) => {
    const dx = grad(0);
    if (dx) native.geluBackward({ dy: dy.handle, x: x.handle, dx: dx.handle, n: x.size, approximate: approx, accumulate: dx.accumulate });
  });
}

/** Element-wise tanh; backward uses the output: dx = dy·(1 − y²). */
export function tanh(x: Tensor): Tensor {
  const op = 'tanh';
  expectDtype(op, 'input', x, 'f32');
  const y = empty(x.shape);
  native.tanhForward({ x: x.handle, y: y.handle, n: x.size });
  return record(op, [x], y, (dy, grad) => {
    const dx = grad(0);
    if (dx) native.tanhBackward({ dy: dy.handle, y: y.handle, dx: dx.handle, n: x.size, accumulate: dx.accumulate });
  });
}
