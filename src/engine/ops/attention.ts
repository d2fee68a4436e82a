// Fused scaled-dot-product attention (multi-head core, no projections). Kernels:
// native/src/attention.cc. Only the per-row log-sum-exp is saved for backward; the
// attention probabilities are recomputed there, so memory stays O(B·T·C).
import { native, type AttentionShape, type NativeHandle } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectDtype, expectRank, fmtShape } from './check.js';

export interface AttentionOptions {
  /** Query t sees keys j ≤ t + (Tk − Tq): aligned to the end (j ≤ t when Tq = Tk). */
  causal?: boolean;
  /** u8 [B, Tk]: 1 = real token, 0 = padding (never attended to). */
  keyPaddingMask?: Tensor | null;
  /** Multiplies q·k; default 1/√(head size). */
  scale?: number;
}

/** Token-row layout of q, k or v inside its tensor: element (b, t, c) is at offset + (b·T + t)·stride + c. */
interface Rows {
  offset: number;
  stride: number;
}

interface Problem {
  B: number;
  Tq: number;
  Tk: number;
  H: number;
  Dh: number;
  causal: boolean;
  scale: number;
  mask: Tensor | null;
}

function checkHeads(op: string, heads: number, C: number, what: string): number {
  expect(Number.isInteger(heads) && heads >= 1, op, `heads must be a positive integer, got ${heads}`);
  expect(C % heads === 0, op, `${what} is not divisible by ${heads} heads`);
  return C / heads;
}

function checkOptions(op: string, opts: AttentionOptions, B: number, Tk: number, Dh: number): Pick<Problem, 'causal' | 'scale' | 'mask'> {
  const scale = opts.scale ?? 1 / Math.sqrt(Dh);
  expect(typeof scale === 'number' && Number.isFinite(scale), op, `scale must be a finite number, got ${opts.scale}`);
  const mask = opts.keyPaddingMask ?? null;
  if (mask) {
    expectDtype(op, 'keyPaddingMask', mask, 'u8');
    expect(mask.shape.length === 2 && mask.shape[0] === B && mask.shape[1] === Tk, op,
      `keyPaddingMask ${fmtShape(mask.shape)} must have shape [${B}, ${Tk}] (batch, keys)`);
  }
  return { causal: opts.causal ?? false, scale, mask };
}

/** The native description of a problem and its operands' row layouts. */
function shape(p: Problem, [rq, rk, rv]: [Rows, Rows, Rows]): AttentionShape {
  return {
    batch: p.B, tq: p.Tq, tk: p.Tk, heads: p.H, headSize: p.Dh,
    qOffset: rq.offset, qStride: rq.stride, kOffset: rk.offset, kStride: rk.stride, vOffset: rv.offset, vStride: rv.stride,
    causal: p.causal, scale: p.scale,
  };
}

function forward(p: Problem, q: NativeHandle, k: NativeHandle, v: NativeHandle, rows: [Rows, Rows, Rows]): { out: Tensor; lse: Tensor } {
  const out = empty([p.B, p.Tq, p.H * p.Dh]);
  const lse = empty([p.B, p.H, p.Tq]);
  native.attentionForward({ q, k, v, out: out.handle, lse: lse.handle, keyMask: p.mask ? p.mask.handle : null, ...shape(p, rows) });
  return { out, lse };
}

interface GradDest {
  handle: NativeHandle;
  accumulate: boolean;
}

function backwardCall(p: Problem, dOut: Tensor, inputs: [NativeHandle, NativeHandle, NativeHandle], out: Tensor, lse: Tensor,
  grads: [GradDest | null, GradDest | null, GradDest | null], rows: [Rows, Rows, Rows]): void {
  const [dq, dk, dv] = grads;
  native.attentionBackward({
    dOut: dOut.handle, q: inputs[0], k: inputs[1], v: inputs[2], out: out.handle, lse: lse.handle,
    keyMask: p.mask ? p.mask.handle : null, dq: dq?.handle ?? null, dk: dk?.handle ?? null, dv: dv?.handle ?? null,
    ...shape(p, rows),
    accumulateDq: dq?.accumulate ?? false, accumulateDk: dk?.accumulate ?? false, accumulateDv: dv?.accumulate ?? false,
  });
}

