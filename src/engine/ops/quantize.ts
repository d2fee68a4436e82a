// Fake quantization for quantization-aware training. Kernels: native/src/quantize.cc.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectDtype, expectRank, fmtShape } from './check.js';

/** Rows of a weight for per-output-channel quantization: dim 0 of [out, in, ...]; a vector is one row. */
export function quantRows(shape: readonly number[]): { rows: number; cols: number } {
  if (shape.length <= 1) return { rows: 1, cols: shape[0] ?? 1 };
  const rows = shape[0];
  let cols = 1;
  for (const d of shape.slice(1)) cols *= d;
  return { rows, cols };
}

/**
 * y = dequantize(quantize(w)) with one symmetric scale per row (output channel):
 * scale_r = max|w_r| / (2^(bits−1) − 1), q = clamp(round_half_even(w/scale_r), ±(2^(bits−1) − 1)),
 * y = q·scale_r. Zeros stay exactly zero, so a pruned weight stays pruned.
 *
 * Backward is the straight-through estimator: dw = dy. (Zeroing the gradient outside the
 * clipping range would change nothing here: with max-abs scales every weight is inside it.)
 */
export function fakeQuantize(w: Tensor, bits: number): Tensor {
  const op = 'fakeQuantize';
  expectDtype(op, 'weight', w, 'f32');
  expectRank(op, 'weight', w, [1, 8]);
  expect(Number.isInteger(bits) && bits >= 2 && bits <= 8, op, `bits must be an integer from 2 to 8, got ${bits} (weight ${fmtShape(w.shape)})`);
  const { rows, cols } = quantRows(w.shape);
  const y = empty(w.shape);
  native.fakeQuantizeForward({ x: w.handle, y: y.handle, scales: null, rows, cols, bits });
  return record(op, [w], y, (dy, grad) => {
    const dw = grad(0);
    if (dw) native.accumulate({ dst: dw.handle, src: dy.handle, n: w.size, accumulate: dw.accumulate });
  });
}
