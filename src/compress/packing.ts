// Bit packing for the compressed format (docs/compressed-format.md).
//
// k-bit codes: element i occupies bits [i·k, i·k + k) of a little-endian bit stream, where
// stream bit j is bit (j mod 8) of byte ⌊j/8⌋ (LSB first). A code is stored in k-bit two's
// complement; unused bits of the last byte are zero.
// Bitmasks are the same with k = 1: bit i is 1 where element i is stored (nonzero).
import { TlcError } from '../util/errors.js';

export function packedBytes(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

/** Packs codes in [−2^(k−1), 2^(k−1) − 1] into ⌈n·k/8⌉ bytes. */
export function packCodes(codes: Int8Array, bits: number): Uint8Array {
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8)) throw new TlcError(`packCodes: bits must be 1 to 8, got ${bits}`);
  const out = new Uint8Array(packedBytes(codes.length, bits));
  const mask = (1 << bits) - 1;
  let acc = 0, filled = 0, o = 0;
  for (let i = 0; i < codes.length; i++) {
    acc |= (codes[i] & mask) << filled;
    filled += bits;
    if (filled >= 8) {
      out[o++] = acc & 0xff;
      acc >>>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) out[o] = acc & 0xff;
  return out;
}

/**
 * Unpacks `count` k-bit two's-complement codes. Returns null if the byte length is not
 * exactly ⌈count·k/8⌉ or the padding bits of the last byte are not zero (a corrupted blob).
 */
export function unpackCodes(bytes: Uint8Array, count: number, bits: number): Int8Array | null {
  if (bytes.length !== packedBytes(count, bits)) return null;
  const out = new Int8Array(count);
  const mask = (1 << bits) - 1, sign = 1 << (bits - 1), wrap = 1 << bits;
  let acc = 0, filled = 0, p = 0;
  for (let i = 0; i < count; i++) {
    if (filled < bits) {
      acc |= bytes[p++] << filled;
      filled += 8;
    }
    const v = acc & mask;
    acc >>>= bits;
    filled -= bits;
    out[i] = v >= sign ? v - wrap : v;
  }
  if (acc !== 0) return null;
  return out;
}

/** One bit per element, LSB first: 1 where keep[i] is nonzero. */
export function packBits(keep: Uint8Array): Uint8Array {
  const out = new Uint8Array(packedBytes(keep.length, 1));
  for (let i = 0; i < keep.length; i++) if (keep[i]) out[i >>> 3] |= 1 << (i & 7);
  return out;
}

/** The inverse of packBits; null on a wrong length or set padding bits. */
export function unpackBits(bytes: Uint8Array, count: number): Uint8Array | null {
  if (bytes.length !== packedBytes(count, 1)) return null;
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[i >>> 3] >>> (i & 7)) & 1;
  if (count % 8 !== 0 && bytes[bytes.length - 1] >>> (count % 8) !== 0) return null;
  return out;
}
