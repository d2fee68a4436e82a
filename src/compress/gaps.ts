// Positions of the nonzeros of a sparse tensor as gaps (docs/compressed-format.md):
// gap_j = p_j − p_(j−1) − 1 (p_(−1) = −1) is the number of zeros before nonzero j. Each gap
// is written in words of 8 or 16 bits; a word equal to the escape value E = 2^w − 1 adds E
// to the current gap and does not end it, any other word w ends it: gap = (number of
// escapes)·E + w. Zeros after the last nonzero are implied by the tensor's shape.
import { TlcError } from '../util/errors.js';

export type GapWidth = 8 | 16;

/** Number of words needed to write the gaps of these sorted positions. */
export function gapWords(positions: Uint32Array | number[], width: GapWidth): number {
  const escape = width === 8 ? 0xff : 0xffff;
  let words = 0, prev = -1;
  for (let j = 0; j < positions.length; j++) {
    const gap = positions[j] - prev - 1;
    words += Math.floor(gap / escape) + 1;
    prev = positions[j];
  }
  return words;
}

export function encodeGaps(positions: Uint32Array | number[], width: GapWidth): Uint8Array | Uint16Array {
  const escape = width === 8 ? 0xff : 0xffff;
  const out = width === 8 ? new Uint8Array(gapWords(positions, width)) : new Uint16Array(gapWords(positions, width));
  let o = 0, prev = -1;
  for (let j = 0; j < positions.length; j++) {
    let gap = positions[j] - prev - 1;
    if (gap < 0) throw new TlcError('encodeGaps: positions must be strictly increasing');
    while (gap >= escape) {
      out[o++] = escape;
      gap -= escape;
    }
    out[o++] = gap;
    prev = positions[j];
  }
  return out;
}

/**
 * Positions from gap words, or a string saying what is wrong: a count other than `nnz`,
 * a position at or beyond `size`, or a trailing escape.
 */
export function decodeGaps(words: Uint8Array | Uint16Array, width: GapWidth, nnz: number, size: number): Uint32Array | string {
  const escape = width === 8 ? 0xff : 0xffff;
  const positions = new Uint32Array(nnz);
  let j = 0, pos = -1, pending = 0;
  for (let o = 0; o < words.length; o++) {
    const w = words[o];
    if (w === escape) {
      pending += escape;
      continue;
    }
    pos += pending + w + 1;
    pending = 0;
    if (pos >= size) return `position ${pos} is outside the ${size} elements`;
    if (j >= nnz) return `more than the ${nnz} stored elements`;
    positions[j++] = pos;
  }
  if (pending !== 0) return 'the gap stream ends with an escape';
  if (j !== nnz) return `${j} positions for ${nnz} stored elements`;
  return positions;
}
