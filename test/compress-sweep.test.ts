// `tlc compress` and `tlc pareto` end to end on a finetuned tiny classifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tidy } from '../src/engine/index.js';
import { readModelConfig } from '../src/nn/config.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { loadWeights } from '../src/nn/weights.js';
import { loadTask } from '../src/data/tasks.js';
import { compressModel } from '../src/compress/compress.js';
import { inspectCompressed, readCompressed, writeCompressed } from '../src/compress/format.js';
import { isLinearWeight } from '../src/compress/selection.js';
import { compressSweep } from '../src/experiment/compress-sweep.js';
import { evaluateClassifier } from '../src/train/classify.js';
import { encodeTask } from '../src/run/task.js';
import { readMetrics } from '../src/run/metrics.js';
import { finetune } from '../src/train/finetune.js';
import { finetuneArgs, finetunedClassifier, pretrainedRun } from './corpus-fixture.js';
import { kernelsOf } from './helpers.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');


test('save → load → evaluate gives the predictions of the in-memory compressed model', async () => {
  const { run, task } = await finetunedClassifier();
  const config = readModelConfig(join(run, 'config.json'));
  const data = encodeTask(await loadTask(task), join(run, 'tokenizer.json'), config.labels!, 24);
  const model = new TransformerClassifier(config);
  try {
    loadWeights(model, join(run, 'model.safetensors'));
    const file = join(tempDir('tlc-cmp-file-'), 'm.safetensors');
    const inMemory = tidy(() => {
      const c = compressModel(model.namedParameters(), { sparsity: 0.7, bits: 4 });
      writeCompressed(file, c.params, c.plan);
      for (const [n, p] of model.namedParameters()) p.copyFrom(c.params.get(n)!);
      return evaluateClassifier(model, data.test).predictions;
    });
    tidy(() => {
      const loaded = readCompressed(file);
      for (const [n, p] of model.namedParameters()) p.copyFrom(loaded.get(n)!);
    });
    assert.deepEqual(evaluateClassifier(model, data.test).predictions, inMemory);
  } finally {
    model.dispose();
  }
});

