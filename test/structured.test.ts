// Structured pruning: zeroing a unit's parameters and removing the unit compute the same
// function (masked LM, causal LM, classifier; pre- and post-LN), the removed model's config
// counts its parameters, Taylor importance is the gate derivative, the smaller model decodes
// with its KV cache, exports to ONNX with tlc's logits, and `tlc compress --structured`
// ships a smaller dense model that evaluates as scored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { backward, gradOf, noGrad, zeroGrad } from '../src/engine/autograd.js';
import { tidy } from '../src/engine/tensor.js';
import { Rng } from '../src/engine/random.js';
import { countParams, parseModelConfig, readModelConfig, type ModelConfig } from '../src/nn/config.js';
import type { TransformerBody, TransformerLM } from '../src/nn/transformer.js';
import type { TransformerClassifier } from '../src/nn/classifier.js';
import { CausalDecoder } from '../src/nn/causal-decoder.js';
import {
  TaylorScores, magnitudeScores, selectUnits, silentUnits, unitCounts, unitsMask,
} from '../src/compress/structured.js';
import { compressSweep } from '../src/experiment/compress-sweep.js';
import { exportRun, ONNX_FILES } from '../src/export/export.js';
import { mapArchitecture } from '../src/export/architecture.js';
import { importHfFolder } from '../src/import/import.js';
import { saveWeights } from '../src/nn/weights.js';
import { loadModelDir, withoutUnits } from '../src/infer/load.js';
import { finetunedClassifier } from './corpus-fixture.js';
import { kernelsOf } from './helpers.js';
import { tempDir } from './temp-dir.js';
import {
  maxDiffAtTokens, onnxLogits, paddedBatch, randomRun, tinyConfig, tlcLogits,
} from './export-fixture.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function valuesOf(model: TransformerBody): (name: string) => Float32Array {
  const map = new Map(model.namedParameters());
  return (name) => map.get(name)!.toFloat32Array();
}

const CASES: { name: string; config: Partial<ModelConfig> }[] = [
  { name: 'masked LM, pre-LN', config: { norm: 'pre' } },
  { name: 'causal LM, post-LN', config: { objective: 'clm', norm: 'post', activation: 'gelu_tanh' } },
  { name: 'classifier, post-LN', config: { norm: 'post', labels: ['a', 'b', 'c'] } },
];

for (const [k, c] of CASES.entries()) {
  test(`${c.name}: zeroed heads and neurons removed give the same logits from a smaller model`, () => {
    const config = tinyConfig({ ...c.config, n_layers: 3 });
    const { model } = randomRun(config, 70 + k);
    const batch = paddedBatch([9, 6, 3], config.vocab_size, 80 + k);
    const before = tlcLogits(model, batch);
    // different fractions per kind, so a head/neuron mix-up shows
    const units = selectUnits(magnitudeScores(config, valuesOf(model)), { heads: 0.5, neurons: 0.25 });
    unitsMask(config, units).apply(model.namedParameters());
    const masked = tlcLogits(model, batch);
    const small = withoutUnits(model, units);
    const width = config.labels ? config.labels.length : config.vocab_size;
    const rows = config.labels ? null : batch.attentionMask;
    try {
      assert.deepEqual(small.config.layer_heads, [2, 2, 2]);
      assert.equal(small.config.d_ff, 48, 'one FFN width in every block is a smaller d_ff');
      assert.equal(small.config.layer_d_ff, undefined);
      const params = small.namedParameters().reduce((a, [, t]) => a + t.size, 0);
      assert.equal(countParams(small.config).total, params, 'the config counts the smaller model\'s parameters');
      assert.ok(maxDiffAtTokens(masked, before, width, rows) > 1e-2, 'pruning changed the model');
      const diff = maxDiffAtTokens(tlcLogits(small, batch), masked, width, rows);
      assert.ok(diff < 2e-6, `removed vs zeroed logits differ by ${diff}`);
      assert.deepEqual(silentUnits(config, valuesOf(model)), units, 'the zeroed units are found again from the weights');
    } finally {
      small.dispose();
      model.dispose();
    }
  });
}

