// `tlc sweep`: every point trained under the same budget; killed mid-run and run again, it
// finishes without redoing finished runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMetrics } from '../src/run/metrics.js';
import { preparedSyntheticData } from './corpus-fixture.js';
import { readSweepSpec } from '../src/experiment/sweep.js';
import { runAndKill } from './processes.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('a sweep killed during its second run resumes that run and skips the finished one', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-sweep-');
  const spec = join(root, 'sweep.yaml');
  writeFileSync(spec, [`data: ${data}`, 'sizes: [L1-D32, L1-D48]', 'steps: 40', 'seq_len: 32', 'batch_sizes: [8]',
    'micro_batch_size: 4', 'eval_every: 0.5', 'eval_tokens: 512'].join('\n') + '\n');
  const out = join(root, 'out');
  const killed = await runAndKill([CLI, 'sweep', spec, '--out', out], join(out, 'runs', 'L1-D48'), 5);
  // killed in the middle of the second run, with the first one finished
  assert.ok(killed.step >= 5 && killed.step < 40 && killed.checkpointStep! > 0, `killed at step ${killed.step}, checkpoint ${killed.checkpointStep}`);
  assert.ok(readMetrics(join(out, 'runs', 'L1-D32', 'metrics.jsonl')).some((e) => e.event === 'end'), 'the first run had finished');
  const second = join(out, 'runs', 'L1-D48', 'metrics.jsonl');
  const r = spawnSync(process.execPath, [CLI, 'sweep', spec, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /L1-D32: finished before, skipped/);
  const first = readMetrics(join(out, 'runs', 'L1-D32', 'metrics.jsonl'));
  assert.equal(first.filter((e) => e.event === 'start').length, 1, 'the finished run was not redone');
  assert.ok(readMetrics(second).some((e) => e.event === 'resume'), 'the interrupted run was resumed');
  const summary = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
  assert.deepEqual(summary.rows.map((x: { name: string; steps: number }) => [x.name, x.steps]), [['L1-D32', 40], ['L1-D48', 40]]);
  // noise scale is logged once enough steps with accumulation have passed
  assert.ok(first.some((e) => e.event === 'train' && typeof e.noise_scale === 'number'));

  // two sizes of linear-decay runs: one end-of-schedule loss each, too little for a fit; the
  // planner says why instead of fitting mid-schedule evaluations (test/plan.test.ts plans on four sizes)
  const plan = spawnSync(process.execPath, [CLI, 'plan', '--sweep', out, '--budget', '10m', '--json'], { encoding: 'utf8' });
  assert.notEqual(plan.status, 0);
  assert.match(plan.stderr, /end-of-schedule losses of 2 size\(s\) \(L1-D32, L1-D48\): the fit needs at least three sizes/);
});

test('a sweep rerun into its own folder may add runs; other settings, another rate or a dropped run are refused, nothing changed', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-sweep-rerun-');
  const out = join(root, 'out');
  const sweep = (lines: string[]) => {
    const spec = join(root, 'spec.yaml');
    writeFileSync(spec, [`data: ${data}`, 'seq_len: 32', 'batch_sizes: [8]', 'eval_tokens: 256', ...lines].join('\n') + '\n');
    return spawnSync(process.execPath, [CLI, 'sweep', spec, '--out', out], { encoding: 'utf8' });
  };
  assert.equal(sweep(['sizes: [L1-D32]', 'steps: 4']).status, 0);
  const held = readFileSync(join(out, 'sweep.spec.json'), 'utf8');
  const refusals: [string[], RegExp][] = [
    [['sizes: [L1-D32]', 'steps: 8'], /holds a sweep made with other settings \(steps: "?4"? → "?8"?\): rerun it with the same ones/],
    [['sizes: [L1-D48]', 'steps: 4'], /holds run L1-D32, which this sweep no longer names/],
    [['sizes: [L1-D32]', 'steps: 4', 'lr: 0.002'], /holds a sweep made with other settings \(lr: /],
  ];
  for (const [lines, message] of refusals) {
    const r = sweep(lines);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(readFileSync(join(out, 'sweep.spec.json'), 'utf8'), held, 'the folder still describes its own sweep');
  }
  const added = sweep(['sizes: [L1-D32, L1-D48]', 'steps: 4']);
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stderr, /L1-D32: finished before, skipped/);
  const rows = (JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as { rows: { name: string }[] }).rows;
  assert.deepEqual(rows.map((r) => r.name), ['L1-D32', 'L1-D48']);
});

test('a bad sweep file gives a clear error', () => {
  const root = tempDir('tlc-sweep-bad-');
  const spec = join(root, 'bad.yaml');
  writeFileSync(spec, 'data: x\nsizes: [L1-D32]\nbudget: 1m\nlearning_rate: 3\n');
  const r = spawnSync(process.execPath, [CLI, 'sweep', spec, '--out', join(root, 'o')], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /bad\.yaml: invalid sweep .*learning_rate/);
});

test('task: translation is a sweep of encoder–decoders; a contradicting objective is refused', () => {
  const root = tempDir('tlc-sweep-task-');
  const write = (name: string, text: string) => {
    const path = join(root, name);
    writeFileSync(path, text);
    return path;
  };
  assert.equal(readSweepSpec(write('mt.yaml', 'data: de-en\ntask: translation\nlayers: [2, 6]\nwidths: [128]\nbudget: 1m\n')).objective, 'seq2seq');
  assert.equal(readSweepSpec(write('lm.yaml', 'data: d\nsizes: [L1-D32]\nbudget: 1m\n')).objective, 'mlm');
  assert.throws(() => readSweepSpec(write('bad.yaml', 'data: d\ntask: translation\nobjective: clm\nsizes: [L1-D32]\n')),
    /task translation trains encoder–decoders \(objective seq2seq\), not objective clm/);
});