test('a sparsity × bits sweep writes real files whose sizes and accuracies behave as expected', async () => {
  const { run } = await finetunedClassifier();
  const out = join(tempDir('tlc-sweep-'), 'cmp');
  const { rows } = await compressSweep({
    model: run, out, sparsities: [0, 0.5, 0.9], bits: [32, 8, 4], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, taskSeed: 0, seed: 0,
  });
  assert.equal(rows.length, 9);
  const at = (s: number, b: number) => rows.find((r) => r.sparsity === s && r.bits === b)!;
  const dense = at(0, 32);
  for (const r of rows) assert.equal(r.bytes, statSync(r.file).size, 'bytes are the real file size');
  assert.ok(Math.abs(at(0, 8).accuracy! - dense.accuracy!) < 0.005 + 1e-9, '8-bit moves accuracy by < 0.5 points');
  const ratio = at(0, 8).bytes / dense.bytes;
  // a quarter, plus one float32 scale per row (1/8 extra at this tiny width of 32) and the
  // float32 LayerNorm and bias vectors
  assert.ok(ratio > 0.25 && ratio < 0.35, `8-bit file is ${ratio.toFixed(3)} of the float32 file`);
  // the pruned tensors (the linear weights) shrink far below their dense size; this tiny
  // model's unpruned embeddings keep the whole file at about half
  const linearBytes = (file: string) => inspectCompressed(file).rows
    .filter((r) => isLinearWeight(r.name, r.shape)).reduce((a, r) => a + r.bytes, 0);
  assert.ok(linearBytes(at(0.9, 32).file) < 0.25 * linearBytes(dense.file), '90%-sparse weights are far below the dense ones');
  assert.ok(at(0.9, 32).bytes < 0.75 * dense.bytes);
  assert.ok(Math.abs(at(0.9, 32).measured_sparsity - 0.9) < 0.01);
  // every setting is scored and timed on the kernels it would ship with: the fastest here for its
  // bits and density, as this process measured them
  for (const r of rows) assert.match(r.kernels!, kernelsOf(r.bits, 1 - r.sparsity), `${r.sparsity}/${r.bits}`);
  assert.match(at(0, 32).kernels!, /^f32×\d+$/, 'dense float weights run on f32');
  assert.match(at(0.9, 32).kernels!, /^sparse×\d+$/, '90%-sparse float weights on the sparse kernel');
  const maxLen = readModelConfig(join(run, 'config.json')).max_len;
  for (const r of rows) assert.ok(r.latency_ms! > 0 && r.latency_seq_len === Math.min(128, maxLen), `${r.sparsity}/${r.bits}: ${r.latency_ms} ms at T=${r.latency_seq_len}`);

  // a second run reuses finished settings instead of redoing them
  const { rows: again } = await compressSweep({
    model: run, out, sparsities: [0, 0.5, 0.9], bits: [32, 8, 4], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, taskSeed: 0, seed: 0,
  });
  assert.deepEqual(again, rows);

  const p = spawnSync(process.execPath, [CLI, 'pareto', out, '--max-bytes', String(at(0, 8).bytes), '--json'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const result = JSON.parse(p.stdout);
  assert.ok(result.choice.row.bytes <= at(0, 8).bytes);
  assert.match(result.choice.reason, /most accurate/);
  assert.ok(result.rows.some((r: { on_frontier: boolean }) => r.on_frontier));
  assert.ok(readFileSync(join(out, 'pareto.csv'), 'utf8').startsWith('model,params,sparsity,bits'));

  // a latency budget: the choice is the most accurate row that is fast enough
  const budget = [...rows].sort((a, b) => a.latency_ms! - b.latency_ms!)[4].latency_ms!;
  const q = spawnSync(process.execPath, [CLI, 'pareto', out, '--max-latency', `${budget}ms`, '--json'], { encoding: 'utf8' });
  assert.equal(q.status, 0, q.stderr);
  const fast = JSON.parse(q.stdout);
  const eligible = rows.filter((r) => r.latency_ms! <= budget);
  assert.ok(fast.choice.row.latency_ms <= budget);
  assert.equal(fast.choice.row.accuracy, Math.max(...eligible.map((r) => r.accuracy!)));
});

test('tlc evaluate runs a compressed model on its kernels, or any model on a chosen kernel', async () => {
  const { run, task } = await finetunedClassifier();
  const out = join(tempDir('tlc-eval-k-'), 'cmp');
  const { rows: [row] } = await compressSweep({
    model: run, out, sparsities: [0.9], bits: [4], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, taskSeed: 0, seed: 0,
  });
  const evaluate = (dir: string, ...extra: string[]) => {
    const p = spawnSync(process.execPath, [CLI, 'evaluate', dir, '--task', task, '--json', ...extra], { encoding: 'utf8' });
    return { status: p.status, stderr: p.stderr, result: p.status === 0 ? JSON.parse(p.stdout) : null };
  };
  const compressed = evaluate(join(out, 's0.9-b4'));
  assert.equal(compressed.status, 0, compressed.stderr);
  // 4-bit codes at 10% density: the integer kernel, the sparse one or f32, whichever this CPU ran
  // faster when compress measured; recorded in the file, so evaluate runs the same ones
  assert.match(row.kernels!, /^((w4a8|sparse|f32)×\d+(, )?)+$/);
  assert.equal(compressed.result.kernels, row.kernels);
  const recorded = inspectCompressed(join(out, 's0.9-b4', 'model.tlcz.safetensors')).settings?.kernels as Record<string, string>;
  assert.ok(recorded && Object.keys(recorded).length > 0 && Object.values(recorded).every((k) => ['w4a8', 'sparse', 'f32'].includes(k)), JSON.stringify(recorded));
  const reference = evaluate(run), int8 = evaluate(run, '--kernel', 'int8'), w4 = evaluate(run, '--kernel', 'w4');
  assert.equal(reference.result.kernels, 'reference (training path)');
  assert.match(int8.result.kernels, /^int8×\d+$/);
  assert.match(w4.result.kernels, /^4-bit×\d+$/);
  // 4-bit weights on the integer kernel lose no more than the weight-only 4-bit path
  const w4a8 = evaluate(run, '--kernel', 'w4a8');
  assert.match(w4a8.result.kernels, /^w4a8×\d+$/);
  assert.ok(Math.abs(w4a8.result.accuracy - w4.result.accuracy) <= 0.01, `w4a8 ${w4a8.result.accuracy} vs w4 ${w4.result.accuracy}`);
  assert.ok(Math.abs(int8.result.accuracy - reference.result.accuracy) <= 0.01, `int8 ${int8.result.accuracy} vs ${reference.result.accuracy}`);
  // bench infer scores each variant on the same test split
  const b = spawnSync(process.execPath, [CLI, 'bench', 'infer', run, '--task', task, '--variants', 'fp32,int8', '--rounds', '1', '--batch-size', '2', '--json'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const benchRows = JSON.parse(b.stdout).rows as { variant: string; accuracy: number }[];
  assert.equal(benchRows.find((r) => r.variant === 'int8')!.accuracy, int8.result.accuracy);
  assert.ok(Math.abs(benchRows.find((r) => r.variant === 'fp32')!.accuracy - reference.result.accuracy) <= 0.01);
  const bad = evaluate(run, '--kernel', 'fp8');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--kernel: unknown kernel "fp8"/);
});

test('finetune and gradual modes reach the target sparsity; QAT runs', async () => {
  const { run } = await finetunedClassifier();
  for (const mode of ['finetune', 'gradual'] as const) {
    const out = join(tempDir(`tlc-${mode}-`), 'cmp');
    const { rows: [row] } = await compressSweep({
      model: run, out, sparsities: [0.8], bits: [4], pruning: 'global', mode, finetune: { steps: 12, lr: 1e-4, batch_size: 16 },
      qat: mode === 'finetune', taskSeed: 0, seed: 0,
    });
    assert.ok(Math.abs(row.measured_sparsity - 0.8) < 0.01, `${mode}: sparsity ${row.measured_sparsity}`);
    assert.ok(row.accuracy !== null && row.accuracy > 0.3);
  }
});

test('bad compression settings give clear errors', async () => {
  const { run } = await finetunedClassifier();
  const out = join(tempDir('tlc-bad-cmp-'), 'cmp');
  const cli = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });
  let r = cli('compress', '--from', run, '--out', out, '--sparsity', '1', '--bits', '8');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /sparsity/);
  r = cli('compress', '--from', run, '--out', out, '--sparsity', '0.5', '--bits', '9');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bits must be 2…8 or 32/);
  r = cli('pareto', join(out, 'nothing'));
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /compress\.json: not found/);
});

