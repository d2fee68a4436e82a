import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, TlcError } from '../src/engine/index.js';
import {
  quantizeRows, dequantizeRows, packCodes, unpackCodes, packBits, unpackBits, packedBytes, encodeGaps, decodeGaps, gapWords,
} from '../src/compress/index.js';
import { crc32, crc32Portable } from '../src/util/crc32.js';

function randomRows(rows: number, cols: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * (1 + (i % cols) / cols);
  return v;
}

test('quantize/dequantize against a float64 reference for k = 2..8, zero rows without NaN', () => {
  for (let bits = 2; bits <= 8; bits++) {
    const rows = 9, cols = 31;
    const w = randomRows(rows, cols, bits);
    w.fill(0, 2 * cols, 3 * cols); // a row of zeros
    for (let i = 5; i < w.length; i += 7) w[i] = 0; // pruned weights
    const { codes, scales } = quantizeRows(w, rows, cols, bits);
    const out = dequantizeRows(codes, scales, rows, cols);
    const qmax = 2 ** (bits - 1) - 1;
    for (let r = 0; r < rows; r++) {
      let m = 0;
      for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
      const scale = m / qmax; // float64
      assert.ok(Math.abs(scales[r] - scale) <= 1e-7 * scale, `bits ${bits} row ${r}: scale ${scales[r]} vs ${scale}`);
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        assert.ok(!Number.isNaN(out[i]));
        if (scale === 0) {
          assert.ok(Object.is(out[i], 0) && codes[i] === 0);
          continue;
        }
        const exact = w[i] / scale;
        assert.ok(Math.abs(codes[i]) <= qmax);
        assert.ok(Math.abs(codes[i] - exact) <= 0.5 + 1e-5, `bits ${bits} element ${i}: code ${codes[i]} for ${exact}`);
        assert.ok(Math.abs(out[i] - codes[i] * scale) <= 1e-6 * m);
        // Error ≤ half a step (plus float32 rounding).
        assert.ok(Math.abs(out[i] - w[i]) <= scale / 2 + 1e-6 * m);
        if (w[i] === 0) assert.ok(Object.is(out[i], 0) && codes[i] === 0, 'pruned zeros stay exactly zero');
      }
      // The largest magnitude of a row maps to ±qmax.
      if (m > 0) assert.ok(Array.from(codes.subarray(r * cols, (r + 1) * cols)).some((q) => Math.abs(q) === qmax));
    }
  }
});

test('quantize bad input: bits outside 2..8, wrong sizes, non-finite values', () => {
  const w = new Float32Array(6);
  for (const bits of [1, 9, 32, 4.5]) {
    assert.throws(() => quantizeRows(w, 2, 3, bits), (e: Error) => e instanceof TlcError && /bits must be an integer from 2 to 8/.test(e.message));
  }
  assert.throws(() => quantizeRows(w, 4, 2, 4), /6 values do not form 4 rows of 2/);
  assert.throws(() => quantizeRows(Float32Array.from([1, NaN, 2]), 1, 3, 4), /non-finite|NaN/);
  assert.throws(() => quantizeRows(Float32Array.from([1, Infinity]), 1, 2, 4), /row 0 holds a non-finite value/);
});

test('k-bit packing round-trips every k and odd lengths; the layout is LSB first, two\'s complement', () => {
  const rng = new Rng(7);
  for (let bits = 1; bits <= 8; bits++) {
    for (const n of [0, 1, 2, 3, 7, 8, 9, 13, 63, 64, 65, 1001]) {
      const lo = -(2 ** (bits - 1)), span = 2 ** bits;
      const codes = new Int8Array(n);
      for (let i = 0; i < n; i++) codes[i] = lo + rng.int(span);
      const packed = packCodes(codes, bits);
      assert.equal(packed.length, packedBytes(n, bits));
      assert.equal(packed.length, Math.ceil((n * bits) / 8));
      assert.deepEqual(unpackCodes(packed, n, bits), codes, `bits ${bits} n ${n}`);
    }
  }
  // 4-bit codes [1, −1, 7, −8] → nibbles 0x1, 0xF, 0x7, 0x8 → bytes 0xF1, 0x87.
  assert.deepEqual(Array.from(packCodes(Int8Array.from([1, -1, 7, -8]), 4)), [0xf1, 0x87]);
  // 3-bit codes [1, 2, 3] → bits 001 010 011 (LSB first) → 0b11_010_001 = 0xD1, then 0b0 → 0x00.
  assert.deepEqual(Array.from(packCodes(Int8Array.from([1, 2, 3]), 3)), [0xd1, 0x00]);
  // Wrong length and set padding bits are detected.
  assert.equal(unpackCodes(Uint8Array.from([0xd1]), 3, 3), null);
  assert.equal(unpackCodes(Uint8Array.from([0xd1, 0x80]), 3, 3), null);
});

test('bitmask packing round-trips odd lengths; padding bits must be zero', () => {
  const rng = new Rng(8);
  for (const n of [0, 1, 5, 8, 9, 100, 1023]) {
    const keep = new Uint8Array(n);
    for (let i = 0; i < n; i++) keep[i] = rng.int(2);
    const bits = packBits(keep);
    assert.equal(bits.length, Math.ceil(n / 8));
    assert.deepEqual(unpackBits(bits, n), keep);
  }
  assert.deepEqual(Array.from(packBits(Uint8Array.from([1, 0, 0, 1, 1, 0, 0, 0, 1]))), [0x19, 0x01]);
  assert.equal(unpackBits(Uint8Array.from([0x19, 0x03]), 9), null);
});

test('gap coding round-trips with escapes for long gaps, in 8 and 16 bits', () => {
  const size = 300000;
  const cases = [
    [], [0], [size - 1], [0, 1, 2, 3], [254], [255], [256], [509, 510, 765, 1020 + 765],
    [65534], [65535], [65536], [131071, 131072, 299999],
  ];
  const rng = new Rng(9);
  const random: number[] = [];
  for (let p = rng.int(10); p < size; p += 1 + rng.int(rng.uniform() < 0.1 ? 70000 : 300)) random.push(p);
  cases.push(random);
  for (const positions of cases) {
    for (const width of [8, 16] as const) {
      const words = encodeGaps(positions, width);
      assert.equal(words.length, gapWords(positions, width));
      const back = decodeGaps(words, width, positions.length, size);
      assert.ok(back instanceof Uint32Array, `width ${width}: ${back}`);
      assert.deepEqual(Array.from(back as Uint32Array), positions);
    }
  }
  // gap 255 in 8 bits: escape 255, then 0.
  assert.deepEqual(Array.from(encodeGaps([255], 8)), [255, 0]);
  assert.deepEqual(Array.from(encodeGaps([3, 4], 8)), [3, 0]);
  assert.match(decodeGaps(Uint8Array.from([255]), 8, 0, 10) as string, /ends with an escape/);
  assert.match(decodeGaps(Uint8Array.from([20]), 8, 1, 10) as string, /outside the 10 elements/);
  assert.match(decodeGaps(Uint8Array.from([1, 1]), 8, 1, 10) as string, /more than the 1 stored/);
  assert.match(decodeGaps(Uint8Array.from([1]), 8, 2, 10) as string, /1 positions for 2 stored/);
});

test('CRC-32 matches the standard check value in both implementations', () => {
  const data = new TextEncoder().encode('123456789');
  assert.equal(crc32(data), 0xcbf43926);
  assert.equal(crc32Portable(data), 0xcbf43926);
  assert.equal(crc32Portable(data.subarray(4), crc32Portable(data.subarray(0, 4))), 0xcbf43926);
});
