// bf16 mixed precision: the cast, linear forward and backward in bf16 with f32 accumulation,
// the per-step weight copies, and a small model's loss, logits and gradients next to f32.
//
// Error bounds. bf16 keeps 8 significant bits, so rounding to nearest even has a unit
// roundoff u = 2⁻⁸: bf16(a) = a(1 + δ), |δ| ≤ u. A product of two rounded inputs is exact in
// f32 (8 + 8 bits) and off from the f32 product by at most (2u + u²)|a·b|. Summing K such
// products in f32 adds at most γ_K = K·2⁻²⁴ (relative to Σ|a·b|). Hence, element by element,
//
//   |y_bf16 − y_exact| ≤ (2u + u² + K·2⁻²⁴) · Σ_k |a_k|·|b_k|
//
// a deterministic bound (no √K statistics), used below with a 1.01 margin; on random data the
// actual error is about √K times smaller. The kernels are also checked against a float64
// product of the *rounded* inputs, where only the f32 accumulation remains: K·2⁻²⁴·Σ|a·b|
// (×4 for the order oneDNN sums blocks in).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Bf16Weights, backward, linear, noGrad, setBf16Weights, tensor, tidy, zeroGrad, empty, memoryStats, resetPeakMemory, type Tensor,
} from '../src/engine/index.js';
import { layerNorm } from '../src/engine/ops/layernorm.js';
import { AUTO_BF16_MIN_SPEEDUP, decidePrecision } from '../src/engine/mixed.js';
import { gelu } from '../src/engine/ops/activation.js';
import { native } from '../src/engine/native.js';
import { TransformerLM, parseModelConfig, type LMBatch } from '../src/nn/index.js';
import { Seq2SeqTransformer, type Seq2SeqBatch } from '../src/nn/seq2seq.js';
import { Rng } from '../src/engine/random.js';
import { randn, noBf16 } from './helpers.js';

const U = 2 ** -8;

/** The float value of a bf16 bit pattern. */
function bf16Value(bits: number): number {
  return new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
}

/** bf16(v) as a float, through the native cast. */
function roundBf16(values: Float32Array): Float32Array {
  return tidy(() => {
    const src = tensor(values, [values.length]);
    const dst = empty([values.length], 'bf16');
    native.castBf16({ src: src.handle, dst: dst.handle, n: values.length });
    return Float32Array.from(dst.toArray() as Uint16Array, bf16Value);
  });
}

/** C[m, n] = Σ_k A[m, k]·B[n, k] in float64, and the bound's Σ_k |A|·|B|. */
function productRef(A: Float32Array, B: Float32Array, M: number, K: number, N: number): { y: Float64Array; abs: Float64Array } {
  const y = new Float64Array(M * N), abs = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = 0, a = 0;
      for (let k = 0; k < K; k++) {
        s += A[m * K + k] * B[n * K + k];
        a += Math.abs(A[m * K + k] * B[n * K + k]);
      }
      y[m * N + n] = s;
      abs[m * N + n] = a;
    }
  return { y, abs };
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

/** Checks got against the bf16 bound around the exact product and the accumulation bound around the rounded one. */
function checkProduct(name: string, got: Float32Array, A: Float32Array, B: Float32Array, M: number, K: number, N: number,
  offset: Float32Array | null = null): void {
  const exact = productRef(A, B, M, K, N), rounded = productRef(roundBf16(A), roundBf16(B), M, K, N);
  const bound = 2 * U + U * U + K * 2 ** -24, acc = 4 * K * 2 ** -24;
  for (let i = 0; i < M * N; i++) {
    const base = offset ? offset[i] : 0;
    const e = Math.abs(got[i] - base - exact.y[i]);
    assert.ok(e <= 1.01 * bound * exact.abs[i] + 1e-6 * Math.abs(base),
      `${name}: element ${i} is off by ${e}, bound ${bound * exact.abs[i]}`);
    const r = Math.abs(got[i] - base - rounded.y[i]);
    assert.ok(r <= acc * rounded.abs[i] + 1e-6 * Math.abs(base) + 1e-30,
      `${name}: element ${i} differs from the product of the rounded inputs by ${r} (accumulation bound ${acc * rounded.abs[i]})`);
  }
}

