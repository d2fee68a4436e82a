// Argument checks shared by the op wrappers: each failure names the op, the argument
// and the shapes involved.
import { TlcError, fmtShape } from '../../util/errors.js';
import type { DType, Tensor } from '../tensor.js';

export function expectDtype(op: string, name: string, t: Tensor, dtype: DType | DType[]): void {
  const allowed = Array.isArray(dtype) ? dtype : [dtype];
  if (!allowed.includes(t.dtype)) {
    throw new TlcError(`${op}: ${name} ${fmtShape(t.shape)} has dtype ${t.dtype}, expected ${allowed.join(' or ')}`);
  }
  if (t.disposed) throw new TlcError(`${op}: ${name} ${fmtShape(t.shape)} was used after it was disposed`);
}

/** `out` names a dtype a producer can write (src/engine/mixed.ts ActivationDtype). */
export function expectActivationDtype(op: string, out: unknown): void {
  if (out !== 'f32' && out !== 'bf16') throw new TlcError(`${op}: out must be 'f32' or 'bf16', got ${JSON.stringify(out)}`);
}

export function expectRank(op: string, name: string, t: Tensor, rank: number | [number, number]): void {
  const [lo, hi] = typeof rank === 'number' ? [rank, rank] : rank;
  if (t.shape.length < lo || t.shape.length > hi) {
    const want = lo === hi ? `${lo}` : `${lo} to ${hi}`;
    throw new TlcError(`${op}: ${name} must have rank ${want}, got shape ${fmtShape(t.shape)}`);
  }
}

export function expectSameShape(op: string, names: [string, string], a: Tensor, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new TlcError(`${op}: ${names[0]} ${fmtShape(a.shape)} and ${names[1]} ${fmtShape(b.shape)} must have the same shape`);
  }
}

export function expect(cond: boolean, op: string, message: string): asserts cond {
  if (!cond) throw new TlcError(`${op}: ${message}`);
}

export function lastDim(t: Tensor): number {
  return t.shape[t.shape.length - 1];
}

export { fmtShape };
