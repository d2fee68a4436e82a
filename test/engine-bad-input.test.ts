// Bad input reaching the engine: every failure is a clear error naming the op, never a
// crash — including calls that bypass the TypeScript checks and hit native code directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../src/engine/native.js';
import { linear, layerNorm, scale, setCheckNumerics, tensor, tidy, empty, assertFinite, TlcError, memoryStats, noGrad } from '../src/engine/index.js';
import { PackedLinear } from '../src/engine/ops/packed-linear.js';
import { packLinears, unpackLinears } from '../src/infer/pack.js';
import { Linear } from '../src/nn/layers.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { presetConfig } from '../src/nn/config.js';
import { randn } from './helpers.js';
import { loadWeights } from '../src/nn/weights.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.js';

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
    const args = { x: x.handle, w: w.handle, b: null, y: y.handle, m: 4, k: 8, n: 3 };
    native.linearForward(args); // valid as given
    assert.throws(() => native.linearForward({ ...args, k: 16 }), /linear: field "x" holds 32 elements, the op needs 64/);
    const ids = tensor(new Int32Array(4), [4], 'i32');
    assert.throws(() => native.linearForward({ ...args, x: ids.handle, m: 1, k: 4 }), /linear: field "x" has dtype i32, expected f32/);
    const gone = randn([4, 8], 3);
    const handle = gone.handle;
    gone.dispose();
    assert.throws(() => native.linearForward({ ...args, x: handle }), /linear: field "x" was used after it was disposed/);
    assert.throws(() => native.linearForward({ ...args, x: 12345.5 as never }), /linear: field "x" is not a tensor \(got 12345.5\)/);
    assert.throws(() => native.linearForward({ ...args, k: -8 }), /linear: field "k" must be a positive integer, got -8/);
    assert.throws(() => native.linearForward({ ...args, m: 2.5 }), /linear: field "m" must be a positive integer, got 2.5/);
    assert.throws(() => native.linearForward({ ...args, b: undefined as never }), /linear: missing field "b"/);
    // a freed slot reused by a new tensor does not revive the old handle
    const fresh = randn([4, 8], 4);
    assert.throws(() => native.read(handle, new Float32Array(32), 0), /used after it was disposed/);
    assert.equal(fresh.toFloat32Array().length, 32);
  });
});

test('native ops take one object of named fields: a missing, unknown, misspelled or mistyped field is refused by name', () => {
  tidy(() => {
    const B = 1, T = 4, H = 2, Dh = 4, C = H * Dh;
    const q = randn([B, T, C], 1), k = randn([B, T, C], 2), v = randn([B, T, C], 3);
    const out = empty([B, T, C]), lse = empty([B, H, T]), dOut = randn([B, T, C], 4);
    const dq = empty([B, T, C]), dk = empty([B, T, C]), dv = empty([B, T, C]);
    const shape = {
      batch: B, tq: T, tk: T, heads: H, headSize: Dh,
      qOffset: 0, qStride: C, kOffset: 0, kStride: C, vOffset: 0, vStride: C, causal: true, scale: 0.5,
    };
    native.attentionForward({ q: q.handle, k: k.handle, v: v.handle, out: out.handle, lse: lse.handle, keyMask: null, ...shape });
    const bwd = {
      dOut: dOut.handle, q: q.handle, k: k.handle, v: v.handle, out: out.handle, lse: lse.handle, keyMask: null,
      dq: dq.handle, dk: dk.handle, dv: dv.handle, ...shape, accumulateDq: false, accumulateDk: false, accumulateDv: false,
    };
    native.attentionBackward(bwd);
    assert.throws(() => native.attentionBackward({ ...bwd, headSize: -1 }),
      /^Error: attention backward: field "headSize" must be a positive integer, got -1$/m);
    const { tq: _tq, ...noTq } = bwd;
    assert.throws(() => native.attentionBackward(noTq as never), /^Error: attention backward: missing field "tq"$/m);
    // a misspelling cannot fall back to a default: the unknown name is refused
    assert.throws(() => native.attentionBackward({ ...bwd, headsize: 4 } as never), /attention backward: unknown field "headsize"/);
    assert.throws(() => native.attentionBackward({ ...bwd, accumulateDQ: true } as never), /attention backward: unknown field "accumulateDQ"/);
    // swapped sizes are caught by the extent checks, naming the tensor that is too small
    assert.throws(() => native.attentionBackward({ ...bwd, tq: 8, tk: 4 }), /attention backward: field "dOut" holds 32 elements, the op needs 64/);
    assert.throws(() => native.attentionBackward({ ...bwd, causal: 1 as never }), /attention backward: field "causal" must be a boolean, got 1/);
    assert.throws(() => native.attentionBackward({ ...bwd, dq: lse.handle }), /attention backward: field "dq" holds 8 elements, the op needs 32/);
    assert.throws(() => native.attentionBackward({ ...bwd, qStride: 4 }), /attention backward: q rows \(offset 0, stride 4\) cannot hold 8 columns/);
    // the positional form of the old interface is refused outright
    assert.throws(() => (native.attentionForward as (...a: unknown[]) => void)(q.handle, k.handle, v.handle),
      /attention: takes one object of named arguments \{ q, k, v, out, lse, keyMask, batch, tq, .*\}, got 3 arguments/);

    // the same rules in other families
    const x = randn([2, 3], 5), y = empty([2, 3]);
    assert.throws(() => native.geluForward({ x: x.handle, y: y.handle, n: 6, approximate: false, accumulate: false } as never),
      /gelu: unknown field "accumulate"/);
    assert.throws(() => native.layerNormForward({ x: x.handle, gamma: x.handle, beta: x.handle, y: y.handle, mean: null, rstd: null,
      rows: 2, channels: 3, eps: 0 }), /layerNorm: field "eps" must be positive/);
    assert.throws(() => native.accumulate({ dst: y.handle, src: x.handle, n: 6, accumulate: true, alpha: 'x' as never }),
      /accumulate: field "alpha" must be a number, got a string/);
    assert.throws(() => native.adamwStep({ params: [x.handle], grads: [y.handle], m: [y.handle], v: [3.5 as never], sizes: [6],
      weightDecays: [0], lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, clipScale: 1 }), /adamw: field "v" entry 0 is not a tensor \(got 3.5\)/);
    assert.throws(() => native.gradNormSquared({ grads: [x.handle], sizes: [7] }), /gradNormSquared: field "grads" entry 0 holds 6 elements, the op needs 7/);
  });
});

