// auto.json: what `tlc auto` was asked, what each stage did, what it cost and where its
// outputs are. Written after every stage (atomically), so a rerun continues from it and a
// reader sees every finished stage.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { readJsonFile } from '../util/json-file.js';
import { AUTO_FILES, runFile } from '../run/layout.js';
import { eventsOf, readMetrics } from '../run/metrics.js';
import { listBranches } from '../train/branches.js';

export interface Cost {
  /** Training seconds as measured (evaluation and checkpoints excluded). */
  seconds: number;
  tokens: number;
  flops: number;
}

export interface AutoRecord {
  version: 1;
  /** What was asked: a rerun must ask the same (a larger budget extends). */
  corpus: string[];
  task: string | null;
  objective: 'mlm' | 'clm';
  budget: { text: string; kind: 'time' | 'tokens' | 'flops'; value: number };
  explore: number;
  /** Every other option that shapes the result, by its flag: a rerun must give the same. */
  settings: Record<string, string | number | string[] | null>;
  data_dir: string;
  /** The throughput prior and the sizes it proposed. */
  prior?: { reference: string; gflops: number; centre: string };
  candidates?: string[];
  /** With a task: estimated seconds per finetuning step of the likely chosen size and of the largest candidate. */
  task_step_seconds?: number[];
  /** Each candidate's trunk, in the budget's unit. */
  split?: { total: number; explore: number; trunk: number; final: number };
  exploration?: { sweep_dir: string; rows: { preset: string; tokens: number; valid_loss: number; probe_tokens_per_s: number | null }[] };
  plan?: Record<string, unknown>;
  chosen?: {
    /** Null until the final training has ended. */
    preset: string; valid_loss: number | null; model_dir: string; predicted_loss: number | null;
    /** The final trunk's length, in the run's budget unit. */
    final_trunk: { kind: 'tokens' | 'flops'; value: number };
  };
  /** All pretraining, exploration included; budget_units: in the budget's unit (seconds at each size's probed throughput for a time budget). */
  pretrain_cost?: Cost & { budget_units: number };
  finetune?: { preset: string; dir: string; test_accuracy: number | null }[];
  compress?: { dirs: string[]; rows: number };
  selection?: { model: string; reason: string; runner_up: string | null; bytes: number | null; accuracy: number | null; latency_ms: number | null };
  model_dir?: string;
  exports?: { format: string; dir: string | null; error: string | null }[];
  sample?: string;
  report?: string;
  /** Seconds each stage took (wall clock, this run and earlier ones together). */
  stages: Record<string, { done: boolean; seconds: number }>;
}

export function recordPath(out: string): string {
  return join(out, AUTO_FILES.record);
}

export function readRecord(out: string): AutoRecord | null {
  const path = recordPath(out);
  return existsSync(path) ? (readJsonFile(path, 'auto.json') as AutoRecord) : null;
}

export function writeRecord(out: string, record: AutoRecord): void {
  writeJsonAtomic(recordPath(out), record);
}

/**
 * A rerun continues the record when it asks the same of it; a larger budget of the same kind
 * extends it. Anything else is refused before anything is written.
 */
export function continueRecord(previous: AutoRecord, asked: AutoRecord, out: string): AutoRecord {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const refuse = (flag: string, was: unknown, now: unknown): never => {
    throw new TlcError(`${out} holds a \`tlc auto\` run with ${flag} ${JSON.stringify(was)}, not ${JSON.stringify(now)}: ` +
      'rerun with what it was started with, or choose another --out');
  };
  for (const key of ['corpus', 'task', 'objective', 'explore'] as const) {
    if (!same(previous[key], asked[key])) refuse(key, previous[key], asked[key]);
  }
  for (const [flag, value] of Object.entries(asked.settings)) {
    if (!same(previous.settings?.[flag] ?? null, value)) refuse(flag, previous.settings?.[flag] ?? null, value);
  }
  if (previous.budget.kind !== asked.budget.kind) {
    throw new TlcError(`${out} was started with a ${previous.budget.kind} budget (${previous.budget.text}); a rerun may extend it with a larger one of the same kind, not ${asked.budget.text}`);
  }
  if (asked.budget.value < previous.budget.value) {
    throw new TlcError(`${out} was started with --budget ${previous.budget.text}; a rerun may extend it, not shrink it to ${asked.budget.text}`);
  }
  return { ...previous, budget: asked.budget };
}

/** What a run directory's training cost: its trunk, and each branch past its fork. */
export function runCost(runDir: string, after: Cost = { seconds: 0, tokens: 0, flops: 0 }): Cost {
  const end = (dir: string) => eventsOf(readMetrics(runFile(dir, 'metrics')), 'end').pop();
  const trunk = end(runDir);
  if (!trunk) throw new TlcError(`${runDir}: the run has not ended`);
  const cost = { seconds: trunk.train_seconds - after.seconds, tokens: trunk.tokens - after.tokens, flops: trunk.flops - after.flops };
  for (const { dir, info } of listBranches(runDir)) {
    // branches that forked before `after` were paid for already
    if (info.fork_usage.tokens <= after.tokens && after.tokens > 0) continue;
    const e = end(dir);
    if (!e) continue;
    cost.seconds += e.train_seconds - info.fork_usage.trainSeconds;
    cost.tokens += e.tokens - info.fork_usage.tokens;
    cost.flops += e.flops - info.fork_usage.flops;
  }
  return cost;
}

export function addCosts(...costs: Cost[]): Cost {
  return costs.reduce((a, c) => ({ seconds: a.seconds + c.seconds, tokens: a.tokens + c.tokens, flops: a.flops + c.flops }), { seconds: 0, tokens: 0, flops: 0 });
}
