// Element-wise ops. Kernels: native/src/elementwise.cc.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { expectDtype, expectSameShape } from './check.js';

/** out = a + b (same shape): the residual connection. */
export function add(a: Tensor, b: Tensor): Tensor {
  expectDtype('add', 'a', a, 'f32');
  expectDtype('add', 'b', b, 'f32');
  expectSameShape('add', ['a', 'b'], a, b);
  const out = empty(a.shape);
  native.add({ a: a.handle, b: b.handle, out: out.handle, n: a.size });
  return record('add', [a, b], out, (g, grad) => {
    for (const k of [0, 1]) {
      const d = grad(k);
      if (d) native.accumulate({ dst: d.handle, src: g.handle, n: g.size, accumulate: d.accumulate });
    }
  });
}

/** out = alpha · x */
export function scale(x: Tensor, alpha: number): Tensor {
  expectDtype('scale', 'input', x, 'f32');
  const out = empty(x.shape);
  native.accumulate({ dst: out.handle, src: x.handle, n: x.size, accumulate: false, alpha });
  return record('scale', [x], out, (g, grad) => {
    const d = grad(0);
    if (d) native.accumulate({ dst: d.handle, src: g.handle, n: g.size, accumulate: d.accumulate, alpha });
  });
}
