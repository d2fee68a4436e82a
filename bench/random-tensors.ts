import { Rng, tensor, type Tensor } from '../src/engine/index.js';

export function randnTensor(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return tensor(data, shape);
}