/**
 * Multi-head attention: q [B, Tq, C], k and v [B, Tk, C] with C = heads·Dh (head h owns
 * columns h·Dh .. (h+1)·Dh−1) → [B, Tq, C]. A query with no visible key outputs zeros.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const op = 'attention';
  for (const [name, t] of [['q', q], ['k', k], ['v', v]] as const) {
    expectDtype(op, name, t, 'f32');
    expectRank(op, name, t, 3);
  }
  const [B, Tq, C] = q.shape;
  const Tk = k.shape[1];
  expect(B > 0 && Tq > 0 && C > 0, op, `q ${fmtShape(q.shape)} is empty`);
  expect(Tk > 0, op, `k ${fmtShape(k.shape)} is empty`);
  expect(k.shape[0] === B && k.shape[2] === C, op,
    `k ${fmtShape(k.shape)} does not match q ${fmtShape(q.shape)}: expected [${B}, Tk, ${C}]`);
  expect(v.shape[0] === k.shape[0] && v.shape[1] === Tk && v.shape[2] === C, op,
    `v ${fmtShape(v.shape)} does not match k ${fmtShape(k.shape)}: expected the same shape`);
  const Dh = checkHeads(op, heads, C, `q ${fmtShape(q.shape)}: model dim ${C}`);
  const p: Problem = { B, Tq, Tk, H: heads, Dh, ...checkOptions(op, opts, B, Tk, Dh) };
  const contiguous: Rows = { offset: 0, stride: C };
  const rows: [Rows, Rows, Rows] = [contiguous, contiguous, contiguous];
  const { out, lse } = forward(p, q.handle, k.handle, v.handle, rows);
  return record(op, [q, k, v], out, (dOut, grad) => {
    // grad() order matters when q, k, v are one tensor: the first call overwrites, later ones
    // add, and the kernel finishes dq, dk, dv in that same order.
    const dq = grad(0), dk = grad(1), dv = grad(2);
    backwardCall(p, dOut, [q.handle, k.handle, v.handle], out, lse, [dq, dk, dv], rows);
  }, [lse]);
}

/**
 * Self-attention on the packed output of one fused QKV projection: qkv [B, T, 3C], each
 * token row [q (all heads) | k | v], → [B, T, C]. q, k and v are read in place (no copy);
 * the gradient is written into one [B, T, 3C] tensor.
 */
export function selfAttention(qkv: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const op = 'selfAttention';
  expectDtype(op, 'qkv', qkv, 'f32');
  expectRank(op, 'qkv', qkv, 3);
  const [B, T, C3] = qkv.shape;
  expect(B > 0 && T > 0 && C3 > 0, op, `qkv ${fmtShape(qkv.shape)} is empty`);
  expect(C3 % 3 === 0, op, `qkv ${fmtShape(qkv.shape)}: last dim ${C3} is not 3·C (q | k | v)`);
  const C = C3 / 3;
  const Dh = checkHeads(op, heads, C, `qkv ${fmtShape(qkv.shape)}: model dim ${C}`);
  const p: Problem = { B, Tq: T, Tk: T, H: heads, Dh, ...checkOptions(op, opts, B, T, Dh) };
  const rows: [Rows, Rows, Rows] = [{ offset: 0, stride: C3 }, { offset: C, stride: C3 }, { offset: 2 * C, stride: C3 }];
  const { out, lse } = forward(p, qkv.handle, qkv.handle, qkv.handle, rows);
  return record(op, [qkv], out, (dOut, grad) => {
    // one gradient tensor; the dq, dk, dv column ranges of each row are disjoint
    const d = grad(0);
    const h = qkv.handle;
    if (d) backwardCall(p, dOut, [h, h, h], out, lse, [d, d, d], rows);
  }, [lse]);
}

/**
 * Attention of q [B, Tq, C] over keys and values packed as the output of one fused KV
 * projection: kv [B, Tk, 2C], each row [k (all heads) | v] → [B, Tq, C]. Encoder–decoder
 * cross-attention (and cached decoding) reads k and v in place; the gradient of kv is
 * written into one [B, Tk, 2C] tensor.
 */
export function crossAttention(q: Tensor, kv: Tensor, heads: number, opts: AttentionOptions = {}): Tensor {
  const op = 'crossAttention';
  expectDtype(op, 'q', q, 'f32');
  expectDtype(op, 'kv', kv, 'f32');
  expectRank(op, 'q', q, 3);
  expectRank(op, 'kv', kv, 3);
  const [B, Tq, C] = q.shape;
  const Tk = kv.shape[1];
  expect(B > 0 && Tq > 0 && C > 0, op, `q ${fmtShape(q.shape)} is empty`);
  expect(Tk > 0, op, `kv ${fmtShape(kv.shape)} is empty`);
  expect(kv.shape[0] === B && kv.shape[2] === 2 * C, op,
    `kv ${fmtShape(kv.shape)} does not match q ${fmtShape(q.shape)}: expected [${B}, Tk, ${2 * C}] (k | v)`);
  const Dh = checkHeads(op, heads, C, `q ${fmtShape(q.shape)}: model dim ${C}`);
  const p: Problem = { B, Tq, Tk, H: heads, Dh, ...checkOptions(op, opts, B, Tk, Dh) };
  const rows: [Rows, Rows, Rows] = [{ offset: 0, stride: C }, { offset: 0, stride: 2 * C }, { offset: C, stride: 2 * C }];
  const { out, lse } = forward(p, q.handle, kv.handle, kv.handle, rows);
  return record(op, [q, kv], out, (dOut, grad) => {
    // dk and dv are the disjoint column halves of one gradient tensor
    const dq = grad(0), dkv = grad(1);
    backwardCall(p, dOut, [q.handle, kv.handle, kv.handle], out, lse, [dq, dkv, dkv], rows);
  }, [lse]);
}
