// `tlc bench infer` as a real process on a real run: the DESIGN.md JSON contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpSync, readFileSync } from 'node:fs';
import { compressSweep } from '../src/experiment/compress-sweep.js';
import { pretrainedRun } from './corpus-fixture.js';
import { kernelsOf } from './helpers.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const VARIANTS = ['fp32', 'bf16', 'int8', 'w4', 'w4a8', 'sparse50', 'sparse70', 'sparse90', 'struct50', 'struct50-int8'];

test('bench infer --json prints one row per variant and batch size', async () => {
  const run = await pretrainedRun();
  const p = spawnSync(process.execPath, [CLI, 'bench', 'infer', run, '--json', '--rounds', '1', '--batch-size', '3', '--seq-len', '16'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const { rows } = JSON.parse(p.stdout);
  assert.equal(rows.length, 2 * VARIANTS.length);
  for (const v of VARIANTS) {
    for (const batch of [1, 3]) {
      const r = rows.find((x: { variant: string; batch: number }) => x.variant === v && x.batch === batch);
      assert.ok(r, `${v} at batch ${batch}`);
      assert.deepEqual(Object.keys(r).sort(), ['batch', 'latency_ms', 'seq_per_s', 'variant']);
      assert.ok(r.latency_ms > 0 && Math.abs(r.seq_per_s - 1000 * batch / r.latency_ms) < 1e-6 * r.seq_per_s);
    }
  }
  assert.match(p.stderr, /round 1\/1/, 'progress goes to stderr');
});

test('bench infer --versus onnxruntime times both engines on the same exported model, fp32 and int8', async () => {
  const run = await pretrainedRun();
  const p = spawnSync(process.execPath, [CLI, 'bench', 'infer', run, '--versus', 'onnxruntime', '--json', '--rounds', '1', '--batch-size', '3', '--seq-len', '16'],
    { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const { versus, system } = JSON.parse(p.stdout);
  assert.equal(system.isa.tier, JSON.parse(spawnSync(process.execPath, [CLI, 'info', '--json'], { encoding: 'utf8' }).stdout).isa.tier);
  assert.equal(versus.onnxruntime.package, 'onnxruntime-node');
  assert.deepEqual(versus.rows.map((r: { variant: string; batch: number }) => `${r.variant}/${r.batch}`), ['fp32/1', 'fp32/3', 'int8/1', 'int8/3']);
  for (const r of versus.rows) {
    assert.ok(r.tlc_latency_ms > 0 && r.onnxruntime_latency_ms > 0);
    assert.ok(Math.abs(r.speedup - r.onnxruntime_latency_ms / r.tlc_latency_ms) < 1e-9);
  }
  const bad = spawnSync(process.execPath, [CLI, 'bench', 'infer', '--versus', 'onnxruntime', '--variants', 'fp32'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--versus times fp32 and int8 on both engines: leave out --variants and --task/);
});

test('bench infer rejects unknown variants and missing models clearly', () => {
  let p = spawnSync(process.execPath, [CLI, 'bench', 'infer', '--variants', 'fp32,fp8'], { encoding: 'utf8' });
  assert.notEqual(p.status, 0);
  assert.match(p.stderr, /unknown variant "fp8"/);
  p = spawnSync(process.execPath, [CLI, 'bench', 'infer', '/nonexistent/run'], { encoding: 'utf8' });
  assert.notEqual(p.status, 0);
  assert.match(p.stderr, /\/nonexistent\/run: not a tlc run directory \(.*config.json is missing\)/);
});

test('bench latency re-times compression settings in one run and writes the numbers back', async () => {
  const run = await pretrainedRun();
  const out = join(tempDir('tlc-latency-'), 'cmp');
  await compressSweep({ model: run, out, sparsities: [0, 0.9], bits: [8], pruning: 'layer', mode: 'oneshot', finetune: {}, qat: false, seed: 0 });
  const before = readFileSync(join(out, 'compress.json'), 'utf8');
  const settings = ['s0-b8', 's0.9-b8'].map((s) => join(out, s));
  // a directory that is not a setting stops --write before anything is timed or written
  const mixed = spawnSync(process.execPath, [CLI, 'bench', 'latency', out, run, '--rounds', '1', '--write'], { encoding: 'utf8' });
  assert.equal(mixed.status, 1);
  assert.match(mixed.stderr, /not a setting of `tlc compress` \(no result\.json\)/);
  assert.equal(readFileSync(join(out, 'compress.json'), 'utf8'), before, 'nothing was written');
  // the output directory stands for its settings, and files a glob picks up are skipped
  const p = spawnSync(process.execPath, [CLI, 'bench', 'latency', out, join(out, 'compress.json'), '--rounds', '1', '--seq-len', '16', '--write', '--json'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const { rows } = JSON.parse(p.stdout) as { rows: { dir: string; kernels: string; latency_ms: number; seq_len: number }[] };
  const summary = JSON.parse(readFileSync(join(out, 'compress.json'), 'utf8')) as { rows: { latency_ms: number; latency_seq_len: number; kernels: string }[] };
  assert.deepEqual(rows.map((r) => r.kernels), summary.rows.map((r) => r.kernels), 'timed on the kernels compress chose');
  assert.match(rows[0].kernels, kernelsOf(8, 1));
  assert.deepEqual(summary.rows.map((r) => [r.latency_ms, r.latency_seq_len]), rows.map((r) => [r.latency_ms, 16]), 'compress.json has the new latencies');
  const strip = (text: string) => JSON.stringify((JSON.parse(text) as { rows: object[] }).rows.map((r) => ({ ...r, latency_ms: 0, latency_seq_len: 0 })));
  assert.equal(strip(readFileSync(join(out, 'compress.json'), 'utf8')), strip(before), 'and nothing else changed');
  assert.deepEqual(rows.map((r) => r.dir), settings, 'one row per setting');
  const result = JSON.parse(readFileSync(join(settings[1], 'result.json'), 'utf8')) as { row: { latency_ms: number } };
  assert.equal(result.row.latency_ms, rows[1].latency_ms);
  // files are named relative to the output: a copy re-timed with --write changes the copy, never the original
  const copy = join(out, '..', 'copy');
  cpSync(out, copy, { recursive: true });
  const original = readFileSync(join(out, 'compress.json'), 'utf8');
  const again = spawnSync(process.execPath, [CLI, 'bench', 'latency', copy, '--rounds', '1', '--seq-len', '8', '--write', '--json'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual((JSON.parse(again.stdout) as { rows: { dir: string }[] }).rows.map((r) => r.dir), ['s0-b8', 's0.9-b8'].map((s) => join(copy, s)));
  assert.equal(readFileSync(join(out, 'compress.json'), 'utf8'), original, 'the original is untouched');
  const copied = JSON.parse(readFileSync(join(copy, 'compress.json'), 'utf8')) as { rows: { file: string; latency_seq_len: number }[] };
  assert.deepEqual(copied.rows.map((r) => [r.file, r.latency_seq_len]), [['s0-b8/model.tlcz.safetensors', 8], ['s0.9-b8/model.tlcz.safetensors', 8]]);
});
