import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, linear, backward, TlcError, type Tensor } from '../src/engine/index.js';
import {
  magnitudePrune, recomputeMask, cubicSparsity, selectTensors, isLinearWeight, isEmbedding, PruningMask,
} from '../src/compress/index.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { presetConfig } from '../src/nn/config.js';
import { randn } from './helpers.js';

function named(entries: [string, number[], number[]][]): Map<string, Tensor> {
  return new Map(entries.map(([n, shape, data]) => [n, tensor(Float32Array.from(data), shape)]));
}

function kept(mask: PruningMask, name: string): number[] {
  return Array.from(mask.masks.get(name)!);
}

test('default selection: linear weight matrices only; include/exclude patterns change it', () => {
  const model = new TransformerLM(presetConfig('L2-D64', { vocab_size: 50, max_len: 16 }));
  try {
    const shapes = model.namedParameters().map(([n, t]) => [n, t.shape] as [string, readonly number[]]);
    const sel = selectTensors(shapes);
    assert.deepEqual(sel, [
      'blocks.0.attn.qkv.weight', 'blocks.0.attn.out.weight', 'blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.weight',
      'blocks.1.attn.qkv.weight', 'blocks.1.attn.out.weight', 'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc2.weight',
      'lm_head.dense.weight',
    ]);
    assert.ok(isLinearWeight('head.dense.weight', [2, 64]) && isLinearWeight('head.out.weight', [2, 64]));
    assert.ok(isEmbedding('tok_emb.weight', [50, 64]) && isEmbedding('pos_emb.weight', [16, 64]));
    assert.ok(!isLinearWeight('tok_emb.weight', [50, 64]) && !isLinearWeight('blocks.0.ln1.weight', [64]));
    assert.deepEqual(selectTensors(shapes, { exclude: ['lm_head.**', /attn/] }),
      ['blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.weight', 'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc2.weight']);
    assert.deepEqual(selectTensors(shapes, { include: ['blocks.*.mlp.fc?.weight', '*_emb.weight'], exclude: ['blocks.1.**'] }),
      ['tok_emb.weight', 'pos_emb.weight', 'blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.weight']);
    // `*` stays inside one segment.
    assert.deepEqual(selectTensors(shapes, { include: ['blocks.*.weight'] }), []);
    assert.throws(() => selectTensors(shapes, { include: [''] }), /include: a name pattern must be a non-empty string or a RegExp/);
  } finally {
    model.dispose();
  }
});

test('per-layer pruning prunes exactly round(s·n) weights of each tensor, smallest magnitudes first', () => {
  tidy(() => {
    const params = new Map<string, Tensor>([
      ['a.weight', randn([7, 13], 1)], ['b.weight', randn([5, 3], 2)], ['c.weight', randn([1, 1], 3)], ['ln.weight', randn([13], 4)],
    ]);
    for (const s of [0, 0.1, 0.3, 0.5, 0.77, 0.9, 0.99]) {
      const mask = magnitudePrune(params, { sparsity: s });
      assert.deepEqual([...mask.masks.keys()], ['a.weight', 'b.weight', 'c.weight']);
      for (const st of mask.stats().tensors) {
        assert.equal(st.pruned, Math.round(s * st.size), `s=${s} ${st.name}`);
        // Every pruned magnitude ≤ every kept magnitude.
        const w = params.get(st.name)!.toFloat32Array(), m = mask.masks.get(st.name)!;
        let maxPruned = -1, minKept = Infinity;
        for (let i = 0; i < w.length; i++) {
          if (m[i]) minKept = Math.min(minKept, Math.abs(w[i]));
          else maxPruned = Math.max(maxPruned, Math.abs(w[i]));
        }
        assert.ok(maxPruned <= minKept, `s=${s} ${st.name}: pruned ${maxPruned} > kept ${minKept}`);
      }
    }
  });
});

