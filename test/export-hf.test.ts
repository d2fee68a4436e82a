// The Hugging Face folder: RoBERTa's and GPT-2's parameter names, shapes and config fields;
// GPT-2's weights, run through GPT-2's computation written out here from its definition,
// give tlc's logits; and every model without an exact equivalent is refused, naming why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../src/util/errors.js';
import { readSafetensorsRaw } from '../src/engine/safetensors.js';
import { exportRun } from '../src/export/export.js';
import type { ModelConfig } from '../src/nn/config.js';
import { maxDiffAtTokens, paddedBatch, randomRun, tinyConfig, tlcLogits, type PaddedBatch } from './export-fixture.js';
import { tempDir } from './temp-dir.js';

function outDir(): string {
  return join(tempDir('tlc-export-hf-'), 'hf');
}

function readTensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of readSafetensorsRaw(path).tensors) out.set(name, { shape: t.shape, data: t.data as Float32Array });
  return out;
}

test('a post-LN masked LM is written as RobertaForMaskedLM: names, shapes, positions, config, tokenizer', () => {
  const config = tinyConfig({ norm: 'post', n_layers: 1 });
  const { dir, model } = randomRun(config, 1);
  const out = outDir();
  const result = exportRun(dir, { format: 'hf', out });
  assert.equal(result.architecture, 'RobertaForMaskedLM');
  // the folder Hugging Face reads, and the marker of the run it was exported from
  assert.deepEqual(readdirSync(out).sort(), ['.tlc-output.json', 'config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const C = 32, F = 64, V = 300, T = 16;
  const tensors = readTensors(join(out, 'model.safetensors'));
  const L = 'roberta.encoder.layer.0.';
  const expected: Record<string, number[]> = {
    'roberta.embeddings.word_embeddings.weight': [V, C], 'roberta.embeddings.position_embeddings.weight': [T + 2, C],
    'roberta.embeddings.token_type_embeddings.weight': [1, C],
    'roberta.embeddings.LayerNorm.weight': [C], 'roberta.embeddings.LayerNorm.bias': [C],
    [`${L}attention.self.query.weight`]: [C, C], [`${L}attention.self.query.bias`]: [C],
    [`${L}attention.self.key.weight`]: [C, C], [`${L}attention.self.key.bias`]: [C],
    [`${L}attention.self.value.weight`]: [C, C], [`${L}attention.self.value.bias`]: [C],
    [`${L}attention.output.dense.weight`]: [C, C], [`${L}attention.output.dense.bias`]: [C],
    [`${L}attention.output.LayerNorm.weight`]: [C], [`${L}attention.output.LayerNorm.bias`]: [C],
    [`${L}intermediate.dense.weight`]: [F, C], [`${L}intermediate.dense.bias`]: [F],
    [`${L}output.dense.weight`]: [C, F], [`${L}output.dense.bias`]: [C],
    [`${L}output.LayerNorm.weight`]: [C], [`${L}output.LayerNorm.bias`]: [C],
    'lm_head.dense.weight': [C, C], 'lm_head.dense.bias': [C], 'lm_head.layer_norm.weight': [C], 'lm_head.layer_norm.bias': [C],
    'lm_head.bias': [V],
  };
  assert.deepEqual(Object.fromEntries([...tensors].map(([n, t]) => [n, t.shape])), expected);

  const params = new Map(model.namedParameters().map(([n, t]) => [n, t.toFloat32Array()]));
  // RoBERTa's positions start at padding_idx + 1 = 2: rows 0 and 1 are unused zeros
  const pos = tensors.get('roberta.embeddings.position_embeddings.weight')!.data;
  assert.ok(pos.subarray(0, 2 * C).every((x) => x === 0));
  assert.deepEqual(pos.subarray(2 * C), params.get('pos_emb.weight'));
  assert.ok(tensors.get('roberta.embeddings.token_type_embeddings.weight')!.data.every((x) => x === 0));
  // q, k, v are the three row blocks of the packed projection
  const qkv = params.get('blocks.0.attn.qkv.weight')!;
  assert.deepEqual(tensors.get(`${L}attention.self.key.weight`)!.data, qkv.subarray(C * C, 2 * C * C));
  assert.deepEqual(tensors.get(`${L}attention.output.LayerNorm.weight`)!.data, params.get('blocks.0.ln1.weight'));
  assert.deepEqual(tensors.get(`${L}output.LayerNorm.weight`)!.data, params.get('blocks.0.ln2.weight'));

  const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(hfConfig.model_type, 'roberta');
  assert.deepEqual(hfConfig.architectures, ['RobertaForMaskedLM']);
  assert.equal(hfConfig.max_position_embeddings, T + 2);
  assert.equal(hfConfig.hidden_act, 'gelu');
  assert.equal(hfConfig.type_vocab_size, 1);
  assert.equal(hfConfig.pad_token_id, 1);
  assert.equal(hfConfig.layer_norm_eps, config.layer_norm_eps);
  assert.equal(hfConfig.tie_word_embeddings, true);
  assert.deepEqual(readFileSync(join(out, 'tokenizer.json')), readFileSync(join(dir, 'tokenizer.json')));
  const tokConfig = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
  assert.equal(tokConfig.tokenizer_class, 'RobertaTokenizer');
  assert.equal(tokConfig.model_max_length, T);
  assert.deepEqual([tokConfig.bos_token, tokConfig.pad_token, tokConfig.eos_token, tokConfig.unk_token, tokConfig.mask_token],
    ['<s>', '<pad>', '</s>', '<unk>', '<mask>']);
  model.dispose();
});

test('a classifier is written as RobertaForSequenceClassification with its labels', () => {
  const config = tinyConfig({ norm: 'post', activation: 'gelu_tanh', labels: ['ham', 'spam'] });
  const { dir, model } = randomRun(config, 2);
  const out = outDir();
  assert.equal(exportRun(dir, { format: 'hf', out }).architecture, 'RobertaForSequenceClassification');
  const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(hfConfig.id2label, { 0: 'ham', 1: 'spam' });
  assert.deepEqual(hfConfig.label2id, { ham: 0, spam: 1 });
  assert.equal(hfConfig.hidden_act, 'gelu_new');
  const tensors = readTensors(join(out, 'model.safetensors'));
  assert.deepEqual(tensors.get('classifier.out_proj.weight')!.shape, [2, 32]);
  assert.deepEqual(tensors.get('classifier.dense.weight')!.data, model.namedParameters().find(([n]) => n === 'cls_head.dense.weight')![1].toFloat32Array());
  assert.ok(![...tensors.keys()].some((n) => n.startsWith('lm_head')));
  model.dispose();
});

/** GPT-2's forward pass from its Hugging Face weights, written from GPT-2's definition (Conv1D: x·W + b). */
function gpt2Logits(w: Map<string, { shape: number[]; data: Float32Array }>, c: ModelConfig, batch: PaddedBatch): Float32Array {
  const C = c.d_model, H = c.n_heads, Dh = C / H, V = c.vocab_size, { batchSize: B, seqLen: T } = batch;
  const get = (n: string): Float32Array => w.get(n)!.data;
  const conv1d = (x: Float64Array, rows: number, name: string): Float64Array => {
    const [nIn, nOut] = w.get(`${name}.weight`)!.shape, W = get(`${name}.weight`), b = get(`${name}.bias`);
    const y = new Float64Array(rows * nOut);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < nOut; o++) {
        let s = b[o];
        for (let i = 0; i < nIn; i++) s += x[r * nIn + i] * W[i * nOut + o];
        y[r * nOut + o] = s;
      }
    }
    return y;
  };
  const layerNorm = (x: Float64Array, rows: number, name: string): Float64Array => {
    const g = get(`${name}.weight`), b = get(`${name}.bias`), y = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * C, (r + 1) * C);
      const mean = row.reduce((a, v) => a + v, 0) / C;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / C;
      for (let i = 0; i < C; i++) y[r * C + i] = ((row[i] - mean) / Math.sqrt(variance + c.layer_norm_eps)) * g[i] + b[i];
    }
    return y;
  };
  const geluNew = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const rows = B * T;
  let h: Float64Array = new Float64Array(rows * C);
  const wte = get('transformer.wte.weight'), wpe = get('transformer.wpe.weight');
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < C; i++) h[r * C + i] = wte[batch.inputIds[r] * C + i] + wpe[(r % T) * C + i];
  }
  for (let l = 0; l < c.n_layers; l++) {
    const p = `transformer.h.${l}.`;
    const qkv = conv1d(layerNorm(h, rows, `${p}ln_1`), rows, `${p}attn.c_attn`);
    const ctx = new Float64Array(rows * C);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < H; hd++) {
        for (let t = 0; t < T; t++) {
          const scores: number[] = [];
          for (let j = 0; j <= t; j++) { // causal, and padding keys masked
            if (!batch.attentionMask[b * T + j]) continue;
            let s = 0;
            for (let d = 0; d < Dh; d++) s += qkv[(b * T + t) * 3 * C + hd * Dh + d] * qkv[(b * T + j) * 3 * C + C + hd * Dh + d];
            scores.push(j, s / Math.sqrt(Dh));
          }
          const max = Math.max(...scores.filter((_, k) => k % 2 === 1));
          let z = 0;
          for (let k = 1; k < scores.length; k += 2) z += Math.exp(scores[k] - max);
          for (let k = 0; k < scores.length; k += 2) {
            const pj = Math.exp(scores[k + 1] - max) / z, j = scores[k];
            for (let d = 0; d < Dh; d++) ctx[(b * T + t) * C + hd * Dh + d] += pj * qkv[(b * T + j) * 3 * C + 2 * C + hd * Dh + d];
          }
        }
      }
    }
    const attn = conv1d(ctx, rows, `${p}attn.c_proj`);
    h = h.map((v, i) => v + attn[i]);
    const mlp = conv1d(conv1d(layerNorm(h, rows, `${p}ln_2`), rows, `${p}mlp.c_fc`).map(geluNew), rows, `${p}mlp.c_proj`);
    h = h.map((v, i) => v + mlp[i]);
  }
  h = layerNorm(h, rows, 'transformer.ln_f');
  const logits = new Float32Array(rows * V); // lm_head tied to wte, no bias
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let i = 0; i < C; i++) s += h[r * C + i] * wte[v * C + i];
      logits[r * V + v] = s;
    }
  }
  return logits;
}