test('castBf16 rounds to nearest even, keeps infinities and NaN and flushes subnormals to zero', () => {
  const one = 1, tieDown = 1 + 2 ** -8, tieUp = 1 + 3 * 2 ** -8, above = 1 + 2 ** -8 + 2 ** -12;
  const v = new Float32Array([0, -0, one, tieDown, tieUp, above, -tieUp, Infinity, -Infinity, NaN, 3.4028235e38, 1e-40,
    ...Array.from({ length: 40 }, (_, i) => (i - 20) * 0.37)]);
  const r = roundBf16(v);
  assert.equal(r[2], 1);
  assert.equal(r[3], 1, '1 + 2⁻⁸ is a tie: to the even 1');
  assert.equal(r[4], 1 + 2 ** -6, '1 + 3·2⁻⁸ is a tie: to the even 1 + 2⁻⁶');
  assert.equal(r[5], 1 + 2 ** -7);
  assert.equal(r[6], -(1 + 2 ** -6));
  assert.equal(r[7], Infinity);
  assert.equal(r[8], -Infinity);
  assert.ok(Number.isNaN(r[9]));
  assert.equal(r[10], Infinity, 'the largest float rounds up past bf16\'s largest finite value');
  assert.equal(r[11], 0, 'subnormals become zero, as AVX512-BF16 converts them');
  assert.deepEqual(roundBf16(new Float32Array([-1e-40, 1e-40])), new Float32Array([-0, 0]), 'the scalar tail rounds alike');
  for (let i = 12; i < v.length; i++) assert.ok(Math.abs(r[i] - v[i]) <= U * Math.abs(v[i]), `value ${v[i]} rounded to ${r[i]}`);
  // the vectorised body (32 at a time) and the scalar tail agree with the scalar rule
  const long = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
  const rl = roundBf16(long);
  for (let i = 0; i < long.length; i++) {
    const bits = new Uint32Array(new Float32Array([long[i]]).buffer)[0];
    const want = bf16Value((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    assert.equal(rl[i], want, `element ${i}`);
  }
});

const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 13, 5], [33, 64, 17], [5, 40, 70], [19, 100, 3]];

test('bf16 linear forward is within the bf16 bound of the exact product, on awkward shapes', { skip: noBf16() }, () => {
  for (const [M, K, N] of SHAPES) {
    tidy(() => {
      const x = randn([M, K], 1), w = randn([N, K], 2), b = randn([N], 3);
      const weights = new Bf16Weights([w]);
      const prev = setBf16Weights(weights);
      try {
        const y = noGrad(() => linear(x, w, b)).toFloat32Array();
        checkProduct(`forward [${M},${K},${N}]`, y, x.toFloat32Array(), w.toFloat32Array(), M, K, N,
          Float32Array.from({ length: M * N }, (_, i) => b.toFloat32Array()[i % N]));
        const y0 = noGrad(() => linear(x, w)).toFloat32Array();
        checkProduct(`forward, no bias [${M},${K},${N}]`, y0, x.toFloat32Array(), w.toFloat32Array(), M, K, N);
      } finally {
        setBf16Weights(prev);
        weights.dispose();
      }
    });
  }
});