test('a language-model run compresses too: sizes and measured sparsity come from the written file', async () => {
  const run = await pretrainedRun();
  const out = join(tempDir('tlc-lm-cmp-'), 'cmp');
  const { rows: [row] } = await compressSweep({
    model: run, out, sparsities: [0.9], bits: [32], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, seed: 0,
  });
  assert.equal(row.accuracy, null);
  assert.ok(Math.abs(row.measured_sparsity - 0.9) < 0.01, `measured sparsity ${row.measured_sparsity}`);
  // one global threshold is another setting: not mixed with the per-layer result, nor replacing it
  const globally = (dir: string) => compressSweep({
    model: run, out: dir, sparsities: [0.9], bits: [32], pruning: 'global', mode: 'oneshot', finetune: {}, qat: false, seed: 0,
  });
  await assert.rejects(globally(out), /s0\.9-b32 holds a result made with other settings \(methods\.magnitude\.pruning: "layer" → "global"\)/);
  // nor does one output mix settings of two models (or task splits): their frontier would compare what cannot be compared
  const copy = join(out, '..', 'run-copy');
  cpSync(run, copy, { recursive: true });
  await assert.rejects(compressSweep({ model: copy, out, sparsities: [0.5], bits: [32], mode: 'oneshot', finetune: {}, seed: 0 }),
    /s0\.9-b32 holds a result of another model, task or task split made with other settings \(model: .*run" → .*run-copy"\)/);
  // a task split means nothing to a language model
  await assert.rejects(compressSweep({ model: run, out, sparsities: [0.5], bits: [32], mode: 'oneshot', finetune: {}, seed: 0, taskSeed: 3 }),
    /is a language model \(no labels\): compress only sizes it, so --task-seed would do nothing/);
  // the same model named another way is the same setting
  const again: string[] = [];
  await compressSweep({ model: run + '/', out, sparsities: [0.9], bits: [32], pruning: 'layer', mode: 'oneshot', finetune: {}, seed: 0 }, (l) => again.push(l));
  assert.ok(again.some((l) => /done before with the same settings, reused/.test(l)), again.join('\n'));
  const other = join(out, '..', 'global');
  const { rows: [global] } = await globally(other);
  assert.equal(JSON.parse(readFileSync(join(other, 's0.9-b32', 'result.json'), 'utf8')).settings.methods.magnitude.pruning, 'global');
  assert.ok(Math.abs(global.measured_sparsity - 0.9) < 0.01);
});

