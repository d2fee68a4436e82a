// Warmup–stable–decay with cooldown branches: the schedule's shape, branches that fork at
// the right step and decay to zero, and a branch killed part-way that resumes bit-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { learningRate } from '../src/train/schedule.js';
import { readMetrics } from '../src/run/metrics.js';
import { preparedSyntheticData } from './corpus-fixture.js';
import { runAndKill, runToEnd } from './processes.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('wsd: warmup, then constant; a cooldown branch holds the peak to its fork, then falls to zero', () => {
  const trunk = { peakLr: 1e-3, warmup: 0.1, decay: 'wsd' as const };
  assert.equal(learningRate(trunk, 0.05), 5e-4);
  for (const p of [0.1, 0.5, 0.99, 1]) assert.equal(learningRate(trunk, p), 1e-3);
  const start = 1 / 1.2;
  const sqrt = { ...trunk, cooldown: { start, shape: '1-sqrt' as const } };
  const lin = { ...trunk, cooldown: { start, shape: 'linear' as const } };
  assert.equal(learningRate(sqrt, start), 1e-3);
  assert.equal(learningRate(sqrt, 1), 0);
  const mid = (start + 1) / 2;
  assert.ok(Math.abs(learningRate(lin, mid) - 5e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(sqrt, mid) - 1e-3 * (1 - Math.SQRT1_2)) < 1e-15);
  // a linear decay over the whole budget is a different schedule
  assert.ok(learningRate({ ...trunk, decay: 'linear' }, 0.5) < 1e-3);
});

function cli(data: string, out: string): string[] {
  return [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '40', '--batch-size', '8', '--seq-len', '32',
    '--eval-tokens', '512', '--eval-every', '0.5', '--save-every', '5', '--schedule', 'wsd', '--branches', '0.5,1', '--cooldown', '0.25',
    '--warmup', '0.1', '--lr', '3e-3', '--precision', 'f32'];
}

test('wsd branches fork at their fraction, decay to zero, and resume bit-identical after SIGKILL', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-wsd-');
  const straight = join(root, 'straight'), killed = join(root, 'killed');
  const out = runToEnd(cli(data, straight));
  assert.match(out, /cooldown branch at 0\.5 of the budget: validation loss/);
  const trunk = readMetrics(join(straight, 'metrics.jsonl')).filter((e) => e.event === 'train');
  assert.equal(trunk.length, 40);
  assert.ok(trunk.slice(4).every((e) => e.lr === 3e-3), 'the trunk stays at its peak after warmup');
  for (const [name, fork, steps] of [['0.50', 20, 25], ['1.00', 40, 50]] as const) {
    const events = readMetrics(join(straight, 'branches', name, 'metrics.jsonl'));
    const train = events.filter((e) => e.event === 'train');
    assert.equal(train[0].step, fork + 1, `branch ${name} continues the trunk after step ${fork}`);
    assert.equal(train.at(-1)!.step, steps, `branch ${name} trains 25% past its fork`);
    assert.ok(train.every((e, i) => i === 0 || e.lr <= train[i - 1].lr), 'the rate only falls in a branch');
    assert.ok(train.at(-1)!.lr < 3e-3 * 0.5 && train[0].lr > 3e-3 * 0.5);
    const end = events.at(-1)!;
    assert.equal(end.event, 'end');
    assert.ok(typeof end.valid_loss === 'number');
  }
  // killed inside the first branch, resumed twice: the same weights and losses as straight through
  await runAndKill(cli(data, killed), join(killed, 'branches', '0.50'), 22);
  runToEnd([CLI, 'pretrain', '--resume', killed]);
  for (const name of ['0.50', '1.00']) {
    const a = readFileSync(join(straight, 'branches', name, 'model.safetensors'));
    const b = readFileSync(join(killed, 'branches', name, 'model.safetensors'));
    assert.ok(a.equals(b), `branch ${name}: weights differ after the kill and resume`);
    const losses = (run: string) => readMetrics(join(run, 'branches', name, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => e.loss);
    assert.deepEqual(losses(killed), losses(straight));
  }
});

test('branches need the wsd schedule; finetuning refuses wsd', async () => {
  const data = await preparedSyntheticData();
  const out = join(tempDir('tlc-wsd-bad-'), 'run');
  const r = (await import('node:child_process')).spawnSync(process.execPath,
    [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '5', '--branches', '0.5'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /branches fork from a wsd trunk: add --schedule wsd/);
});