test('bf16 linear backward: dX = dY·W and dW = dYᵀ·X within the bf16 bound, db exact in f32, accumulation in f32', { skip: noBf16() }, () => {
  for (const [M, K, N] of SHAPES) {
    tidy(() => {
      const x = randn([M, K], 4), w = randn([N, K], 5), b = randn([N], 6), dy = randn([M, N], 7);
      for (const t of [x, w, b]) t.requiresGrad = true;
      const weights = new Bf16Weights([w]);
      const prev = setBf16Weights(weights);
      try {
        backward(linear(x, w, b), dy);
        const X = x.toFloat32Array(), W = w.toFloat32Array(), DY = dy.toFloat32Array();
        const dx = x.grad!.toFloat32Array(), dw = w.grad!.toFloat32Array(), db = b.grad!.toFloat32Array();
        // dX[m, k] = Σ_n dY[m, n]·W[n, k]: rows of dY against columns of W
        checkProduct(`dX [${M},${K},${N}]`, dx, DY, transpose(W, N, K), M, N, K);
        // dW[n, k] = Σ_m dY[m, n]·X[m, k]
        checkProduct(`dW [${M},${K},${N}]`, dw, transpose(DY, M, N), transpose(X, M, K), N, M, K);
        for (let n = 0; n < N; n++) {
          let s = 0;
          for (let m = 0; m < M; m++) s += DY[m * N + n];
          assert.ok(Math.abs(db[n] - s) <= M * 2 ** -23 * (Math.abs(s) + 1) * 4, `db[${n}]`);
        }
        // a second micro-batch accumulates onto the f32 gradients
        backward(linear(x, w, b), dy);
        checkProduct(`dX accumulated [${M},${K},${N}]`, x.grad!.toFloat32Array(), DY, transpose(W, N, K), M, N, K, dx);
        checkProduct(`dW accumulated [${M},${K},${N}]`, w.grad!.toFloat32Array(), transpose(DY, M, N), transpose(X, M, K), N, M, K, dw);
        assert.equal(weights.casts, 1, 'one cast of the weight for both forward passes and backward');
      } finally {
        setBf16Weights(prev);
        weights.dispose();
      }
    });
  }
});

test('auto trains in bf16 only with native bf16 dot products that multiply at least 1.2× faster than f32', () => {
  const cpu = { nativeBf16: true, onednnIsa: 'avx512_core_bf16' };
  assert.equal(AUTO_BF16_MIN_SPEEDUP, 1.2);
  const faster = decidePrecision(cpu, 1.0, 0.8);
  assert.equal(faster.precision, 'bf16');
  assert.ok(Math.abs(faster.bf16_speedup! - 1.25) < 1e-12);
  const slightly = decidePrecision(cpu, 1.0, 0.85);
  assert.equal(slightly.precision, 'f32');
  assert.match(slightly.why, /multiplies in bf16 at 1\.18× its f32 rate here \(bf16 needs ≥ 1\.2×\)/);
  // bf16 taking twice f32's time (the rule must not read the ratio the wrong way round)
  const slower = decidePrecision(cpu, 0.5, 1.0);
  assert.equal(slower.precision, 'f32');
  assert.equal(slower.bf16_speedup, 0.5);
  const none = decidePrecision({ nativeBf16: false, onednnIsa: 'avx2' }, 1.0, 0.1);
  assert.equal(none.precision, 'f32');
  assert.equal(none.bf16_speedup, undefined);
  assert.match(none.why, /no native bf16 dot products \(oneDNN ISA avx2\)/);
});

test('bf16 weights: one cast per weight until invalidated, then one more; the copies are freed by dispose', { skip: noBf16() }, () => {
  const before = memoryStats().liveBytes;
  const w = randn([6, 10], 1);
  const weights = new Bf16Weights([w]);
  const prev = setBf16Weights(weights);
  try {
    tidy(() => {
      const x = randn([3, 10], 2);
      const y1 = noGrad(() => linear(x, w)).toFloat32Array();
      noGrad(() => linear(x, w));
      assert.equal(weights.casts, 1);
      assert.equal(weights.bytes(), 6 * 10 * 2);
      // the master weight changes (an optimizer step): the copy is stale until invalidated
      w.copyFrom(tidy(() => randn([6, 10], 3)));
      assert.deepEqual(noGrad(() => linear(x, w)).toFloat32Array(), y1, 'still the copy of the old weights');
      weights.invalidate();
      const y2 = noGrad(() => linear(x, w)).toFloat32Array();
      assert.equal(weights.casts, 2);
      assert.notDeepEqual(y2, y1);
      // a weight the set does not hold multiplies in f32
      const other = randn([4, 10], 4);
      const f32 = noGrad(() => linear(x, other)).toFloat32Array();
      setBf16Weights(null);
      assert.deepEqual(noGrad(() => linear(x, other)).toFloat32Array(), f32);
    });
  } finally {
    setBf16Weights(prev);
    weights.dispose();
    w.dispose();
  }
  assert.equal(memoryStats().liveBytes, before);
});

