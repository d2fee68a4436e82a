// Data-parallel training and distributed sweeps under a real `mpirun` (Open MPI, from
// scripts/setup.sh): real ranks over loopback, shared memory and TCP.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preparedSyntheticData, syntheticDocuments } from './corpus-fixture.js';
import { loggedSteps } from './processes.js';
import { readMetrics } from '../src/run/metrics.js';
import { readSafetensorsRaw } from '../src/engine/safetensors.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const MPIRUN = ['-np', '2', '--oversubscribe', '--bind-to', 'none', ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : [])];
// Open MPI's shared-memory transport without the single-copy path some containers forbid
const MPI_ENV = { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none', TLC_THREADS: '1' };

function mpirun(args: string[], mca: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('mpirun', [...MPIRUN, ...mca, process.execPath, CLI, ...args], { encoding: 'utf8', env: MPI_ENV });
  if (r.error) throw new Error(`cannot run mpirun (${r.error.message}): install Open MPI with scripts/setup.sh`);
  return r;
}

function mpirunOk(args: string[], mca: string[] = []): string {
  const r = mpirun(args, mca);
  assert.equal(r.status, 0, `mpirun tlc ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

function tlcOk(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: MPI_ENV });
  assert.equal(r.status, 0, `tlc ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

function weights(run: string): Map<string, Float32Array> {
  const { tensors } = readSafetensorsRaw(join(run, 'model.safetensors'));
  const out = new Map<string, Float32Array>();
  for (const [name, t] of tensors) out.set(name, new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)));
  return out;
}

/** Largest |a − b| over every weight of two runs' models. */
function weightDiff(a: string, b: string): number {
  const wa = weights(a), wb = weights(b);
  assert.deepEqual([...wa.keys()].sort(), [...wb.keys()].sort());
  let d = 0;
  for (const [name, x] of wa) {
    const y = wb.get(name)!;
    for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  }
  return d;
}

function trainLosses(run: string): number[] {
  return readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'train').map((e) => (e as { loss: number }).loss);
}

const sameBytes = (a: string, b: string) => readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(b, 'model.safetensors')));

/**
 * A small model with dropout, so that the ranks' dropout streams are checked too; in f32, where
 * the float-rounding difference of summation order stays at rounding level (in bf16 a weight near
 * a bf16 rounding boundary can round the other way, and the runs drift further apart).
 */
async function runFlags(steps: number): Promise<string[]> {
  const data = await preparedSyntheticData();
  return ['pretrain', '--data', data, '--model', 'L2-D32', '--seq-len', '32', '--batch-size', '8', '--dropout', '0.1', '--precision', 'f32',
    '--steps', String(steps), '--eval-every', '10', '--eval-tokens', '512', '--save-every', '5', '--lr', '3e-3', '--warmup', '0.1'];
}

test('two ranks train as one process does with the same global batch in two micro-batches, and rank order fixes every bit', async () => {
  const root = tempDir('tlc-dp-');
  const flags = await runFlags(30);
  const ranks = join(root, 'ranks'), tcp = join(root, 'tcp'), single = join(root, 'single'), half = join(root, 'half');
  const out = mpirunOk([...flags, '--out', ranks]);
  assert.match(out, /finished: 30 steps/);
  assert.equal(out.match(/finished:/g)?.length, 1, 'only rank 0 prints the result');
  const start = readMetrics(join(ranks, 'metrics.jsonl')).find((e) => e.event === 'start') as unknown as { ranks: number; threads: number };
  assert.equal(start.ranks, 2);
  assert.equal(start.threads, 1);
  tlcOk([...flags, '--micro-batch-size', '4', '--out', single]);
  // the same global batches: losses agree to the last printed digit, weights to float rounding
  // (a micro-batch's backward adds into a gradient in another order than a rank's sum does)
  const [lr, ls] = [trainLosses(ranks), trainLosses(single)];
  assert.equal(lr.length, 30);
  for (let i = 0; i < lr.length; i++) assert.ok(Math.abs(lr[i] - ls[i]) <= 1e-5 * ls[i], `step ${i + 1}: ${lr[i]} vs ${ls[i]}`);
  const d = weightDiff(ranks, single);
  assert.ok(d < 2e-6, `weights of 2 ranks and of one process differ by ${d}`);
  // what one rank alone would train (batch 4) is far from it: the check can tell
  tlcOk([...flags, '--batch-size', '4', '--out', half]);
  assert.ok(weightDiff(ranks, half) > 1e-3);
  // over TCP instead of shared memory: the same bits, the reduction order does not depend on the transport
  mpirunOk([...flags, '--out', tcp], ['--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo']);
  assert.ok(sameBytes(ranks, tcp), 'a run over TCP differs from one over shared memory');
});