test('unit selection removes the lowest scores per block, keeps one of each, and is monotone', () => {
  const scores = [{ heads: Float64Array.from([3, 1, 2, 0.5]), neurons: Float64Array.from([5, 4, 3, 2, 1, 0]) }];
  const u = selectUnits(scores, { heads: 0.5, neurons: 0.5 });
  assert.deepEqual([...u[0].heads], [1, 0, 1, 0]);
  assert.deepEqual([...u[0].neurons], [1, 1, 1, 0, 0, 0]);
  assert.deepEqual([...selectUnits(scores, { heads: 0.99, neurons: 0 })[0].heads], [1, 0, 0, 0], 'at least one head stays');
  // a unit removed before stays removed even if its score is now high
  const later = selectUnits([{ heads: Float64Array.from([0, 9, 9, 9]), neurons: scores[0].neurons }], { heads: 0.75, neurons: 0.5 }, u);
  assert.deepEqual([...later[0].heads], [0, 0, 1, 0]);
  assert.throws(() => selectUnits(scores, { heads: 1, neurons: 0 }), /in \[0, 1\)/);
});

test('Taylor importance is |dL/dξ| of a gate on each head and neuron (central differences)', () => {
  const config = tinyConfig({ labels: ['a', 'b'], norm: 'pre' });
  const { model } = randomRun(config, 91);
  const clf = model as TransformerClassifier;
  const rng = new Rng(5);
  const batch = { ...paddedBatch([7, 5, 4, 2], config.vocab_size, 92), labels: Int32Array.from([0, 1, 1, 0]) };
  const params = new Map(model.namedParameters());
  const loss = (): number => noGrad(() => tidy(() => clf.loss(batch, { training: false }).loss.item()));
  zeroGrad(params.values());
  tidy(() => backward(clf.loss(batch, { training: false }).loss));
  const taylor = new TaylorScores(config);
  taylor.add((n) => params.get(n)!.toFloat32Array(), (n) => gradOf(params.get(n)!)!.toFloat32Array());
  const scores = taylor.scores();
  /** Loss with unit `cols` of `name` (an output weight) scaled by ξ. */
  const gated = (name: string, cols: number[], xi: number): number => {
    const t = params.get(name)!, saved = t.toFloat32Array(), [, w] = t.shape;
    const v = Float32Array.from(saved);
    for (let r = 0; r < t.shape[0]; r++) for (const col of cols) v[r * w + col] *= xi;
    t.write(v);
    const l = loss();
    t.write(saved);
    return l;
  };
  const eps = 1e-2, Dh = config.d_model / config.n_heads;
  let checked = 0;
  for (let l = 0; l < config.n_layers; l++) {
    const neuron = rng.int(config.d_ff);
    const checks: [string, number[], number][] = [
      [`blocks.${l}.attn.out.weight`, [...Array(Dh).keys()].map((d) => Dh + d), scores[l].heads[1]],
      [`blocks.${l}.mlp.fc2.weight`, [neuron], scores[l].neurons[neuron]],
    ];
    for (const [name, cols, score] of checks) {
      const fd = Math.abs((gated(name, cols, 1 + eps) - gated(name, cols, 1 - eps)) / (2 * eps));
      assert.ok(Math.abs(fd - score) < 2e-3 * Math.max(1, fd) + 2e-5, `${name} ${cols[0]}: Taylor ${score}, finite differences ${fd}`);
      checked++;
    }
  }
  assert.equal(checked, 2 * config.n_layers);
  model.dispose();
});

test('a structurally pruned causal LM decodes with its KV cache as a full forward pass does', () => {
  const config = tinyConfig({ objective: 'clm', norm: 'pre', activation: 'gelu_tanh' });
  const { model } = randomRun(config, 95);
  const units = selectUnits(magnitudeScores(config, valuesOf(model)), { heads: 0.5, neurons: 0.5 });
  const small = withoutUnits(model, units) as TransformerLM;
  const tokens = [0, 17, 42, 99, 5, 250];
  const full = tlcLogits(small, { batchSize: 1, seqLen: tokens.length, inputIds: Int32Array.from(tokens), attentionMask: new Uint8Array(tokens.length).fill(1) });
  const decoder = new CausalDecoder(small, 1, tokens.length);
  try {
    let worst = 0;
    tokens.forEach((t, i) => {
      const step = decoder.next(Int32Array.from([t]));
      for (let v = 0; v < config.vocab_size; v++) worst = Math.max(worst, Math.abs(step[v] - full[i * config.vocab_size + v]));
    });
    assert.ok(worst < 1e-5, `cached decoding differs by ${worst}`);
  } finally {
    decoder.dispose();
    small.dispose();
    model.dispose();
  }
});