function tinyBatch(seed: number, V: number, B: number, T: number): LMBatch {
  const rng = new Rng(seed);
  const inputIds = Int32Array.from({ length: B * T }, () => 5 + rng.int(V - 5));
  const targets = Int32Array.from(inputIds, (id) => (rng.uniform() < 0.4 ? id : -100));
  const attentionMask = new Uint8Array(B * T).fill(1);
  attentionMask.fill(0, B * T - 3); // the last sequence is padded
  return { batchSize: B, seqLen: T, inputIds, targets, attentionMask };
}

/** Max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / s;
}

// Tolerances for a whole model, relative to each tensor's largest magnitude. One product's
// error is at most 2u relative to Σ|a·b| (above); through 2 layers the relative errors of the
// products add up, and the gradients go through two rounded operands per product on the way
// back. Observed here: loss 4e-5, logits 5.8e-3 ≈ 1.5u, gradients at most 1.2e-2 ≈ 3.2u (the
// second layer norm's gain). Tolerances: loss u, logits 4u, gradients 8u (f32 against f32 is ~1e-6).
test('a small Transformer in bf16: loss, logits and gradients within bf16 tolerances of f32, all finite', { skip: noBf16() }, () => {
  const cfg = parseModelConfig({ objective: 'mlm', vocab_size: 97, d_model: 48, n_layers: 2, n_heads: 3, d_ff: 120, max_len: 16, dropout: 0 });
  const model = new TransformerLM(cfg, { seed: 3 });
  // weights far from the near-linear initialisation, as the parity fixtures use
  const rng = new Rng(9);
  for (const [name, p] of model.namedParameters()) {
    const fanIn = p.shape.length === 2 ? p.shape[1] : 1;
    const std = name.includes('emb') ? 0.5 : p.shape.length === 2 ? 1.2 / Math.sqrt(fanIn) : 0.1;
    const base = name.endsWith('ln1.weight') || name.endsWith('ln2.weight') || name.endsWith('ln.weight') ? 1 : 0;
    p.copyFrom(tidy(() => tensor(Float32Array.from({ length: p.size }, () => base + std * rng.normal()), p.shape)));
  }
  const batch = tinyBatch(4, 97, 3, 16);
  const params = model.parameters();
  const run = (bf16: boolean): { loss: number; logits: Float32Array; grads: Float32Array[] } => {
    const weights = bf16 ? new Bf16Weights(params.filter((p) => p.shape.length === 2)) : null;
    const prev = setBf16Weights(weights);
    try {
      zeroGrad(params);
      const logits = tidy(() => noGrad(() => model.logits(batch)).toFloat32Array());
      let loss = 0;
      tidy(() => {
        const l = model.loss(batch, { training: true }).loss;
        loss = l.item();
        backward(l);
      });
      return { loss, logits, grads: params.map((p) => p.grad!.toFloat32Array()) };
    } finally {
      setBf16Weights(prev);
      weights?.dispose();
    }
  };
  const f32 = run(false), bf16 = run(true);
  assert.ok(Math.abs(bf16.loss - f32.loss) <= U * Math.abs(f32.loss), `loss ${bf16.loss} vs ${f32.loss}`);
  const le = relErr(bf16.logits, f32.logits);
  assert.ok(le <= 4 * U, `logits: relative error ${le}`);
  assert.ok(le > 0, 'the bf16 path ran');
  const names = model.namedParameters().map(([n]) => n);
  for (let i = 0; i < params.length; i++) {
    assert.ok(bf16.grads[i].every(Number.isFinite), `${names[i]}: non-finite gradient`);
    const ge = relErr(bf16.grads[i], f32.grads[i]);
    assert.ok(ge <= 8 * U, `${names[i]}: gradient relative error ${ge}`);
  }
  model.dispose();
});

test('a bf16 linear refuses an f32 tensor where it needs bf16, naming the field', () => {
  tidy(() => {
    const x = randn([2, 3], 1), w = randn([4, 3], 2), y = empty([2, 4]);
    assert.throws(() => native.linearBf16Forward({ x: x.handle, w: w.handle, b: null, y: y.handle, xBf16: null, m: 2, k: 3, n: 4 }),
      /linear bf16: field "w" has dtype f32, expected bf16/);
    const t: Tensor = empty([3], 'bf16');
    assert.throws(() => native.castBf16({ src: t.handle, dst: t.handle, n: 3 }), /castBf16: field "src" has dtype bf16, expected f32/);
  });
});

/** The bf16 bit patterns of a tensor (bf16 storage). */
function bits(t: Tensor): Uint16Array {
  return t.toArray() as Uint16Array;
}

