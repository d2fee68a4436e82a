import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  TlcError, empty, memoryStats, readSafetensors, readSafetensorsHeader, readSafetensorsRaw, tensor, tidy,
  verifySafetensorsChecksum, writeSafetensors, writeSafetensorsRaw, type Tensor,
} from '../src/engine/index.js';
import { randn } from './helpers.js';
import { tempDir } from './temp-dir.js';

// Written by `/usr/bin/python3 tools/torch_reference.py --fixture test/fixtures/torch_reference_fixture.safetensors`.
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/torch_reference_fixture.safetensors', import.meta.url));

function withTempDir(fn: (dir: string) => void): void {
  const dir = tempDir('tlc-safetensors-');
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function typed(dtype: 'bf16' | 'i8', values: number[], shape: number[]): Tensor {
  const t = empty(shape, dtype);
  t.write(dtype === 'bf16' ? Uint16Array.from(values) : Int8Array.from(values));
  return t;
}

/** The JSON text of a file's header, as written. */
function headerText(path: string): string {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  return bytes.subarray(8, 8 + n).toString('utf8');
}

/** A file from a header (object or raw text) and data, optionally with a forged header length. */
function buildFile(path: string, header: unknown, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): void {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

function assertFileError(fn: () => unknown, fileName: string, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof TlcError, `expected a TlcError, got ${e.name}: ${e.message}`);
    assert.ok(e.message.includes(fileName), `message does not name the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('round trip of every dtype, a scalar and zero-size tensors', () => {
  withTempDir((dir) => tidy(() => {
    const path = join(dir, 'all.safetensors');
    const original: Record<string, Tensor> = {
      'w.f32': randn([2, 3, 5], 1),
      ids: tensor(new Int32Array([-100, 0, 7, 2147483647, -2147483648]), [5], 'i32'),
      mask: tensor(new Uint8Array([1, 0, 255]), [3], 'u8'),
      'half.bf16': typed('bf16', [0x3f80, 0xc020, 0x0001, 0x7f80], [2, 2]),
      'q.i8': typed('i8', [-128, -1, 0, 127], [4, 1]),
      scalar: tensor(new Float32Array([3.25]), []),
      none: empty([0, 3], 'f32'),
      'none.i32': empty([4, 0], 'i32'),
    };
    writeSafetensors(path, original);
    const { tensors, metadata } = readSafetensors(path);
    assert.deepEqual(metadata, {});
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(original).sort());
    for (const [name, t] of Object.entries(original)) {
      const back = tensors.get(name)!;
      assert.equal(back.dtype, t.dtype, name);
      assert.deepEqual(back.shape, t.shape, name);
      assert.equal(back.name, name);
      assert.deepEqual(back.toArray(), t.toArray(), name);
    }
    // The raw reader agrees and creates no native memory.
    const live = memoryStats().liveBytes;
    const raw = readSafetensorsRaw(path);
    assert.equal(memoryStats().liveBytes, live);
    assert.deepEqual(raw.tensors.get('ids')!.data, original.ids.toArray());
    assert.equal(raw.tensors.get('half.bf16')!.dtype, 'BF16');
    assert.ok(raw.tensors.get('half.bf16')!.data instanceof Uint16Array);
    assert.deepEqual(raw.tensors.get('scalar')!.shape, []);
  }));
});

test('metadata round trip, a Map of tensors, sorted header keys and aligned data', () => {
  withTempDir((dir) => tidy(() => {
    const path = join(dir, 'meta.safetensors');
    const metadata = { step: '1200', config: '{"d_model":64}', '10': 'integer-like key', note: 'π ≈ 3.14' };
    const tensors = new Map<string, Tensor>([
      ['z', tensor(new Uint8Array([1, 2, 3]), [3], 'u8')],
      ['a', randn([3], 2)],
      ['10', typed('bf16', [1, 2, 3], [3])],
      ['m.0', randn([2, 2], 3)],
    ]);
    writeSafetensors(path, tensors, metadata);
    const text = headerText(path);
    assert.equal((8 + Buffer.byteLength(text)) % 8, 0, 'header is padded to a multiple of 8');
    // Key order as written (JSON.parse would move "10" first, so scan the text).
    const keys = [...text.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
    assert.deepEqual(keys, ['10', 'a', 'm.0', 'z']);
    assert.ok(text.startsWith('{"__metadata__":{"10":"integer-like key","config":'));
    const header = readSafetensorsHeader(path);
    assert.deepEqual(header.metadata, metadata);
    for (const info of header.tensors.values()) {
      const size = info.dtype === 'F32' ? 4 : info.dtype === 'BF16' ? 2 : 1;
      assert.equal((header.dataStart + info.dataOffsets[0]) % size, 0, `${info.dtype} tensor is aligned`);
    }
    const back = readSafetensors(path);
    assert.deepEqual(back.metadata, metadata);
    assert.deepEqual(back.tensors.get('m.0')!.toArray(), tensors.get('m.0')!.toArray());
  }));
});

test('a failed write leaves the previous file intact and no temporary file', () => {
  withTempDir((dir) => tidy(() => {
    const path = join(dir, 'ckpt.safetensors');
    writeSafetensors(path, { w: randn([4, 4], 1) }, { step: '1' });
    const before = readFileSync(path);

    const gone = randn([2], 2);
    gone.dispose();
    assert.throws(() => writeSafetensors(path, { a: randn([3], 3), b: gone }),
      (e: Error) => e instanceof TlcError && e.message.includes('ckpt.safetensors') && /'b'.*disposed/.test(e.message));
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);

    // A failure after the temporary file was partly written.
    const failing = randn([8], 4);
    failing.toArray = () => { throw new Error('device full'); };
    assert.throws(() => writeSafetensors(path, { a: randn([64], 5), b: failing }),
      (e: Error) => e instanceof TlcError && e.message.includes('ckpt.safetensors') && /device full/.test(e.message));
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);

    assertFileError(() => writeSafetensors(join(dir, 'missing', 'x.safetensors'), { a: randn([1], 6) }), 'x.safetensors', /ENOENT/);
    assert.throws(() => writeSafetensors(path, { a: randn([1], 7) }, { n: 5 as unknown as string }), /metadata value for "n" is not a string/);
    assert.throws(() => writeSafetensors(path, { __metadata__: randn([1], 8) }), /cannot be a tensor name/);
    assert.deepEqual(readFileSync(path), before);
  }));
});

test('corrupt files give a TlcError naming the file and the problem', () => {
  withTempDir((dir) => {
    const p = (name: string) => join(dir, name);
    const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
    const data8 = new Uint8Array(8);

    writeFileSync(p('short.safetensors'), Buffer.from([1, 2, 3, 4, 5]));
    assertFileError(() => readSafetensors(p('short.safetensors')), 'short.safetensors', /5 bytes, shorter than the 8-byte header length/);

    buildFile(p('long-header.safetensors'), { a: f32([2], 0, 8) }, data8, 1000n);
    assertFileError(() => readSafetensors(p('long-header.safetensors')), 'long-header.safetensors', /header length 1000 is beyond the file size/);
    buildFile(p('huge-header.safetensors'), {}, data8, 0xffffffffffffffffn);
    assertFileError(() => readSafetensorsHeader(p('huge-header.safetensors')), 'huge-header.safetensors', /beyond the file size/);

    buildFile(p('json.safetensors'), '{"a": {"dtype": "F32",', data8);
    assertFileError(() => readSafetensors(p('json.safetensors')), 'json.safetensors', /not valid JSON/);
    buildFile(p('array.safetensors'), '[1, 2]');
    assertFileError(() => readSafetensors(p('array.safetensors')), 'array.safetensors', /not a JSON object/);
    writeFileSync(p('utf8.safetensors'), Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xfe])]));
    assertFileError(() => readSafetensors(p('utf8.safetensors')), 'utf8.safetensors', /not valid UTF-8/);

    buildFile(p('size.safetensors'), { a: f32([1], 0, 8) }, data8);
    assertFileError(() => readSafetensors(p('size.safetensors')), 'size.safetensors', /tensor 'a': data offsets \[0, 8\] span 8 bytes but F32 \[1\] needs 4/);
    buildFile(p('range.safetensors'), { a: f32([4], 8, 24) }, new Uint8Array(16));
    assertFileError(() => readSafetensors(p('range.safetensors')), 'range.safetensors', /tensor 'a' needs bytes \[8, 24\).*only 16 data bytes/);
    buildFile(p('backwards.safetensors'), { a: f32([0], 8, 4) }, data8);
    assertFileError(() => readSafetensors(p('backwards.safetensors')), 'backwards.safetensors', /end before they begin/);
    buildFile(p('negative.safetensors'), { a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, data8);
    assertFileError(() => readSafetensors(p('negative.safetensors')), 'negative.safetensors', /"data_offsets" must be two non-negative integers/);
    buildFile(p('shape.safetensors'), { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, data8);
    assertFileError(() => readSafetensors(p('shape.safetensors')), 'shape.safetensors', /"shape" must be an array of non-negative integers/);
    buildFile(p('overlap.safetensors'), { a: f32([2], 0, 8), b: f32([2], 4, 12) }, new Uint8Array(12));
    assertFileError(() => readSafetensors(p('overlap.safetensors')), 'overlap.safetensors', /'a' \[0, 8\] and 'b' \[4, 12\] have overlapping data offsets/);
    buildFile(p('dtype.safetensors'), { a: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, data8);
    assertFileError(() => readSafetensors(p('dtype.safetensors')), 'dtype.safetensors', /tensor 'a': unknown dtype "Q7"/);
    buildFile(p('proto.safetensors'), { a: { dtype: 'constructor', shape: [1], data_offsets: [0, 1] } }, data8);
    assertFileError(() => readSafetensors(p('proto.safetensors')), 'proto.safetensors', /unknown dtype "constructor"/);
    buildFile(p('meta.safetensors'), { __metadata__: { step: 3 } });
    assertFileError(() => readSafetensors(p('meta.safetensors')), 'meta.safetensors', /metadata value for "step" is not a string/);
    assertFileError(() => readSafetensors(p('absent.safetensors')), 'absent.safetensors', /not found/);
    assertFileError(() => readSafetensors(dir), dir, /is not a regular file/);

    // A valid file with its last bytes cut off.
    tidy(() => writeSafetensors(p('good.safetensors'), { a: randn([3, 3], 1), b: randn([5], 2) }));
    const good = readFileSync(p('good.safetensors'));
    writeFileSync(p('truncated.safetensors'), good.subarray(0, good.length - 6));
    assertFileError(() => readSafetensors(p('truncated.safetensors')), 'truncated.safetensors', /data is truncated/);
    assertFileError(() => readSafetensorsRaw(p('truncated.safetensors')), 'truncated.safetensors', /data is truncated/);

    // A dtype of the format that tlc tensors cannot hold: the raw reader still reads it.
    buildFile(p('f16.safetensors'), { a: f32([1], 0, 4), h: { dtype: 'F16', shape: [2], data_offsets: [4, 8] } },
      new Uint8Array([0, 0, 128, 63, 0, 60, 0, 192]));
    const live = memoryStats().liveBytes;
    assertFileError(() => readSafetensors(p('f16.safetensors')), 'f16.safetensors', /tensor 'h' has dtype F16, which tlc does not support/);
    assert.equal(memoryStats().liveBytes, live, 'nothing was allocated');
    const raw = readSafetensorsRaw(p('f16.safetensors'));
    assert.deepEqual(raw.tensors.get('h')!.data, new Uint16Array([0x3c00, 0xc000]));
    assert.deepEqual(raw.tensors.get('a')!.data, new Float32Array([1]));
  });
});

test('reads a file written by the PyTorch reference script', () => {
  tidy(() => {
    const { tensors, metadata } = readSafetensors(FIXTURE);
    assert.deepEqual(metadata, { producer: 'tools/torch_reference.py --fixture', note: 'π ≈ 3.14' });
    assert.deepEqual([...tensors.keys()],
      ['bf16.values', 'block.0.weight', 'f32.empty', 'f32.matrix', 'f32.scalar', 'i32.ids', 'i8.quant', 'u8.mask']);
    const get = (name: string, dtype: string, shape: number[]) => {
      const t = tensors.get(name)!;
      assert.equal(t.dtype, dtype, name);
      assert.deepEqual(t.shape, shape, name);
      return Array.from(t.toArray() as ArrayLike<number>);
    };
    assert.deepEqual(get('f32.matrix', 'f32', [3, 4]), Array.from({ length: 12 }, (_, i) => i * 0.25 - 1));
    assert.deepEqual(get('f32.scalar', 'f32', []), [3.5]);
    assert.deepEqual(get('f32.empty', 'f32', [0, 5]), []);
    assert.deepEqual(get('block.0.weight', 'f32', [2, 3]), [-1, -0.5, 0, 0.25, 0.75, Math.fround(1e-3)]);
    assert.deepEqual(get('i32.ids', 'i32', [2, 3]), [-100, 0, 7, 2147483647, -2147483648, 42]);
    assert.deepEqual(get('u8.mask', 'u8', [5]), [1, 1, 0, 255, 1]);
    assert.deepEqual(get('i8.quant', 'i8', [7, 1]), [-128, -1, 0, 1, 127, 5, -7]);
    // bf16 bits: the upper half of the float32 pattern (values chosen to be exact in bf16).
    const bf16 = [1.0, -2.5, 0.15625, 65280.0].map((v) => new Uint16Array(new Float32Array([v]).buffer)[1]);
    assert.deepEqual(get('bf16.values', 'bf16', [4]), bf16);

    // Written back by tlc, the file reads the same.
    withTempDir((dir) => {
      const copy = join(dir, 'copy.safetensors');
      writeSafetensors(copy, tensors, metadata);
      const again = readSafetensorsRaw(copy);
      const first = readSafetensorsRaw(FIXTURE);
      assert.deepEqual(again.metadata, first.metadata);
      for (const [name, t] of first.tensors) assert.deepEqual(again.tensors.get(name), t, name);
      // Same layout rule as the Python writer: the data sections are byte-identical (tlc's
      // header adds the data's checksum, which the PyTorch file lacks).
      const ours = readSafetensorsHeader(copy), theirs = readSafetensorsHeader(FIXTURE);
      assert.equal(theirs.checksum, null);
      assert.equal(typeof ours.checksum, 'number');
      assert.deepEqual(readFileSync(copy).subarray(ours.dataStart), readFileSync(FIXTURE).subarray(theirs.dataStart));
    });
  });
});

test('writeSafetensorsRaw writes typed arrays of any dtype (U8, U16, I8, F32) and reads back the same; bad input is refused', () => {
  withTempDir((dir) => {
    const path = join(dir, 'raw.safetensors');
    const parts = new Map([
      ['codes', { dtype: 'U8', shape: [5], data: Uint8Array.from([1, 2, 3, 250, 0]) }],
      ['gaps', { dtype: 'U16', shape: [3], data: Uint16Array.from([65535, 7, 0]) }],
      ['signed', { dtype: 'I8', shape: [2, 1], data: Int8Array.from([-128, 127]) }],
      ['scales', { dtype: 'F32', shape: [2], data: Float32Array.from([0.5, -0]) }],
      ['empty', { dtype: 'U8', shape: [0], data: new Uint8Array(0) }],
    ]);
    writeSafetensorsRaw(path, parts, { format: 'x' });
    const back = readSafetensorsRaw(path);
    assert.deepEqual(back.metadata, { format: 'x' });
    for (const [name, t] of parts) assert.deepEqual(back.tensors.get(name), t, name);
    // Aligned: the U16 part starts at an even offset after the F32 part.
    assert.equal(back.header.tensors.get('gaps')!.dataOffsets[0] % 2, 0);

    assert.throws(() => writeSafetensorsRaw(path, new Map([['a', { dtype: 'U8', shape: [4], data: new Uint8Array(3) }]])),
      (e: Error) => e instanceof TlcError && /tensor 'a' U8 \[4\] needs 4 bytes, its data holds 3/.test(e.message));
    assert.throws(() => writeSafetensorsRaw(path, new Map([['a', { dtype: 'Q4', shape: [1], data: new Uint8Array(1) }]])), /unknown dtype "Q4"/);
    assert.deepEqual(readSafetensorsRaw(path).metadata, { format: 'x' }, 'a failed write leaves the old file');
  });
});

test('a file tlc writes records the CRC-32 of its data; a flipped data byte is refused naming the file, a file without one is accepted', () => {
  withTempDir((dir) => tidy(() => {
    const path = join(dir, 'w.safetensors');
    writeSafetensors(path, { a: randn([16, 8], 1), b: tensor(new Int32Array([1, 2, 3]), [3], 'i32') }, { step: '3' });
    const header = readSafetensorsHeader(path);
    assert.equal(typeof header.checksum, 'number', 'the header records a checksum');
    assert.deepEqual(header.metadata, { step: '3' }, 'the checksum is not part of the metadata a reader gets');
    assert.equal(verifySafetensorsChecksum(path), 'verified');
    const bytes = readFileSync(path);
    for (const at of [header.dataStart, header.dataStart + 200, bytes.length - 1]) {
      const flipped = Buffer.from(bytes);
      flipped[at] ^= 0x04;
      const bad = join(dir, `flipped-${at}.safetensors`);
      writeFileSync(bad, flipped);
      for (const read of [() => readSafetensors(bad), () => readSafetensorsRaw(bad), () => verifySafetensorsChecksum(bad)]) {
        assertFileError(read, `flipped-${at}.safetensors`, /checksum mismatch: its tensor data has CRC-32 [0-9a-f]{8} but the file records [0-9a-f]{8}/);
      }
    }
    // written by another tool: no checksum, accepted as it is
    const foreign = join(dir, 'foreign.safetensors');
    buildFile(foreign, { x: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, new Uint8Array([1, 2, 3, 4]));
    assert.equal(readSafetensorsHeader(foreign).checksum, null);
    assert.equal(verifySafetensorsChecksum(foreign), 'absent');
    assert.deepEqual([...readSafetensorsRaw(foreign).tensors.get('x')!.data], [1, 2, 3, 4]);
    // a malformed checksum field is an error, not a silent pass
    const malformed = join(dir, 'malformed.safetensors');
    buildFile(malformed, { __metadata__: { tlc_crc32: 'xyz' }, x: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array([1]));
    assertFileError(() => readSafetensors(malformed), 'malformed.safetensors', /"tlc_crc32" must be 8 hexadecimal digits/);
  }));
});
