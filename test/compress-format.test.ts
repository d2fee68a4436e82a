import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Rng, tensor, tidy, TlcError, readSafetensorsRaw, writeSafetensors, writeSafetensorsRaw, type Tensor,
} from '../src/engine/index.js';
import {
  writeCompressed, readCompressed, inspectCompressed, quantizeRows, dequantizeRows, compressModel, ENCODINGS,
  type Encoding, type TensorPlan,
} from '../src/compress/index.js';
import { inspectModel } from '../src/compress/inspect.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function withTempDir(fn: (dir: string) => void): void {
  const dir = tempDir('tlc-compress-');
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A [rows, cols] tensor with the given fraction of zeros at random positions; quantized to `bits` unless 32. */
function sparseTensor(rows: number, cols: number, zeroFraction: number, bits: number, seed: number): { t: Tensor; plan: TensorPlan } {
  const rng = new Rng(seed);
  let v: Float32Array = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.uniform() < zeroFraction ? 0 : rng.normal();
  let plan: TensorPlan = { bits: 32, scales: null };
  if (bits !== 32) {
    const q = quantizeRows(v, rows, cols, bits);
    v = dequantizeRows(q.codes, q.scales, rows, cols);
    plan = { bits, scales: q.scales };
  }
  return { t: tensor(v, [rows, cols]), plan };
}

function sameBits(a: Tensor, b: Tensor): boolean {
  const x = a.toFloat32Array(), y = b.toFloat32Array();
  return a.shape.join() === b.shape.join() && Buffer.compare(Buffer.from(x.buffer), Buffer.from(y.buffer)) === 0;
}

const CASES: { label: string; rows: number; cols: number; zeros: number; bits: number; smallest: Encoding }[] = [
  { label: 'dense f32', rows: 16, cols: 24, zeros: 0, bits: 32, smallest: 'dense' },
  { label: 'half-sparse f32', rows: 32, cols: 32, zeros: 0.5, bits: 32, smallest: 'bitmask' },
  { label: '95%-sparse f32', rows: 64, cols: 64, zeros: 0.95, bits: 32, smallest: 'delta8' },
  { label: 'dense 8-bit', rows: 32, cols: 33, zeros: 0, bits: 8, smallest: 'dense' },
  { label: 'half-sparse 4-bit', rows: 32, cols: 32, zeros: 0.5, bits: 4, smallest: 'bitmask' },
  { label: '90%-sparse 4-bit', rows: 64, cols: 64, zeros: 0.9, bits: 4, smallest: 'delta8' },
  { label: '99.99%-sparse 3-bit', rows: 400, cols: 1000, zeros: 0.9999, bits: 3, smallest: 'delta16' },
];

test('every encoding round-trips bit-exactly for float32 and k-bit tensors, and the chosen one is the smallest', () => {
  withTempDir((dir) => tidy(() => {
    CASES.forEach((c, k) => {
      const { t, plan } = sparseTensor(c.rows, c.cols, c.zeros, c.bits, 10 + k);
      const ln = tensor(Float32Array.from([1, -0, 0.5]), [3]); // stored as plain float32, −0 included
      const sizes = new Map<Encoding, number>();
      for (const encoding of ENCODINGS) {
        const path = join(dir, `${k}-${encoding}.safetensors`);
        const r = writeCompressed(path, new Map([['w.weight', t], ['ln.weight', ln]]), { tensors: new Map([['w.weight', { ...plan, encoding }]]) });
        assert.equal(r.totalBytes, statSync(path).size);
        assert.equal(r.rows.find((row) => row.name === 'w.weight')!.encoding, encoding);
        sizes.set(encoding, r.totalBytes);
        const back = readCompressed(path);
        assert.ok(sameBits(back.get('w.weight')!, t), `${c.label} via ${encoding}: values differ`);
        assert.ok(sameBits(back.get('ln.weight')!, ln), `${c.label}: the uncompressed tensor differs`);
      }
      const auto = join(dir, `${k}-auto.safetensors`);
      const r = writeCompressed(auto, new Map([['w.weight', t], ['ln.weight', ln]]), { tensors: new Map([['w.weight', plan]]) });
      const row = r.rows.find((x) => x.name === 'w.weight')!;
      assert.equal(row.encoding, c.smallest, `${c.label}: sizes ${JSON.stringify([...sizes])}`);
      assert.equal(r.totalBytes, Math.min(...sizes.values()), `${c.label}: the chosen encoding is not the smallest file`);
      assert.equal(row.bits, c.bits);
      assert.ok(Math.abs(row.sparsity - c.zeros) < 0.05 || c.zeros === 0);
      assert.ok(sameBits(readCompressed(auto).get('w.weight')!, t));
    });
  }));
});