/** bf16 bit patterns of f32 values, through the native cast. */
function castBits(values: Float32Array): Uint16Array {
  return tidy(() => {
    const src = tensor(values, [values.length]);
    const dst = empty([values.length], 'bf16');
    native.castBf16({ src: src.handle, dst: dst.handle, n: values.length });
    return Uint16Array.from(dst.toArray() as Uint16Array);
  });
}

// A producer writing bf16 must hand its consumer exactly the bits the consumer would have cast
// from the f32 result: same f32 arithmetic, one rounding. Shapes cover the serial and threaded
// paths, rows and blocks that are not multiples of the vector width, and GELU's tails.
test('layer norm and GELU written in bf16 are their f32 results rounded once, bit for bit', () => {
  tidy(() => {
    for (const [rows, C, seed] of [[3, 37, 1], [129, 100, 2], [300, 768, 3]]) {
      const x = randn([rows, C], seed, 3), g = randn([C], seed + 10, 0.5), b = randn([C], seed + 20, 0.5);
      x.copyFrom(tidy(() => tensor(Float32Array.from(x.toFloat32Array(), (v, i) => v + (i % C === 0 ? 40 : 2)), [rows, C])));
      const f32 = layerNorm(x, g, b, 1e-5).toFloat32Array();
      assert.deepEqual(bits(layerNorm(x, g, b, 1e-5, 'bf16')), castBits(f32), `layerNorm [${rows}, ${C}]`);
    }
    for (const n of [17, 3 * 2048 + 5, 70001]) {
      const x = randn([n], n, 4);
      for (const approximate of ['none', 'tanh'] as const) {
        const y = gelu(x, approximate, 'bf16');
        assert.equal(y.dtype, 'bf16');
        assert.deepEqual(bits(y), castBits(gelu(x, approximate).toFloat32Array()), `gelu ${approximate}, n = ${n}`);
      }
    }
  });
});

test('a linear on a producer\'s bf16 output: the same output and gradients as on its f32 output, bit for bit', { skip: noBf16() }, () => {
  const w = randn([19, 37], 5, 0.4), b = randn([19], 6, 0.1), z = randn([2, 5, 37], 7, 2);
  for (const p of [w, b, z]) p.requiresGrad = true;
  const weights = new Bf16Weights([w]);
  const prev = setBf16Weights(weights);
  try {
    const run = (out: 'f32' | 'bf16'): Float32Array[] => tidy(() => {
      zeroGrad([w, b, z]);
      const h = gelu(z, 'none', out);
      assert.equal(h.dtype, out);
      const y = linear(h, w, b);
      const dy = randn([...y.shape], 8);
      const result = y.toFloat32Array();
      backward(y, dy);
      return [result, w.grad!.toFloat32Array(), b.grad!.toFloat32Array(), z.grad!.toFloat32Array()];
    });
    const viaF32 = run('f32'), viaBf16 = run('bf16');
    ['y', 'dW', 'db', 'dz'].forEach((name, i) => assert.deepEqual(viaBf16[i], viaF32[i], name));
    // a bf16 input is only for a weight multiplied in bf16
    setBf16Weights(null);
    tidy(() => assert.throws(() => linear(gelu(z, 'none', 'bf16'), w, b), /linear: a bf16 input \[2, 5, 37\] needs a weight multiplied in bf16/));
  } finally {
    setBf16Weights(prev);
    weights.dispose();
    for (const p of [w, b, z]) p.dispose();
  }
});

