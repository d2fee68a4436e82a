// Inference kernels (packed f32, bf16, int8, k-bit, sparse) against float64 references
// of exactly the arithmetic each one promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, tidy, tensor, TlcError, linear, gelu } from '../src/engine/index.js';
import { PackedLinear } from '../src/engine/ops/packed-linear.js';
import { native } from '../src/engine/native.js';
import { dequantizeRows, quantizeRows, roundHalfEven } from '../src/compress/quantize.js';
import { describeKernel, kernelForCompressed, packLinears, unpackLinears, packedWeights } from '../src/infer/pack.js';
import { fastestKernel, kernelSpeeds } from '../src/infer/kernel-speed.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { presetConfig } from '../src/nn/config.js';
import { randn, maxAbsDiff, linearRef, noBf16 } from './helpers.js';

// float64 GELU (erf form), erf from its Maclaurin series: cancellation between its terms
// costs at most ~1e-6 absolute at |x| = 5 (far below these tests' tolerances); beyond 5,
// erf(x) = ±1 to double precision
function erf(x: number): number {
  if (Math.abs(x) > 5) return Math.sign(x);
  let sum = 0, term = x;
  for (let n = 0; n < 200 && (n < 5 || Math.abs(term) > 1e-17 * Math.abs(sum)); n++) {
    sum += term / (2 * n + 1);
    term *= -x * x / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const geluErf = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  return maxAbsDiff(got, want) / scale;
}

const M = 70, K = 100, N = 40; // M spans a partial 64-row tile, K a partial 16-lane vector, N a partial block

function inputs(seed: number): { x: Float32Array; w: Float32Array; b: Float32Array } {
  return tidy(() => ({
    x: randn([M, K], seed).toFloat32Array(),
    w: randn([N, K], seed + 1, 0.2).toFloat32Array(),
    b: randn([N], seed + 2).toFloat32Array(),
  }));
}

function run(p: PackedLinear, x: Float32Array, act: 'none' | 'gelu' | 'gelu_tanh' = 'none'): Float32Array {
  return noGrad(() => tidy(() => p.forward(tensor(x, [M, K]), act).toFloat32Array()));
}

test('packed f32 equals the training linear, with fused GELU', () => {
  const { x, w, b } = inputs(1);
  const p = PackedLinear.pack({ kind: 'f32', values: w }, b, N, K);
  const ref = linearRef(x, w, b, M, K, N);
  assert.ok(relErr(run(p, x), ref) < 1e-6);
  const refGelu = Array.from(ref, geluErf);
  assert.ok(relErr(run(p, x, 'gelu'), refGelu) < 1e-5, `gelu ${relErr(run(p, x, 'gelu'), refGelu)}`);
  const train = noGrad(() => tidy(() => gelu(linear(tensor(x, [M, K]), tensor(w, [N, K]), tensor(b, [N])), 'tanh').toFloat32Array()));
  assert.ok(relErr(run(p, x, 'gelu_tanh'), train) < 1e-5);
  p.dispose();
});

test('bf16 rounds weights and activations to bfloat16 and accumulates in f32', { skip: noBf16() }, () => {
  const { x, w, b } = inputs(2);
  const toBf16 = (a: Float32Array): Float32Array => {
    const out = new Float32Array(a), bits = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) << 16;
    return out;
  };
  const p = PackedLinear.pack({ kind: 'bf16', values: w }, b, N, K);
  const got = run(p, x), exact = linearRef(toBf16(x), toBf16(w), b, M, K, N);
  assert.ok(relErr(got, exact) < 1e-5, `bf16 vs rounded reference ${relErr(got, exact)}`);
  assert.ok(relErr(got, linearRef(x, w, b, M, K, N)) > 1e-4, 'bf16 rounding is visible');
  p.dispose();
});

/** The integer kernel's result as specified: per-row dynamic u8 activations (asymmetric, round half even) × the weight codes, then the scales and bias. */
function integerReference(x: Float32Array, codes: Int8Array, scales: Float32Array, b: Float32Array, M = 70, K = 100, N = 40): Float64Array {
  const ref = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    let lo = 0, hi = 0;
    for (let k = 0; k < K; k++) { lo = Math.min(lo, x[m * K + k]); hi = Math.max(hi, x[m * K + k]); }
    const s = Math.fround(Math.fround(hi - lo) / 255), inv = Math.fround(1 / s);
    const z = Math.min(255, Math.max(0, roundHalfEven(Math.fround(-lo / s))));
    const q = Array.from(x.subarray(m * K, (m + 1) * K), (v) => Math.min(255, Math.max(0, roundHalfEven(Math.fround(v * inv)) + z)) - z);
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += q[k] * codes[n * K + k];
      ref[m * N + n] = s * scales[n] * acc + b[n];
    }
  }
  return ref;
}

