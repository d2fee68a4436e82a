import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerNorm, add, scale, tidy, tensor, backward, setThreads, getThreads, TlcError, zeros } from '../src/engine/index.js';
import { assertGradcheck, randn, maxAbsDiff } from './helpers.js';

// float64 reference: per row, y = (x − mean)/√(var + eps)·gamma + beta (biased variance)
function layerNormRef(x: Float32Array, g: Float32Array, b: Float32Array, C: number, eps: number) {
  const rows = x.length / C;
  const y = new Float64Array(x.length), xhat = new Float64Array(x.length), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
    rstd[r] = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      xhat[i] = (x[i] - mean) * rstd[r];
      y[i] = xhat[i] * g[c] + b[c];
    }
  }
  return { y, xhat, rstd };
}

// float64 reference gradients for the upstream gradient dy
function layerNormGradRef(x: Float32Array, g: Float32Array, dy: Float32Array, C: number, eps: number) {
  const { xhat, rstd } = layerNormRef(x, g, new Float32Array(C), C, eps);
  const rows = x.length / C;
  const dx = new Float64Array(x.length), dg = new Float64Array(C), db = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    let sg = 0, sgx = 0;
    for (let c = 0; c < C; c++) {
      const i = r * C + c, gi = dy[i] * g[c];
      sg += gi;
      sgx += gi * xhat[i];
      dg[c] += dy[i] * xhat[i];
      db[c] += dy[i];
    }
    for (let c = 0; c < C; c++) {
      const i = r * C + c;
      dx[i] = rstd[r] * (dy[i] * g[c] - sg / C - xhat[i] * sgx / C);
    }
  }
  return { dx, dg, db };
}

test('layerNorm forward matches a float64 reference on awkward shapes', () => {
  for (const shape of [[1, 13], [7, 13], [2, 3, 5], [4, 768], [3, 1]]) {
    tidy(() => {
      const C = shape[shape.length - 1];
      const x = randn(shape, 1, 3), g = randn([C], 2), b = randn([C], 3);
      const y = layerNorm(x, g, b);
      assert.deepEqual(y.shape, shape);
      const ref = layerNormRef(x.toFloat32Array(), g.toFloat32Array(), b.toFloat32Array(), C, 1e-5);
      assert.ok(maxAbsDiff(y.toFloat32Array(), ref.y) < 1e-5, `shape [${shape}]: ${maxAbsDiff(y.toFloat32Array(), ref.y)}`);
    });
  }
});

test('layerNorm keeps precision when the mean is large next to the spread', () => {
  tidy(() => {
    const C = 512;
    const data = randn([8, C], 4).toFloat32Array().map((v) => 1000 + v);
    const x = tensor(data, [8, C]), g = tensor(new Float32Array(C).fill(1), [C]), b = zeros([C]);
    const ref = layerNormRef(data, g.toFloat32Array(), b.toFloat32Array(), C, 1e-5);
    // A float mean is already off by up to half an ulp of 1000 (3e-5); a one-pass
    // E[x²] − E[x]² variance would lose every digit here.
    assert.ok(maxAbsDiff(layerNorm(x, g, b, 1e-5).toFloat32Array(), ref.y) < 6e-5);
  });
});