test('compression finetuning is an ordinary run: metrics, checkpoints with the mask, run.json', async () => {
  const { run } = await finetunedClassifier();
  const out = join(tempDir('tlc-cmp-run-'), 'cmp');
  await compressSweep({
    model: run, out, sparsities: [0.5], bits: [8], pruning: 'layer', mode: 'gradual', finetune: { steps: 8, batch_size: 16, save_every: 4 },
    qat: false, seed: 0,
  });
  const ft = join(out, 's0.5-b8', 'finetune');
  const events = readMetrics(join(ft, 'metrics.jsonl'));
  assert.equal(events.filter((e) => e.event === 'train').length, 8);
  assert.equal(events.at(-1)!.event, 'end');
  const args = JSON.parse(readFileSync(join(ft, 'run.json'), 'utf8'));
  assert.equal(args.command, 'finetune');
  assert.equal(args.options.steps, 8);
  const state = JSON.parse(readFileSync(join(ft, 'state.json'), 'utf8'));
  assert.ok(existsSync(join(ft, state.checkpoint, 'mask.safetensors')), 'the mask travels with the checkpoint');
});

test('compression finetunes on the split it scores: the run\'s example cap and truncation', async () => {
  const { task } = await finetunedClassifier();
  const root = tempDir('tlc-cmp-cap-');
  const run = join(root, 'clf');
  await finetune(run, finetuneArgs(await pretrainedRun(), task, { steps: 4, max_examples: 120, max_len: 20 }));
  const out = join(root, 'cmp');
  const { rows } = await compressSweep({
    model: run, out, sparsities: [0.5], bits: [8], pruning: 'layer', mode: 'gradual', finetune: { steps: 2, batch_size: 16 }, qat: false, seed: 0,
  });
  assert.deepEqual(rows[0].scored_on, { task, task_seed: 0, max_examples: 120, max_len: 20 });
  const ft = join(out, 's0.5-b8', 'finetune');
  const options = JSON.parse(readFileSync(join(ft, 'run.json'), 'utf8')).options;
  assert.equal(options.max_examples, 120);
  assert.equal(options.max_len, 20);
  const capped = await loadTask(task, { seed: 0, maxExamples: 120 });
  const start = readMetrics(join(ft, 'metrics.jsonl'))[0] as { train_examples?: number; valid_examples?: number };
  assert.equal(start.train_examples, capped.splits.train.length);
  assert.equal(start.valid_examples, capped.splits.valid.length);
  // a run truncated at the model's own length, as the default truncation is, names none of its own
  const modelLength = readModelConfig(join(await pretrainedRun(), 'config.json')).max_len;
  const wide = join(root, 'clf-wide');
  await finetune(wide, finetuneArgs(await pretrainedRun(), task, { steps: 2, max_len: modelLength }));
  const { rows: wideRows } = await compressSweep({
    model: wide, out: join(root, 'cmp-wide'), sparsities: [0.5], bits: [8], pruning: 'layer', mode: 'gradual', finetune: { steps: 1, batch_size: 16 }, qat: false, seed: 0,
  });
  assert.deepEqual(wideRows[0].scored_on, { task, task_seed: 0, max_examples: null, max_len: modelLength });
  const wideOptions = JSON.parse(readFileSync(join(root, 'cmp-wide', 's0.5-b8', 'finetune', 'run.json'), 'utf8')).options;
  assert.equal(wideOptions.max_len, 128, 'the default, as before');
  assert.equal(wideOptions.max_examples, undefined);
});

