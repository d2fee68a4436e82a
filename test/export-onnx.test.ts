// ONNX export: onnxruntime runs the exported graphs of tiny random-weight models — masked LM
// and classifier, pre- and post-LN, both GELUs — and the float32 logits equal tlc's own to
// 1e-4 on a padded batch; the int8 and 4-bit graphs stay close; a compressed model exports
// the weights it decodes to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { tidy } from '../src/engine/tensor.js';
import { readSafetensorsRaw } from '../src/engine/safetensors.js';
import { compressModel } from '../src/compress/compress.js';
import { writeCompressed, readCompressed } from '../src/compress/format.js';
import { saveTokenizer } from '../src/data/tokenizer-json.js';
import { Tokenizer, baseVocab } from '../src/data/tokenizer.js';
import { writeJsonAtomic } from '../src/util/atomic.js';
import { exportRun, ONNX_FILES } from '../src/export/export.js';
import { dequantizeQ4, quantizeQ4 } from '../src/export/onnx-weights.js';
import { dequantizeRows, quantizeRows } from '../src/compress/quantize.js';
import type { ModelConfig } from '../src/nn/config.js';
import { tempDir } from './temp-dir.js';
import {
  buildModel, maxDiffAtTokens, onnxLogits, paddedBatch, randomRun, tinyConfig, tlcLogits,
} from './export-fixture.js';

const LENGTHS = [9, 5, 2]; // padding in the batch; one sequence of <s> </s> only

interface Case {
  name: string;
  config: Partial<ModelConfig>;
}

const CASES: Case[] = [
  { name: 'masked LM, post-LN, GELU (erf)', config: { norm: 'post', activation: 'gelu' } },
  { name: 'masked LM, pre-LN, GELU (erf)', config: { norm: 'pre', activation: 'gelu' } },
  { name: 'masked LM, pre-LN, GELU (tanh)', config: { norm: 'pre', activation: 'gelu_tanh' } },
  { name: 'classifier, post-LN, GELU (tanh)', config: { norm: 'post', activation: 'gelu_tanh', labels: ['a', 'b', 'c'] } },
  { name: 'classifier, pre-LN, GELU (erf)', config: { norm: 'pre', activation: 'gelu', labels: ['neg', 'pos'] } },
];

for (const [k, c] of CASES.entries()) {
  test(`onnxruntime runs the exported ${c.name} with tlc's logits (float32 to 1e-4)`, async () => {
    const config = tinyConfig(c.config);
    const { dir, model } = randomRun(config, 10 + k);
    const out = join(tempDir('tlc-export-'), 'hf');
    const result = exportRun(dir, { format: 'onnx', out });
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', ...Object.values(ONNX_FILES)]) {
      assert.ok(result.files.includes(f) && existsSync(join(out, f)), `${f} is written`);
    }
    const hfEquivalent = config.norm === 'post';
    assert.equal(existsSync(join(out, 'model.safetensors')), hfEquivalent, 'model.safetensors only where RoBERTa computes the same');

    const batch = paddedBatch(LENGTHS, config.vocab_size, 100 + k);
    const expected = tlcLogits(model, batch);
    const width = config.labels ? config.labels.length : config.vocab_size;
    const rowsMask = config.labels ? null : batch.attentionMask; // padded positions' logits mean nothing
    const fp32 = await ort.InferenceSession.create(join(out, ONNX_FILES.fp32));
    assert.deepEqual(fp32.inputNames, ['input_ids', 'attention_mask']);
    assert.deepEqual(fp32.outputNames, ['logits']);
    const got = await onnxLogits(fp32, batch);
    assert.deepEqual(got.dims, config.labels ? [3, width] : [3, 9, width]);
    const diff = maxDiffAtTokens(got.data, expected, width, rowsMask);
    assert.ok(diff < 1e-4, `float32 logits differ by ${diff}`);

    // the int8 graph computes nearly the same thing (its accuracy is checked on a task in
    // export-transformersjs.test.ts; the 4-bit graph's weights exactly, below)
    const scale = maxDiffAtTokens(expected, new Float32Array(expected.length), width, rowsMask);
    const int8 = await onnxLogits(await ort.InferenceSession.create(join(out, ONNX_FILES.int8)), batch);
    const d = maxDiffAtTokens(int8.data, expected, width, rowsMask);
    assert.ok(d > 0 && d < 0.25 * scale, `int8 logits differ by ${d} (logits up to ${scale})`);
    const sizes = Object.fromEntries(Object.entries(ONNX_FILES).map(([p, f]) => [p, statSync(join(out, f)).size]));
    assert.ok(sizes.int8 < 0.5 * sizes.fp32 && sizes.q4 < sizes.fp32, `file sizes ${JSON.stringify(sizes)}`);
    model.dispose();
  });
}

