// metrics.jsonl: one JSON object per line per event. Appends are line-sized; a reader
// ignores a torn last line, and checks every other line against the event it claims to be
// (the counters a reader needs are required; measurements it can do without are optional).
import { BUDGET_KINDS } from './budget-kinds.js';
import { writesRuns } from './rank.js';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { describeIssues } from '../util/validation.js';
import { writeFileAtomic } from '../util/atomic.js';

// JSON writes NaN as null: losses and rates may come back as null.
const metric = z.number().nullable();
const common = { step: z.number().int().min(0), wall_time: z.string().optional() };
const counters = { train_seconds: z.number(), tokens: z.number(), flops: z.number() };
const budget = z.object({ kind: z.enum(BUDGET_KINDS), limit: z.number() });

const startFields = {
  ...common,
  params: z.number(),
  budget,
  threads: z.number().optional(),
  train_seconds: z.number().optional(),
  precision: z.string().optional(),
  // how `auto` chose it (src/engine/mixed.ts autoPrecision)
  precision_why: z.string().optional(),
  bf16_speedup: z.number().optional(),
  // what the task says about itself (src/train/loop.ts LoopTask.describe)
  objective: z.string().optional(),
  non_embedding_params: z.number().optional(),
  flops_per_token: z.number().optional(),
  unigram_valid_loss: metric.optional(),
  task: z.string().optional(),
  labels: z.array(z.string()).optional(),
  from: z.string().optional(),
  // a resume whose latest checkpoint could not be restored: the one it fell back to, and those passed over
  restored_from: z.string().optional(),
  skipped_checkpoints: z.array(z.string()).optional(),
};

// the last evaluation's metrics ride along
const endFields = {
  ...common, ...counters, eval_seconds: z.number(), checkpoint_seconds: z.number(), stopped_early: z.boolean(),
  valid_loss: metric.optional(), valid_bleu: metric.optional(), valid_accuracy: metric.optional(),
};

export const metricEventSchema = z.discriminatedUnion('event', [
  z.looseObject({ event: z.literal('start'), ...startFields }),
  z.looseObject({ event: z.literal('resume'), ...startFields }),
  z.looseObject({
    event: z.literal('train'), ...common, ...counters, lr: z.number(), loss: z.number(), progress: z.number(),
    // measurements a reader can do without
    grad_norm: metric.optional(), noise_scale: metric.optional(), step_seconds: z.number().optional(), tokens_per_s: metric.optional(),
    gflops: metric.optional(),
  }),
  // the task's own metrics (valid_accuracy, valid_bleu, ...) ride along as numbers
  z.object({ event: z.literal('eval'), ...common, ...counters, valid_loss: metric, eval_seconds: z.number() }).catchall(metric),
  z.looseObject({ event: z.literal('checkpoint'), ...common, path: z.string(), checkpoint_seconds: z.number() }),
  z.looseObject({ event: z.literal('end'), ...endFields }),
  // something a person should know about the run (also printed on the terminal)
  z.looseObject({ event: z.literal('warning'), ...common, kind: z.string(), message: z.string() }),
  z.looseObject({ event: z.literal('interrupted'), ...endFields }),
]);

export type MetricEvent = z.infer<typeof metricEventSchema>;
export type EventKind = MetricEvent['event'];
/** The events of one kind, e.g. `EventOf<'eval'>`. */
export type EventOf<K extends EventKind> = Extract<MetricEvent, { event: K }>;
/** What the writer is given: an event without the time stamp it adds. */
export type NewEvent = MetricEvent extends infer E ? (E extends MetricEvent ? Omit<E, 'wall_time'> : never) : never;

/** A run's metrics.jsonl; on a rank that does not write runs (src/run/rank.ts), appends nothing. */
export class MetricsLog {
  constructor(readonly path: string) {}

  append(e: NewEvent): void {
    if (!writesRuns()) return;
    appendFileSync(this.path, JSON.stringify({ ...e, wall_time: new Date().toISOString() }) + '\n');
  }

  /** Keeps only events up to `step` (used on resume: later events will be replayed). */
  truncateAfter(step: number): void {
    if (!writesRuns()) return;
    const kept = readMetrics(this.path).filter((e) => e.step <= step);
    writeFileAtomic(this.path, kept.map((e) => JSON.stringify(e) + '\n').join(''));
  }
}

/** Every event of a metrics file (none if it does not exist). A line that is not a known event is an error naming it. */
export function readMetrics(path: string): MetricEvent[] {
  if (!existsSync(path)) return [];
  const out: MetricEvent[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      if (i >= lines.length - 2) return; // the last line, torn by a crash mid-append
      throw new TlcError(`${path}:${i + 1}: not a JSON object`);
    }
    const r = metricEventSchema.safeParse(raw);
    if (!r.success) throw new TlcError(`${path}:${i + 1}: not a tlc metric event — ${describeIssues(r.error)}`);
    out.push(r.data);
  });
  return out;
}

/** The events of one kind, typed. */
export function eventsOf<K extends EventKind>(events: readonly MetricEvent[], kind: K): EventOf<K>[] {
  return events.filter((e): e is EventOf<K> => e.event === kind);
}
