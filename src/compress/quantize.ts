// Symmetric uniform quantization with one scale per row (output channel of a [out, in]
// weight), on host arrays:
//   qmax    = 2^(k−1) − 1
//   scale_r = max|w_r| / qmax
//   q       = clamp(round_half_even(w / scale_r), −qmax, qmax)      (an integer code)
//   w'      = q · scale_r
// Every step is rounded to float32 exactly as the native fake-quantization kernel
// (native/src/quantize.cc) does it, so both give the same bits. A row of zeros has scale 0
// and codes 0. Zeros (pruned weights) get code 0 and stay exactly +0.
import { TlcError } from '../util/errors.js';

export const MIN_BITS = 2;
export const MAX_BITS = 8;
/** Bit width meaning "not quantized": float32. */
export const FLOAT_BITS = 32;

export function checkBits(what: string, bits: unknown, allowFloat = false): number {
  const ok = typeof bits === 'number' && Number.isInteger(bits) && ((bits >= MIN_BITS && bits <= MAX_BITS) || (allowFloat && bits === FLOAT_BITS));
  if (!ok) {
    throw new TlcError(`${what}: bits must be an integer from ${MIN_BITS} to ${MAX_BITS}${allowFloat ? ` (or ${FLOAT_BITS} for no quantization)` : ''}, got ${typeof bits === 'number' ? bits : JSON.stringify(bits)}`);
  }
  return bits as number;
}

export function maxCode(bits: number): number {
  return (1 << (bits - 1)) - 1;
}

/** Round to nearest integer, ties to even (as C's nearbyint in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // ties towards +∞
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

export interface QuantizedRows {
  /** Integer codes in [−qmax, qmax], row-major like the input. */
  codes: Int8Array;
  /** One float32 scale per row. */
  scales: Float32Array;
}

/** Quantizes `values` viewed as [rows, cols]. */
export function quantizeRows(values: Float32Array, rows: number, cols: number, bits: number): QuantizedRows {
  checkBits('quantize', bits);
  if (rows * cols !== values.length) throw new TlcError(`quantize: ${values.length} values do not form ${rows} rows of ${cols}`);
  const qmax = maxCode(bits);
  const codes = new Int8Array(values.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * cols, end = start + cols;
    let maxAbs = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i]);
      if (a > maxAbs) maxAbs = a;
    }
    if (Number.isNaN(maxAbs) || maxAbs === Infinity) throw new TlcError(`quantize: row ${r} holds a non-finite value`);
    const scale = Math.fround(maxAbs / qmax);
    scales[r] = scale;
    if (!(scale > 0)) continue; // all zeros: codes stay 0
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (v !== v) throw new TlcError(`quantize: row ${r} holds NaN`);
      const q = roundHalfEven(Math.fround(v / scale));
      codes[i] = q > qmax ? qmax : q < -qmax ? -qmax : q;
    }
  }
  return { codes, scales };
}

/** w' = q·scale per row, in float32; code 0 gives +0. */
export function dequantizeRows(codes: Int8Array, scales: Float32Array, rows: number, cols: number): Float32Array {
  if (rows * cols !== codes.length || scales.length !== rows) {
    throw new TlcError(`dequantize: ${codes.length} codes and ${scales.length} scales do not form ${rows} rows of ${cols}`);
  }
  const out = new Float32Array(codes.length);
  for (let r = 0; r < rows; r++) {
    const s = scales[r];
    for (let i = r * cols, end = i + cols; i < end; i++) out[i] = codes[i] === 0 ? 0 : codes[i] * s;
  }
  return out;
}