test('a pre-LN causal LM with tanh GELU is written as GPT2LMHeadModel, and GPT-2 computes tlc\'s logits', () => {
  const config = tinyConfig({ objective: 'clm', norm: 'pre', activation: 'gelu_tanh' });
  const { dir, model } = randomRun(config, 3);
  const out = outDir();
  assert.equal(exportRun(dir, { format: 'hf', out }).architecture, 'GPT2LMHeadModel');
  const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(hfConfig.model_type, 'gpt2');
  assert.equal(hfConfig.activation_function, 'gelu_new');
  assert.equal(hfConfig.n_positions, 16);
  assert.equal(hfConfig.n_inner, 64);
  const tensors = readTensors(join(out, 'model.safetensors'));
  assert.deepEqual(tensors.get('transformer.h.0.attn.c_attn.weight')!.shape, [32, 96], 'Conv1D weights are [in, out]');
  assert.deepEqual(tensors.get('transformer.h.1.mlp.c_proj.weight')!.shape, [64, 32]);
  assert.ok(!tensors.has('lm_head.weight'), 'the output layer is tied to wte');
  const batch = paddedBatch([8, 5], config.vocab_size, 4);
  const diff = maxDiffAtTokens(gpt2Logits(tensors, config, batch), tlcLogits(model, batch), config.vocab_size, batch.attentionMask);
  assert.ok(diff < 1e-4, `GPT-2 logits differ from tlc's by ${diff}`);
  model.dispose();
});

