import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeQuantize, linear, add, backward, tensor, tidy, zeros, TlcError } from '../src/engine/index.js';
import { quantizeRows, dequantizeRows } from '../src/compress/quantize.js';
import { assertGradcheck, randn } from './helpers.js';

function roundHalfEven64(x: number): number {
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** float64 reference: per-row max-abs scale, round half to even, clamp, dequantize. */
function fakeQuantizeRef(w: Float32Array, rows: number, cols: number, bits: number): { y: Float64Array; scaled: Float64Array } {
  const qmax = 2 ** (bits - 1) - 1;
  const y = new Float64Array(w.length), scaled = new Float64Array(w.length);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const scale = m / qmax;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (scale === 0) continue;
      scaled[i] = w[i] / scale;
      const q = Math.min(qmax, Math.max(-qmax, roundHalfEven64(scaled[i])));
      y[i] = q * scale;
    }
  }
  return { y, scaled };
}

function checkAgainstRef(y: Float32Array, w: Float32Array, rows: number, cols: number, bits: number, label: string): void {
  const { y: ref, scaled } = fakeQuantizeRef(w, rows, cols, bits);
  for (let i = 0; i < y.length; i++) {
    assert.ok(!Number.isNaN(y[i]), `${label}: NaN at ${i}`);
    const r = Math.floor(i / cols);
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    const tol = 4e-7 * m + 1e-30;
    if (Math.abs(y[i] - ref[i]) <= tol) continue;
    // Only where w/scale sits on a rounding boundary may float32 and float64 pick neighbouring codes.
    const frac = Math.abs(scaled[i]) % 1;
    assert.ok(Math.abs(frac - 0.5) < 1e-5, `${label}: element ${i} is ${y[i]}, reference ${ref[i]} (w/scale = ${scaled[i]})`);
  }
}

test('fakeQuantize forward matches a float64 reference for bits 2..8 on awkward shapes, zero rows included', () => {
  tidy(() => {
    const shapes = [[1, 1], [7, 13], [13], [3, 4, 5], [33, 64]];
    for (let bits = 2; bits <= 8; bits++) {
      shapes.forEach((shape, si) => {
        const w = randn(shape, 100 * bits + si);
        const data = w.toFloat32Array();
        const rows = shape.length === 1 ? 1 : shape[0];
        const cols = data.length / rows;
        if (rows > 2) data.fill(0, cols, 2 * cols); // row 1: all zeros → scale 0
        w.write(data);
        const y = fakeQuantize(w, bits);
        assert.deepEqual(y.shape, shape);
        const out = y.toFloat32Array();
        checkAgainstRef(out, data, rows, cols, bits, `bits ${bits} shape [${shape}]`);
        if (rows > 2) for (let c = 0; c < cols; c++) assert.ok(Object.is(out[cols + c], 0), 'a zero row stays +0');
        // At most 2^bits − 1 distinct values per row, and the row's max-abs element is reproduced exactly (±qmax·scale).
        const q = quantizeRows(data, rows, cols, bits);
        const js = dequantizeRows(q.codes, q.scales, rows, cols);
        assert.deepEqual(new Uint32Array(out.buffer), new Uint32Array(js.buffer), `bits ${bits} [${shape}]: native and JS quantization differ`);
      });
    }
  });
});

test('fakeQuantize keeps zeros (pruned weights) exactly +0 and is idempotent', () => {
  tidy(() => {
    const w = randn([9, 17], 5);
    const data = w.toFloat32Array();
    for (let i = 0; i < data.length; i += 3) data[i] = 0;
    data[1] = -0;
    w.write(data);
    const y = fakeQuantize(w, 4).toFloat32Array();
    for (let i = 0; i < data.length; i += 3) assert.ok(Object.is(y[i], 0), `element ${i}`);
    assert.ok(Object.is(y[1], 0), '−0 becomes +0');
    const twice = fakeQuantize(tensor(y, [9, 17]), 4).toFloat32Array();
    assert.deepEqual(twice, y);
  });
});

test('fakeQuantize rounds ties to even, in the native kernel and the JS quantizer alike', () => {
  tidy(() => {
    // bits 3: qmax 3, scale = 3/3 = 1, so w/scale is w itself.
    const w = new Float32Array([3, 0.5, 1.5, -2.5, -0.5, 2.5, -1.5, -3]);
    const y = fakeQuantize(tensor(w, [1, 8]), 3).toFloat32Array();
    assert.deepEqual(Array.from(y), [3, 0, 2, -2, 0, 2, -2, -3]);
    const q = quantizeRows(w, 1, 8, 3);
    assert.deepEqual(Array.from(q.codes), [3, 0, 2, -2, 0, 2, -2, -3]);
    assert.deepEqual(Array.from(q.scales), [1]);
  });
});

test('fakeQuantize backward is the straight-through estimator: the gradient equals the upstream gradient', () => {
  tidy(() => {
    const w = randn([7, 13], 1);
    w.requiresGrad = true;
    const upstream = randn([7, 13], 2);
    backward(fakeQuantize(w, 3), upstream);
    assert.deepEqual(w.grad!.toFloat32Array(), upstream.toFloat32Array());
    // Two uses accumulate: d/dw (fq(w) + fq(w)) = 2·upstream.
    w.gradStale = true;
    backward(add(fakeQuantize(w, 5), fakeQuantize(w, 2)), upstream);
    const g = w.grad!.toFloat32Array(), u = upstream.toFloat32Array();
    for (let i = 0; i < g.length; i++) assert.equal(g[i], 2 * u[i]);
  });
});

test('fakeQuantize inside a linear layer: input gradients match finite differences, weight gradients are STE', () => {
  tidy(() => {
    const w = randn([5, 13], 3);
    // The input's gradient flows through the quantized weight: exact derivative.
    assertGradcheck('linear(x, fq(w))', (x) => linear(x, fakeQuantize(w, 4)), [randn([7, 13], 4)]);
    // The weight's gradient is that of linear at the quantized weight (STE).
    const x = randn([7, 13], 5), dy = randn([7, 5], 6);
    w.requiresGrad = true;
    backward(linear(x, fakeQuantize(w, 4)), dy);
    const ref = fakeQuantize(w, 4).clone();
    ref.requiresGrad = true;
    backward(linear(x, ref), dy);
    assert.deepEqual(w.grad!.toFloat32Array(), ref.grad!.toFloat32Array());
  });
});

test('fakeQuantize bad input: bits outside 2..8, wrong dtype, scalar', () => {
  tidy(() => {
    const w = randn([4, 3], 1);
    for (const bits of [1, 9, 0, 2.5, NaN]) {
      assert.throws(() => fakeQuantize(w, bits), (e: Error) => e instanceof TlcError && /fakeQuantize: bits must be an integer from 2 to 8/.test(e.message) && e.message.includes('[4, 3]'));
    }
    assert.throws(() => fakeQuantize(zeros([4, 3], 'i32'), 4), /fakeQuantize: weight \[4, 3\] has dtype i32, expected f32/);
    assert.throws(() => fakeQuantize(zeros([]), 4), /fakeQuantize: weight must have rank 1 to 8, got shape \[\]/);
  });
});
