import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attention, selfAttention, tidy, tensor, backward, zeros, full, zeroGrad, noGrad, setThreads, getThreads, memoryStats, tapeLength,
  TlcError, Rng, type Tensor,
} from '../src/engine/index.js';
import { assertGradcheck, randn, maxAbsDiff } from './helpers.js';

interface RefOptions {
  causal?: boolean;
  mask?: Uint8Array | null; // [B, Tk]
  scale?: number;
}

/**
 * float64 reference. Element (b, t, c) of q is q[qOff + (b·Tq + t)·qStride + c] (likewise k, v),
 * so the same code checks separate q/k/v and the packed qkv layout. Returns [B, Tq, H·Dh].
 */
function attentionRef(q: Float32Array, k: Float32Array, v: Float32Array, B: number, Tq: number, Tk: number, H: number,
  Dh: number, o: RefOptions = {}, layout = { qOff: 0, kOff: 0, vOff: 0, stride: H * Dh }): Float64Array {
  const C = H * Dh, scale = o.scale ?? 1 / Math.sqrt(Dh);
  const out = new Float64Array(B * Tq * C);
  const at = (x: Float32Array, off: number, b: number, T: number, t: number, c: number) => x[off + (b * T + t) * layout.stride + c];
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < Tq; t++) {
        const allowed: number[] = [];
        for (let j = 0; j < Tk; j++) {
          if (o.causal && j > t + (Tk - Tq)) continue;
          if (o.mask && !o.mask[b * Tk + j]) continue;
          allowed.push(j);
        }
        if (allowed.length === 0) continue; // zeros
        const s = allowed.map((j) => {
          let d = 0;
          for (let e = 0; e < Dh; e++) d += at(q, layout.qOff, b, Tq, t, h * Dh + e) * at(k, layout.kOff, b, Tk, j, h * Dh + e);
          return scale * d;
        });
        const m = Math.max(...s);
        const w = s.map((x) => Math.exp(x - m));
        const z = w.reduce((a, x) => a + x, 0);
        for (let e = 0; e < Dh; e++) {
          let acc = 0;
          allowed.forEach((j, n) => { acc += (w[n] / z) * at(v, layout.vOff, b, Tk, j, h * Dh + e); });
          out[(b * Tq + t) * C + h * Dh + e] = acc;
        }
      }
  return out;
}

function randomMask(B: number, Tk: number, seed: number, density = 0.7): Uint8Array {
  const rng = new Rng(seed);
  const m = new Uint8Array(B * Tk);
  for (let i = 0; i < m.length; i++) m[i] = rng.uniform() < density ? 1 : 0;
  return m;
}

function f32(t: Tensor): Float32Array {
  return t.toFloat32Array();
}

test('attention forward matches a float64 reference (causal, padding, cross-attention, panels, tails)', () => {
  // [B, Tq, Tk, H, Dh]: awkward sizes, several 32-row query panels, 16/32-wide column tiles and tails
  const shapes = [[1, 1, 1, 1, 1], [2, 7, 7, 1, 13], [2, 5, 9, 3, 4], [1, 70, 70, 2, 64], [2, 37, 50, 2, 48], [1, 45, 20, 1, 16], [1, 70, 5, 1, 8]];
  let seed = 1;
  for (const [B, Tq, Tk, H, Dh] of shapes) {
    for (const causal of [false, true]) {
      for (const padded of [false, true]) {
        tidy(() => {
          const C = H * Dh;
          const q = randn([B, Tq, C], seed++), k = randn([B, Tk, C], seed++), v = randn([B, Tk, C], seed++);
          const maskData = padded ? randomMask(B, Tk, seed++) : null;
          const mask = maskData ? tensor(maskData, [B, Tk]) : null;
          const y = attention(q, k, v, H, { causal, keyPaddingMask: mask });
          assert.deepEqual(y.shape, [B, Tq, C]);
          const ref = attentionRef(f32(q), f32(k), f32(v), B, Tq, Tk, H, Dh, { causal, mask: maskData });
          const err = maxAbsDiff(f32(y), ref);
          assert.ok(err < 2e-5 * Math.sqrt(Dh), `[${B},${Tq},${Tk},${H},${Dh}] causal=${causal} padded=${padded}: error ${err}`);
        });
      }
    }
  }
});

