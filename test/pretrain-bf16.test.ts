// bf16 mixed-precision pretraining end to end: it learns like f32 at equal steps, logs the
// precision it resolved, and a bf16 run killed with SIGKILL and resumed ends bit-identical to
// an uninterrupted bf16 run (master weights, moments and checkpoints are f32 as in f32 runs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetConfig } from '../src/nn/config.js';
import { pretrain } from '../src/train/pretrain.js';
import { readMetrics } from '../src/run/metrics.js';
import { AUTO_BF16_MIN_SPEEDUP, cpuFeatures } from '../src/engine/mixed.js';
import { readSafetensors, tidy } from '../src/engine/index.js';
import { preparedSyntheticData, pretrainOptions } from './corpus-fixture.js';
import { runAndKill, runToEnd } from './processes.js';
import { noBf16 } from './helpers.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

async function trainTiny(precision: string, steps: number): Promise<{ run: string; valid: number[]; train: number[] }> {
  const data = await preparedSyntheticData();
  const run = join(tempDir(`tlc-${precision}-`), 'run');
  await pretrain(run, pretrainOptions({
    data, model: presetConfig('L2-D64', { vocab_size: 320, max_len: 32, dropout: 0, objective: 'clm' }), steps,
    batch_size: 16, micro_batch_size: 8, seq_len: 32, lr: 3e-3, warmup: 0.06, eval_every: 0.25, eval_tokens: 4096,
    save_every: 1, keep: 1, precision,
  }));
  const events = readMetrics(join(run, 'metrics.jsonl'));
  return {
    run,
    valid: events.filter((e) => e.event === 'eval').map((e) => e.valid_loss as number),
    train: events.filter((e) => e.event === 'train').map((e) => e.loss),
  };
}

// Observed: the two runs' validation losses differ by at most 0.03% (5.76 → 2.00 over 60 steps); held to 1%.
test('bf16 training learns like f32: validation loss within 1% of the f32 run at every evaluation', { skip: noBf16() }, async () => {
  const f32 = await trainTiny('f32', 60), bf16 = await trainTiny('bf16', 60);
  assert.equal(bf16.valid.length, f32.valid.length);
  assert.ok(bf16.valid[bf16.valid.length - 1] < 0.7 * bf16.valid[0], `bf16 validation loss only fell from ${bf16.valid[0]} to ${bf16.valid.at(-1)}`);
  for (let i = 0; i < f32.valid.length; i++) {
    const rel = Math.abs(bf16.valid[i] - f32.valid[i]) / f32.valid[i];
    assert.ok(rel < 0.01, `evaluation ${i}: bf16 ${bf16.valid[i]} vs f32 ${f32.valid[i]} (${(100 * rel).toFixed(2)}%)`);
  }
  assert.notDeepEqual(bf16.train, f32.train, 'the bf16 run computed in bf16');
  assert.ok(bf16.train.every(Number.isFinite));
  const start = readMetrics(join(bf16.run, 'metrics.jsonl')).find((e) => e.event === 'start')!;
  assert.equal(start.precision, 'bf16');
  assert.equal(JSON.parse(readFileSync(join(bf16.run, 'run.json'), 'utf8')).options.precision, 'bf16');
  // checkpoints hold the f32 master weights, as in f32 runs
  tidy(() => {
    const { tensors } = readSafetensors(join(bf16.run, 'model.safetensors'));
    for (const [name, t] of tensors) assert.equal(t.dtype, 'f32', name);
  });
});