test('int8: per-row dynamic u8 activations × per-channel s8 weights, exactly as specified', () => {
  const { x, w, b } = inputs(3);
  const { codes, scales } = quantizeRows(w, N, K, 8);
  const p = PackedLinear.pack({ kind: 'int8', codes, scales, bits: 8 }, b, N, K);
  const ref = integerReference(x, codes, scales, b);
  const got = run(p, x);
  assert.ok(relErr(got, ref) < 1e-5, `int8 vs exact integer reference ${relErr(got, ref)}`);
  assert.ok(relErr(got, linearRef(x, w, b, M, K, N)) < 0.02, 'int8 stays close to f32');
  const refGelu = Array.from(ref, geluErf);
  assert.ok(relErr(run(p, x, 'gelu'), refGelu) < 1e-5, 'fused GELU');
  p.dispose();
});

test('int8 stays exact on odd widths, narrow layers and codes at ±127 (every product path: VNNI, 16-bit lanes, split codes)', () => {
  for (const [m, k, n] of [[5, 37, 3], [13, 129, 33], [1, 7, 70]]) {
    const x = tidy(() => randn([m, k], 11 + k).toFloat32Array());
    const w = tidy(() => randn([n, k], 12 + k, 0.3).toFloat32Array());
    for (let i = 0; i < n; i++) w[i * k + (i % k)] = i % 2 ? 2 : -2; // every row reaches ±127
    const { codes, scales } = quantizeRows(w, n, k, 8);
    assert.ok(codes.some((c) => c === 127) && codes.some((c) => c === -127));
    for (let i = 0; i < x.length; i++) x[i] = Math.abs(x[i]) * (i % 5 === 0 ? -0.1 : 1); // mostly large u8 codes
    const p = PackedLinear.pack({ kind: 'int8', codes, scales, bits: 8 }, null, n, k);
    const got = noGrad(() => tidy(() => p.forward(tensor(x, [m, k]), 'none').toFloat32Array()));
    const ref = integerReference(x, codes, scales, new Float32Array(n), m, k, n);
    assert.ok(relErr(got, ref) < 1e-5, `[${m}, ${k}] × [${n}, ${k}]: ${relErr(got, ref)}`);
    p.dispose();
  }
});

test('w<k>a8: k-bit codes on the integer kernel compute the exact integer product of 8-bit activations and k-bit weights', () => {
  const { x, w, b } = inputs(8);
  for (const bits of [2, 3, 4, 5, 6, 7]) {
    const spec = { kind: 'int8' as const, bits };
    const p = PackedLinear.pack(packedWeights(w, N, K, spec), b, N, K);
    const { codes, scales } = quantizeRows(w, N, K, bits);
    const qmax = (1 << (bits - 1)) - 1;
    assert.ok(codes.every((c) => Math.abs(c) <= qmax), 'the codes are k-bit ones');
    const ref = integerReference(x, codes, scales, b);
    const got = run(p, x);
    assert.ok(relErr(got, ref) < 1e-5, `${bits} bits: against the exact integer reference ${relErr(got, ref)}`);
    // next to the weight-only k-bit path (f32 activations): only the activations' 8-bit rounding differs
    const weightOnly = linearRef(x, dequantizeRows(codes, scales, N, K), b, M, K, N);
    assert.ok(relErr(got, weightOnly) < 0.02 && relErr(got, weightOnly) > 0, `${bits} bits: ${relErr(got, weightOnly)} from the weight-only path`);
    assert.equal(describeKernel(spec), `w${bits}a8`);
    p.dispose();
  }
});