test('attention forward: custom scale, and rows with no visible key are exactly zero', () => {
  tidy(() => {
    const [B, Tq, Tk, H, Dh] = [2, 6, 4, 2, 5];
    const q = randn([B, Tq, H * Dh], 1), k = randn([B, Tk, H * Dh], 2), v = randn([B, Tk, H * Dh], 3);
    const ref = attentionRef(f32(q), f32(k), f32(v), B, Tq, Tk, H, Dh, { scale: 0.7 });
    assert.ok(maxAbsDiff(f32(attention(q, k, v, H, { scale: 0.7 })), ref) < 1e-5);

    // batch 1 is all padding; causal with Tq > Tk hides every key from the first Tq − Tk queries
    const maskData = new Uint8Array([1, 0, 1, 1, 0, 0, 0, 0]);
    const y = f32(attention(q, k, v, H, { causal: true, keyPaddingMask: tensor(maskData, [B, Tk]) }));
    const yRef = attentionRef(f32(q), f32(k), f32(v), B, Tq, Tk, H, Dh, { causal: true, mask: maskData });
    assert.ok(maxAbsDiff(y, yRef) < 1e-5);
    const C = H * Dh;
    for (let i = 0; i < C * 2; i++) assert.equal(y[i], 0, 'queries 0 and 1 of batch 0 see no key');
    for (let i = Tq * C; i < 2 * Tq * C; i++) assert.equal(y[i], 0, 'batch 1 is all padding');
    assert.ok(y.every(Number.isFinite));
  });
});

test('selfAttention reads q, k, v in place from the packed [B, T, 3C] tensor', () => {
  for (const [B, T, H, Dh, causal] of [[2, 7, 1, 13, true], [1, 40, 4, 16, false], [3, 33, 2, 32, true]] as const) {
    tidy(() => {
      const C = H * Dh;
      const qkv = randn([B, T, 3 * C], B * 100 + T);
      const maskData = randomMask(B, T, 5, 0.8);
      const y = selfAttention(qkv, H, { causal, keyPaddingMask: tensor(maskData, [B, T]) });
      assert.deepEqual(y.shape, [B, T, C]);
      const x = f32(qkv);
      const ref = attentionRef(x, x, x, B, T, T, H, Dh, { causal, mask: maskData }, { qOff: 0, kOff: C, vOff: 2 * C, stride: 3 * C });
      assert.ok(maxAbsDiff(f32(y), ref) < 2e-5 * Math.sqrt(Dh));
    });
  }
});

test('attention backward matches finite differences on awkward shapes', () => {
  tidy(() => {
    const att = (H: number, o: object = {}) => (q: Tensor, k: Tensor, v: Tensor) => attention(q, k, v, H, o);
    assertGradcheck('T=7 Dh=13 H=1', att(1), [randn([2, 7, 13], 1), randn([2, 7, 13], 2), randn([2, 7, 13], 3)]);
    assertGradcheck('causal H=2', att(2, { causal: true }), [randn([2, 7, 10], 4), randn([2, 7, 10], 5), randn([2, 7, 10], 6)]);
    const mask = tensor(new Uint8Array([1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]), [2, 7]); // batch 1 keeps only key 0
    assertGradcheck('padding+causal', att(1, { causal: true, keyPaddingMask: mask }),
      [randn([2, 7, 13], 7), randn([2, 7, 13], 8), randn([2, 7, 13], 9)]);
    assertGradcheck('T=1 B=1', att(1), [randn([1, 1, 3], 10), randn([1, 1, 3], 11), randn([1, 1, 3], 12)]);
    assertGradcheck('cross Tq=3 Tk=5 causal', att(2, { causal: true }), [randn([2, 3, 6], 13), randn([2, 5, 6], 14), randn([2, 5, 6], 15)]);
    // Tq > Tk causal: the first two queries see nothing and must get zero gradient
    assertGradcheck('cross Tq=5 Tk=3 causal', att(1, { causal: true }), [randn([1, 5, 4], 16), randn([1, 3, 4], 17), randn([1, 3, 4], 18)]);
    // several query panels and full-width column tiles
    assertGradcheck('T=40 Dh=32 causal', att(2, { causal: true, scale: 0.3 }),
      [randn([1, 40, 64], 19), randn([1, 40, 64], 20), randn([1, 40, 64], 21)], { samples: 24 });
    // causal bands shifted by Tk − Tq = ±13..25 across panels, with padding
    const crossMask = tensor(randomMask(1, 50, 22, 0.8), [1, 50]);
    assertGradcheck('cross Tq=37 Tk=50 causal+padding', att(1, { causal: true, keyPaddingMask: crossMask }),
      [randn([1, 37, 16], 23), randn([1, 50, 16], 24), randn([1, 50, 16], 25)], { samples: 24 });
    assertGradcheck('cross Tq=45 Tk=20 causal', att(1, { causal: true }),
      [randn([1, 45, 16], 26), randn([1, 20, 16], 27), randn([1, 20, 16], 28)], { samples: 24 });
  });
});