test('a disposed PackedLinear cannot be used, and disposing frees its native memory', () => {
  const w = new Float32Array(6 * 40).fill(0.1);
  const before = memoryStats();
  const p = PackedLinear.pack({ kind: 'f32', values: w }, null, 6, 40);
  const packed = memoryStats();
  assert.equal(packed.packedLinears, before.packedLinears + 1);
  assert.equal(packed.packedLinearBytes, before.packedLinearBytes + p.bytes);
  assert.ok(p.bytes >= 6 * 40 * 4, `${p.bytes} bytes hold the weights`);
  const handle = (p as unknown as { handle: Parameters<typeof native.packedLinearInfo>[0] }).handle;
  assert.equal(native.packedLinearInfo(handle).bytes, p.bytes);
  noGrad(() => tidy(() => assert.equal(p.forward(tensor(new Float32Array(40).fill(1), [1, 40])).size, 6)));

  p.dispose();
  assert.ok(p.disposed);
  assert.equal(memoryStats().packedLinears, before.packedLinears);
  assert.equal(memoryStats().packedLinearBytes, before.packedLinearBytes);
  assert.throws(() => noGrad(() => tidy(() => p.forward(tensor(new Float32Array(40), [1, 40])))),
    (e: unknown) => e instanceof TlcError && /f32 packed linear: the f32 packed layer \[6, 40\] was used after it was disposed/.test(e.message));
  p.dispose(); // idempotent
  // the native side refuses the stale handle too, also once its slot holds a new layer
  const next = PackedLinear.pack({ kind: 'f32', values: w }, null, 6, 40);
  assert.throws(() => native.packedLinearInfo(handle), /packedLinearInfo: the packed linear layer was used after it was disposed/);
  assert.throws(() => noGrad(() => tidy(() => {
    const x = tensor(new Float32Array(40), [1, 40]), y = empty([1, 6]);
    native.packedLinearForward({ layer: handle, x: x.handle, y: y.handle, m: 1, activation: 0, accumulate: false });
  })), /packed linear: field "layer" is a packed linear layer that was used after it was disposed/);
  native.freePackedLinear(handle); // freeing a stale handle does nothing
  assert.equal(native.packedLinearInfo((next as unknown as { handle: typeof handle }).handle).rows, 6);
  next.dispose();
  // a tensor handle is not a packed layer
  tidy(() => assert.throws(() => native.packedLinearInfo(empty([2]).handle as never), /packedLinearInfo: the argument is not a packed linear layer/));
});

test('disposing a model frees its packed layers; packing again and unpacking free the previous ones', () => {
  const config = { ...presetConfig('L2-D128', { vocab_size: 300, max_len: 32 }), labels: ['a', 'b'] };
  const model = new TransformerClassifier(config, { seed: 1 });
  const { packedLinears: before, packedLinearBytes: beforeBytes } = memoryStats();
  const first = packLinears(model, () => ({ kind: 'int8' }));
  assert.equal(memoryStats().packedLinears, before + first.layers);
  const layers = model.namedModules().flatMap(([, m]) => (m instanceof Linear && m.packed ? [m.packed] : []));
  packLinears(model, () => ({ kind: 'f32' }));
  assert.ok(layers.every((p) => p.disposed), 'repacking frees the earlier packing');
  assert.equal(memoryStats().packedLinears, before + first.layers);
  unpackLinears(model);
  assert.equal(memoryStats().packedLinears, before);
  packLinears(model, () => ({ kind: 'sparse' }));
  model.dispose();
  assert.equal(memoryStats().packedLinears, before);
  assert.equal(memoryStats().packedLinearBytes, beforeBytes);
});

test('weights with a NaN are refused on load, checksum or not, naming the tensor and where', () => {
  const model = new TransformerClassifier({ ...presetConfig('L2-D128', { vocab_size: 40, max_len: 8 }), labels: ['a', 'b'] }, { seed: 2 });
  try {
    // a safetensors file as another tool writes it: no checksum in its metadata
    const named = model.namedParameters();
    const header: Record<string, unknown> = {};
    let offset = 0;
    const chunks: Buffer[] = [];
    for (const [name, p] of named) {
      const values = p.toFloat32Array();
      if (name === named[3][0]) values[5] = NaN;
      header[name] = { dtype: 'F32', shape: p.shape, data_offsets: [offset, offset + values.byteLength] };
      offset += values.byteLength;
      chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    }
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(json.length));
    const file = join(tempDir('tlc-nan-'), 'model.safetensors');
    writeFileSync(file, Buffer.concat([size, json, ...chunks]));
    assert.throws(() => loadWeights(model, file),
      (e: unknown) => e instanceof TlcError && new RegExp(`tensor ${named[3][0].replace(/\./g, '\\.')} holds a non-finite value \\(NaN\\) at flat index 5`).test(e.message));
  } finally {
    model.dispose();
  }
});
