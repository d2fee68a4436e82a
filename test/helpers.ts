// Shared test utilities: seeded random tensors and gradcheck assertions.
import assert from 'node:assert/strict';
import { Rng, tensor, gradcheck, type Tensor, type GradcheckOptions } from '../src/engine/index.js';
import { bf16Unavailable } from '../src/engine/mixed.js';
import { describeKernel, kernelForCompressed } from '../src/infer/pack.js';

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

// float64 reference: y = x·Wᵀ + b
export function linearRef(x: Float32Array, w: Float32Array, b: Float32Array | null, M: number, K: number, N: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  return y;
}

/**
 * For `test(name, { skip: noBf16() }, ...)`: why bf16 products cannot run on this CPU (or at
 * this TLC_MAX_ISA), or false where they can. Tests of what happens without them run there.
 */
export function noBf16(): string | false {
  return bf16Unavailable('bf16') ?? false;
}

/**
 * The kernels string (e.g. "int8×10") of a compressed setting whose linear weights all have these
 * bits and density, as this process's measured kernel speeds choose them (src/infer/kernel-speed.ts):
 * `tlc compress` run in this process made the same choice.
 */
export function kernelsOf(bits: number, density: number): RegExp {
  return new RegExp(`^${describeKernel(kernelForCompressed(bits, density))}×\\d+$`);
}