test('attention with one tensor as q, k and v accumulates all three gradients', () => {
  tidy(() => {
    assertGradcheck('x,x,x', (x) => attention(x, x, x, 2, { causal: true }), [randn([2, 6, 8], 30)]);
    assertGradcheck('x,x,y', (x, y) => attention(x, x, y, 1), [randn([1, 5, 7], 31), randn([1, 5, 7], 32)]);
  });
});

test('selfAttention backward matches finite differences (causal, padding, one token)', () => {
  tidy(() => {
    const mask = tensor(new Uint8Array([1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1]), [2, 7]);
    assertGradcheck('T=7 Dh=13 causal+padding', (x) => selfAttention(x, 1, { causal: true, keyPaddingMask: mask }), [randn([2, 7, 39], 40)]);
    assertGradcheck('H=3 Dh=4', (x) => selfAttention(x, 3), [randn([2, 5, 36], 41)]);
    assertGradcheck('T=1 B=1', (x) => selfAttention(x, 1, { causal: true }), [randn([1, 1, 6], 42)]);
    assertGradcheck('T=35 H=2 Dh=16', (x) => selfAttention(x, 2, { causal: true }), [randn([1, 35, 96], 43)], { samples: 32 });
  });
});

test('gradients of a fully padded batch are zero and finite; accumulation adds across backward calls', () => {
  tidy(() => {
    const [B, T, C] = [2, 4, 6];
    const qkv = randn([B, T, 3 * C], 50);
    qkv.requiresGrad = true;
    const mask = tensor(new Uint8Array([1, 1, 0, 1, 0, 0, 0, 0]), [B, T]);
    const g = randn([B, T, C], 51);
    backward(selfAttention(qkv, 2, { keyPaddingMask: mask }), g);
    const once = f32(qkv.grad!);
    assert.ok(once.every(Number.isFinite));
    for (let i = T * 3 * C; i < once.length; i++) assert.equal(once[i], 0);
    assert.ok(once.slice(0, T * 3 * C).some((x) => x !== 0));
    backward(selfAttention(qkv, 2, { keyPaddingMask: mask }), g);
    assert.ok(maxAbsDiff(f32(qkv.grad!), once.map((x) => 2 * x)) < 1e-5);

    const q = randn([1, 3, 4], 52), k = randn([1, 3, 4], 53), v = randn([1, 3, 4], 54);
    for (const t of [q, k, v]) t.requiresGrad = true;
    const gy = randn([1, 3, 4], 55);
    backward(attention(q, k, v, 1), gy);
    const first = [q, k, v].map((t) => f32(t.grad!));
    backward(attention(q, k, v, 1), gy);
    [q, k, v].forEach((t, i) => assert.ok(maxAbsDiff(f32(t.grad!), first[i].map((x) => 2 * x)) < 1e-5));
  });
});

test('overwriting stale gradients writes every element, including queries that see no key', () => {
  tidy(() => {
    // causal with Tq = 40 > Tk = 3: queries 0..36 see nothing, so a whole 32-row panel is empty
    const [B, Tq, Tk, C] = [1, 40, 3, 4];
    const q = randn([B, Tq, C], 60), k = randn([B, Tk, C], 61), v = randn([B, Tk, C], 62);
    const gy = randn([B, Tq, C], 63);
    const fresh = [q, k, v].map((t) => {
      const c = t.clone();
      c.requiresGrad = true;
      return c;
    });
    backward(attention(fresh[0], fresh[1], fresh[2], 1, { causal: true }), gy);
    for (const t of [q, k, v]) {
      t.requiresGrad = true;
      t.grad = full(t.shape, NaN);
    }
    zeroGrad([q, k, v]);
    backward(attention(q, k, v, 1, { causal: true }), gy);
    [q, k, v].forEach((t, i) => assert.deepEqual(f32(t.grad!), f32(fresh[i].grad!)));
    const dq = f32(q.grad!);
    for (let i = 0; i < 37 * C; i++) assert.equal(dq[i], 0);

    const qkv = randn([2, 5, 12], 64);
    const gs = randn([2, 5, 4], 65);
    const qkvFresh = qkv.clone();
    qkvFresh.requiresGrad = true;
    backward(selfAttention(qkvFresh, 2, { causal: true }), gs);
    qkv.requiresGrad = true;
    qkv.grad = full(qkv.shape, NaN);
    zeroGrad([qkv]);
    backward(selfAttention(qkv, 2, { causal: true }), gs);
    assert.deepEqual(f32(qkv.grad!), f32(qkvFresh.grad!));
  });
});