/** One training step's loss, gradients and activation peak under bf16 weights, with or without bf16 activations. */
function bf16Step(params: Tensor[], loss: () => Tensor, bf16Activations: boolean): { loss: number; grads: Float32Array[]; peak: number } {
  const weights = new Bf16Weights(params.filter((p) => p.shape.length === 2), { bf16Activations });
  const prev = setBf16Weights(weights);
  try {
    zeroGrad(params);
    let value = 0, peak = 0;
    tidy(() => {
      const before = memoryStats().liveBytes;
      resetPeakMemory();
      const l = loss();
      value = l.item();
      backward(l);
      peak = memoryStats().peakLiveBytes - before;
    });
    return { loss: value, grads: params.map((p) => p.grad!.toFloat32Array()), peak };
  } finally {
    setBf16Weights(prev);
    weights.dispose();
  }
}

// The models' layer norms and GELUs write bf16 where a bf16 product is their only consumer:
// the numbers must not move at all, and the step's activation peak must fall.
test('a Transformer step with bf16 activations: bit-identical to f32 activations, with a lower memory peak', { skip: noBf16() }, () => {
  const cfg = parseModelConfig({ objective: 'mlm', vocab_size: 97, d_model: 64, n_layers: 2, n_heads: 4, d_ff: 256, max_len: 16, dropout: 0 });
  const model = new TransformerLM(cfg, { seed: 4 });
  const batch = tinyBatch(5, 97, 8, 16);
  const params = model.parameters();
  const loss = (): Tensor => model.loss(batch, { training: true }).loss;
  bf16Step(params, loss, true); // the first step allocates the gradients
  const f32Acts = bf16Step(params, loss, false), bf16Acts = bf16Step(params, loss, true);
  assert.equal(bf16Acts.loss, f32Acts.loss);
  model.namedParameters().forEach(([name], i) => assert.deepEqual(bf16Acts.grads[i], f32Acts.grads[i], name));
  // per block the f32 outputs of two layer norms (B·T·C each) and of the GELU (B·T·4C) are not
  // stored: 6 × 4 bytes per token and channel (measured: 1.04 × that, the head's norm included)
  const tokens = 8 * 16, saved = cfg.n_layers * tokens * (2 + 4) * cfg.d_model * 4;
  assert.ok(f32Acts.peak - bf16Acts.peak >= 0.9 * saved,
    `peak ${bf16Acts.peak} B with bf16 activations against ${f32Acts.peak} B with f32 ones: expected at least ${0.9 * saved} B less`);
  model.dispose();
});

test('an encoder–decoder step with bf16 activations (self-, cross-attention and MLP inputs): bit-identical to f32 activations', { skip: noBf16() }, () => {
  const cfg = parseModelConfig({ objective: 'seq2seq', vocab_size: 40, d_model: 32, n_layers: 1, n_decoder_layers: 2, n_heads: 2, d_ff: 72,
    max_len: 12, dropout: 0 });
  const model = new Seq2SeqTransformer(cfg);
  const rng = new Rng(6), B = 3, S = 6, T = 5;
  const ids = (n: number): Int32Array => Int32Array.from({ length: n }, () => 5 + rng.int(35));
  const batch: Seq2SeqBatch = { batchSize: B, sourceLen: S, sourceIds: ids(B * S), sourceMask: new Uint8Array(B * S).fill(1), targetLen: T,
    decoderInputIds: ids(B * T), targets: ids(B * T) };
  const params = model.parameters();
  const loss = (): Tensor => model.loss(batch, { training: true }).loss;
  bf16Step(params, loss, true);
  const f32Acts = bf16Step(params, loss, false), bf16Acts = bf16Step(params, loss, true);
  assert.equal(bf16Acts.loss, f32Acts.loss);
  model.namedParameters().forEach(([name], i) => assert.deepEqual(bf16Acts.grads[i], f32Acts.grads[i], name));
  assert.ok(bf16Acts.peak < f32Acts.peak, `peak ${bf16Acts.peak} B with bf16 activations against ${f32Acts.peak} B`);
  model.dispose();
});
