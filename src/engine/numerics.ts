// Optional NaN/Inf detection after every op (TLC_CHECK_NUMERICS=1 or setCheckNumerics).
// It names the first op whose output is not finite, which is where a divergence starts.
import { native } from './native.js';
import { TlcError, fmtShape } from '../util/errors.js';
import type { Tensor } from './tensor.js';

let enabled = process.env.TLC_CHECK_NUMERICS === '1';

export function setCheckNumerics(on: boolean): void {
  enabled = on;
}

export function checkFinite(op: string, t: Tensor, force = false): void {
  if ((!enabled && !force) || t.dtype !== 'f32') return;
  const i = native.firstNonFinite(t.handle, t.size);
  if (i >= 0) {
    const v = t.toFloat32Array()[i];
    throw new TlcError(`${op}: produced a non-finite value (${v}) at flat index ${i} of its ${fmtShape(t.shape)} result`);
  }
}

/** Throws if any element of `t` is NaN or ±Inf (always, regardless of the setting). */
export function assertFinite(what: string, t: Tensor): void {
  checkFinite(what, t, true);
}

/** The flat index of the first NaN or ±Inf in an f32 tensor, and its value; null when all are finite (or it is not f32). */
export function firstNonFinite(t: Tensor): { index: number; value: number } | null {
  if (t.dtype !== 'f32') return null;
  const i = native.firstNonFinite(t.handle, t.size);
  return i < 0 ? null : { index: i, value: t.toFloat32Array()[i] };
}