test('auto resolves by the CPU and a measured bf16 speed-up, is logged with its reason and kept as auto in run.json', async () => {
  const auto = await trainTiny('auto', 4);
  const start = readMetrics(join(auto.run, 'metrics.jsonl')).find((e) => e.event === 'start')!;
  const why = String(start.precision_why);
  if (!cpuFeatures().nativeBf16) {
    assert.equal(start.precision, 'f32');
    assert.match(why, /no native bf16 dot products/);
  } else {
    // the rule (tested on its own in engine-bf16), applied to the speed-up this run measured
    const speedup = start.bf16_speedup as number;
    assert.ok(speedup > 0, `the start event records the measured speed-up: ${JSON.stringify(start)}`);
    assert.equal(start.precision, speedup >= AUTO_BF16_MIN_SPEEDUP ? 'bf16' : 'f32', why);
  }
  const runJson = JSON.parse(readFileSync(join(auto.run, 'run.json'), 'utf8'));
  assert.equal(runJson.options.precision, 'auto');
});

function cliArgs(data: string, out: string): string[] {
  return [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '40', '--batch-size', '8',
    '--micro-batch-size', '4', '--seq-len', '32', '--seed', '3', '--dropout', '0.1', '--save-every', '1', '--eval-every', '10',
    '--eval-tokens', '512', '--precision', 'bf16'];
}

test('a bf16 run killed with SIGKILL and resumed ends bit-identical to an uninterrupted bf16 run, and keeps its precision', { skip: noBf16() }, async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-resume-bf16-');
  const straight = join(root, 'straight'), killed = join(root, 'killed');
  runToEnd(cliArgs(data, straight));
  const first = await runAndKill(cliArgs(data, killed), killed, 9);
  assert.ok(first.step >= 9 && first.step < 40, `killed at step ${first.step}`);
  assert.ok(first.checkpointStep !== null && first.checkpointStep > 0, `state.json at step ${first.checkpointStep}`);
  runToEnd([CLI, 'pretrain', '--resume', killed]);
  const events = readMetrics(join(killed, 'metrics.jsonl'));
  const resume = events.find((e) => e.event === 'resume');
  assert.ok(resume, 'the run was resumed');
  assert.equal(resume.precision, 'bf16', 'the resumed run keeps its precision');
  const a = readFileSync(join(straight, 'model.safetensors')), b = readFileSync(join(killed, 'model.safetensors'));
  assert.ok(a.equals(b), 'final weights differ between the uninterrupted and the killed-and-resumed bf16 run');
  const lossA = readMetrics(join(straight, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => e.loss);
  const lossB = events.filter((e) => e.event === 'train').map((e) => e.loss);
  assert.deepEqual(lossB, lossA, 'the per-step training losses differ');
});

test('--precision bf16 on a CPU without bf16 products: one clear line naming the tier, a non-zero exit, no run directory', async () => {
  const data = await preparedSyntheticData();
  const out = join(tempDir('tlc-nobf16-'), 'run');
  // an x86-64 tier below AVX-512; arm64 has no bf16 products at its one tier
  const low = process.arch === 'arm64' ? 'neon' : 'avx2';
  const r = spawnSync(process.execPath, [CLI, 'pretrain', '--data', data, '--model', 'L2-D128', '--steps', '2', '--precision', 'bf16', '--out', out],
    { encoding: 'utf8', env: { ...process.env, TLC_MAX_ISA: low } });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^tlc: error: --precision bf16: this CPU cannot multiply in bf16: .* at the ${low} tier .*use f32`));
  assert.ok(!existsSync(out), 'no run directory is left');
});

test('a bf16 run resumed where bf16 cannot run is refused in one line, and its files are left as they were', { skip: noBf16() }, async () => {
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-bf16-elsewhere-'), 'run');
  const args = [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', run, '--steps', '2', '--batch-size', '4', '--seq-len', '32', '--precision', 'bf16'];
  runToEnd(args);
  const before = readFileSync(join(run, 'state.json'), 'utf8');
  const r = spawnSync(process.execPath, [CLI, 'pretrain', '--resume', run, '--steps', '4'], { encoding: 'utf8', env: { ...process.env, TLC_MAX_ISA: 'avx2' } });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /cannot multiply in bf16/);
  assert.equal(readFileSync(join(run, 'state.json'), 'utf8'), before);
});