for (const labels of [undefined, ['neg', 'pos']]) {
  test(`a structurally pruned ${labels ? 'classifier' : 'masked LM'} exports to ONNX with tlc's logits; Hugging Face format is refused`, async () => {
    const config = tinyConfig({ norm: 'post', ...(labels ? { labels } : {}) });
    const { model } = randomRun(config, 97);
    const units = selectUnits(magnitudeScores(config, valuesOf(model)), { heads: 0.5, neurons: 0.5 });
    // per-block widths that differ: one more head and one more neuron removed in block 1
    units[1].heads[units[1].heads.indexOf(1)] = 0;
    units[1].neurons[units[1].neurons.indexOf(1)] = 0;
    const small = withoutUnits(model, units);
    model.dispose();
    const { dir: base, model: placeholder } = randomRun(small.config, 1); // a run folder of the smaller shape, then its weights
    placeholder.dispose();
    saveWeights(small, join(base, 'model.safetensors'));
    const out = join(dirname(base), 'onnx');
    exportRun(base, { format: 'onnx', out });
    const written = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.deepEqual(small.config.layer_d_ff, [32, 31]);
    assert.match(JSON.stringify(written.tlc_onnx_only), /layer_heads and layer_d_ff/);
    const batch = paddedBatch([9, 4], small.config.vocab_size, 98);
    const width = labels ? labels.length : small.config.vocab_size;
    const got = await onnxLogits(await ort.InferenceSession.create(join(out, ONNX_FILES.fp32)), batch);
    const diff = maxDiffAtTokens(got.data, tlcLogits(small, batch), width, labels ? null : batch.attentionMask);
    assert.ok(diff < 1e-4, `onnxruntime vs tlc logits differ by ${diff}`);
    assert.throws(() => exportRun(base, { format: 'hf', out: join(dirname(base), 'hf') }), /layer_heads and layer_d_ff.*--format onnx/);
    // and the ONNX-only folder is not taken for a Hugging Face model
    assert.throws(() => importHfFolder(out, join(dirname(base), 'imported')), /written by `tlc export` for ONNX only/);
    small.dispose();
  });
}

test('config.json checks per-block widths', () => {
  const base = { objective: 'mlm', vocab_size: 300, d_model: 32, n_layers: 2, n_heads: 4, d_ff: 64, max_len: 16 };
  assert.throws(() => parseModelConfig({ ...base, layer_heads: [2] }), /layer_heads.*one head count per block/);
  assert.throws(() => parseModelConfig({ ...base, layer_heads: [2, 5] }), /layer_heads.*more heads than n_heads/);
  assert.throws(() => parseModelConfig({ ...base, layer_d_ff: [0, 3] }), /layer_d_ff/);
  assert.equal(countParams(parseModelConfig({ ...base, layer_heads: [4, 4], layer_d_ff: [64, 64] })).total, countParams(parseModelConfig(base)).total);
});

test('tlc compress --structured ships a smaller dense model, one-shot and finetuned, that evaluates as scored', async () => {
  const root = tempDir('tlc-struct-cmp-');
  const { run, task } = await finetunedClassifier();
  const source = readModelConfig(join(run, 'config.json'));
  for (const mode of ['oneshot', 'gradual'] as const) {
    const out = join(root, `cmp-${mode}`);
    const { rows } = await compressSweep({
      model: run, out, sparsities: [0], bits: [32, 8], pruning: 'layer', mode, qat: false, taskSeed: 0, seed: 0,
      finetune: mode === 'oneshot' ? {} : { steps: 12, batch_size: 16, eval_every: 6 }, structured: [0.5],
    });
    assert.deepEqual(rows.map((r) => [r.sparsity, r.structured ?? 0, r.bits]), [[0, 0, 32], [0, 0, 8], [0, 0.5, 32], [0, 0.5, 8]]);
    const dense = rows[0], pruned = rows[2], prunedInt8 = rows[3];
    const config = readModelConfig(join(out, 'struct0.5-b32', 'config.json'));
    assert.equal(config.d_ff, source.d_ff / 2);
    assert.equal(mapArchitecture(config).hf === null, mapArchitecture(source).hf === null, 'pruning FFN neurons alike in every block keeps the model exportable');
    assert.equal(pruned.structured_criterion, 'taylor');
    assert.equal(pruned.params_kept, countParams(config).total);
    assert.ok(pruned.params_kept! < dense.params && pruned.bytes < dense.bytes, `${pruned.bytes} vs ${dense.bytes} bytes`);
    assert.match(prunedInt8.kernels!, kernelsOf(8, 1));
    assert.ok(pruned.accuracy! > 0.5, `accuracy ${pruned.accuracy}`);
    if (mode === 'gradual') {
      const ckpts = join(out, 'struct0.5-b32', 'finetune', 'checkpoints');
      assert.ok(existsSync(ckpts), 'the finetuning run checkpoints');
      const found = spawnSync('find', [ckpts, '-name', 'units.safetensors'], { encoding: 'utf8' }).stdout.trim();
      assert.ok(found.length > 0, 'the kept units travel with the checkpoints');
      // without QAT, 8 bits quantize the same finetuned weights as 32 bits: one finetuning run for both
      assert.ok(!existsSync(join(out, 'struct0.5-b8', 'finetune')) && !existsSync(join(out, 's0-b8', 'finetune')), 'finetuned once per setting, not per bit width');
    }
    const e = spawnSync(process.execPath, [CLI, 'evaluate', join(out, 'struct0.5-b8'), '--task', task, '--json'], { encoding: 'utf8' });
    assert.equal(e.status, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).accuracy, prunedInt8.accuracy, 'evaluate scores the file as compress did');
    if (mode === 'oneshot') {
      // the setting's compressed file exports to ONNX, whose logits are those of the file tlc loads
      const onnxDir = join(root, 'onnx-struct');
      exportRun(join(out, 'struct0.5-b32'), { format: 'onnx', out: onnxDir });
      const { model: loaded } = loadModelDir(join(out, 'struct0.5-b32'));
      const batch = paddedBatch([12, 7, 3], config.vocab_size, 5);
      const got = await onnxLogits(await ort.InferenceSession.create(join(onnxDir, ONNX_FILES.fp32)), batch);
      const diff = maxDiffAtTokens(got.data, tlcLogits(loaded, batch), config.labels!.length, null);
      assert.ok(diff < 1e-4, `onnxruntime vs tlc logits of the compressed setting differ by ${diff}`);
      loaded.dispose();
    }
  }
  assert.equal(unitCounts(selectUnits([{ heads: new Float64Array(1), neurons: new Float64Array(4) }], { heads: 0.5, neurons: 0.5 })).heads[0], 1);
});

