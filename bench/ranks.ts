// Data-parallel benchmark (`tlc bench train --ranks N`): the reference training step with N
// ranks × 1 thread under mpirun (global batch = the configuration's batch, split over the
// ranks) against 1 rank × 1 thread on the same per-rank batch, in the same run; efficiency =
// N-rank tokens/s ÷ (N × single-rank tokens/s). Also the all-reduce's time and bus bandwidth
// on a buffer of the model's gradient size.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainBenchConfig } from './train.js';

export interface RanksBenchResult {
  n: number;
  tokens_per_s: number;
  single_tokens_per_s: number;
  efficiency: number;
  allreduce_ms: number;
  allreduce_gb_per_s: number;
  params: number;
  /** Tokens per rank per step. */
  per_rank_tokens: number;
}

interface WorkerOutput {
  ranks: number;
  threads: number;
  params: number;
  tokens_per_s: number;
  allreduce_ms: number | null;
  allreduce_gb_per_s: number | null;
}

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'ranks-worker.js');

function runWorker(command: string, args: string[], what: string): WorkerOutput {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, TLC_THREADS: '1' }, maxBuffer: 1 << 24 });
  if (r.error) throw new Error(`${what}: cannot run ${command} (${r.error.message})${command === 'mpirun' ? ': install Open MPI (scripts/setup.sh)' : ''}`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WorkerOutput;
}

export function benchRanks(c: TrainBenchConfig, n: number, log: (l: string) => void): RanksBenchResult {
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`--ranks must be an integer of at least 2, got ${n}`);
  if (c.batch % n !== 0) throw new Error(`--ranks ${n} must divide the batch (${c.batch} sequences)`);
  const perRank = { ...c, batch: c.batch / n };
  const mpirun = ['-np', String(n), '--bind-to', 'core', ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : [])];
  log(`${n} ranks × 1 thread, ${perRank.batch} sequences per rank ...`);
  const many = runWorker('mpirun', [...mpirun, process.execPath, WORKER, JSON.stringify(c)], `${n} ranks`);
  log(`${n} ranks: ${many.tokens_per_s.toFixed(0)} tokens/s; all-reduce of ${(4 * many.params / 1e6).toFixed(1)} MB: ` +
    `${many.allreduce_ms!.toFixed(1)} ms (${many.allreduce_gb_per_s!.toFixed(2)} GB/s bus bandwidth)`);
  log('1 rank × 1 thread on the same per-rank batch ...');
  const one = runWorker(process.execPath, [WORKER, JSON.stringify(perRank)], '1 rank');
  log(`1 rank: ${one.tokens_per_s.toFixed(0)} tokens/s`);
  return {
    n, tokens_per_s: many.tokens_per_s, single_tokens_per_s: one.tokens_per_s, efficiency: many.tokens_per_s / (n * one.tokens_per_s),
    allreduce_ms: many.allreduce_ms!, allreduce_gb_per_s: many.allreduce_gb_per_s!, params: many.params, per_rank_tokens: perRank.batch * c.seq_len,
  };
}