test('a float32 −0 in a compressed tensor survives; a stray value off the quantization grid is refused', () => {
  withTempDir((dir) => tidy(() => {
    const t = tensor(Float32Array.from([0, -0, 1.5, 0, 0, 0, 0, 2]), [2, 4]);
    const path = join(dir, 'z.safetensors');
    for (const encoding of ENCODINGS) {
      writeCompressed(path, new Map([['w', t]]), { tensors: new Map([['w', { bits: 32, scales: null, encoding }]]) });
      const back = readCompressed(path).get('w')!.toFloat32Array();
      assert.ok(Object.is(back[1], -0), encoding);
    }
    const { t: q, plan } = sparseTensor(4, 8, 0.3, 4, 1);
    const off = q.toFloat32Array();
    off[3] += 1e-3;
    assert.throws(() => writeCompressed(path, new Map([['w', tensor(off, [4, 8])]]), { tensors: new Map([['w', plan]]) }),
      (e: Error) => e instanceof TlcError && /tensor 'w' \[4, 8\]: element 3 \(row 0\) is .* not a nonzero multiple of the row's scale/.test(e.message));
    assert.throws(() => writeCompressed(path, new Map([['w', q]]), { tensors: new Map([['w', { bits: 4, scales: null }]]) }),
      /the plan needs 4 float32 scales \(one per row\) for 4-bit codes, got none/);
    assert.throws(() => writeCompressed(path, new Map([['w', q]]), { tensors: new Map([['w', { bits: 9, scales: plan.scales }]]) }),
      /bits must be an integer from 2 to 8 \(or 32 for no quantization\), got 9/);
    assert.throws(() => writeCompressed(path, new Map([['w', q]]), { tensors: new Map([['w', { ...plan, encoding: 'zstd' as Encoding }]]) }),
      /unknown encoding "zstd"/);
    assert.throws(() => writeCompressed(path, new Map([['w', q]]), { tensors: new Map([['v', plan]]) }), /the plan names 'v', which is not among the tensors/);
  }));
});

/** Linear weights of a random 2-layer d=256 model (as in the size report). */
function linearWeights(seed: number): Map<string, Tensor> {
  const rng = new Rng(seed);
  const shapes: [string, number[]][] = [];
  for (let l = 0; l < 2; l++) {
    shapes.push([`blocks.${l}.attn.qkv.weight`, [768, 256]], [`blocks.${l}.attn.out.weight`, [256, 256]],
      [`blocks.${l}.mlp.fc1.weight`, [1024, 256]], [`blocks.${l}.mlp.fc2.weight`, [256, 1024]]);
  }
  return new Map(shapes.map(([n, s]) => {
    const v = new Float32Array(s[0] * s[1]);
    for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.02;
    return [n, tensor(v, s)];
  }));
}

test('an 8-bit file is a quarter of the float32 file plus the scales; 4-bit at 90% sparsity far smaller', () => {
  withTempDir((dir) => tidy(() => {
    const params = linearWeights(1);
    const f32Path = join(dir, 'f32.safetensors');
    writeSafetensors(f32Path, params);
    const f32 = statSync(f32Path).size;
    let rows = 0;
    for (const t of params.values()) rows += t.shape[0];
    const sizes: Record<string, number> = {};
    for (const [s, bits] of [[0, 32], [0, 8], [0, 4], [0.9, 4]]) {
      const c = compressModel(params, { sparsity: s, bits });
      const path = join(dir, `c-${s}-${bits}.safetensors`);
      const r = writeCompressed(path, c.params, c.plan);
      sizes[`${s}/${bits}`] = r.totalBytes;
      assert.equal(r.totalBytes, statSync(path).size);
    }
    assert.ok(Math.abs(sizes['0/32'] - f32) / f32 < 0.01, `uncompressed: ${sizes['0/32']} vs ${f32}`);
    const expected8 = f32 / 4 + 4 * rows;
    assert.ok(Math.abs(sizes['0/8'] - expected8) / expected8 < 0.03, `8-bit: ${sizes['0/8']} vs ${expected8}`);
    const expected4 = f32 / 8 + 4 * rows;
    assert.ok(Math.abs(sizes['0/4'] - expected4) / expected4 < 0.03, `4-bit: ${sizes['0/4']} vs ${expected4}`);
    assert.ok(sizes['0.9/4'] < sizes['0/4'] / 2, `90% sparse 4-bit ${sizes['0.9/4']} vs dense 4-bit ${sizes['0/4']}`);
  }));
});

/** Rewrites a compressed file with its metadata or parts changed. */
function tamper(src: string, dst: string, edit: (meta: Record<string, string>, parts: Map<string, { dtype: string; shape: number[]; data: ArrayBufferView & { length: number } }>) => void): void {
  const { tensors, metadata } = readSafetensorsRaw(src);
  const parts = new Map([...tensors].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, data: t.data }]));
  const meta = { ...metadata };
  edit(meta, parts);
  writeSafetensorsRaw(dst, parts as Parameters<typeof writeSafetensorsRaw>[1], meta);
}

