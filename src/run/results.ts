// results.json: a finetuned classifier's scores, written when finetuning ends.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { writeJsonAtomic } from '../util/atomic.js';
import { runFile } from './layout.js';

const scores = z.object({
  examples: z.number().int(),
  loss: z.number().nullable(),
  accuracy: z.number(),
  macro_f1: z.number(),
  per_label: z.array(z.object({ precision: z.number(), recall: z.number(), f1: z.number(), support: z.number() })),
  confusion: z.array(z.array(z.number())),
});
export type Scores = z.infer<typeof scores>;

export const finetuneResultsSchema = z.object({
  task: z.string(),
  labels: z.array(z.string()),
  best_step: z.number().int().nullable(),
  steps: z.number().int(),
  stopped_early: z.boolean(),
  train_seconds: z.number(),
  valid: scores,
  test: scores,
  notes: z.array(z.string()),
});
export type FinetuneResults = z.infer<typeof finetuneResultsSchema>;

export function writeFinetuneResults(runDir: string, results: FinetuneResults): void {
  writeJsonAtomic(runFile(runDir, 'results'), results);
}

export function hasFinetuneResults(runDir: string): boolean {
  return existsSync(runFile(runDir, 'results'));
}

