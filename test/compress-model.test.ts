import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tidy, noGrad, type Tensor } from '../src/engine/index.js';
import { compressModel, writeCompressed, readCompressed, quantizeRows, dequantizeRows } from '../src/compress/index.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { presetConfig } from '../src/nn/config.js';
import { tempDir } from './temp-dir.js';

function bitsOf(t: Tensor): Uint32Array {
  const v = t.toFloat32Array();
  return new Uint32Array(v.buffer);
}

function withModel(fn: (model: TransformerLM) => void): void {
  const model = new TransformerLM(presetConfig('L2-D64', { vocab_size: 60, max_len: 16, dropout: 0 }), { seed: 3 });
  try {
    tidy(() => fn(model));
  } finally {
    model.dispose();
  }
}

const LINEAR = /(attn\.(qkv|out)|mlp\.fc[12]|lm_head\.dense)\.weight$/;

test('compressModel prunes and quantizes the linear weights, quantizes embeddings, leaves the rest bit-identical', () => {
  withModel((model) => {
    const params = new Map(model.namedParameters());
    const before = new Map([...params].map(([n, t]) => [n, bitsOf(t)]));
    const c = compressModel(params, { sparsity: 0.6, bits: 2 });
    for (const [name, t] of params) assert.deepEqual(bitsOf(t), before.get(name), `${name}: the input was modified`);

    for (const [name, original] of params) {
      const out = c.params.get(name)!;
      assert.deepEqual(out.shape, original.shape);
      const plan = c.plan.tensors.get(name);
      if (LINEAR.test(name)) {
        assert.equal(plan?.bits, 2, name);
        const mask = c.mask.masks.get(name)!;
        const w = original.toFloat32Array();
        let pruned = 0;
        for (let i = 0; i < mask.length; i++) {
          pruned += 1 - mask[i];
          if (!mask[i]) w[i] = 0;
        }
        assert.equal(pruned, Math.round(0.6 * w.length), `${name}: exact sparsity`);
        const [rows, cols] = original.shape;
        const q = quantizeRows(w, rows, cols, 2);
        assert.deepEqual(out.toFloat32Array(), dequantizeRows(q.codes, q.scales, rows, cols), name);
        assert.deepEqual(plan!.scales, q.scales);
        const v = out.toFloat32Array();
        for (let i = 0; i < mask.length; i++) if (!mask[i]) assert.ok(Object.is(v[i], 0), `${name}[${i}]: a pruned weight must stay +0`);
      } else if (name.endsWith('_emb.weight')) {
        assert.equal(plan?.bits, 4, `${name}: embeddings get at least 4 bits`);
        assert.ok(!c.mask.masks.has(name), 'embeddings are not pruned by default');
        const v = out.toFloat32Array(), cols = original.shape[1];
        for (let r = 0; r < original.shape[0]; r++) {
          assert.ok(new Set(v.subarray(r * cols, (r + 1) * cols)).size <= 15, `${name} row ${r}: more than 15 levels`);
        }
      } else {
        assert.equal(plan, undefined, name);
        assert.deepEqual(bitsOf(out), before.get(name), `${name} must be stored untouched`);
      }
    }
    assert.deepEqual(c.plan.settings, { sparsity: 0.6, bits: 2, pruning: 'layer', embedding_bits: 4 });
  });
});

test('embedding bits: default max(bits, 4), overridable, float32 when bits is 32; include/exclude and global mode', () => {
  withModel((model) => {
    const params = model.namedParameters();
    assert.equal(compressModel(params, { sparsity: 0, bits: 8 }).plan.tensors.get('tok_emb.weight')!.bits, 8);
    assert.equal(compressModel(params, { sparsity: 0, bits: 3, embeddingBits: 2 }).plan.tensors.get('pos_emb.weight')!.bits, 2);
    const f32 = compressModel(params, { sparsity: 0.5, bits: 32 });
    assert.equal(f32.plan.tensors.get('tok_emb.weight'), undefined);
    assert.deepEqual(f32.plan.tensors.get('blocks.0.mlp.fc1.weight'), { bits: 32, scales: null });
    assert.equal(compressModel(params, { sparsity: 0.5, bits: 32, embeddingBits: 6 }).plan.tensors.get('tok_emb.weight')!.bits, 6);

    const only = compressModel(params, { sparsity: 0.5, bits: 32, include: ['blocks.*.mlp.**'], exclude: [/bias$/] });
    assert.deepEqual([...only.mask.masks.keys()], ['blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.weight', 'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc2.weight']);

    const global = compressModel(params, { sparsity: 0.7, bits: 4, pruning: 'global' });
    const st = global.mask.stats();
    assert.equal(st.pruned, Math.round(0.7 * st.size));
    assert.ok(new Set(st.tensors.map((t) => t.sparsity.toFixed(3))).size > 1, 'global pruning gives tensors different sparsities');
  });
});

test('the compressed model evaluated in memory and after save → load gives identical logits', () => {
  withModel((model) => {
    const dir = tempDir('tlc-compress-model-');
    try {
      const batch = { batchSize: 2, seqLen: 8, inputIds: Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 60) };
      const logits = (): Float32Array => noGrad(() => tidy(() => model.logits(batch).toFloat32Array()));
      const dense = logits();
      for (const [sparsity, bits] of [[0, 32], [0.5, 8], [0.9, 4], [0.3, 32]]) {
        const c = compressModel(model.namedParameters(), { sparsity, bits });
        const path = join(dir, `m-${sparsity}-${bits}.safetensors`);
        writeCompressed(path, c.params, c.plan);
        const loaded = readCompressed(path);
        const saved = new Map(model.namedParameters().map(([n, p]) => [n, p.clone()]));
        try {
          for (const [n, p] of model.namedParameters()) p.copyFrom(c.params.get(n)!);
          const inMemory = logits();
          for (const [n, p] of model.namedParameters()) p.copyFrom(loaded.get(n)!);
          const fromFile = logits();
          assert.deepEqual(new Uint32Array(fromFile.buffer), new Uint32Array(inMemory.buffer), `s=${sparsity} bits=${bits}`);
          if (sparsity === 0 && bits === 32) assert.deepEqual(inMemory, dense);
          else assert.notDeepEqual(inMemory, dense);
        } finally {
          for (const [n, p] of model.namedParameters()) p.copyFrom(saved.get(n)!);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
