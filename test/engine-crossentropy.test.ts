import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crossEntropy, crossEntropyWithCount, countTargets, linear, tidy, tensor, backward, zeros, setThreads, getThreads, TlcError,
} from '../src/engine/index.js';
import { assertGradcheck, randn, randint, maxAbsDiff } from './helpers.js';

interface Ref { loss: number; count: number; grad: Float64Array }

// float64 reference: PyTorch's cross_entropy(reduction='mean', ignore_index, label_smoothing)
// and its gradient for an upstream gradient of 1
function crossEntropyRef(logits: Float32Array, targets: Int32Array, V: number, ignore = -100, eps = 0): Ref {
  const N = targets.length;
  const count = targets.filter((t) => t !== ignore).length;
  const grad = new Float64Array(N * V);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t === ignore) continue;
    const row = logits.subarray(n * V, (n + 1) * V);
    let max = -Infinity, sumX = 0;
    for (const x of row) { max = Math.max(max, x); sumX += x; }
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    const lse = max + Math.log(sum);
    total += (1 - eps) * (lse - row[t]) + eps * (lse - sumX / V);
    for (let v = 0; v < V; v++) grad[n * V + v] = (Math.exp(row[v] - lse) - (v === t ? 1 - eps : 0) - eps / V) / count;
  }
  return { loss: count > 0 ? total / count : 0, count, grad };
}

const cases: { N: number; V: number; ignore?: number; eps?: number; scale?: number; ignored?: number[] }[] = [
  { N: 1, V: 13 },
  { N: 7, V: 13, ignored: [1, 4], eps: 0.1 },
  { N: 33, V: 100, ignore: -1, ignored: [0, 5, 32], eps: 0.2, scale: 8 },
  { N: 5, V: 1000, scale: 30 },
];

function makeTargets(N: number, V: number, seed: number, ignore: number, ignored: number[] = []): Int32Array {
  const t = randint([N], V, seed).toArray() as Int32Array;
  for (const i of ignored) t[i] = ignore;
  return t;
}

test('crossEntropy forward and backward match a float64 reference (ignored targets, label smoothing)', () => {
  cases.forEach(({ N, V, ignore = -100, eps = 0, scale = 1, ignored }, k) => tidy(() => {
    const logits = randn([N, V], 10 + k, scale);
    logits.requiresGrad = true;
    const t = makeTargets(N, V, 20 + k, ignore, ignored);
    const { loss, count } = crossEntropyWithCount(logits, tensor(t, [N], 'i32'), { ignoreIndex: ignore, labelSmoothing: eps });
    const ref = crossEntropyRef(logits.toFloat32Array(), t, V, ignore, eps);
    assert.equal(count, ref.count);
    assert.deepEqual(loss.shape, [1]);
    assert.ok(Math.abs(loss.item() - ref.loss) < 2e-6 * Math.max(1, ref.loss), `case ${k}: ${loss.item()} vs ${ref.loss}`);
    backward(loss);
    const d = logits.grad!.toFloat32Array();
    assert.ok(maxAbsDiff(d, ref.grad) < 1e-6, `case ${k}: gradient differs by ${maxAbsDiff(d, ref.grad)}`);
    for (const i of ignored ?? []) assert.ok(d.subarray(i * V, (i + 1) * V).every((x) => x === 0), `ignored row ${i}`);
  }));
});

test('crossEntropy backward matches finite differences', () => {
  tidy(() => {
    const t7 = tensor(makeTargets(7, 13, 30, -100, [3]), [7], 'i32');
    assertGradcheck('ce ignore+smoothing', (l) => crossEntropy(l, t7, { labelSmoothing: 0.1 }), [randn([7, 13], 31)]);
    assertGradcheck('ce N=1', (l) => crossEntropy(l, tensor(new Int32Array([12]), [1], 'i32')), [randn([1, 13], 32)]);
    // through a linear output layer, as in the model
    const t4 = tensor(new Int32Array([0, 5, -100, 2]), [4], 'i32');
    assertGradcheck('linear+ce', (h, w) => crossEntropy(linear(h, w), t4, { labelSmoothing: 0.05 }), [randn([4, 6], 33), randn([13, 6], 34)]);
  });
});