test('a gradual structured compression stopped mid-finetuning resumes to the same units and weights', async () => {
  const root = tempDir('tlc-struct-resume-');
  const { run } = await finetunedClassifier();
  const sweep = (out: string, signal?: AbortSignal, onStep?: (step: number) => void) => compressSweep({
    model: run, out, sparsities: [], bits: [32], pruning: 'layer', mode: 'gradual', qat: false, seed: 0,
    finetune: { steps: 16, batch_size: 16, eval_every: 8, save_every: 4 }, structured: [0.5],
  }, () => {}, () => ({ onStep: (i) => onStep?.(i.step) }), signal);
  const whole = await sweep(join(root, 'whole'));
  const stop = new AbortController();
  const first = await sweep(join(root, 'stopped'), stop.signal, (step) => { if (step === 7) stop.abort(); });
  assert.equal(first.interrupted, true, 'stopped mid-way (the gradual schedule is still removing units at step 7)');
  const resumed = await sweep(join(root, 'stopped'));
  assert.equal(resumed.interrupted, false);
  const file = (out: string) => readFileSync(join(root, out, 'struct0.5-b32', 'model.tlcz.safetensors'));
  assert.ok(file('whole').equals(file('stopped')), 'the compressed files are byte-identical');
  assert.deepEqual(resumed.rows.map((r) => [r.accuracy, r.params_kept]), whole.rows.map((r) => [r.accuracy, r.params_kept]));
});

test('--structured-units removes only heads or only FFN neurons; duplicates and a zero fraction are handled', async () => {
  const { dir: run, model } = randomRun(tinyConfig({ norm: 'post' }), 120);
  model.dispose();
  const lines: string[] = [];
  const sweep = (out: string, units: 'heads' | 'neurons', structured = [0.5, 0.5]) => compressSweep({
    model: run, out: join(dirname(run), out), sparsities: [], bits: [32], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, seed: 0,
    structured, structuredUnits: units, structuredCriterion: 'magnitude',
  }, (l) => lines.push(l));
  const neurons = await sweep('neurons', 'neurons');
  assert.equal(neurons.rows.length, 1, 'a fraction given twice is one setting');
  const nc = readModelConfig(join(dirname(run), 'neurons', 'struct0.5-neurons-b32', 'config.json'));
  assert.deepEqual([nc.layer_heads, nc.d_ff], [undefined, 32]);
  assert.equal(neurons.rows[0].structured_units, 'neurons');
  assert.equal(mapArchitecture(nc).hf, 'RobertaForMaskedLM', 'FFN neurons alone keep the model a RoBERTa');
  await sweep('heads', 'heads');
  const hc = readModelConfig(join(dirname(run), 'heads', 'struct0.5-heads-b32', 'config.json'));
  assert.deepEqual([hc.layer_heads, hc.d_ff], [[2, 2], 64]);
  await assert.rejects(sweep('zero', 'heads', [0, 0.5]), /--structured 0 removes nothing: the dense model is --sparsity 0/);
});
