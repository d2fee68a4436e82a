// Never destroying a user's work, and refusing what cannot run: checksummed weights, resume
// from the newest checkpoint that verifies, output directories a command did not create, the
// run lock, starts that fail validation, and runs read before they finished. Real processes,
// real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsHeader } from '../src/engine/safetensors.js';
import { readMetrics } from '../src/run/metrics.js';
import { finetune } from '../src/train/finetune.js';
import { divergence, gradNormDivergence } from '../src/train/divergence.js';
import { checkTrainingFits, estimateTrainingBytes } from '../src/train/memory-check.js';
import { presetConfig } from '../src/nn/config.js';
import { finetuneArgs, preparedSyntheticData, pretrainedRun, writeTask } from './corpus-fixture.js';
import { runAndKill, runToEnd, start, waitUntil, loggedSteps } from './processes.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function tlc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

/** Flips one bit of a safetensors file's tensor data. */
function flipDataBit(path: string, at = 17): void {
  const { dataStart } = readSafetensorsHeader(path);
  const bytes = readFileSync(path);
  bytes[dataStart + at] ^= 0x08;
  writeFileSync(path, bytes);
}

/** Every file under `dir` with the SHA-256 of its contents. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function pretrainArgs(data: string, out: string, more: string[] = []): string[] {
  return [CLI, 'pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '40', '--batch-size', '8',
    '--micro-batch-size', '4', '--seq-len', '32', '--seed', '3', '--dropout', '0.1', '--save-every', '4', '--keep', '3',
    '--eval-every', '10', '--eval-tokens', '512', '--precision', 'f32', ...more];
}

test('a bit-flipped model.safetensors is refused by inspect, evaluate, export and finetune --from; intact files verify', async () => {
  const root = tempDir('tlc-flip-');
  const lm = join(root, 'lm');
  cpSync(await pretrainedRun(), lm, { recursive: true });
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 120, 5);
  const clf = join(root, 'clf');
  await finetune(clf, finetuneArgs(lm, taskFile, { steps: 4 }));

  let r = tlc('inspect', lm);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /checksum: CRC-32 of the tensor data verified/);

  flipDataBit(join(lm, 'model.safetensors'));
  flipDataBit(join(clf, 'model.safetensors'), 40);
  const refused = /^tlc: error: safetensors file .*model\.safetensors: checksum mismatch/m;
  for (const [args, what] of [
    [['inspect', lm], 'inspect'],
    [['evaluate', clf, '--task', taskFile], 'evaluate'],
    [['export', lm, '--format', 'hf', '--out', join(root, 'export')], 'export'],
    [['finetune', '--from', lm, '--task', taskFile, '--out', join(root, 'ft'), '--steps', '2'], 'finetune --from'],
  ] as [string[], string][]) {
    r = tlc(...args);
    assert.notEqual(r.status, 0, `${what} accepted a corrupt file`);
    assert.match(r.stderr, refused, `${what}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, `${what}: no stack trace`);
  }
  assert.ok(!existsSync(join(root, 'export')), 'a refused export writes nothing');
  assert.ok(!existsSync(join(root, 'ft')), 'a refused finetune leaves no run directory');
});

test('resume passes over a damaged newest checkpoint, says so, cleans up what a killed writer left, takes over a stale lock and ends bit-identical', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-fallback-');
  const straight = join(root, 'straight'), killed = join(root, 'killed');
  runToEnd(pretrainArgs(data, straight));
  const k = await runAndKill(pretrainArgs(data, killed), killed, 14);
  assert.ok(k.checkpointStep !== null && k.checkpointStep >= 8 && k.step < 40, `killed at step ${k.step}, checkpoint ${k.checkpointStep}`);
  const state = JSON.parse(readFileSync(join(killed, 'state.json'), 'utf8')) as { checkpoint: string; step: number };
  // the newest checkpoint, torn: its weights half their size; and its optimizer bit-flipped
  const newest = join(killed, state.checkpoint);
  truncateSync(join(newest, 'model.safetensors'), Math.floor(statSync(join(newest, 'model.safetensors')).size / 2));
  flipDataBit(join(newest, 'optimizer.safetensors'));
  // what a writer killed mid-checkpoint leaves, and the lock of a process that is gone
  mkdirSync(join(killed, 'checkpoints', '.tmp-step-00000099-4242'));
  writeFileSync(join(killed, 'checkpoints', '.tmp-step-00000099-4242', 'model.safetensors'), 'half');
  writeFileSync(join(killed, '.state.json.4242.0badc0de.tmp'), '{');
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(gone.stdout);
  writeFileSync(join(killed, '.lock'), JSON.stringify({ pid: deadPid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }));

  const r = spawnSync(process.execPath, [CLI, 'pretrain', '--resume', killed], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`tlc: warning: .*${state.checkpoint} cannot be restored \\(.*truncated.*\\); resuming from checkpoints/step-\\d+ at step \\d+ instead`));
  assert.match(r.stderr, new RegExp(`taking over the stale lock of process ${deadPid}`));
  const resume = readMetrics(join(killed, 'metrics.jsonl')).filter((e) => e.event === 'resume');
  assert.equal(resume.length, 1);
  assert.match(String(resume[0].restored_from), /^checkpoints\/step-\d+$/);
  assert.notEqual(resume[0].restored_from, state.checkpoint);
  assert.ok(resume[0].step < state.step, `resumed at step ${resume[0].step}, before the damaged checkpoint's ${state.step}`);
  assert.deepEqual(resume[0].skipped_checkpoints, [state.checkpoint]);
  assert.ok(!existsSync(join(killed, 'checkpoints', '.tmp-step-00000099-4242')), 'the stale checkpoint directory is removed');
  assert.ok(!existsSync(join(killed, '.state.json.4242.0badc0de.tmp')), 'the stale temporary file is removed');
  assert.ok(!existsSync(join(killed, '.lock')), 'the lock is released at the end');
  assert.ok(readFileSync(join(straight, 'model.safetensors')).equals(readFileSync(join(killed, 'model.safetensors'))),
    'final weights differ from the uninterrupted run');
});

test('a second resume of a run in progress is refused naming the pid; the lock goes with a graceful stop; reading the unfinished run warns', async (t) => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-lock-');
  const run = join(root, 'run');
  await runAndKill(pretrainArgs(data, run, ['--steps', '100000', '--save-every', '5']), run, 6);
  const first = start([CLI, 'pretrain', '--resume', run]);
  t.after(() => {
    if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
  });
  const before = Math.max(...loggedSteps(run));
  await waitUntil(first, 'the resumed run trains', () => loggedSteps(run).some((s) => s > before + 2));
  const lock = JSON.parse(readFileSync(join(run, '.lock'), 'utf8')) as { pid: number; host: string };
  assert.equal(lock.pid, first.child.pid);
  assert.equal(lock.host, hostname());
  // refused at once; were it let in, it would train on: cut it short rather than hang
  const second = spawnSync(process.execPath, [CLI, 'pretrain', '--resume', run], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  assert.equal(second.signal, null, 'the second resume was let in and trained alongside the first');
  assert.notEqual(second.status, 0);
  assert.match(second.stderr, new RegExp(`^tlc: error: ${run} is in use by process ${first.child.pid} `, 'm'));
  first.child.kill('SIGINT');
  const exit = await first.exited;
  assert.equal(exit.code, 130, first.stderr());
  assert.ok(!existsSync(join(run, '.lock')), 'a graceful stop releases the lock');
  // the run is unfinished: reading it warns and suggests --resume
  const r = tlc('export', run, '--format', 'onnx', '--out', join(root, 'export'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`tlc: warning: ${run} has not finished training .*tlc pretrain --resume ${run}`));
});

test('no command writes into a directory holding something it did not create; reruns into its own output still work', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-own-');
  const run = join(root, 'run'), other = join(root, 'other');
  runToEnd(pretrainArgs(data, run, ['--steps', '4']));
  runToEnd(pretrainArgs(data, other, ['--steps', '4', '--seed', '9']));
  const runBefore = hashes(run), dataBefore = hashes(data);

  const refusals: [string[], RegExp][] = [
    [['export', other, '--out', run], /--out .*run already holds a pretraining run \(.*\), which this command did not create/],
    [['data', 'prepare', '--input', 'example:sotu', '--out', run], /already holds a pretraining run/],
    [['pretrain', '--data', data, '--model', 'L1-D32', '--out', data, '--steps', '2'], /already holds a prepared dataset \(data\.json\)/],
    [['compress', '--from', run, '--out', data, '--bits', '8', '--sparsity', '0'], /already holds a prepared dataset/],
    [['report', run, '--out', data], /already holds a prepared dataset/],
  ];
  for (const [args, pattern] of refusals) {
    const r = tlc(...args);
    assert.notEqual(r.status, 0, `${args.join(' ')} was accepted`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.match(r.stderr, /pass --force/);
  }
  assert.deepEqual(hashes(run), runBefore, "the run's files changed");
  assert.deepEqual(hashes(data), dataBefore, "the dataset's files changed");

  // an export may be redone into its own output, not overwritten by another model's
  const exp = join(root, 'export');
  let r = tlc('export', run, '--format', 'onnx', '--out', exp);
  assert.equal(r.status, 0, r.stderr);
  r = tlc('export', run, '--format', 'onnx', '--out', exp);
  assert.equal(r.status, 0, `re-export into its own output: ${r.stderr}`);
  r = tlc('export', other, '--format', 'onnx', '--out', exp);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`already holds an export of ${run}`));
  r = tlc('export', other, '--format', 'onnx', '--out', exp, '--force');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /writing an export into it anyway \(--force\)/);

  // a user's own folder
  const mine = join(root, 'mine');
  mkdirSync(mine);
  writeFileSync(join(mine, 'notes.txt'), 'keep me');
  r = tlc('pretrain', '--data', data, '--model', 'L1-D32', '--out', mine, '--steps', '2');
  assert.match(r.stderr, /already holds 1 entry not written by this command \(notes\.txt\)/);
  assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep me');
});

test('a start that fails validation leaves nothing behind, and the corrected command then runs', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-failed-start-');
  const out = join(root, 'run');
  // a model whose vocabulary is smaller than the data's
  const cfg = join(root, 'small-vocab.json');
  const base = JSON.parse(readFileSync(join(await pretrainedRun(), 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(cfg, JSON.stringify({ ...base, vocab_size: 100 }));
  let r = tlc('pretrain', '--data', data, '--model', cfg, '--out', out, '--steps', '2', '--seq-len', '32');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /vocabulary \(320\) is larger than the model's vocab_size \(100\)/);
  assert.ok(!existsSync(out), `a failed start left ${existsSync(out) ? readdirSync(out).join(', ') : ''}`);
  // a task that does not exist: finetune
  const ft = join(root, 'ft');
  r = tlc('finetune', '--from', await pretrainedRun(), '--task', join(root, 'missing.jsonl'), '--out', ft, '--steps', '2');
  assert.notEqual(r.status, 0);
  assert.ok(!existsSync(join(ft, 'run.json')), 'a failed finetune start left a run.json');
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 120, 3);
  r = tlc('finetune', '--from', await pretrainedRun(), '--task', taskFile, '--out', ft, '--steps', '2', '--max-len', '24');
  assert.equal(r.status, 0, `the corrected rerun: ${r.stderr}`);
  r = tlc('pretrain', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '2', '--seq-len', '32');
  assert.equal(r.status, 0, `the corrected rerun: ${r.stderr}`);
});

test('divergence is caught before NaN: a loss far above the recent median, not noise around it', () => {
  const recent: number[] = [];
  for (let i = 0; i < 50; i++) assert.equal(divergence(recent, 3 + 0.1 * Math.sin(i)), null, 'the window fills without a verdict');
  assert.equal(divergence(recent, 6), null, 'twice the median is noise');
  assert.match(divergence(recent, 14) ?? '', /loss 14\.000 is more than 4× the median 3\.\d+ of the last 50 steps/);
  // near zero, a relative jump alone is not divergence
  const small: number[] = [];
  for (let i = 0; i < 50; i++) divergence(small, 0.01);
  assert.equal(divergence(small, 0.2), null);
});

test('an exploding gradient norm is caught although clipping keeps the loss calm', () => {
  const recent: number[] = [];
  for (let i = 0; i < 50; i++) assert.equal(gradNormDivergence(recent, 0.8 + 0.2 * Math.sin(i)), null);
  assert.equal(gradNormDivergence(recent, 20), null, 'a spike of 25× is noise');
  assert.equal(gradNormDivergence(recent, 90), null, 'so is one of 110×, as a badly misclassified finetuning batch gives');
  // a finetuned model that fits its data almost perfectly: one batch it gets wrong spikes a thousandfold once
  assert.equal(gradNormDivergence(recent, 5000), null, 'one spike of any size is not yet divergence');
  assert.equal(gradNormDivergence(recent, 1), null);
  assert.equal(gradNormDivergence(recent, 5000), null);
  assert.equal(gradNormDivergence(recent, 8000), null);
  assert.match(gradNormDivergence(recent, 12000) ?? '', /the gradient norm 1\.20e\+4 is more than 1000× the median 0\.\d+ of the last 50 steps, 3 steps in a row/);
  assert.match(gradNormDivergence(recent, Infinity) ?? '', /gradient norm Infinity/);
});

test('a model that cannot fit in memory is refused before anything is allocated or written, with the numbers', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-fits-');
  const out = join(root, 'huge');
  const r = tlc('pretrain', '--data', data, '--model', 'L48-D8192', '--steps', '1', '--out', out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the run needs about [\d.]+ GiB of memory — [\d.]+ GiB for \d+\.\dM parameters .* but [\d.]+ (GiB|MiB) is available/);
  assert.ok(!existsSync(out), 'nothing was written');
  // a config whose embedding table alone is more than one tensor can hold
  const config = join(root, 'wide.json');
  writeFileSync(config, JSON.stringify({ objective: 'mlm', vocab_size: 320, d_model: 100000, n_layers: 1, n_heads: 1, d_ff: 40000, max_len: 32 }));
  const wide = tlc('pretrain', '--data', data, '--model', config, '--steps', '1', '--seq-len', '32', '--out', join(root, 'wide'));
  assert.equal(wide.status, 1);
  assert.match(wide.stderr, /largest weight matrix has 4\.00e\+9 elements, more than one tensor can hold/);
  assert.doesNotMatch(wide.stderr, /RangeError|\n\s+at /);
  // the estimate: 16 bytes per parameter in f32, 18 in bf16, and activations that grow with the micro-batch
  const c = presetConfig('L4-D256', { vocab_size: 8192 });
  const [a, b] = [estimateTrainingBytes(c, 8, 128, false), estimateTrainingBytes(c, 16, 128, false)];
  assert.ok(Math.abs(b.activationBytes / a.activationBytes - 2) < 1e-9 && a.parameterBytes === b.parameterBytes);
  assert.equal(estimateTrainingBytes(c, 8, 128, true).parameterBytes / a.parameterBytes, 18 / 16);
  assert.doesNotThrow(() => checkTrainingFits(c, 8, 128, false, 1e12));
  assert.throws(() => checkTrainingFits(c, 8, 128, false, 1e6), /but 1 MiB is available/);
});

test('a preset whose width is not a multiple of 64 says how many heads it got and how to choose', async () => {
  const data = await preparedSyntheticData();
  const r = tlc('pretrain', '--data', data, '--model', 'L1-D96', '--steps', '1', '--seq-len', '16', '--eval-tokens', '64',
    '--out', join(tempDir('tlc-heads-'), 'run'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: L1-D96: 2 attention heads of width 48 \(the rule: heads = round\(width \/ 64\)\); name them with -H<n>/);
});

test('bad thread settings and a one-class task are clear errors or warnings, not stack traces', async () => {
  const env = { ...process.env, TLC_THREADS: 'abc' };
  let r: { status: number | null; stdout: string; stderr: string } = spawnSync(process.execPath, [CLI, "inspect", CLI], { encoding: "utf8", env });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tlc: error: TLC_THREADS must be an integer from 1 to 1024, got "abc"$/m);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
  r = tlc('--threads', '999', 'inspect', await pretrainedRun());
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /tlc: warning: --threads 999 is more than the \d+ cores of this machine/);
  const root = tempDir('tlc-one-class-');
  const taskFile = join(root, 'cats.jsonl');
  writeTask(taskFile, 60, 1, ['cat']);
  r = tlc('finetune', '--from', await pretrainedRun(), '--task', taskFile, '--out', join(root, 'ft'), '--steps', '2');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /every training example has the label "cat"; a classifier needs at least two labels/);
  assert.ok(!existsSync(join(root, 'ft')));
});
