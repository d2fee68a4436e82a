import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gelu, tanh, add, tidy, tensor, backward, setThreads, getThreads, TlcError, zeros } from '../src/engine/index.js';
import { assertGradcheck, randn } from './helpers.js';

// float64 erfc: a positive series below 3, a continued fraction above (relative error ~1e-13)
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 3) {
    // erf(z) = 2/√π·e^(−z²)·Σ 2ⁿz^(2n+1)/(1·3·…·(2n+1))
    let term = z, sum = z;
    for (let n = 1; n < 300 && term > sum * 1e-18; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  // erfc(z) = e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + …))))
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

const Phi = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
const geluRef = (x: number) => x * Phi(x);
const geluGradRef = (x: number) => Phi(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
const BETA = Math.sqrt(2 / Math.PI), KAPPA = 0.044715;
// ½x(1 + tanh u) = x/(1 + e^(−2u)), written without cancellation in the negative tail
const geluTanhRef = (x: number) => x / (1 + Math.exp(-2 * BETA * (x + KAPPA * x ** 3)));
const geluTanhGradRef = (x: number) => {
  const u = BETA * (x + KAPPA * x ** 3), s = 1 / (1 + Math.exp(-2 * u));
  return s + 2 * x * s * s * Math.exp(-2 * u) * BETA * (1 + 3 * KAPPA * x * x);
};

// Points across the range, in both tails and near zero
function samplePoints(): Float32Array {
  const xs: number[] = [];
  for (let i = 0; i <= 4000; i++) xs.push(-13 + (26 * i) / 4000);
  for (let e = -30; e <= 0; e += 0.25) xs.push(10 ** e, -(10 ** e));
  return Float32Array.from(xs);
}

// The spacing of floats at |v| (for normal floats)
function ulp(v: number): number {
  return 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23);
}

// Within `ulps` float ulps of the float64 value, measured at `scale` (default |ref|).
// Values below 2e-37 may be flushed to zero.
function assertClose(name: string, got: Float32Array, x: Float32Array, ref: (x: number) => number,
  scale: (x: number) => number = (v) => Math.abs(ref(v)), ulps = 2): void {
  for (let i = 0; i < x.length; i++) {
    const r = ref(x[i]), s = scale(x[i]);
    const tol = s < 2e-37 ? 2e-37 : ulps * ulp(s);
    assert.ok(Math.abs(got[i] - r) <= tol, `${name}(${x[i]}) = ${got[i]}, expected ${r}`);
  }
}

function forwardAndGrad(f: (t: ReturnType<typeof tensor>) => ReturnType<typeof tensor>, x: Float32Array) {
  return tidy(() => {
    const t = tensor(x, [x.length]);
    t.requiresGrad = true;
    const y = f(t);
    backward(y, tensor(new Float32Array(x.length).fill(1), [x.length]));
    return { y: y.toFloat32Array(), dx: t.grad!.toFloat32Array() };
  });
}

test('gelu and tanh match known values', () => {
  tidy(() => {
    const one = tensor([1, -1, 0], [3]);
    const exact = gelu(one).toFloat32Array(), approx = gelu(one, 'tanh').toFloat32Array();
    assert.equal(exact[0], Math.fround(0.8413447460685429));
    assert.equal(exact[1], Math.fround(0.8413447460685429 - 1));
    assert.equal(exact[2], 0);
    assert.equal(approx[0], Math.fround(0.8411919906082768));
    assert.equal(approx[1], Math.fround(0.8411919906082768 - 1));
    assert.equal(tanh(one).toFloat32Array()[0], Math.fround(Math.tanh(1)));
  });
});

test('gelu (exact and tanh forms) and tanh match float64 references to 2 float ulps, forward and derivative', () => {
  const x = samplePoints();
  // A derivative is a sum of two terms of opposite sign for x < 0: its error is
  // measured against the size of the terms, as it goes through zero.
  const exact = forwardAndGrad((t) => gelu(t), x);
  assertClose('gelu', exact.y, x, geluRef);
  assertClose("gelu'", exact.dx, x, geluGradRef, (v) => Phi(v) + Math.abs(geluGradRef(v) - Phi(v)));
  const approx = forwardAndGrad((t) => gelu(t, 'tanh'), x);
  assertClose('gelu tanh', approx.y, x, geluTanhRef);
  const gate = (v: number) => 1 / (1 + Math.exp(-2 * BETA * (v + KAPPA * v ** 3)));
  assertClose("gelu tanh'", approx.dx, x, geluTanhGradRef, (v) => gate(v) + Math.abs(geluTanhGradRef(v) - gate(v)));
  const th = forwardAndGrad((t) => tanh(t), x);
  assertClose('tanh', th.y, x, Math.tanh);
  // tanh' is computed from the float output, as 1 − y²
  th.y.forEach((y, i) => assert.ok(Math.abs(th.dx[i] - (1 - y * y)) <= ulp(1 - y * y), `tanh'(${x[i]})`));
});

test('gelu and tanh backward match finite differences, including accumulated gradients', () => {
  tidy(() => {
    assertGradcheck('gelu', (x) => gelu(x), [randn([7, 13], 1, 2)]);
    assertGradcheck('gelu tanh', (x) => gelu(x, 'tanh'), [randn([7, 13], 2, 2)]);
    assertGradcheck('tanh', (x) => tanh(x), [randn([1, 13], 3, 2)]);
    assertGradcheck('gelu one element', (x) => gelu(x), [randn([1], 4)]);
    // x reaches the output three times: later gradients are accumulated
    assertGradcheck('gelu, tanh shared', (x) => add(add(gelu(x), gelu(x, 'tanh')), tanh(gelu(x))), [randn([2, 3, 5], 5)]);
  });
});

test('activations do not depend on the thread count, and NaN propagates', () => {
  const before = getThreads();
  const x = randn([100003], 6, 4).toFloat32Array();
  x[5] = NaN;
  const run = (threads: number) => {
    setThreads(threads);
    return [forwardAndGrad((t) => gelu(t), x), forwardAndGrad((t) => gelu(t, 'tanh'), x), forwardAndGrad((t) => tanh(t), x)];
  };
  try {
    const one = run(1), two = run(2);
    for (let k = 0; k < one.length; k++) {
      assert.deepEqual(one[k].y, two[k].y);
      assert.deepEqual(one[k].dx, two[k].dx);
      assert.ok(Number.isNaN(one[k].y[5]) && Number.isNaN(one[k].dx[5]));
    }
  } finally {
    setThreads(before);
  }
});

test('activation bad input: wrong dtype and unknown approximation give clear errors', () => {
  tidy(() => {
    assert.throws(() => gelu(zeros([2, 3], 'i32')), (e: Error) => e instanceof TlcError && /gelu: input \[2, 3\] has dtype i32, expected f32/.test(e.message));
    assert.throws(() => tanh(zeros([4], 'u8')), /tanh: input \[4\] has dtype u8, expected f32/);
    assert.throws(() => gelu(randn([2], 1), 'erf' as 'none'), /gelu: approximate must be 'none' or 'tanh', got "erf"/);
  });
});
