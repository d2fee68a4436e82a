// Bad input reaching the engine: every failure is a clear error naming the op, never a
// crash — including calls that bypass the TypeScript checks and hit native code directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/engine/native.js';
import { linear, layerNorm, scale, setCheckNumerics, tensor, tidy, empty, assertFinite, TlcError } from '../src/engine/index.js';
import { randn } from './helpers.js';

test('NaN/Inf: with numerics checks on, the first op producing a non-finite value is named', () => {
  setCheckNumerics(true);
  try {
    tidy(() => {
      const x = tensor(new Float32Array([1, 2, Infinity, 4]), [1, 4]);
      const w = randn([2, 4], 1);
      assert.throws(() => linear(x, w), (e: Error) => e instanceof TlcError && /^linear: produced a non-finite value/.test(e.message));
      const y = layerNorm(tensor(new Float32Array([1e30, 1, 2, 3]), [1, 4]), randn([4], 2), randn([4], 3)); // finite
      assert.throws(() => scale(tensor(new Float32Array([1, 1e30]), [1, 2]), 1e10), /scale: produced a non-finite value \(Infinity\) at flat index 1 of its \[1, 2\] result/);
      assert.equal(y.size, 4);
    });
  } finally {
    setCheckNumerics(false);
  }
  tidy(() => assert.throws(() => assertFinite('loss', tensor([NaN], [1])), /loss: produced a non-finite value \(NaN\)/));
});

test('native code rejects wrong sizes, dtypes and stale handles even without the TypeScript checks', () => {
  tidy(() => {
    const x = randn([4, 8], 1), w = randn([3, 8], 2), y = empty([4, 3]);
    assert.throws(() => native.linearForward(x.handle, w.handle, null, y.handle, 4, 16, 3), /linear: input holds 32 elements, the op needs 64/);
    const ids = tensor(new Int32Array(4), [4], 'i32');
    assert.throws(() => native.linearForward(ids.handle, w.handle, null, y.handle, 1, 4, 3), /linear: input has dtype i32, expected f32/);
    const gone = randn([4, 8], 3);
    const handle = gone.handle;
    gone.dispose();
    assert.throws(() => native.linearForward(handle, w.handle, null, y.handle, 4, 8, 3), /linear: input was used after it was disposed/);
    assert.throws(() => native.linearForward(12345.5 as never, w.handle, null, y.handle, 4, 8, 3), /linear: input is not a tensor/);
    assert.throws(() => native.linearForward(x.handle, w.handle, null, y.handle, 4, -8, 3), /every dimension must be positive|holds/);
    // a freed slot reused by a new tensor does not revive the old handle
    const fresh = randn([4, 8], 4);
    assert.throws(() => native.read(handle, new Float32Array(32), 0), /used after it was disposed/);
    assert.equal(fresh.toFloat32Array().length, 32);
  });
});