test('models without an exact equivalent are refused, naming what does not map, and nothing is written', () => {
  const cases: [Partial<ModelConfig>, 'hf' | 'onnx', RegExp][] = [
    [{ norm: 'pre' }, 'hf', /norm "pre" \(pre-LN\) has no Hugging Face equivalent.*RoBERTa-PreLayerNorm.*embeddings\.LayerNorm.*--format onnx exports this model exactly/],
    [{ norm: 'post', activation: 'gelu_tanh' }, 'hf', /activation "gelu_tanh" has no RoBERTa masked-LM equivalent: RobertaLMHead applies the erf GELU/],
    [{ objective: 'clm', norm: 'pre', activation: 'gelu' }, 'hf', /activation "gelu" \(erf\) has no GPT-2 equivalent/],
    [{ objective: 'clm', norm: 'post', activation: 'gelu_tanh' }, 'hf', /norm "post" \(post-LN\) has no GPT-2 equivalent/],
    [{ objective: 'clm', norm: 'pre', activation: 'gelu_tanh', labels: ['a', 'b'] }, 'hf', /GPT2ForSequenceClassification/],
    [{ objective: 'clm', norm: 'post', activation: 'gelu_tanh' }, 'onnx', /norm "post": tlc's ONNX decoder graph is GPT-2's pre-LN computation/],
  ];
  cases.forEach(([overrides, format, message], k) => {
    const { dir, model } = randomRun(tinyConfig(overrides), 20 + k);
    model.dispose();
    const out = outDir();
    assert.throws(() => exportRun(dir, { format, out }), (e: unknown) => e instanceof TlcError && message.test(e.message) && e.message.includes(join(dir, 'config.json')),
      `case ${k} (${format}, ${JSON.stringify(overrides)})`);
    assert.ok(!existsSync(out), 'nothing is written');
  });
});

test('a pre-LN masked LM exports to ONNX only: config.json says why, and no stale model.safetensors is left', () => {
  const { dir, model } = randomRun(tinyConfig({ norm: 'post' }), 30);
  model.dispose();
  const out = outDir();
  exportRun(dir, { format: 'hf', out });
  assert.ok(existsSync(join(out, 'model.safetensors')));
  const pre = randomRun(tinyConfig({ norm: 'pre' }), 31);
  pre.model.dispose();
  writeFileSync(join(out, 'README.md'), 'not ours\n');
  // an export of another model is refused, unless forced
  assert.throws(() => exportRun(pre.dir, { format: 'onnx', out }), /already holds an export of .*which this command did not create/);
  const result = exportRun(pre.dir, { format: 'onnx', out, force: true });
  assert.equal(result.architecture, null);
  assert.ok(!existsSync(join(out, 'model.safetensors')), 'the earlier export\'s weights are removed');
  assert.ok(existsSync(join(out, 'README.md')), 'files export does not write are left alone');
  const hfConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(hfConfig.model_type, 'roberta');
  assert.match(hfConfig.tlc_onnx_only.join(' '), /pre-LN/);
});
