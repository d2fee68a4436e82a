// sweep.json: one row per finished run of a `tlc sweep`, in the order the sweep ran them.
import { join } from 'node:path';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { SWEEP_FILES } from './layout.js';

export const sweepRowSchema = z.looseObject({
  name: z.string(),
  preset: z.string(),
  batch_size: z.number().int(),
  /** The run's peak learning rate (absent in older sweeps). */
  lr: z.number().optional(),
  params: z.number(),
  non_embedding_params: z.number(),
  steps: z.number().int(),
  tokens: z.number(),
  train_seconds: z.number(),
  valid_loss: z.number(),
  /** seq2seq: BLEU of the last evaluation. */
  valid_bleu: z.number().optional(),
  /** The median step's tokens per second. */
  tokens_per_s: z.number(),
  /** time_in_tokens sweeps: the probe's tokens per second that set the run's token budget. */
  probe_tokens_per_s: z.number().optional(),
  /** The run directory. */
  run: z.string(),
});
export type SweepRow = z.infer<typeof sweepRowSchema>;

const summarySchema = z.looseObject({ spec: z.record(z.string(), z.unknown()), rows: z.array(sweepRowSchema) });

export function writeSweepSummary(dir: string, spec: object, rows: SweepRow[]): void {
  writeJsonAtomic(join(dir, SWEEP_FILES.summary), { spec, rows });
}

/** The finished runs of a sweep; refuses a sweep with none. */
export function readSweepSummary(dir: string): { path: string; spec: Record<string, unknown>; rows: SweepRow[] } {
  const path = join(dir, SWEEP_FILES.summary);
  const s = parseWith(summarySchema, readJsonFile(path, `run \`tlc sweep <spec> --out ${dir}\` first`), path, 'sweep summary');
  if (s.rows.length === 0) throw new TlcError(`${path}: the sweep has no finished runs`);
  return { path, spec: s.spec, rows: s.rows };
}