test('results do not depend on the thread count; saved statistics are freed with the tape', () => {
  const run = () => tidy(() => {
    const qkv = randn([3, 33, 3 * 16], 70);
    qkv.requiresGrad = true;
    const y = selfAttention(qkv, 2, { causal: true });
    backward(y, randn([3, 33, 16], 71));
    return [f32(y), f32(qkv.grad!)];
  });
  const threads = getThreads();
  try {
    setThreads(1);
    const one = run();
    setThreads(2);
    const two = run();
    assert.deepEqual(two, one);
  } finally {
    setThreads(threads);
  }
  // outside any tidy scope only the tape (or noGrad) can free the saved log-sum-exp
  const before = memoryStats().liveBytes;
  const q = randn([2, 5, 8], 72), g = randn([2, 5, 8], 73), x = randn([2, 5, 24], 74);
  q.requiresGrad = true;
  const y = attention(q, q, q, 2);
  backward(y, g);
  const z = noGrad(() => selfAttention(x, 2));
  for (const t of [q, g, x, y, z]) t.dispose();
  assert.equal(tapeLength(), 0);
  assert.equal(memoryStats().liveBytes, before);
});

test('bad input: shapes, heads, mask and dtypes give clear errors', () => {
  tidy(() => {
    const q = randn([2, 5, 8], 1), k = randn([2, 6, 8], 2), v = randn([2, 6, 8], 3);
    const isErr = (re: RegExp) => (e: Error) => e instanceof TlcError && re.test(e.message);
    assert.throws(() => attention(randn([5, 8], 1), k, v, 2), isErr(/attention: q must have rank 3, got shape \[5, 8\]/));
    assert.throws(() => attention(q, randn([3, 6, 8], 4), v, 2), isErr(/attention: k \[3, 6, 8\] does not match q \[2, 5, 8\]/));
    assert.throws(() => attention(q, randn([2, 6, 4], 4), v, 2), isErr(/attention: k \[2, 6, 4\] does not match q \[2, 5, 8\]/));
    assert.throws(() => attention(q, k, randn([2, 7, 8], 4), 2), isErr(/attention: v \[2, 7, 8\] does not match k \[2, 6, 8\]/));
    assert.throws(() => attention(q, k, v, 3), isErr(/attention: q \[2, 5, 8\]: model dim 8 is not divisible by 3 heads/));
    assert.throws(() => attention(q, k, v, 0), isErr(/attention: heads must be a positive integer, got 0/));
    assert.throws(() => attention(q, k, v, 1.5), isErr(/attention: heads must be a positive integer/));
    assert.throws(() => attention(q, zeros([2, 6, 8], 'i32'), v, 2), isErr(/attention: k \[2, 6, 8\] has dtype i32, expected f32/));
    assert.throws(() => attention(q, k, v, 2, { keyPaddingMask: zeros([2, 6]) }),
      isErr(/attention: keyPaddingMask \[2, 6\] has dtype f32, expected u8/));
    assert.throws(() => attention(q, k, v, 2, { keyPaddingMask: zeros([2, 5], 'u8') }),
      isErr(/attention: keyPaddingMask \[2, 5\] must have shape \[2, 6\]/));
    assert.throws(() => attention(q, k, v, 2, { scale: NaN }), isErr(/attention: scale must be a finite number/));
    assert.throws(() => attention(randn([2, 0, 8], 1), k, v, 2), isErr(/attention: q \[2, 0, 8\] is empty/));
    assert.throws(() => selfAttention(randn([2, 5, 8], 1), 2), isErr(/selfAttention: qkv \[2, 5, 8\]: last dim 8 is not 3·C/));
    assert.throws(() => selfAttention(randn([2, 5, 12], 1), 3), isErr(/selfAttention: qkv \[2, 5, 12\]: model dim 4 is not divisible by 3 heads/));
    assert.throws(() => selfAttention(randn([2, 5, 12], 1), 2, { keyPaddingMask: zeros([5, 2], 'u8') }),
      isErr(/selfAttention: keyPaddingMask \[5, 2\] must have shape \[2, 5\]/));
    assert.throws(() => selfAttention(randn([10, 12], 1), 2), isErr(/selfAttention: qkv must have rank 3/));
    const d = randn([2, 5, 12], 1);
    d.dispose();
    assert.throws(() => selfAttention(d, 2), /used after it was disposed/);
  });
});