test('corrupted or foreign files give a TlcError naming the file, tensor and problem', () => {
  withTempDir((dir) => tidy(() => {
    const { t, plan } = sparseTensor(32, 32, 0.5, 4, 3);
    const good = join(dir, 'good.safetensors');
    writeCompressed(good, new Map([['w', t]]), { tensors: new Map([['w', plan]]) });
    const expectError = (path: string, re: RegExp): void => {
      assert.throws(() => readCompressed(path), (e: Error) => e instanceof TlcError && e.message.includes(path) && re.test(e.message), `${path} should fail with ${re}`);
    };

    // A flipped data byte: the file's checksum catches it.
    const bytes = readFileSync(good);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 100] ^= 0x10;
    writeFileSync(join(dir, 'flipped.safetensors'), flipped);
    expectError(join(dir, 'flipped.safetensors'), /checksum mismatch: its tensor data has CRC-32 [0-9a-f]{8} but the file records/);
    // Truncated.
    writeFileSync(join(dir, 'short.safetensors'), bytes.subarray(0, bytes.length - 10));
    expectError(join(dir, 'short.safetensors'), /truncated/);
    // Unknown encoding.
    const edit = (name: string, f: (e: Record<string, unknown>) => void): string => {
      const path = join(dir, name);
      tamper(good, path, (meta) => {
        const entries = JSON.parse(meta.tensors);
        f(entries.w);
        meta.tensors = JSON.stringify(entries);
      });
      return path;
    };
    expectError(edit('enc.safetensors', (e) => { e.encoding = 'zstd'; }), /tensor 'w': unknown encoding "zstd" \(known: dense, bitmask, delta8, delta16\)/);
    expectError(edit('bits.safetensors', (e) => { e.bits = 9; }), /"bits" must be 2 to 8 or 32, got 9/);
    expectError(edit('nnz.safetensors', (e) => { e.nnz = (e.nnz as number) + 1; e.sparsity = 1 - (e.nnz as number) / 1024; }), /bitmask marks \d+ elements, the metadata says nnz/);
    expectError(edit('crc.safetensors', (e) => { e.crc32 = 1; }), /corrupted/);
    // A missing part, and a part no tensor claims.
    const missing = join(dir, 'missing.safetensors');
    tamper(good, missing, (_m, parts) => parts.delete('w:scales'));
    expectError(missing, /part 'w:scales' is missing/);
    const extra = join(dir, 'extra.safetensors');
    tamper(good, extra, (_m, parts) => parts.set('stray', { dtype: 'U8', shape: [1], data: new Uint8Array(1) }));
    expectError(extra, /'stray' is not a part of any tensor/);
    // Not a compressed file at all; another version.
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, { w: t });
    expectError(plain, /not a tlc-compressed file/);
    const v2 = join(dir, 'v2.safetensors');
    tamper(good, v2, (m) => { m.version = '2'; });
    expectError(v2, /format version "2" is not supported/);
  }));
});

test('compressModel: bad options give clear errors', () => {
  tidy(() => {
    const params = new Map([['fc.weight', tensor(new Float32Array(12).fill(1), [3, 4])]]);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ sparsity: 1, bits: 8 }, /compressModel: sparsity must be a number in \[0, 1\), got 1/],
      [{ sparsity: -0.1, bits: 8 }, /sparsity must be a number in \[0, 1\), got -0.1/],
      [{ sparsity: 0.5, bits: 1 }, /compressModel: bits must be an integer from 2 to 8 \(or 32 for no quantization\), got 1/],
      [{ sparsity: 0.5, bits: 9 }, /got 9/],
      [{ sparsity: 0.5, bits: 16 }, /got 16/],
      [{ sparsity: 0.5, bits: 4, embeddingBits: 1 }, /embeddingBits: bits must be/],
      [{ sparsity: 0.5, bits: 4, pruning: 'rows' }, /pruning must be 'layer' or 'global', got "rows"/],
    ];
    for (const [opts, re] of bad) {
      assert.throws(() => compressModel(params, opts as never), (e: Error) => e instanceof TlcError && re.test(e.message), JSON.stringify(opts));
    }
  });
});