test('compressed weights run on the kernel measured fastest on this CPU, by bits and density', () => {
  // CPUs as the speeds of the reference layer describe them (seconds per call)
  const vnni = { f32: 3e-3, int8: 1e-3, int8Small: 1e-3, sparseFixed: 2e-4, sparsePerDensity: 8e-3 };
  const avx2 = { f32: 3e-3, int8: 2.4e-3, int8Small: 2e-3, sparseFixed: 2e-4, sparsePerDensity: 6e-3 };
  const sse4 = { f32: 6e-3, int8: 9e-3, int8Small: 5e-3, sparseFixed: 3e-4, sparsePerDensity: 1e-2 };
  assert.deepEqual(fastestKernel(8, 1, vnni), { kind: 'int8' });
  assert.deepEqual(fastestKernel(4, 1, vnni), { kind: 'int8', bits: 4 });
  assert.deepEqual(fastestKernel(4, 0.05, vnni), { kind: 'sparse' }, '0.6 ms against 1 ms');
  assert.deepEqual(fastestKernel(4, 0.1, vnni), { kind: 'int8', bits: 4 }, '1 ms against 1 ms: the usual kernel');
  assert.deepEqual(fastestKernel(32, 1, vnni), { kind: 'f32' });
  assert.deepEqual(fastestKernel(32, 0.3, vnni), { kind: 'sparse' }, '2.6 ms against 3 ms');
  assert.deepEqual(fastestKernel(8, 1, avx2), { kind: 'int8' });
  assert.deepEqual(fastestKernel(8, 1, sse4), { kind: 'f32' }, 'split codes are slower than f32 on the dequantized weights');
  assert.deepEqual(fastestKernel(4, 1, sse4), { kind: 'int8', bits: 4 }, 'small codes are not split');
  assert.deepEqual(fastestKernel(32, 0.5, sse4), { kind: 'sparse' });
  // and what this CPU measures: every kernel timed, the choice one of them (how the timings
  // compare is the machine's business: a busy one may even time the denser sparse layer faster)
  const here = kernelSpeeds();
  for (const v of Object.values(here)) assert.ok(Number.isFinite(v) && v >= 0, JSON.stringify(here));
  assert.ok(here.f32 > 0 && here.int8 > 0 && here.int8Small > 0, JSON.stringify(here));
  assert.deepEqual(kernelForCompressed(8, 1), fastestKernel(8, 1, here));
  assert.throws(() => kernelForCompressed(9, 1), /no inference kernel for 9-bit weights/);
});

test('k-bit weight-only equals f32 on the dequantized weights (2 to 8 bits)', () => {
  const { x, w, b } = inputs(4);
  for (const bits of [2, 3, 4, 5, 6, 7, 8]) {
    const { codes, scales } = quantizeRows(w, N, K, bits);
    const p = PackedLinear.pack({ kind: 'kbit', codes, scales, bits }, b, N, K);
    const ref = linearRef(x, dequantizeRows(codes, scales, N, K), b, M, K, N);
    assert.ok(relErr(run(p, x), ref) < 1e-6, `${bits} bits: ${relErr(run(p, x), ref)}`);
    assert.ok(p.bytes < N * K * bits / 8 + N * K / 8 + 8 * N + 64 * K, `${bits} bits stay packed: ${p.bytes} bytes`);
    if (bits === 4) assert.ok(relErr(run(p, x, 'gelu'), Array.from(ref, geluErf)) < 1e-5, 'fused GELU');
    p.dispose();
  }
});

test('sparse CSR kernel equals dense on the same pruned weights, with GELU', () => {
  const { x, w, b } = inputs(5);
  for (let i = 0; i < w.length; i++) if (i % 10 !== 3) w[i] = 0; // 90% zeros, some rows empty below
  for (let k = 0; k < K; k++) w[7 * K + k] = 0;
  const p = PackedLinear.pack({ kind: 'sparse', values: w }, b, N, K);
  const ref = linearRef(x, w, b, M, K, N);
  assert.ok(relErr(run(p, x), ref) < 1e-6);
  assert.ok(relErr(run(p, x, 'gelu'), Array.from(ref, geluErf)) < 1e-6);
  assert.ok(p.bytes < 0.15 * N * K * 8 + 8 * (N + 1) + 4 * N, `CSR holds only the nonzeros: ${p.bytes} bytes`);
  p.dispose();
});

test('every kernel adds into a residual in place: forward(x, none, r) = r + forward(x)', () => {
  const { x, w, b } = inputs(6);
  const r = inputs(7).x.subarray(0, M * N).map((v) => v * 3);
  for (let i = 0; i < w.length; i++) if (i % 3 !== 0) w[i] = 0;
  const { codes, scales } = quantizeRows(w, N, K, 8), q4 = quantizeRows(w, N, K, 4);
  const kernels = [
    PackedLinear.pack({ kind: 'f32', values: w }, b, N, K),
    ...(noBf16() ? [] : [PackedLinear.pack({ kind: 'bf16', values: w }, b, N, K)]),
    PackedLinear.pack({ kind: 'int8', codes, scales, bits: 8 }, b, N, K),
    PackedLinear.pack({ kind: 'kbit', codes: q4.codes, scales: q4.scales, bits: 4 }, b, N, K),
    PackedLinear.pack({ kind: 'sparse', values: w }, b, N, K),
  ];
  for (const p of kernels) {
    const plain = run(p, x);
    const summed = noGrad(() => tidy(() => {
      const into = tensor(r, [M, N]);
      const out = p.forward(tensor(x, [M, K]), 'none', into);
      assert.equal(out, into, 'the accumulator is returned');
      return out.toFloat32Array();
    }));
    assert.ok(maxAbsDiff(summed, plain.map((v, i) => v + r[i])) < 1e-5, `${p.kind}: ${maxAbsDiff(summed, plain.map((v, i) => v + r[i]))}`);
    assert.throws(() => noGrad(() => tidy(() => p.forward(tensor(x, [M, K]), 'gelu', tensor(r, [M, N])))), /activation cannot be fused/);
    assert.throws(() => noGrad(() => tidy(() => p.forward(tensor(x, [M, K]), 'none', tensor(r.subarray(1), [M * N - 1])))), /accumulator/);
    p.dispose();
  }
});