test('a learning-rate probe: every size at each rate; the fit keeps each size and budget at its best rate', async () => {
  const { sweepPoints } = await import('../src/experiment/sweep.js');
  const { fitPoints } = await import('../src/experiment/plan.js');
  const points = sweepPoints({ data: 'd', sizes: ['L1-D32', 'L2-D64'], steps: 10, lrs: [1e-3, 3e-3] });
  assert.deepEqual(points.map((p) => [p.name, p.lr]), [['L1-D32-lr0.001', 1e-3], ['L1-D32-lr0.003', 3e-3], ['L2-D64-lr0.001', 1e-3], ['L2-D64-lr0.003', 3e-3]]);
  const run = (preset: string, lr: number, losses: number[]) => ({
    name: `${preset}-lr${lr}`, preset, batch_size: 32, lr, params: 1, non_embedding_params: preset === 'a' ? 1e5 : 1e6, steps: 1, tokens: 1,
    train_seconds: 1, valid_loss: losses.at(-1)!, tokens_per_s: 1, run: `${preset}-${lr}`, curve: [], noiseScale: null, precision: null, unigramLoss: null,
    points: losses.map((l, i) => ({ kind: 'branch' as const, fraction: [0.5, 1][i], trainSeconds: i + 1, tokens: 1e6 * (i + 1), flops: 1, validLoss: l })),
  });
  const fitted = fitPoints([run('a', 1e-3, [5, 4]), run('a', 3e-3, [4.5, 4.2]), run('b', 1e-3, [4, 3.5])]);
  assert.deepEqual(fitted.map((p) => [p.preset, p.fraction, p.loss, p.run]), [['a', 0.5, 4.5, 'a-0.003'], ['a', 1, 4, 'a-0.001'], ['b', 0.5, 4, 'b-0.001'], ['b', 1, 3.5, 'b-0.001']]);
});

test('size_lrs trains each size at its own peak rate; a size it names must be swept, and it excludes lrs', async () => {
  const { sweepPoints } = await import('../src/experiment/sweep.js');
  const points = sweepPoints({ data: 'd', sizes: ['L1-D32', 'L2-D64', 'L4-D128'], steps: 10, lr: 7e-4, size_lrs: { 'L1-D32': 2e-3, 'L2-D64': 1e-3 } });
  assert.deepEqual(points.map((p) => [p.name, p.lr]), [['L1-D32', 2e-3], ['L2-D64', 1e-3], ['L4-D128', 7e-4]]);
  assert.throws(() => sweepPoints({ data: 'd', sizes: ['L1-D32'], steps: 10, size_lrs: { 'L2-D64': 1e-3 } }), /size_lrs names L2-D64, not among the sweep's sizes \(L1-D32\)/);
  assert.throws(() => sweepPoints({ data: 'd', sizes: ['L1-D32'], steps: 10, lrs: [1e-3], size_lrs: { 'L1-D32': 1e-3 } }), /give "lrs".*or "size_lrs".*not both/);
});

test('time_in_tokens fixes each size a token budget from its throughput probe; --worker splits the runs, and the summary gathers both halves', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-sweep-probe-');
  const spec = join(root, 'sweep.yaml');
  writeFileSync(spec, [`data: ${data}`, 'sizes: [L1-D32, L2-D64]', 'budget: 2s', 'time_in_tokens: true', 'probe: 1s', 'seq_len: 32',
    'batch_sizes: [8]', 'eval_every: 0.5', 'eval_tokens: 512'].join('\n') + '\n');
  const out = join(root, 'out');
  for (const worker of ['1/2', '0/2']) {
    const r = spawnSync(process.execPath, [CLI, 'sweep', spec, '--out', out, '--worker', worker], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`worker ${Number(worker[0]) + 1} of 2 \\(--worker\\): 1 of 2 runs`));
    if (worker === '1/2') assert.match(r.stdout, /not finished yet, on other workers: L1-D32/);
  }
  const rows = (JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as { rows: { name: string; tokens: number; probe_tokens_per_s: number }[] }).rows;
  assert.deepEqual(rows.map((r) => r.name), ['L1-D32', 'L2-D64']);
  for (const row of rows) {
    const args = JSON.parse(readFileSync(join(out, 'runs', row.name, 'run.json'), 'utf8')) as { options: { tokens?: number; budget?: string } };
    // the run trained the tokens its probe measured for 2 s, not a time budget
    assert.equal(args.options.budget, undefined);
    assert.equal(args.options.tokens, Math.round(2 * row.probe_tokens_per_s));
    assert.ok(row.tokens >= args.options.tokens! && row.tokens < args.options.tokens! + 8 * 32);
  }
  // the smaller model is faster: its probe, and so its token budget, is larger
  assert.ok(rows[0].probe_tokens_per_s > rows[1].probe_tokens_per_s);
  const bad = join(root, 'bad.yaml');
  writeFileSync(bad, [`data: ${data}`, 'sizes: [L1-D32]', 'tokens: 2000', 'time_in_tokens: true'].join('\n') + '\n');
  const r = spawnSync(process.execPath, [CLI, 'sweep', bad, '--out', join(root, 'bad')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /time_in_tokens turns a time budget into tokens: give `budget`/);
});