test('QAT: each step computes with the quantized weights; at 2 bits it beats finetuning without it', async () => {
  const { run } = await finetunedClassifier();
  const root = tempDir('tlc-qat-');
  const sweep = (name: string, bits: number, qat: boolean) => compressSweep({
    model: run, out: join(root, name), sparsities: [0], bits: [bits], pruning: 'layer', mode: 'finetune',
    finetune: { steps: 40, batch_size: 16, lr: 1e-3, precision: 'f32' }, qat, seed: 0,
  });
  const firstLoss = (name: string, bits: number) =>
    readMetrics(join(root, name, `s0-b${bits}`, 'finetune', 'metrics.jsonl')).find((e) => e.event === 'train')!.loss;
  const [plain, qat, qat32] = [await sweep('plain', 2, false), await sweep('qat', 2, true), await sweep('qat32', 32, true)];
  // the same first batch: the forward pass differs only through the quantized weights
  assert.notEqual(firstLoss('qat', 2), firstLoss('plain', 2), 'QAT changes the forward pass');
  assert.equal(firstLoss('qat32', 32), firstLoss('plain', 2), 'without quantization QAT changes nothing');
  const acc = (r: typeof plain) => r.rows[0].accuracy!;
  console.log(`# 2-bit test accuracy: finetuned then quantized ${acc(plain).toFixed(3)}, QAT ${acc(qat).toFixed(3)}; float ${acc(qat32).toFixed(3)}`);
  assert.ok(acc(qat) > acc(plain), `QAT ${acc(qat)} vs post-training quantization ${acc(plain)}`);
});