test('layerNorm with C = 1 returns beta and has zero input gradient (no NaN)', () => {
  tidy(() => {
    const x = randn([5, 1], 5), g = tensor([2], [1]), b = tensor([0.25], [1]);
    for (const t of [x, g, b]) t.requiresGrad = true;
    const y = layerNorm(x, g, b);
    assert.deepEqual(Array.from(y.toFloat32Array()), [0.25, 0.25, 0.25, 0.25, 0.25]);
    backward(y, tensor([1, 2, 3, 4, 5], [5, 1]));
    assert.deepEqual(Array.from(x.grad!.toFloat32Array()), [0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(g.grad!.toFloat32Array()), [0]);
    assert.deepEqual(Array.from(b.grad!.toFloat32Array()), [15]);
  });
});

test('layerNorm backward matches a float64 reference (dx, dgamma, dbeta, several row blocks)', () => {
  for (const [rows, C] of [[201, 9], [1001, 37], [7, 13], [1, 64]]) {
    tidy(() => {
      const x = randn([rows, C], 6, 2), g = randn([C], 7), b = randn([C], 8), dy = randn([rows, C], 9);
      for (const t of [x, g, b]) t.requiresGrad = true;
      backward(layerNorm(x, g, b), dy);
      const ref = layerNormGradRef(x.toFloat32Array(), g.toFloat32Array(), dy.toFloat32Array(), C, 1e-5);
      assert.ok(maxAbsDiff(x.grad!.toFloat32Array(), ref.dx) < 2e-5, `dx [${rows},${C}]`);
      assert.ok(maxAbsDiff(g.grad!.toFloat32Array(), ref.dg) < 1e-5 * Math.sqrt(rows) * 4, `dgamma [${rows},${C}]`);
      assert.ok(maxAbsDiff(b.grad!.toFloat32Array(), ref.db) < 1e-5 * Math.sqrt(rows) * 4, `dbeta [${rows},${C}]`);
    });
  }
});

test('layerNorm backward matches finite differences, including accumulated gradients', () => {
  tidy(() => {
    assertGradcheck('layerNorm [7, 13]', (x, g, b) => layerNorm(x, g, b), [randn([7, 13], 10), randn([13], 11), randn([13], 12)]);
    assertGradcheck('layerNorm [1, 13]', (x, g, b) => layerNorm(x, g, b), [randn([1, 13], 13), randn([13], 14), randn([13], 15)]);
    assertGradcheck('layerNorm [2, 1, 4]', (x, g, b) => layerNorm(x, g, b, 1e-3), [randn([2, 1, 4], 16), randn([4], 17), randn([4], 18)]);
    // Each input reaches the output twice: the second gradient is accumulated.
    assertGradcheck('layerNorm shared', (x, g, b) => add(layerNorm(x, g, b), layerNorm(scale(x, -2), g, b)),
      [randn([3, 6], 19), randn([6], 20), randn([6], 21)]);
  });
});

test('layerNorm results do not depend on the thread count', () => {
  const before = getThreads();
  const run = (threads: number) => tidy(() => {
    setThreads(threads);
    const x = randn([1001, 37], 22), g = randn([37], 23), b = randn([37], 24);
    for (const t of [x, g, b]) t.requiresGrad = true;
    const y = layerNorm(x, g, b);
    const out = y.toFloat32Array();
    backward(y, randn([1001, 37], 25));
    return [out, x.grad!.toFloat32Array(), g.grad!.toFloat32Array(), b.grad!.toFloat32Array()];
  });
  try {
    const one = run(1), two = run(2);
    for (let k = 0; k < one.length; k++) assert.deepEqual(one[k], two[k]);
  } finally {
    setThreads(before);
  }
});

test('layerNorm bad input: wrong shapes, dtype and eps give clear errors', () => {
  tidy(() => {
    const x = randn([4, 6], 1), g = randn([6], 2), b = randn([6], 3);
    assert.throws(() => layerNorm(x, randn([5], 4), b),
      (e: Error) => e instanceof TlcError && /layerNorm: gamma \[5\] does not match input \[4, 6\]: expected \[6\]/.test(e.message));
    assert.throws(() => layerNorm(x, g, randn([6, 1], 5)), /layerNorm: beta \[6, 1\] does not match input \[4, 6\]: expected \[6\]/);
    assert.throws(() => layerNorm(zeros([4, 6], 'i32'), g, b), /layerNorm: input \[4, 6\] has dtype i32, expected f32/);
    assert.throws(() => layerNorm(x, zeros([6], 'i32'), b), /layerNorm: gamma \[6\] has dtype i32, expected f32/);
    assert.throws(() => layerNorm(x, g, b, 0), /layerNorm: eps must be a positive number, got 0/);
    assert.throws(() => layerNorm(zeros([0, 6]), g, b), /layerNorm: input \[0, 6\] is empty/);
  });
});
