// Linear layer and (batched) matmul on oneDNN. Kernels: native/src/linear.cc.
import { native } from '../native.js';
import { isGradEnabled, record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { activeBf16Weights } from '../mixed.js';
import { expect, expectDtype, expectRank, fmtShape, lastDim } from './check.js';

/**
 * y[..., N] = x[..., K] · w[N, K]ᵀ + b[N]. x is f32, or bf16 when w is multiplied in bf16
 * (its producer wrote the values the product would have cast: src/engine/mixed.ts).
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  const op = 'linear';
  expectDtype(op, 'input', x, ['f32', 'bf16']);
  expectDtype(op, 'weight', w, 'f32');
  expectRank(op, 'weight', w, 2);
  expectRank(op, 'input', x, [1, 8]);
  const [N, K] = w.shape;
  expect(lastDim(x) === K, op, `input ${fmtShape(x.shape)} does not match weight ${fmtShape(w.shape)}: last dim ${lastDim(x)} != ${K}`);
  if (b) {
    expectDtype(op, 'bias', b, 'f32');
    expect(b.shape.length === 1 && b.shape[0] === N, op, `bias ${fmtShape(b.shape)} does not match weight ${fmtShape(w.shape)}: expected [${N}]`);
  }
  const M = x.size / K;
  const y = empty([...x.shape.slice(0, -1), N]);
  expect(M > 0, op, `input ${fmtShape(x.shape)} is empty`);
  const wb = activeBf16Weights()?.get(w) ?? null;
  if (wb) return linearBf16(x, w, wb, b ?? null, y, M, K, N);
  expect(x.dtype === 'f32', op, `a bf16 input ${fmtShape(x.shape)} needs a weight multiplied in bf16 (bf16 training), and ${fmtShape(w.shape)} is not`);
  native.linearForward({ x: x.handle, w: w.handle, b: b ? b.handle : null, y: y.handle, m: M, k: K, n: N });
  return record(op, [x, w, b], y, (dy, grad) => {
    const dx = grad(0), dw = grad(1), db = grad(2);
    native.linearBackward({ dy: dy.handle, x: x.handle, w: w.handle, dx: dx?.handle ?? null, dw: dw?.handle ?? null,
      db: db?.handle ?? null, m: M, k: K, n: N,
      accumulateDx: dx?.accumulate ?? false, accumulateDw: dw?.accumulate ?? false, accumulateDb: db?.accumulate ?? false });
  });
}

/**
 * The bf16 path of `linear` (src/engine/mixed.ts): y = bf16(x) · wbᵀ + b with f32
 * accumulation, wb being w's bf16 copy. bf16(x) is kept for backward instead of x (a bf16
 * x is its own copy, kept alive by the tape); the gradients are f32 and w's goes to the f32
 * master weight.
 */
function linearBf16(x: Tensor, w: Tensor, wb: Tensor, b: Tensor | null, y: Tensor, M: number, K: number, N: number): Tensor {
  const saving = isGradEnabled() && (x.requiresGrad || w.requiresGrad || (b?.requiresGrad ?? false));
  const cast = saving && x.dtype === 'f32' ? empty([M, K], 'bf16') : null;
  native.linearBf16Forward({ x: x.handle, w: wb.handle, b: b ? b.handle : null, y: y.handle, xBf16: cast?.handle ?? null, m: M, k: K, n: N });
  const xb = cast ?? x;
  return record('linear', [x, w, b], y, (dy, grad) => {
    const dx = grad(0), dw = grad(1), db = grad(2);
    native.linearBf16Backward({ dy: dy.handle, x: xb.handle, w: wb.handle, dx: dx?.handle ?? null, dw: dw?.handle ?? null,
      db: db?.handle ?? null, m: M, k: K, n: N,
      accumulateDx: dx?.accumulate ?? false, accumulateDw: dw?.accumulate ?? false, accumulateDb: db?.accumulate ?? false });
  }, cast ? [cast] : []);
}

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

/**
 * C[..., M, N] = op(A)[..., M, K] · op(B)[..., K, N] for rank-2 or rank-3 operands
 * with equal batch size; op(X) = Xᵀ (last two dims) when the transpose flag is set.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  const ta = opts.transposeA ?? false, tb = opts.transposeB ?? false;
  expectDtype(op, 'a', a, 'f32');
  expectDtype(op, 'b', b, 'f32');
  expectRank(op, 'a', a, [2, 3]);
  expectRank(op, 'b', b, [2, 3]);
  expect(a.shape.length === b.shape.length, op, `a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} must have the same rank`);
  const batch = a.shape.length === 3 ? a.shape[0] : 1;
  expect(a.shape.length === 2 || b.shape[0] === batch, op, `batch sizes differ: a ${fmtShape(a.shape)}, b ${fmtShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2), [br, bc] = b.shape.slice(-2);
  const [M, K] = ta ? [ac, ar] : [ar, ac];
  const [K2, N] = tb ? [bc, br] : [br, bc];
  expect(K === K2, op, `inner dimensions differ: a ${fmtShape(a.shape)}${ta ? 'ᵀ' : ''} · b ${fmtShape(b.shape)}${tb ? 'ᵀ' : ''}`);
  const c = empty(a.shape.length === 3 ? [batch, M, N] : [M, N]);
  native.matmul({ a: a.handle, b: b.handle, c: c.handle, batch, m: M, k: K, n: N, transA: ta, transB: tb, accumulate: false });
  return record(op, [a, b], c, (dc, grad) => {
    const da = grad(0), db = grad(1);
    // dA = dC · op(B)ᵀ (stored transposed if A was), dB = op(A)ᵀ · dC (likewise)
    if (da) {
      if (ta) native.matmul({ a: b.handle, b: dc.handle, c: da.handle, batch, m: K, k: N, n: M, transA: tb, transB: true, accumulate: da.accumulate });
      else native.matmul({ a: dc.handle, b: b.handle, c: da.handle, batch, m: M, k: N, n: K, transA: false, transB: !tb, accumulate: da.accumulate });
    }
    if (db) {
      if (tb) native.matmul({ a: dc.handle, b: a.handle, c: db.handle, batch, m: N, k: M, n: K, transA: true, transB: ta, accumulate: db.accumulate });
      else native.matmul({ a: a.handle, b: dc.handle, c: db.handle, batch, m: K, k: M, n: N, transA: !ta, transB: false, accumulate: db.accumulate });
    }
  });
}