test('all targets ignored: loss 0, count 0, gradient 0 (no NaN); gradients accumulate', () => {
  tidy(() => {
    const logits = randn([3, 13], 40);
    logits.requiresGrad = true;
    const targets = tensor(new Int32Array([-100, -100, -100]), [3], 'i32');
    const { loss, count } = crossEntropyWithCount(logits, targets, { labelSmoothing: 0.1 });
    assert.equal(count, 0);
    assert.equal(loss.item(), 0);
    backward(loss);
    assert.ok(logits.grad!.toFloat32Array().every((x) => x === 0));
    const t2 = tensor(new Int32Array([1, -100, 7]), [3], 'i32');
    logits.gradStale = true;
    backward(crossEntropy(logits, t2));
    const once = logits.grad!.toFloat32Array();
    backward(crossEntropy(logits, t2), 0.5);
    const sum = logits.grad!.toFloat32Array();
    assert.ok(maxAbsDiff(sum, once.map((x) => 1.5 * x)) < 1e-7);
    assert.equal(countTargets(t2), 2);
    assert.equal(countTargets(t2, 7), 2);
    assert.equal(countTargets(tensor(new Int32Array([0, 1, 0, 2]), [2, 2], 'i32'), 0), 2);
  });
});

test('crossEntropy loss and gradient are bit-identical with 1 and 2 threads', () => {
  const saved = getThreads();
  try {
    tidy(() => {
      const [N, V] = [64, 500];
      const logits = randn([N, V], 50, 4);
      logits.requiresGrad = true;
      const targets = tensor(makeTargets(N, V, 51, -100, [3, 9]), [N], 'i32');
      const run = (threads: number): [number, Float32Array] => {
        setThreads(threads);
        logits.gradStale = true;
        const loss = crossEntropy(logits, targets, { labelSmoothing: 0.1 });
        const value = loss.item();
        backward(loss);
        return [value, logits.grad!.toFloat32Array()];
      };
      const [l1, g1] = run(1), [l2, g2] = run(2);
      assert.equal(l1, l2);
      assert.deepEqual(Buffer.from(g1.buffer), Buffer.from(g2.buffer));
    });
  } finally {
    setThreads(saved);
  }
});

test('bad input: targets outside the vocabulary, shape and dtype mismatches, bad options', () => {
  tidy(() => {
    const logits = randn([7, 13], 60);
    const t = new Int32Array([0, 1, 13, 3, 4, 5, 6]);
    assert.throws(() => crossEntropy(logits, tensor(t, [7], 'i32')), (e: Error) =>
      /^crossEntropy: target 13 at position 2 is outside the vocabulary of 13 \(and is not the ignore index -100\)$/.test(e.message));
    t[2] = 0; t[5] = -5;
    assert.throws(() => crossEntropy(logits, tensor(t, [7], 'i32')), /crossEntropy: target -5 at position 5 is outside the vocabulary of 13/);
    assert.throws(() => crossEntropy(logits, tensor(t, [7], 'i32'), { ignoreIndex: -1 }), /target -5 at position 5.*ignore index -1/);
    assert.equal(crossEntropyWithCount(logits, tensor(t, [7], 'i32'), { ignoreIndex: -5 }).count, 6);
    const isTlc = (re: RegExp) => (e: Error) => e instanceof TlcError && re.test(e.message);
    assert.throws(() => crossEntropy(logits, zeros([6], 'i32')), isTlc(/crossEntropy: targets \[6\] do not match logits \[7, 13\]: expected \[7\]/));
    assert.throws(() => crossEntropy(logits, zeros([7, 1], 'i32')), isTlc(/crossEntropy: targets must have rank 1, got shape \[7, 1\]/));
    assert.throws(() => crossEntropy(logits, zeros([7])), isTlc(/crossEntropy: targets \[7\] has dtype f32, expected i32/));
    assert.throws(() => crossEntropy(randn([2, 3, 13], 1), zeros([6], 'i32')), isTlc(/crossEntropy: logits must have rank 2, got shape \[2, 3, 13\]/));
    assert.throws(() => crossEntropy(logits, zeros([7], 'i32'), { labelSmoothing: 1.5 }), isTlc(/crossEntropy: labelSmoothing must be in \[0, 1\], got 1.5/));
    assert.throws(() => crossEntropy(logits, zeros([7], 'i32'), { ignoreIndex: 0.5 }), isTlc(/crossEntropy: ignoreIndex must be a 32-bit integer/));
  });
});