test('tlc inspect (child process) prints the per-tensor table of a compressed file and of a run directory', () => {
  withTempDir((dir) => tidy(() => {
    const params = linearWeights(2);
    params.set('ln.weight', tensor(new Float32Array(8).fill(1), [8]));
    const c = compressModel(params, { sparsity: 0.9, bits: 4 });
    const path = join(dir, 'model.tlc.safetensors');
    const written = writeCompressed(path, c.params, c.plan);

    const r = spawnSync(process.execPath, [CLI, 'inspect', path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const size = statSync(path).size;
    assert.match(r.stdout, /tlc-compressed/);
    assert.match(r.stdout, /blocks\.0\.mlp\.fc1\.weight\s+\[1024, 256\]\s+delta8\s+4\s+90\.0%/);
    assert.match(r.stdout, /ln\.weight\s+\[8\]\s+dense\s+32\s+0\.0%\s+32/);
    assert.match(r.stdout, new RegExp(`total\\s+${size.toLocaleString('en-US')}`));

    const json = spawnSync(process.execPath, [CLI, 'inspect', path, '--json'], { encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.totalBytes, size);
    assert.deepEqual(parsed.rows, written.rows);
    assert.equal(parsed.headerBytes + parsed.rows.reduce((a: number, x: { bytes: number }) => a + x.bytes, 0), size);

    // A run directory with a plain model.safetensors.
    const run = join(dir, 'run');
    mkdirSync(run);
    writeSafetensors(join(run, 'model.safetensors'), c.params);
    const plain = spawnSync(process.execPath, [CLI, 'inspect', run], { encoding: 'utf8' });
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /\(safetensors\)/);
    assert.match(plain.stdout, /blocks\.1\.attn\.qkv\.weight\s+\[768, 256\]\s+F32\s+32\s+90\.0%\s+786,432/);
    assert.equal(inspectModel(run).totalBytes, statSync(join(run, 'model.safetensors')).size);

    const missing = spawnSync(process.execPath, [CLI, 'inspect', join(dir, 'nope')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^tlc: error: .*nope: no such file or directory/);
    const junk = join(dir, 'junk.safetensors');
    writeFileSync(junk, 'not a model');
    const bad = spawnSync(process.execPath, [CLI, 'inspect', junk], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^tlc: error: safetensors file .*junk\.safetensors: not a safetensors file \(it starts with text\)/);
    assert.ok(readdirSync(dir).every((f) => !f.includes('.tmp')), 'no temporary files left behind');
    assert.deepEqual(inspectCompressed(path).rows, written.rows);
  }));
});

test('inspect verifies what loading verifies: a tensor corrupted under a recomputed file checksum, a NaN weight without one', () => {
  withTempDir((dir) => {
    const { t, plan } = tidy(() => sparseTensor(8, 16, 0.5, 4, 3));
    const good = join(dir, 'good.safetensors');
    writeCompressed(good, new Map([['w.weight', t]]), { tensors: new Map([['w.weight', plan]]) });
    assert.equal(inspectModel(good).checksum, 'verified');
    // one byte of one part changed, the file's own checksum written anew: only the tensor's CRC-32 knows
    const { tensors, metadata } = readSafetensorsRaw(good);
    const [partName, part] = [...tensors].find(([, p]) => p.data.byteLength > 0)!;
    const bytes = new Uint8Array(part.data.buffer, part.data.byteOffset, part.data.byteLength);
    bytes[0] ^= 0x10;
    const bad = join(dir, 'bad.safetensors');
    writeSafetensorsRaw(bad, new Map([...tensors, [partName, part]]), metadata);
    assert.throws(() => readCompressed(bad), /corrupted/);
    assert.throws(() => inspectModel(bad), /corrupted/);
    // a plain file whose weight is NaN (its checksum holds: the bytes are as written): refused by inspect as by loading
    const nan = join(dir, 'nan.safetensors');
    writeSafetensorsRaw(nan, new Map([['w', { dtype: 'F32', shape: [2], data: new Float32Array([1, NaN]) }]]));
    assert.throws(() => inspectModel(nan), /tensor w holds a non-finite value \(NaN\) at flat index 1/);
  });
});
