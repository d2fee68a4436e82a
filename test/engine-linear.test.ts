import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linear, matmul, add, scale, tidy, tensor, backward, zeros, TlcError } from '../src/engine/index.js';
import { assertGradcheck, randn, maxAbsDiff, linearRef } from './helpers.js';

test('linear forward matches a float64 reference on awkward shapes', () => {
  for (const [M, K, N] of [[1, 1, 1], [7, 13, 5], [33, 64, 17]]) {
    tidy(() => {
      const x = randn([M, K], 1), w = randn([N, K], 2), b = randn([N], 3);
      const y = linear(x, w, b).toFloat32Array();
      const ref = linearRef(x.toFloat32Array(), w.toFloat32Array(), b.toFloat32Array(), M, K, N);
      assert.ok(maxAbsDiff(y, ref) < 1e-4 * Math.sqrt(K), `[${M},${K},${N}]`);
    });
  }
});

test('linear backward matches finite differences (with and without bias, rank 3 input)', () => {
  tidy(() => {
    assertGradcheck('linear+bias', (x, w, b) => linear(x, w, b), [randn([2, 7, 13], 4), randn([5, 13], 5), randn([5], 6)]);
    assertGradcheck('linear', (x, w) => linear(x, w), [randn([1, 13], 7), randn([3, 13], 8)]);
  });
});

test('matmul backward matches finite differences for every transpose combination', () => {
  tidy(() => {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const [M, K, N] = [7, 5, 3];
        const a = randn(ta ? [2, K, M] : [2, M, K], 10), b = randn(tb ? [2, N, K] : [2, K, N], 11);
        assertGradcheck(`matmul ta=${ta} tb=${tb}`, (p, q) => matmul(p, q, { transposeA: ta, transposeB: tb }), [a, b]);
      }
    }
  });
});

test('add, scale and reshape propagate gradients; a shared input accumulates both paths', () => {
  tidy(() => {
    assertGradcheck('add', (a, b) => add(a, b), [randn([3, 4], 1), randn([3, 4], 2)]);
    assertGradcheck('scale', (a) => scale(a, -2.5), [randn([5], 3)]);
    assertGradcheck('reshape+linear', (x, w) => linear(x.reshape([4, 3]), w), [randn([2, 6], 4), randn([2, 3], 5)]);
    // y = x + x → dy/dx = 2
    const x = randn([4], 6);
    x.requiresGrad = true;
    backward(add(x, x), tensor(new Float32Array([1, 1, 1, 1]), [4]));
    assert.deepEqual(Array.from(x.grad!.toFloat32Array()), [2, 2, 2, 2]);
  });
});

test('gradients accumulate across backward calls until zeroGrad', async () => {
  const { zeroGrad } = await import('../src/engine/index.js');
  tidy(() => {
    const w = randn([2, 3], 1);
    w.requiresGrad = true;
    const x = randn([4, 3], 2);
    const g = tensor(new Float32Array(8).fill(1), [4, 2]);
    backward(linear(x, w), g);
    const once = w.grad!.toFloat32Array();
    backward(linear(x, w), g);
    const twice = w.grad!.toFloat32Array();
    assert.ok(maxAbsDiff(twice, once.map((v) => 2 * v)) < 1e-5);
    zeroGrad([w]);
    backward(linear(x, w), g);
    assert.ok(maxAbsDiff(w.grad!.toFloat32Array(), once) < 1e-6);
  });
});

test('bad input: shape mismatch, wrong dtype and use after dispose give clear errors', () => {
  tidy(() => {
    const x = randn([4, 3], 1), w = randn([5, 6], 2);
    assert.throws(() => linear(x, w), (e: Error) => e instanceof TlcError && /linear: input \[4, 3\] does not match weight \[5, 6\]/.test(e.message));
    const ids = zeros([4, 3], 'i32');
    assert.throws(() => linear(ids, randn([2, 3], 3)), /linear: input \[4, 3\] has dtype i32, expected f32/);
    assert.throws(() => matmul(randn([2, 3], 1), randn([4, 5], 2)), /matmul: inner dimensions differ/);
    const d = randn([2, 3], 4);
    d.dispose();
    assert.throws(() => linear(d, randn([2, 3], 5)), /used after it was disposed/);
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
  });
});

test('a tidy scope that throws frees everything it created', async () => {
  const { memoryStats, empty } = await import('../src/engine/index.js');
  const before = memoryStats().liveBytes;
  for (let i = 0; i < 3; i++) {
    assert.throws(() => tidy(() => {
      empty([256, 256]);
      throw new Error('boom');
    }), /boom/);
  }
  assert.equal(memoryStats().liveBytes, before);
});