test('the fused int8 MLP computes exactly what its two int8 layers compute one after the other', () => {
  const Mm = 600, C = 100, F = 520; // several chunks per thread, vector tails in every row
  const x = tidy(() => randn([Mm, C], 11).toFloat32Array());
  const w1 = tidy(() => randn([F, C], 12, 0.1).toFloat32Array()), w2 = tidy(() => randn([C, F], 13, 0.05).toFloat32Array());
  const b1 = tidy(() => randn([F], 14, 0.1).toFloat32Array()), b2 = tidy(() => randn([C], 15, 0.1).toFloat32Array());
  const fc1 = PackedLinear.pack(packedWeights(w1, F, C, { kind: 'int8' }), b1, F, C);
  const fc2 = PackedLinear.pack(packedWeights(w2, C, F, { kind: 'int8' }), b2, C, F);
  for (const act of ['gelu', 'gelu_tanh'] as const) {
    const [fused, intoItself, separate, separateSum] = noGrad(() => tidy(() => {
      const xt = tensor(x, [Mm, C]);
      const viaSteps = fc2.forward(fc1.forward(xt, act));
      const residual = tensor(x, [Mm, C]);
      const summed = fc2.forward(fc1.forward(xt, act), 'none', residual);
      const self = tensor(x, [Mm, C]);
      PackedLinear.mlp(fc1, fc2, self, act, self); // a post-LN block's residual is its input
      return [PackedLinear.mlp(fc1, fc2, xt, act).toFloat32Array(), self.toFloat32Array(), viaSteps.toFloat32Array(), summed.toFloat32Array()];
    }));
    assert.deepEqual(fused, separate, `${act}: fused = separate`);
    assert.deepEqual(intoItself, separateSum, `${act}: in place into the input = separate + residual`);
    const [p1, p2] = [PackedLinear.pack({ kind: 'f32', values: w1 }, b1, F, C), PackedLinear.pack({ kind: 'f32', values: w2 }, b2, C, F)];
    const f32 = noGrad(() => tidy(() => p2.forward(p1.forward(tensor(x, [Mm, C]), act)).toFloat32Array()));
    p1.dispose();
    p2.dispose();
    assert.ok(relErr(fused, f32) < 0.03, `${act}: int8 MLP within 3% of f32 (${relErr(fused, f32)})`);
  }
  assert.throws(() => noGrad(() => tidy(() => PackedLinear.mlp(fc1, fc1, tensor(x, [Mm, C]), 'gelu'))), /fc1 has 520 outputs, fc2 takes 100/);
  fc1.dispose();
  fc2.dispose();
});

test('a classifier with packed f32 layers gives the training path\'s logits', () => {
  const config = { ...presetConfig('L2-D128', { vocab_size: 300, max_len: 32 }), labels: ['a', 'b', 'c'], norm: 'post' as const };
  const model = new TransformerClassifier(config, { seed: 3 });
  const ids = Int32Array.from({ length: 4 * 32 }, (_, i) => (i * 7919) % 300);
  const mask = new Uint8Array(4 * 32).fill(1).map((v, i) => (i % 32 > 20 && i >= 64 ? 0 : 1));
  const batch = { batchSize: 4, seqLen: 32, inputIds: ids, attentionMask: mask };
  const base = noGrad(() => tidy(() => model.logits(batch).toFloat32Array()));
  const summary = packLinears(model, () => ({ kind: 'f32' }));
  assert.equal(summary.layers, 2 * 4 + 2);
  const packed = noGrad(() => tidy(() => model.logits(batch).toFloat32Array()));
  assert.ok(relErr(packed, base) < 1e-5, `packed vs training path ${relErr(packed, base)}`);
  packLinears(model, () => ({ kind: 'int8' }));
  const int8 = noGrad(() => tidy(() => model.logits(batch).toFloat32Array()));
  assert.ok(relErr(int8, base) < 0.05 && relErr(int8, base) > 0, `int8 vs f32 ${relErr(int8, base)}`);
  unpackLinears(model);
  assert.deepEqual(noGrad(() => tidy(() => model.logits(batch).toFloat32Array())), base);
  model.dispose();
});

