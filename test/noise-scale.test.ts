// The online gradient-noise-scale estimate recovers tr(Σ)/|G|² from simulated gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/engine/random.js';
import { initialNoiseScale, updateNoiseScale } from '../src/train/noise-scale.js';

test('B_simple from small- and big-batch gradient norms matches tr(Σ)/|G|²', () => {
  const rng = new Rng(3);
  const dim = 50, sigma = 2;
  const G = Float64Array.from({ length: dim }, () => rng.normal() * 0.5);
  const gSq = G.reduce((a, x) => a + x * x, 0);
  const truth = (dim * sigma * sigma) / gSq;
  const mean = (n: number, into: Float64Array): void => {
    into.fill(0);
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) into[d] += (G[d] + sigma * rng.normal()) / n;
  };
  const s = initialNoiseScale();
  const small = new Float64Array(dim), rest = new Float64Array(dim);
  let estimate: number | null = null;
  for (let step = 0; step < 3000; step++) {
    // the big batch contains the small one, as with gradient accumulation
    mean(8, small);
    mean(24, rest);
    const big = small.map((x, d) => (8 * x + 24 * rest[d]) / 32);
    const sq = (v: Float64Array) => v.reduce((a, x) => a + x * x, 0);
    estimate = updateNoiseScale(s, 8, sq(small), 32, sq(big));
  }
  assert.ok(estimate !== null);
  assert.ok(Math.abs(estimate / truth - 1) < 0.15, `estimate ${estimate}, truth ${truth}`);
});