test('a killed rank ends the job at once with its rank named; the checkpoint resumes to the same bits, on 2 ranks or on 1', async () => {
  const root = tempDir('tlc-dp-kill-');
  const flags = await runFlags(60);
  const whole = join(root, 'whole');
  mpirunOk([...flags, '--out', whole]);
  for (const resumeRanks of [2, 1]) {
    const run = join(root, `killed-${resumeRanks}`);
    const job = spawn('mpirun', [...MPIRUN, process.execPath, CLI, ...flags, '--out', run], { env: MPI_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    job.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    job.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => job.on('close', (code) => resolve(code)));
    for (let i = 0; i < 3000 && !loggedSteps(run).some((s) => s >= 12); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(loggedSteps(run).some((s) => s >= 12), `the job did not reach step 12:\n${output}`);
    // rank 1: the node process of this run that is not rank 0's (rank 0 holds the run's lock)
    const lockPid = (JSON.parse(readFileSync(join(run, '.lock'), 'utf8')) as { pid: number }).pid;
    const pids = spawnSync('pgrep', ['-f', `${CLI}.*${run}`], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number);
    const victim = pids.find((p) => p !== lockPid && p !== job.pid);
    assert.ok(victim, `no second rank among ${pids.join(', ')} (rank 0 is ${lockPid})`);
    const killedAt = performance.now();
    process.kill(victim, 'SIGKILL');
    const code = await exited;
    const seconds = (performance.now() - killedAt) / 1000;
    assert.notEqual(code, 0);
    assert.ok(seconds < 15, `the job took ${seconds.toFixed(1)} s to end after a rank died`);
    assert.match(output, /rank 1 .*exited on signal 9/);
    // rank 0 is gone too (its lock is released or stale), and its checkpoint is whole
    for (let i = 0; i < 200 && spawnSync('kill', ['-0', String(lockPid)]).status === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(!loggedSteps(run).includes(60));
    const resume = ['pretrain', '--resume', run];
    if (resumeRanks === 2) mpirunOk(resume);
    else tlcOk(resume);
    assert.deepEqual(loggedSteps(run).slice(-1), [60]);
    if (resumeRanks === 2) {
      assert.ok(sameBytes(whole, run), 'resuming on 2 ranks did not give the uninterrupted run');
    } else {
      // one process takes the same global batches in one micro-batch: equal to float rounding
      const d = weightDiff(whole, run);
      assert.ok(d > 0 && d < 2e-6, `resuming on 1 process: weights differ by ${d}`);
    }
  }
});

test('mpirun -np 2 tlc sweep splits the runs over the ranks and writes the runs a serial sweep writes', async () => {
  const root = tempDir('tlc-dp-sweep-');
  const data = await preparedSyntheticData();
  const spec = join(root, 'sweep.yaml');
  writeFileSync(spec, [`data: ${data}`, 'sizes: [L1-D32, L2-D32, L1-D64]', 'batch_sizes: [8]', 'steps: 12', 'seq_len: 32',
    'eval_tokens: 512', 'eval_every: 6', 'schedule: wsd', 'branches: [0.5, 1]'].join('\n') + '\n');
  const out = mpirunOk(['sweep', spec, '--out', join(root, 'ranks')]);
  assert.equal(out.match(/\| L1-D32 \|/g)?.length, 1, 'only rank 0 prints the table');
  tlcOk(['sweep', spec, '--out', join(root, 'serial')]);
  const rows = (dir: string) => (JSON.parse(readFileSync(join(root, dir, 'sweep.json'), 'utf8')) as { rows: { name: string; valid_loss: number }[] }).rows;
  assert.deepEqual(rows('ranks').map((r) => r.name), ['L1-D32', 'L2-D32', 'L1-D64']);
  assert.deepEqual(rows('ranks').map((r) => r.valid_loss), rows('serial').map((r) => r.valid_loss));
  for (const name of ['L1-D32', 'L2-D32', 'L1-D64']) {
    for (const sub of ['', 'branches/0.50']) {
      const [a, b] = [join(root, 'ranks', 'runs', name, sub), join(root, 'serial', 'runs', name, sub)];
      assert.ok(existsSync(join(a, 'model.safetensors')), `${a} has no model`);
      assert.ok(sameBytes(a, b), `${name} ${sub || 'trunk'}: the rank's run differs from the serial one`);
    }
  }
  // each run was trained by one rank: run 0 and 2 by rank 0, run 1 by rank 1
  const ranksOf = (name: string) => readMetrics(join(root, 'ranks', 'runs', name, 'metrics.jsonl')).find((e) => e.event === 'start');
  assert.equal((ranksOf('L2-D32') as unknown as { ranks?: number }).ranks, undefined, 'a sweep run is not data-parallel');
});

test('mpirun -np 2 tlc auto: the ranks split the exploration, rank 0 trains on alone, and it ends where one process ends', async () => {
  const root = tempDir('tlc-dp-auto-');
  const corpus = join(root, 'corpus.jsonl');
  writeFileSync(corpus, syntheticDocuments(120, 7).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const flags = (out: string) => ['auto', '--corpus', corpus, '--objective', 'clm', '--budget', '240k', '--sizes', 'L1-D32,L1-D64,L2-D64',
    '--vocab-size', '320', '--seq-len', '32', '--batch-size', '8', '--probe', '1s', '--out', join(root, out), '--json'];
  const r = mpirun(flags('ranks'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /worker 1 of 2 .*: 2 of 3 runs \(L1-D32, L2-D64\)/);
  assert.match(r.stderr, /worker 2 of 2 .*: 1 of 3 runs \(L1-D64\)/);
  const ranks = JSON.parse(r.stdout) as { chosen: { preset: string; valid_loss: number }; pretrain_cost: { tokens: number } };
  const one = JSON.parse(tlcOk(flags('one'))) as typeof ranks;
  assert.equal(ranks.chosen.preset, one.chosen.preset);
  assert.equal(ranks.chosen.valid_loss, one.chosen.valid_loss, 'the same model, trained over two ranks or one');
  assert.equal(ranks.pretrain_cost.tokens, one.pretrain_cost.tokens);
});