test('a rerun never replaces a setting made otherwise: it refuses naming the difference; it adds new settings; rows record qat', async () => {
  const { run } = await finetunedClassifier();
  const root = tempDir('tlc-qat-key-');
  const out = join(root, 'cmp');
  const sweep = (qat: boolean, log: string[], more: { sparsities?: number[]; out?: string } = {}) => compressSweep({
    model: run, out: more.out ?? out, sparsities: more.sparsities ?? [0.5], bits: [4], pruning: 'layer', mode: 'gradual', finetune: { steps: 6, batch_size: 16, lr: 1e-4 }, qat, seed: 0,
  }, (l) => log.push(l));
  const first: string[] = [], third: string[] = [], fourth: string[] = [];
  const plain = await sweep(false, first);
  const result = readFileSync(join(out, 's0.5-b4', 'result.json'), 'utf8');
  await assert.rejects(sweep(true, []), /s0\.5-b4 holds a result made with other settings \(methods\.qat: none → \{"bits":4\}\): compress into another --out/);
  assert.equal(readFileSync(join(out, 's0.5-b4', 'result.json'), 'utf8'), result, 'the earlier result is kept');
  const qat = await sweep(true, [], { out: join(root, 'qat') });
  const events = readMetrics(join(root, 'qat', 's0.5-b4', 'finetune', 'metrics.jsonl'));
  assert.equal(events.filter((e) => e.event === 'start').length, 1);
  assert.equal(plain.rows[0].qat, false);
  assert.equal(qat.rows[0].qat, true);
  await sweep(true, third, { out: join(root, 'qat') });
  assert.ok(third.some((l) => /done before with the same settings, reused/.test(l)), 'the same settings are reused');
  // other settings into the same output add to it, and its summary lists every setting it holds
  await sweep(false, fourth, { sparsities: [0.9] });
  const summary = JSON.parse(readFileSync(join(out, 'compress.json'), 'utf8')) as { rows: { sparsity: number }[] };
  assert.deepEqual(summary.rows.map((r) => r.sparsity), [0.9, 0.5]);
  const r = spawnSync(process.execPath, [CLI, 'compress', '--from', run, '--out', join(out, '..', 'oneshot'), '--qat'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--qat trains with the quantized weights, so it needs a finetuning mode/);
});

test('--distill finetunes a compressed model against the uncompressed one: its first loss is the distillation loss, and the key covers it', async () => {
  const { run } = await finetunedClassifier();
  const root = tempDir('tlc-distill-');
  const sweep = (name: string, distill?: { alpha: number; temperature: number }) => compressSweep({
    model: run, out: join(root, name), sparsities: [0.5], bits: [8], pruning: 'layer', mode: 'finetune',
    finetune: { steps: 8, batch_size: 16, lr: 1e-4 }, qat: false, seed: 0, ...(distill ? { distill } : {}),
  });
  const first = (name: string) => readMetrics(join(root, name, 's0.5-b8', 'finetune', 'metrics.jsonl')).find((e) => e.event === 'train')!.loss;
  const plain = await sweep('plain'), soft = await sweep('soft', { alpha: 0.7, temperature: 3 }), hardOnly = await sweep('hard', { alpha: 0, temperature: 3 });
  // α = 0 is the cross-entropy, on the same first batch; α = 0.7 is something else
  assert.ok(Math.abs(first('hard') - first('plain')) < 1e-5 * first('plain'), `${first('hard')} vs ${first('plain')}`);
  assert.ok(Math.abs(first('soft') - first('plain')) > 1e-3, 'the teacher term changes the loss');
  assert.ok(soft.rows[0].accuracy !== null && plain.rows[0].accuracy !== null && hardOnly.rows[0].accuracy !== null);
  const settings = JSON.parse(readFileSync(join(root, 'soft', 's0.5-b8', 'result.json'), 'utf8')).settings;
  assert.deepEqual(settings.methods.distillation, { alpha: 0.7, temperature: 3 });
  const r = spawnSync(process.execPath, [CLI, 'compress', '--from', run, '--out', join(root, 'oneshot'), '--distill'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--distill .* needs a finetuning mode/);
});

test('a signal stops a one-shot sweep between settings; the rerun reuses what was done and finishes', async () => {
  const { run } = await finetunedClassifier();
  const out = join(tempDir('tlc-stop-'), 'cmp');
  const controller = new AbortController();
  const args = { model: run, out, sparsities: [0, 0.5, 0.9], bits: [8, 4], pruning: 'layer' as const, mode: 'oneshot' as const, finetune: {}, qat: false, seed: 0 };
  // the signal arrives while the first setting is logged, as a Ctrl-C during its scoring would
  const first = await compressSweep(args, (line) => { if (/bits:/.test(line)) controller.abort(); }, () => ({}), controller.signal);
  assert.equal(first.interrupted, true);
  assert.equal(first.rows.length, 1);
  assert.ok(!existsSync(join(out, 'compress.json')), 'no summary of a sweep that did not finish');
  const log: string[] = [];
  const rest = await compressSweep(args, (l) => log.push(l));
  assert.equal(rest.interrupted, false);
  assert.equal(rest.rows.length, 6);
  assert.equal(log.filter((l) => /done before with the same settings, reused/.test(l)).length, 1);
});
