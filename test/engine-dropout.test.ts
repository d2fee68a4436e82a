import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropout, DropoutRng, add, tidy, full, backward, setThreads, getThreads, TlcError, zeros } from '../src/engine/index.js';
import { assertGradcheck, randn } from './helpers.js';

function ones(n: number) {
  return full([n], 1);
}

// The mask definition, in BigInt: keep(i) = top 24 bits of
// SplitMix64(Mix64(seed + γ) + (offset + i)·γ) / 2²⁴ ≥ p. Masks saved with a run stay valid
// only while this holds.
const M64 = (1n << 64n) - 1n, GAMMA = 0x9e3779b97f4a7c15n;
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}
function keepRef(seed: number, counter: number, p: number): boolean {
  const key = mix64((BigInt(seed) + GAMMA) & M64);
  const draw = mix64((key + BigInt(counter) * GAMMA) & M64) >> 40n;
  return Number(draw) / 2 ** 24 >= p;
}

test('dropout keeps about 1 − p of the elements and scales them by 1/(1 − p)', () => {
  tidy(() => {
    const n = 200_000;
    for (const p of [0.1, 0.5, 0.9]) {
      const y = dropout(ones(n), p, 7, 0).toFloat32Array();
      const scale = Math.fround(1 / (1 - p));
      let kept = 0;
      for (const v of y) {
        if (v !== 0) {
          assert.equal(v, scale);
          kept++;
        }
      }
      const sigma = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(kept / n - (1 - p)) < 5 * sigma, `p=${p}: kept ${kept / n}`);
    }
  });
});

test('dropout mask depends only on (seed, offset + i) and follows its definition', () => {
  tidy(() => {
    const p = 0.3;
    const a = dropout(ones(1000), p, 11, 0).toFloat32Array();
    assert.deepEqual(dropout(ones(1000), p, 11, 0).toFloat32Array(), a, 'same seed and offset');
    // the tensor starting at offset 10 sees the same draws as element 10 onwards
    assert.deepEqual(dropout(ones(990), p, 11, 10).toFloat32Array(), a.subarray(10));
    const agree = (u: Float32Array, v: Float32Array) => u.reduce((s, x, i) => s + ((x !== 0) === (v[i] !== 0) ? 1 : 0), 0) / u.length;
    // independent masks agree on p² + (1 − p)² = 0.58 of the elements
    assert.ok(Math.abs(agree(a, dropout(ones(1000), p, 11, 1000).toFloat32Array()) - 0.58) < 0.06, 'different offset');
    assert.ok(Math.abs(agree(a, dropout(ones(1000), p, 12, 0).toFloat32Array()) - 0.58) < 0.06, 'different seed');
    for (let i = 0; i < 64; i++) assert.equal(a[i] !== 0, keepRef(11, i, p), `element ${i}`);
    const far = dropout(ones(8), p, 2 ** 40, 2 ** 51).toFloat32Array();
    for (let i = 0; i < 8; i++) assert.equal(far[i] !== 0, keepRef(2 ** 40, 2 ** 51 + i, p), `large counter ${i}`);
  });
});

test('dropout gradient is mask/(1 − p), and matches finite differences', () => {
  tidy(() => {
    const p = 0.25, x = randn([3, 7, 13], 1);
    x.requiresGrad = true;
    const y = dropout(x, p, 5, 123);
    backward(y, ones(x.size).reshape(x.shape));
    const mask = dropout(ones(x.size), p, 5, 123).toFloat32Array();
    assert.deepEqual(x.grad!.toFloat32Array(), mask);
    assertGradcheck('dropout', (t) => dropout(t, p, 5, 123), [randn([7, 13], 2)]);
    // two masks on one input: the second gradient is accumulated
    assertGradcheck('dropout shared', (t) => add(dropout(t, 0.5, 1, 0), dropout(dropout(t, 0.2, 2, 0), 0.5, 2, 13)), [randn([1, 13], 3)]);
  });
});

test('dropout with p = 0 is the identity, and gradients pass through', () => {
  tidy(() => {
    const x = randn([4, 5], 4);
    x.requiresGrad = true;
    const y = dropout(x, 0, 1, 0);
    assert.deepEqual(y.toFloat32Array(), x.toFloat32Array());
    const dy = randn([4, 5], 5);
    backward(y, dy);
    assert.deepEqual(x.grad!.toFloat32Array(), dy.toFloat32Array());
  });
});

test('dropout does not depend on the thread count', () => {
  const before = getThreads();
  const run = (threads: number) => tidy(() => {
    setThreads(threads);
    const x = randn([100_003], 6);
    x.requiresGrad = true;
    const y = dropout(x, 0.4, 99, 12345);
    backward(y, randn([100_003], 7));
    return [y.toFloat32Array(), x.grad!.toFloat32Array()];
  });
  try {
    const one = run(1), two = run(2);
    assert.deepEqual(one[0], two[0]);
    assert.deepEqual(one[1], two[1]);
  } finally {
    setThreads(before);
  }
});

test('DropoutRng hands out non-overlapping ranges and resumes from its state', () => {
  const rng = new DropoutRng(42);
  assert.deepEqual(rng.next(10), { seed: 42, offset: 0 });
  assert.deepEqual(rng.next(5), { seed: 42, offset: 10 });
  const state = rng.getState();
  assert.deepEqual(state, { seed: 42, counter: 15 });
  const after = [rng.next(7), rng.next(3)];
  const resumed = new DropoutRng(0);
  resumed.setState(JSON.parse(JSON.stringify(state)));
  assert.deepEqual([resumed.next(7), resumed.next(3)], after);
  assert.throws(() => rng.next(-1), /DropoutRng.next: n must be a non-negative integer/);
  assert.throws(() => new DropoutRng(-3), /DropoutRng: seed must be an integer/);
  assert.throws(() => rng.setState({ seed: 1, counter: 0.5 }), /DropoutRng.setState/);
  // a training step: each dropout call takes its own range
  tidy(() => {
    const x = randn([6, 4], 8);
    const r = new DropoutRng(3);
    const { seed, offset } = r.next(x.size);
    assert.deepEqual(dropout(x, 0.5, seed, offset).toFloat32Array(), dropout(x, 0.5, 3, 0).toFloat32Array());
  });
});

test('dropout bad input: p out of range, non-f32, bad seed or offset give clear errors', () => {
  tidy(() => {
    const x = randn([3, 4], 1);
    for (const p of [1, -0.1, 1.5, NaN]) {
      assert.throws(() => dropout(x, p, 0, 0), (e: Error) => e instanceof TlcError && /dropout: p must be in \[0, 1\)/.test(e.message));
    }
    assert.throws(() => dropout(zeros([3, 4], 'i32'), 0.1, 0, 0), /dropout: input \[3, 4\] has dtype i32, expected f32/);
    assert.throws(() => dropout(x, 0.1, -1, 0), /dropout: seed must be an integer in \[0, 2\^52\], got -1/);
    assert.throws(() => dropout(x, 0.1, 1.5, 0), /dropout: seed must be an integer/);
    assert.throws(() => dropout(x, 0.1, 0, 2 ** 52 - 5), /dropout: offset must be an integer with offset \+ 12 elements in \[0, 2\^52\]/);
  });
});
