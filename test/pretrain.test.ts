// Pretraining end to end: learning happens, and a run killed with SIGKILL at an
// arbitrary moment and resumed ends bit-identical to an uninterrupted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { presetConfig } from '../src/nn/config.js';
import { pretrain, readPretrainOptions } from '../src/train/pretrain.js';
import { readMetrics } from '../src/run/metrics.js';
import { listBranches, runEnded } from '../src/train/branches.js';
import { learningRate } from '../src/train/schedule.js';
import { pretrainArgsOf } from '../src/train/args.js';
import { preparedSyntheticData, pretrainOptions, syntheticDocuments } from './corpus-fixture.js';
import { prepareData } from '../src/data/prepare.js';
import { runAndKill, runToEnd, start, waitUntil } from './processes.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function baseOptions(data: string, vocab: number, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    data, model: presetConfig('L2-D64', { vocab_size: vocab, max_len: 32, dropout: 0 }), steps: 100,
    batch_size: 16, micro_batch_size: 8, seq_len: 32, lr: 3e-3, warmup: 0.06,
    eval_every: 0.5, eval_tokens: 4096, save_every: 0.5, save_at: [0.5], keep: 2, ...more,
  };
}

async function trainTiny(objective: 'mlm' | 'clm', steps: number): Promise<{ run: string; first: number; last: number; steps: number }> {
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-run-'), 'run');
  const result = await pretrain(run, pretrainOptions(baseOptions(data, 320, {
    model: presetConfig('L2-D64', { vocab_size: 320, max_len: 32, dropout: 0, objective }), steps,
  })));
  const evals = readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'eval');
  return { run, first: evals[0].valid_loss as number, last: evals[evals.length - 1].valid_loss as number, steps: result.steps };
}

test('a tiny causal LM learns: validation loss falls far below its start', async () => {
  const { run, first, last, steps } = await trainTiny('clm', 300);
  assert.ok(first > 5, `initial validation loss ${first} should be near ln(320) = 5.77`);
  assert.ok(last < 0.25 * first, `validation loss only fell from ${first} to ${last}`);
  assert.equal(steps, 300);
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors', 'state.json', 'metrics.jsonl', 'checkpoints/budget-0.50/model.safetensors']) {
    assert.ok(existsSync(join(run, f)), `run directory lacks ${f}`);
  }
  const train = readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'train');
  assert.ok(train.every((e) => typeof e.tokens_per_s === 'number' && typeof e.lr === 'number'));
  assert.ok((train[train.length - 1].lr as number) < 3e-3 * 0.01, 'the schedule should reach ~0 at the end of the budget');
});

test('a tiny masked LM learns past its starting loss', async () => {
  // Masked LM needs attention to reach its context, and a model this small sits near the
  // unigram loss for a while (PyTorch follows the same curve from the same start).
  const { first, last } = await trainTiny('mlm', 150);
  assert.ok(last < 0.75 * first, `validation loss only fell from ${first} to ${last}`);
});

// Runs compared bit for bit pin their precision: `auto` times bf16 against f32, and two
// processes on a busy machine may choose differently.
function cliArgs(data: string, out: string): string[] {
  return [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '40', '--batch-size', '8',
    '--micro-batch-size', '4', '--seq-len', '32', '--seed', '3', '--dropout', '0.1', '--save-every', '1', '--eval-every', '10', '--eval-tokens', '512',
    '--precision', 'f32'];
}