test('global pruning: one threshold over all selected tensors (hand example), exact overall sparsity', () => {
  tidy(() => {
    const params = named([
      ['a.weight', [2, 2], [0.1, 0.2, -0.3, 0.4]],
      ['b.weight', [2, 2], [1, -2, 3, 0.05]],
    ]);
    const global = magnitudePrune(params, { sparsity: 0.5, mode: 'global' });
    assert.deepEqual(kept(global, 'a.weight'), [0, 0, 0, 1]);
    assert.deepEqual(kept(global, 'b.weight'), [1, 1, 1, 0]);
    assert.equal(global.stats().sparsity, 0.5);
    const layer = magnitudePrune(params, { sparsity: 0.5, mode: 'layer' });
    assert.deepEqual(kept(layer, 'a.weight'), [0, 0, 1, 1]);
    assert.deepEqual(kept(layer, 'b.weight'), [0, 1, 1, 0]);

    const big = new Map<string, Tensor>([['x.weight', randn([31, 17], 5, 0.1)], ['y.weight', randn([8, 64], 6, 2)], ['z.weight', randn([3, 3], 7)]]);
    for (const s of [0.25, 0.5, 0.9]) {
      const m = magnitudePrune(big, { sparsity: s, mode: 'global' });
      const st = m.stats();
      assert.equal(st.pruned, Math.round(s * st.size));
      let maxPruned = -1, minKept = Infinity;
      for (const [name, mk] of m.masks) {
        const w = big.get(name)!.toFloat32Array();
        for (let i = 0; i < w.length; i++) {
          if (mk[i]) minKept = Math.min(minKept, Math.abs(w[i]));
          else maxPruned = Math.max(maxPruned, Math.abs(w[i]));
        }
      }
      assert.ok(maxPruned <= minKept);
      // The small-scale tensor is pruned far more than the large-scale one.
      const [x, y] = st.tensors;
      assert.ok(x.sparsity > y.sparsity, `s=${s}: ${x.sparsity} vs ${y.sparsity}`);
    }
  });
});

test('ties are broken by position, so the sparsity is exact and the mask deterministic', () => {
  tidy(() => {
    const params = named([['t.weight', [1, 5], [1, 1, -1, 1, 1]], ['u.weight', [2, 2], [-1, 1, -1, 1]]]);
    const m = magnitudePrune(params, { sparsity: 0.4 });
    assert.deepEqual(kept(m, 't.weight'), [0, 0, 1, 1, 1]);
    assert.deepEqual(kept(m, 'u.weight'), [0, 0, 1, 1]); // round(0.4·4) = 2
    const g = magnitudePrune(params, { sparsity: 0.5, mode: 'global' }); // round(4.5) = 5 of 9 weights
    assert.deepEqual(kept(g, 't.weight'), [0, 0, 0, 0, 0]);
    assert.deepEqual(kept(g, 'u.weight'), [1, 1, 1, 1]);
    // ±0 tie with each other; infinities are never the smallest.
    const z = magnitudePrune(named([['z.weight', [1, 4], [Infinity, -0, 0, -Infinity]]]), { sparsity: 0.25 });
    assert.deepEqual(kept(z, 'z.weight'), [1, 0, 1, 1]);
  });
});

test('mask.apply zeroes pruned weights in place; maskGradients zeroes their gradients only', () => {
  tidy(() => {
    const w = randn([6, 10], 1), x = randn([4, 10], 2), dy = randn([4, 6], 3);
    const original = w.toFloat32Array();
    const params = new Map([['fc.weight', w]]);
    const mask = magnitudePrune(params, { sparsity: 0.6 });
    assert.deepEqual(w.toFloat32Array(), original, 'magnitudePrune does not modify the weights');
    mask.apply(params);
    const m = mask.masks.get('fc.weight')!;
    const after = w.toFloat32Array();
    for (let i = 0; i < after.length; i++) assert.equal(after[i], m[i] ? original[i] : 0);

    w.requiresGrad = true;
    backward(linear(x, w), dy);
    const grad = w.grad!.toFloat32Array();
    assert.ok(grad.every((g, i) => m[i] === 1 || g !== 0), 'pruned positions have nonzero gradients before masking');
    mask.maskGradients(params);
    const masked = w.grad!.toFloat32Array();
    for (let i = 0; i < masked.length; i++) assert.equal(masked[i], m[i] ? grad[i] : 0);

    assert.throws(() => mask.apply(new Map([['other.weight', w]])), /PruningMask.apply: the mask covers 'fc.weight', which is not among the parameters/);
    assert.throws(() => mask.apply(new Map([['fc.weight', randn([3, 3], 4)]])), /has 60 elements, the tensor \[3, 3\] has 9/);
  });
});

