// Shared test utilities: seeded random tensors and gradcheck assertions.
import assert from 'node:assert/strict';
import { Rng, tensor, gradcheck, type Tensor, type GradcheckOptions } from '../src/engine/index.js';

export function randn(shape: number[], seed: number, scale = 1): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale;
  return tensor(data, shape);
}

export function randint(shape: number[], high: number, seed: number): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.int(high);
  return tensor(data, shape, 'i32');
}

export function assertGradcheck(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const r = gradcheck(fn, inputs, opts);
  assert.ok(r.probes > 0, `${name}: no element was probed`);
  assert.ok(r.ok, `${name}: gradient mismatch ${JSON.stringify(r.worst)} (ratio ${r.worstRatio.toFixed(2)})`);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