test('a step-budget run killed with SIGKILL and resumed ends bit-identical to an uninterrupted run', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-resume-');
  const straight = join(root, 'straight'), killed = join(root, 'killed');
  runToEnd(cliArgs(data, straight));
  // killed mid-run both times (not before training, not after the 40-step budget), the second
  // time after resuming past the first kill
  const first = await runAndKill(cliArgs(data, killed), killed, 7);
  assert.ok(first.step >= 7 && first.step < 40, `first kill at step ${first.step}`);
  assert.ok(first.checkpointStep !== null && first.checkpointStep > 0 && first.checkpointStep <= first.step,
    `state.json at step ${first.checkpointStep} when killed at step ${first.step}`);
  const second = await runAndKill([CLI, 'pretrain', '--resume', killed], killed, 23);
  assert.ok(second.step >= 23 && second.step < 40, `second kill at step ${second.step}`);
  assert.ok(second.checkpointStep !== null && second.checkpointStep >= first.checkpointStep && second.checkpointStep <= second.step,
    `state.json at step ${second.checkpointStep} when killed at step ${second.step}`);
  runToEnd([CLI, 'pretrain', '--resume', killed]);
  assert.equal(readMetrics(join(killed, 'metrics.jsonl')).filter((e) => e.event === 'resume').length, 2, 'the run was resumed twice');
  const a = readFileSync(join(straight, 'model.safetensors')), b = readFileSync(join(killed, 'model.safetensors'));
  assert.ok(a.equals(b), 'final weights differ between the uninterrupted and the killed-and-resumed run');
  const endA = readMetrics(join(straight, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => e.loss);
  const endB = readMetrics(join(killed, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => e.loss);
  assert.deepEqual(endB, endA, 'the per-step training losses differ');
});

test('truncated checkpoints, all of them, give a clear error naming the files, not a crash', async () => {
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-corrupt-'), 'run');
  const killed = await runAndKill(cliArgs(data, run), run, 5);
  assert.ok(killed.step < 40 && killed.checkpointStep !== null && killed.checkpointStep > 0, `killed at step ${killed.step}, checkpoint ${killed.checkpointStep}`);
  // resume falls back to an older checkpoint (test/reliability.test.ts): damage every one
  for (const name of readdirSync(join(run, 'checkpoints')).filter((n) => !n.startsWith('.'))) {
    const weights = join(run, 'checkpoints', name, 'model.safetensors');
    truncateSync(weights, Math.floor(statSync(weights).size / 2));
  }
  const r = spawnSync(process.execPath, [CLI, 'pretrain', '--resume', run], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^tlc: error: .*no checkpoint can be restored.*model\.safetensors.*/m);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('bad pretrain flags give one clear line and a non-zero exit', async () => {
  const data = await preparedSyntheticData();
  const out = join(tempDir('tlc-bad-'), 'run');
  const cases: [string[], RegExp][] = [
    [['--model', 'L2-D64', '--out', out], /missing --data/],
    [['--data', data, '--model', 'X9', '--out', out, '--steps', '5'], /unknown model preset "X9"/],
    [['--data', data, '--model', 'L1-D32', '--out', out], /no budget/],
    [['--data', data, '--model', 'L1-D32', '--out', out, '--budget', '10 parsecs'], /invalid duration "10 parsecs"/],
    [['--data', data, '--model', 'L1-D32', '--out', out, '--steps', '5', '--batch-size', '6', '--micro-batch-size', '4'], /micro-batch size 4 must divide the batch size 6/],
    [['--data', join(out, 'nowhere'), '--model', 'L1-D32', '--out', out, '--steps', '5'], /data\.json: not found/],
  ];
  for (const [args, pattern] of cases) {
    const r = spawnSync(process.execPath, [CLI, 'pretrain', ...args], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern);
  }
});

test('a time-budget run interrupted with SIGINT resumes its remaining budget and its LR schedule', async () => {
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-time-'), 'run');
  const args = [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', run, '--budget', '3s', '--batch-size', '8',
    '--seq-len', '32', '--warmup', '0.1', '--eval-tokens', '256', '--save-every', '100'];
  const child = start(args);
  const metrics = join(run, 'metrics.jsonl');
  await waitUntil(child, '40% of its budget', () => {
    const train = existsSync(metrics) ? readMetrics(metrics).filter((e) => e.event === 'train') : [];
    return train.length > 0 && (train[train.length - 1].progress as number) >= 0.4;
  }, 20);
  child.child.kill('SIGINT');
  const exit = await child.exited;
  assert.equal(exit.code, 130, `an interrupted run saves a checkpoint and exits 130 (SIGINT); stderr:\n${child.stderr()}`);
  const before = readMetrics(metrics);
  assert.equal(before[before.length - 1].event, 'interrupted');
  const lastBefore = before.filter((e) => e.event === 'train').pop()!;
  runToEnd([CLI, 'pretrain', '--resume', run]);
  const events = readMetrics(metrics);
  const resumeAt = events.findIndex((e) => e.event === 'resume');
  assert.ok(resumeAt > 0, 'a resume event is logged');
  const after = events.slice(resumeAt).filter((e) => e.event === 'train');
  // the schedule continues from the checkpoint's budget progress: no second warmup, no restart
  assert.equal(after[0].step, (lastBefore.step as number) + 1);
  assert.ok((after[0].progress as number) > (lastBefore.progress as number));
  assert.ok((after[0].lr as number) <= (lastBefore.lr as number) + 1e-12, 'LR after resume continues the decay');
  const end = events[events.length - 1];
  assert.equal(end.event, 'end');
  // The budget accounting, whatever the machine's speed: training stops at the first step that
  // spends the budget, so the last step started before 3 s were spent; and only steps are charged.
  const train = events.filter((e) => e.event === 'train');
  const last = train[train.length - 1];
  assert.equal(end.train_seconds, last.train_seconds, 'the end event reports the time charged by the steps');
  assert.ok((end.train_seconds as number) >= 3, `training time ${end.train_seconds} s is short of the 3 s budget`);
  const startedAt = (last.train_seconds as number) - (last.step_seconds as number);
  assert.ok(startedAt < 3, `the last step started at ${startedAt} s of training: the run overran its 3 s budget`);
  const charged = train.reduce((s, e) => s + (e.step_seconds as number), 0);
  assert.ok(Math.abs(charged - (end.train_seconds as number)) < 1e-6, `steps took ${charged} s in all, ${end.train_seconds} s were charged`);
  // Every step's LR is the schedule's at the budget progress where the step started (the
  // previous step's end), across the resume too, and the last step ends the budget: the
  // schedule decays to 0 over the training time however long each step takes.
  const { schedule } = pretrainArgsOf(readPretrainOptions(run));
  train.forEach((e, i) => {
    const startProgress = i === 0 ? 0 : (train[i - 1].progress as number);
    assert.ok(Math.abs((e.lr as number) - learningRate(schedule, startProgress)) < 1e-15,
      `step ${e.step}: LR ${e.lr}, the schedule gives ${learningRate(schedule, startProgress)} at progress ${startProgress}`);
  });
  assert.equal(last.progress, 1);
  assert.equal(learningRate(schedule, 1), 0);
});

test('a SIGINT during a long evaluation stops it at once; the rerun evaluates, writes the tagged checkpoint and ends bit-identical', async () => {
  // half of a larger synthetic corpus held out: each evaluation takes seconds, the steps milliseconds
  const root = tempDir('tlc-eval-stop-');
  writeFileSync(join(root, 'corpus.jsonl'), syntheticDocuments(800, 7).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const data = join(root, 'data');
  await prepareData({ inputs: [join(root, 'corpus.jsonl')], outDir: data, vocabSize: 320, validFraction: 0.5, seed: 1, showProgress: false });
  const args = (out: string) => [CLI, 'pretrain', '--data', data, '--model', 'L2-D128', '--seq-len', '32', '--batch-size', '8', '--steps', '8',
    '--eval-every', '0.5', '--save-at', '0.5', '--eval-tokens', '1000000', '--precision', 'f32', '--out', out];
  const whole = join(root, 'whole'), stopped = join(root, 'stopped');
  runToEnd(args(whole));

  const child = start(args(stopped));
  const metrics = join(stopped, 'metrics.jsonl');
  // the 4th step is logged just before the evaluation its budget fraction is due for
  await waitUntil(child, 'step 4', () => existsSync(metrics) && readMetrics(metrics).some((e) => e.event === 'train' && e.step === 4));
  child.child.kill('SIGINT');
  const exit = await child.exited;
  assert.equal(exit.code, 130, `stderr:\n${child.stderr()}`);
  const events = readMetrics(metrics);
  assert.deepEqual(events.filter((e) => e.event === 'eval').map((e) => e.step), [0], 'the evaluation of step 4 was stopped, not finished');
  assert.deepEqual(events[events.length - 1], { ...events[events.length - 1], event: 'interrupted', step: 4 });
  const state = JSON.parse(readFileSync(join(stopped, 'state.json'), 'utf8')) as { step: number; pending?: unknown };
  assert.deepEqual([state.step, state.pending], [4, { evaluate: true, finished: false, tagged: [0.5], save: true }]);
  assert.ok(!existsSync(join(stopped, 'checkpoints', 'budget-0.50')), 'the tagged checkpoint waits for the evaluation');

  runToEnd([...args(stopped), '--resume', stopped]);
  const evals = (run: string) => readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'eval').map((e) => [e.step, e.valid_loss]);
  assert.deepEqual(evals(stopped), evals(whole));
  for (const file of ['model.safetensors', 'checkpoints/budget-0.50/model.safetensors', 'checkpoints/budget-0.50/optimizer.safetensors']) {
    assert.ok(readFileSync(join(stopped, file)).equals(readFileSync(join(whole, file))), `${file} differs from the uninterrupted run's`);
  }
  assert.equal((JSON.parse(readFileSync(join(stopped, 'state.json'), 'utf8')) as { pending?: unknown }).pending, undefined);
});

test('a wsd extension interrupted half-way is finished by the next resume, not done twice', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-extend-crash-');
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(process.cwd(), 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8' });
  const run = join(root, 'wsd');
  let r = cli('pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '10', '--eval-tokens', '512',
    '--schedule', 'wsd', '--branches', '0.5,1', '--out', run);
  assert.equal(r.status, 0, r.stderr);
  // something in the way of the second rename stops the extension after the journal and the first rename
  mkdirSync(join(run, 'branches', '0.25'));
  r = cli('pretrain', '--resume', run, '--steps', '20');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /extension\.json: cannot rename branches\/0\.50 to branches\/0\.25, which exists already/);
  assert.ok(existsSync(join(run, 'extension.json')));
  assert.ok(existsSync(join(run, 'checkpoints', 'budget-0.25')) && existsSync(join(run, 'checkpoints', 'budget-1.00')), 'one rename was done');
  rmSync(join(run, 'branches', '0.25'), { recursive: true });
  r = cli('pretrain', '--resume', run, '--steps', '20');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(listBranches(run).map((b) => [b.info.fraction, b.info.fork_step]), [[0.25, 5], [0.5, 10], [1, 20]]);
  const args = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as { options: { steps: string; extended_from: number[]; branches: number[] } };
  assert.deepEqual([args.options.steps, args.options.extended_from, args.options.branches], ['20', [10], [0.25, 0.5, 1]]);
});

test('--resume with a larger budget extends the run: a decayed rate re-warms and decays again, a constant one goes on; other changes are refused', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-extend-');
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(process.cwd(), 'dist', 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8' });
  const lrs = (run: string) => readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => (e as { lr: number }).lr);
  for (const schedule of ['linear', 'constant']) {
    const run = join(root, schedule);
    let r = cli('pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '20', '--eval-tokens', '512',
      '--eval-every', '0.25', '--schedule', schedule, '--warmup', '0.1', '--out', run);
    assert.equal(r.status, 0, r.stderr);
    r = cli('pretrain', '--resume', run, '--steps', '40');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, schedule === 'linear' ? /extending .* from 20 steps to 40 steps: the rate re-warms/ : /the rate goes on at its peak/);
    const lr = lrs(run);
    assert.equal(lr.length, 40);
    const events = readMetrics(join(run, 'metrics.jsonl'));
    assert.equal(events.filter((e) => e.event === 'end').length, 1, 'one end, at the new end');
    assert.equal(events.filter((e) => e.event === 'end')[0].step, 40);
    // evaluations go on at quarters of the new budget
    assert.deepEqual(events.filter((e) => e.event === 'eval').map((e) => e.step), [0, 5, 10, 15, 20, 30, 40]);
    const args = JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')) as { options: { steps: string; extended_from: number[] } };
    assert.equal(args.options.steps, '40');
    assert.deepEqual(args.options.extended_from, [20]);
    if (schedule === 'linear') {
      assert.ok(lr[19] < 0.1 * 1e-3, `the first budget decayed to ${lr[19]}`);
      assert.ok(lr[22] > 0.8 * 1e-3, `the extension re-warms: ${lr[22]}`);
      assert.ok(lr[39] < 0.1 * 1e-3 && lr.slice(23).every((v, i, a) => i === 0 || v <= a[i - 1]), 'and decays to zero again');
    } else {
      assert.ok(lr.slice(2).every((v) => v === 1e-3), 'a constant rate stays at the peak');
    }
  }
  const run = join(root, 'linear');
  for (const [flags, message] of [
    [['--tokens', '1M'], /has a steps budget \(40 steps\); extend it with --steps, not --tokens/],
    [['--steps', '30'], /the new one must be larger, got 30 steps/],
    [['--steps', '80', '--lr', '1'], /these differ: --lr 1 \(the run has 0\.001\): drop them/],
    [['--steps', '40', '--model', 'L2-D32', '--data', data], /these differ: --model L2-D32 \(the run's model: 1 layers, d_model 32/],
  ] as [string[], RegExp][]) {
    const r = cli('pretrain', '--resume', run, ...flags);
    assert.equal(r.status, 1);
    assert.match(r.stderr, message);
  }
  // the command that made the run (at its present budget), rerun with --resume: accepted, nothing to add
  const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8');
  const same = cli('pretrain', '--resume', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '40', '--eval-tokens', '512',
    '--eval-every', '0.25', '--schedule', 'linear', '--warmup', '0.1', '--out', run);
  assert.equal(same.status, 0, same.stderr);
  assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8'), metrics, 'a finished run is left as it is');
  // and the budget it was extended from is no smaller budget asked for: the requeued first command resumes it as it is
  const first = cli('pretrain', '--resume', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--steps', '20', '--eval-every', '0.25', '--out', run);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8'), metrics);
  // a wsd trunk whose branches have forked extends too: its branches keep their points, renamed
  // as fractions of the larger budget, and the new end forks one more
  const wsd = join(root, 'wsd');
  let r = cli('pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '10', '--eval-tokens', '512',
    '--schedule', 'wsd', '--branches', '0.5,1', '--cooldown', '0.2', '--out', wsd);
  assert.equal(r.status, 0, r.stderr);
  const before = new Map(['0.50', '1.00'].map((b) => [b, readFileSync(join(wsd, 'branches', b, 'metrics.jsonl'), 'utf8')]));
  r = cli('pretrain', '--resume', wsd, '--steps', '20');
  assert.equal(r.status, 0, r.stderr);
  const branches = listBranches(wsd);
  assert.deepEqual(branches.map((b) => [b.info.fraction, b.info.fork_step]), [[0.25, 5], [0.5, 10], [1, 20]]);
  assert.equal(readFileSync(join(wsd, 'branches', '0.25', 'metrics.jsonl'), 'utf8'), before.get('0.50'), 'the branch at step 5 is untouched');
  assert.equal(readFileSync(join(wsd, 'branches', '0.50', 'metrics.jsonl'), 'utf8'), before.get('1.00'), 'the branch at step 10 is untouched');
  assert.ok(runEnded(join(wsd, 'branches', '1.00')), 'the new end forked and cooled down');
  assert.ok(!existsSync(join(wsd, 'extension.json')), 'the renames finished');
  const wsdArgs = JSON.parse(readFileSync(join(wsd, 'run.json'), 'utf8')) as { options: { branches: number[] } };
  assert.deepEqual(wsdArgs.options.branches, [0.25, 0.5, 1]);
  const trunkLr = lrs(wsd);
  assert.equal(trunkLr.length, 20);
  const peak = Math.max(...trunkLr);
  assert.ok(trunkLr.slice(9).every((v) => v === peak), 'the trunk goes on at its peak rate');
});