test('a compressed model exports the weights it decodes to', async () => {
  const config = tinyConfig({ norm: 'post', labels: ['x', 'y'] });
  const { model } = randomRun(config, 40);
  const setting = join(tempDir('tlc-export-compressed-'), 's0.5-b4');
  mkdirSync(setting);
  writeJsonAtomic(join(setting, 'config.json'), config);
  saveTokenizer(setting, new Tokenizer(baseVocab(), []));
  tidy(() => {
    const c = compressModel(model.namedParameters(), { sparsity: 0.5, bits: 4 });
    writeCompressed(join(setting, 'model.tlcz.safetensors'), c.params, c.plan);
  });
  const decoded = buildModel(config);
  tidy(() => {
    const loaded = readCompressed(join(setting, 'model.tlcz.safetensors'));
    for (const [n, p] of decoded.namedParameters()) p.copyFrom(loaded.get(n)!);
  });

  const out = join(setting, '..', 'export');
  const result = exportRun(setting, { format: 'onnx', out });
  assert.equal(result.compressed, true);
  const batch = paddedBatch([7, 3], config.vocab_size, 41);
  const session = await ort.InferenceSession.create(join(out, ONNX_FILES.fp32));
  const got = await onnxLogits(session, batch);
  assert.ok(maxDiffAtTokens(got.data, tlcLogits(decoded, batch), 2, null) < 1e-4, 'logits of the decoded model');
  assert.ok(maxDiffAtTokens(got.data, tlcLogits(model, batch), 2, null) > 1e-3, 'not those of the uncompressed model');
  // the Hugging Face weights hold the decoded values too: half of each linear weight is zero
  const fc1 = readSafetensorsRaw(join(out, 'model.safetensors')).tensors.get('roberta.encoder.layer.0.intermediate.dense.weight')!;
  const zeros = (fc1.data as Float32Array).filter((x) => x === 0).length;
  assert.equal(zeros, fc1.data.length / 2);
  model.dispose();
  decoded.dispose();
});

test('the 4-bit graph computes with the weights quantizeQ4 stands for (MatMulNBits layout)', async () => {
  const config = tinyConfig({ norm: 'post', labels: ['x', 'y', 'z'], d_model: 48, n_heads: 3, d_ff: 80 }); // K = 48, 80: partial blocks
  const { dir, model } = randomRun(config, 50);
  const out = join(tempDir('tlc-export-q4-'), 'hf');
  exportRun(dir, { format: 'onnx', out });
  // the same model with the weights the q4 file stores: linear layers 4-bit, embeddings 8-bit per row
  const reference = buildModel(config);
  for (const [name, p] of reference.namedParameters()) {
    const original = model.namedParameters().find(([n]) => n === name)![1];
    const values = original.toFloat32Array();
    if (p.shape.length === 2 && name.includes('emb')) {
      const { codes, scales } = quantizeRows(values, p.shape[0], p.shape[1], 8);
      p.write(dequantizeRows(codes, scales, p.shape[0], p.shape[1]));
    } else if (p.shape.length === 2) {
      p.write(dequantizeQ4(quantizeQ4({ shape: [...p.shape], data: values }), p.shape[0], p.shape[1]));
    } else {
      p.write(values);
    }
  }
  const batch = paddedBatch([11, 6, 3], config.vocab_size, 51);
  const session = await ort.InferenceSession.create(join(out, ONNX_FILES.q4));
  const got = await onnxLogits(session, batch);
  const diff = maxDiffAtTokens(got.data, tlcLogits(reference, batch), 3, null);
  assert.ok(diff < 1e-4, `q4 logits differ from the dequantized model's by ${diff}`);
  model.dispose();
  reference.dispose();
});
