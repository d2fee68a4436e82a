// Row gathers: embedding lookup and gatherRows. Kernels: native/src/embedding.cc.
// Backward scatter-adds rows into the table's gradient, deterministically (repeated ids
// are summed in position order whatever the thread count).
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expect, expectDtype, expectRank, fmtShape } from './check.js';

/**
 * out[..., :] = table[ids[...], :] for ids: i32 [...] and table: f32 [V, C]; the result
 * has shape [...ids.shape, C]. Every id must lie in [0, V).
 */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  const op = 'embedding';
  expectDtype(op, 'ids', ids, 'i32');
  expectDtype(op, 'table', table, 'f32');
  expectRank(op, 'ids', ids, [1, 7]);
  expectRank(op, 'table', table, 2);
  const [V, C] = table.shape;
  expect(C > 0, op, `table ${fmtShape(table.shape)} has no columns`);
  const n = ids.size;
  const out = empty([...ids.shape, C]);
  native.embeddingForward({ ids: ids.handle, table: table.handle, out: out.handle, n, vocab: V, channels: C });
  return record(op, [ids, table], out, (dout, grad) => {
    const dtable = grad(1);
    if (dtable) {
      native.embeddingBackward({ ids: ids.handle, dOut: dout.handle, dTable: dtable.handle, n, vocab: V, channels: C,
        accumulate: dtable.accumulate });
    }
  });
}

/**
 * out[m, :] = x[index[m], :] for x: f32 [N, C] and index: i32 [M]; the result is [M, C].
 * Used to run the output layer only at the positions that have a target.
 */
export function gatherRows(x: Tensor, index: Tensor): Tensor {
  const op = 'gatherRows';
  expectDtype(op, 'input', x, 'f32');
  expectDtype(op, 'index', index, 'i32');
  expectRank(op, 'input', x, 2);
  expectRank(op, 'index', index, 1);
  const [N, C] = x.shape;
  expect(C > 0, op, `input ${fmtShape(x.shape)} has no columns`);
  const M = index.size;
  const out = empty([M, C]);
  native.gatherRowsForward({ index: index.handle, x: x.handle, out: out.handle, m: M, rows: N, channels: C });
  return record(op, [x, index], out, (dout, grad) => {
    const dx = grad(0);
    if (dx) {
      native.gatherRowsBackward({ index: index.handle, dOut: dout.handle, dx: dx.handle, m: M, rows: N, channels: C,
        accumulate: dx.accumulate });
    }
  });
}
