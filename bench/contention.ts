// Behaviour on a shared machine (`tlc bench contention`): training tokens/s and batch-1
// inference latency with all threads, alone and next to one competing busy process (`yes`),
// under OpenMP's default wait policy, under OMP_WAIT_POLICY=passive, and with a bounded spin
// (TLC_OMP_WAIT_POLICY=bounded: a waiting thread spins BOUNDED_SPINCOUNT times, then sleeps). Each
// measurement runs in a fresh process, since the OpenMP runtime reads its policy once, when it loads.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainBenchConfig } from './train.js';

export const CONTENTION_POLICIES = ['default', 'passive', 'bounded'] as const;


export interface ContentionRow {
  policy: (typeof CONTENTION_POLICIES)[number];
  competitor: boolean;
  train_tokens_per_s: number;
  infer_latency_ms: { fp32: number; int8: number };
}

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'ranks-worker.js');
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');

function envFor(policy: ContentionRow['policy']): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OMP_WAIT_POLICY;
  delete env.GOMP_SPINCOUNT;
  // what tlc itself sets by default is overridden every way, so that each row measures its policy
  env.TLC_OMP_WAIT_POLICY = policy;
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
  return r.stdout.trim().split('\n').pop()!;
}

export function benchContention(c: TrainBenchConfig, log: (l: string) => void): ContentionRow[] {
  const rows: ContentionRow[] = [];
  for (const policy of CONTENTION_POLICIES) {
    for (const competitor of [false, true]) {
      let yes: ChildProcess | null = null;
      if (competitor) yes = spawn('yes', [], { stdio: ['ignore', 'ignore', 'ignore'] });
      try {
        const env = envFor(policy);
        const train = JSON.parse(run([WORKER, JSON.stringify(c)], env)) as { tokens_per_s: number };
        const infer = JSON.parse(run([CLI, 'bench', 'infer', '--variants', 'fp32,int8', '--rounds', '3', '--batch-size', '4', '--json'], env)) as {
          rows: { variant: string; batch: number; latency_ms: number }[];
        };
        const latency = (v: string) => infer.rows.find((r) => r.variant === v && r.batch === 1)!.latency_ms;
        rows.push({ policy, competitor, train_tokens_per_s: train.tokens_per_s, infer_latency_ms: { fp32: latency('fp32'), int8: latency('int8') } });
        log(`${policy}${competitor ? ' + a busy competitor' : ''}: ${train.tokens_per_s.toFixed(0)} tokens/s, ` +
          `batch-1 latency fp32 ${latency('fp32').toFixed(2)} ms, int8 ${latency('int8').toFixed(2)} ms`);
      } finally {
        yes?.kill('SIGKILL');
      }
    }
  }
  return rows;
}