test('packed layers reject bad input with clear errors', () => {
  const w = new Float32Array(6).fill(0.5);
  assert.throws(() => PackedLinear.pack({ kind: 'f32', values: w }, null, 4, 2), /packLinear: field "weights" has 6 elements, expected 8/);
  assert.throws(() => native.packLinear({ kind: 'fp64' as never, weights: w, bias: null, n: 3, k: 2 }), /packLinear: field "kind" "fp64" is unknown/);
  assert.throws(() => PackedLinear.pack({ kind: 'kbit', codes: new Int8Array([9, 0, 0, 0, 0, 0]), scales: new Float32Array(3), bits: 4 }, null, 3, 2),
    /packLinear: field "codes" holds 9 at 0, outside ±7 for 4 bits/);
  assert.throws(() => PackedLinear.pack({ kind: 'f32', values: new Float32Array([NaN, 0, 0, 0, 0, 0]) }, null, 3, 2), /non-finite/);
  assert.throws(() => native.packedLinearForward({ layer: {} as never, x: 0 as never, y: 0 as never, m: 1, activation: 0, accumulate: false }),
    /packed linear: field "layer" is not a packed linear layer/);
  const p = PackedLinear.pack(packedWeights(w, 3, 2, { kind: 'int8' }), null, 3, 2);
  assert.throws(() => tidy(() => p.forward(tensor(new Float32Array(2), [1, 2]))), (e: unknown) => e instanceof TlcError && /inference-only/.test(e.message));
  assert.throws(() => noGrad(() => tidy(() => p.forward(tensor(new Float32Array(3), [1, 3])))), /does not match the layer's 2 input features/);
  const bad = new Float32Array(40).fill(0.5);
  bad[37] = NaN; // past the first 16-wide vector, and in a row's tail
  assert.throws(() => noGrad(() => tidy(() => p.forward(tensor(bad, [20, 2])))), /int8 linear: the input holds a non-finite value/);
  const wide = PackedLinear.pack(packedWeights(new Float32Array(6 * 40).fill(0.1), 6, 40, { kind: 'int8' }), null, 6, 40);
  const narrow = PackedLinear.pack(packedWeights(new Float32Array(40 * 6).fill(0.1), 40, 6, { kind: 'int8' }), null, 40, 6);
  const badRows = new Float32Array(36).fill(0.5);
  badRows[7] = Infinity;
  assert.throws(() => noGrad(() => tidy(() => PackedLinear.mlp(narrow, wide, tensor(badRows, [6, 6]), 'gelu'))), /int8 MLP: the input holds a non-finite value/);
  const x = noGrad(() => tidy(() => p.forward(tensor(new Float32Array([1, -1]), [1, 2]), 'gelu').toFloat32Array()));
  assert.equal(x.length, 3);
  assert.throws(() => native.packedLinearForward({ layer: (p as unknown as { handle: never }).handle, x: 0 as never, y: 0 as never, m: 1,
    activation: 7, accumulate: false }), /field "activation" must be/);
  for (const layer of [p, wide, narrow]) layer.dispose();
});

test('an inference model is a packed copy: the trained model keeps its weights and training path', async () => {
  const { InferenceModel } = await import('../src/infer/inference-model.js');
  const { Linear } = await import('../src/nn/layers.js');
  const { TransformerLM } = await import('../src/nn/transformer.js');
  const { presetConfig } = await import('../src/nn/config.js');
  const trained = new TransformerLM(presetConfig('L1-D32', { vocab_size: 64, max_len: 16 }), { seed: 3 });
  const before = trained.namedParameters().map(([, p]) => p.toFloat32Array().slice());
  const served = InferenceModel.pack(trained, () => ({ kind: 'int8' }));
  try {
    assert.match(served.kernels, /^int8×\d+$/);
    for (const [, m] of trained.namedModules()) if (m instanceof Linear) assert.equal(m.packed, null, 'the trained model is not packed');
    trained.namedParameters().forEach(([n, p], i) => assert.deepEqual(p.toFloat32Array(), before[i], `${n} unchanged`));
    assert.ok([...served.model.namedModules()].some(([, m]) => m instanceof Linear && m.packed !== null));
  } finally {
    served.dispose();
    trained.dispose();
  }
});