test('gradual pruning is monotone: once pruned, stays pruned; a lower target keeps the earlier mask', () => {
  tidy(() => {
    const params = new Map<string, Tensor>([['a.weight', randn([16, 16], 1)], ['b.weight', randn([8, 32], 2)]]);
    let mask = magnitudePrune(params, { sparsity: 0.5, mode: 'global' });
    mask.apply(params);
    // Training moves weights: pruned positions regrow (without maskGradients) to large values.
    for (const [name, t] of params) {
      const v = t.toFloat32Array(), m = mask.masks.get(name)!;
      for (let i = 0; i < v.length; i++) if (!m[i]) v[i] = 10 + i;
      t.write(v);
    }
    const next = recomputeMask(params, mask, 0.7);
    assert.equal(next.mode, 'global');
    assert.equal(next.stats().pruned, Math.round(0.7 * 512));
    for (const [name, m] of mask.masks) {
      const n = next.masks.get(name)!;
      for (let i = 0; i < m.length; i++) if (!m[i]) assert.equal(n[i], 0, `${name}[${i}] was pruned and must stay pruned`);
    }
    const lower = recomputeMask(params, next, 0.3);
    assert.deepEqual([...lower.masks.values()], [...next.masks.values()]);
    mask = next;
    // Per-layer mode, same property.
    const layer = magnitudePrune(params, { sparsity: 0.2, previous: magnitudePrune(params, { sparsity: 0.1 }) });
    assert.equal(layer.stats().tensors[0].pruned, Math.round(0.2 * 256));
    assert.throws(() => magnitudePrune(params, { sparsity: 0.5, previous: mask, exclude: ['b.*'] }), /earlier mask covers 'b.weight'/);
  });
});

test('cubic sparsity schedule (Zhu & Gupta 2017): endpoints, midpoint, outside the ramp', () => {
  const opts = { initial: 0, final: 0.8, startStep: 100, endStep: 200 };
  assert.equal(cubicSparsity(100, opts), 0);
  assert.equal(cubicSparsity(200, opts), 0.8);
  assert.ok(Math.abs(cubicSparsity(150, opts) - (0.8 - 0.8 * 0.125)) < 1e-12);
  assert.equal(cubicSparsity(0, opts), 0);
  assert.equal(cubicSparsity(1000, opts), 0.8);
  const withInitial = { initial: 0.2, final: 0.9, startStep: 0, endStep: 10 };
  assert.ok(Math.abs(cubicSparsity(5, withInitial) - (0.9 - 0.7 * 0.125)) < 1e-12);
  // Monotone non-decreasing over the ramp, fastest at the start.
  let prev = -1, prevDelta = Infinity;
  for (let t = 100; t <= 200; t += 10) {
    const s = cubicSparsity(t, opts);
    assert.ok(s >= prev);
    if (prev >= 0) {
      assert.ok(s - prev <= prevDelta + 1e-12);
      prevDelta = s - prev;
    }
    prev = s;
  }
  assert.throws(() => cubicSparsity(5, { ...opts, final: 1 }), /sparsity must be a number in \[0, 1\), got 1/);
  assert.throws(() => cubicSparsity(5, { ...opts, endStep: 100 }), /endStep must be after startStep/);
});

test('bad input: sparsity outside [0, 1), unknown mode, NaN weights', () => {
  tidy(() => {
    const params = new Map([['a.weight', randn([4, 4], 1)]]);
    for (const s of [1, -0.1, 1.5, NaN]) {
      assert.throws(() => magnitudePrune(params, { sparsity: s }), (e: Error) => e instanceof TlcError && /magnitudePrune: sparsity must be a number in \[0, 1\)/.test(e.message));
    }
    assert.throws(() => magnitudePrune(params, { sparsity: 0.5, mode: 'rows' as 'layer' }), /mode must be 'layer' or 'global', got "rows"/);
    const nan = named([['n.weight', [1, 3], [1, NaN, 2]]]);
    assert.throws(() => magnitudePrune(nan, { sparsity: 0.5 }), /tensor 'n.weight' holds NaN at flat index 1/);
  });
});
