// With a task, `tlc auto` asks the paper's question of the user's own data: the chosen model
// and a larger exploration size are finetuned, then compressed by the recommended recipe
// (gradual magnitude pruning while finetuning, quantization-aware at k bits; structured pruning
// as well where latency is the limit), and the most accurate compressed model within the test
// budget is chosen on the Pareto frontier.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AUTO_FILES, runFile } from '../run/layout.js';
import { hasFinetuneResults } from '../run/results.js';
import { readRunConfig } from '../run/pretrained.js';
import { countParams } from '../nn/config.js';
import { finetuneOptionsSchema } from '../train/args.js';
import { finetune, finetunePlan, resumeFinetune } from '../train/finetune.js';
import type { LoopEvents } from '../train/loop.js';
import { compressSweep, type CompressRow } from '../experiment/compress-sweep.js';
import { chooseWithin, describe, paretoFrontier, type ParetoRow } from '../experiment/pareto.js';
import { readJsonFile } from '../util/json-file.js';
import { TlcError } from '../util/errors.js';
import { parseDuration } from '../train/budget.js';
import { loadTask } from '../data/tasks.js';
import { encodeExamples } from '../data/task-batches.js';
import { TOKENIZER_FILE, loadTokenizer } from '../data/tokenizer-json.js';

export const TASK_SEED = 0;
/** The compression grid: unstructured sparsities × bits; structured fractions too under a latency budget. */
export const AUTO_SPARSITIES = [0, 0.5, 0.9];
export const AUTO_BITS = [8, 4];
export const AUTO_STRUCTURED = [0.25, 0.5];

/** A finetuning budget as the flags give it: a duration ("2m"), or a step count ("200steps", deterministic). */
export function finetuneBudgetOf(text: string): { budget: string } | { steps: number } {
  const steps = /^\s*(\d+)\s*steps?\s*$/i.exec(text);
  if (steps) {
    const n = Number(steps[1]);
    if (!(n >= 1)) throw new TlcError(`invalid finetuning budget "${text}": at least one step`);
    return { steps: n };
  }
  parseDuration(text);
  return { budget: text };
}

export interface TaskStageIo {
  events: (label: string) => LoopEvents & { finish(): void };
  log: (line: string) => void;
  signal?: AbortSignal;
}

export interface FinetunedModel {
  preset: string;
  dir: string;
  testAccuracy: number | null;
}

/** Finetunes the pretrained model in `from` (resumed or reused where it ran before). Null if interrupted. */
export async function finetuneModel(out: string, preset: string, from: string, task: string, budget: string, io: TaskStageIo, maxExamples?: number): Promise<FinetunedModel | null> {
  const dir = join(out, AUTO_FILES.finetune, preset);
  if (!hasFinetuneResults(dir)) {
    const options = finetunePlan(finetuneOptionsSchema.parse({
      from, task, task_seed: TASK_SEED, ...(maxExamples !== undefined && { max_examples: maxExamples }), ...finetuneBudgetOf(budget), dropout: 0.1, eval_every: 0.2, save_every: 0.25, keep: 1,
    })).options;
    const events = io.events(`finetune ${preset}`);
    const r = existsSync(runFile(dir, 'args')) ? await resumeFinetune(dir, events, io.signal) : await finetune(dir, options, events, io.signal);
    events.finish();
    if (r.interrupted) return null;
  }
  const results = readJsonFile(runFile(dir, 'results'), 'the finetuning has not finished') as { test?: { accuracy?: number } | null };
  return { preset, dir, testAccuracy: results.test?.accuracy ?? null };
}

/**
 * The shape of a finetuning batch of the task as auto trains it (the finetuning defaults' batch
 * size and length limit), its length the one to expect after padding: the longest of batch-size
 * examples, the b/(b+1) quantile of the training examples' lengths.
 */
export async function taskStepShape(task: string, dataDir: string, maxExamples?: number): Promise<{ batchSize: number; seqLen: number }> {
  const defaults = finetuneOptionsSchema.parse({ from: dataDir, task, steps: 1 });
  const t = await loadTask(task, { seed: TASK_SEED, maxExamples });
  const encoded = encodeExamples(t.splits.train, loadTokenizer(join(dataDir, TOKENIZER_FILE)), t.labels, { maxLen: defaults.max_len });
  const lengths = Array.from({ length: encoded.offsets.length - 1 }, (_, i) => encoded.offsets[i + 1] - encoded.offsets[i]);
  return { batchSize: defaults.batch_size, seqLen: lengths.length > 0 ? expectedPaddedLength(lengths, defaults.batch_size) : defaults.max_len };
}

/** The length a batch of `batchSize` random examples pads to, as expected: the b/(b+1) quantile of their lengths. */
export function expectedPaddedLength(lengths: readonly number[], batchSize: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((batchSize / (batchSize + 1)) * sorted.length))];
}

/** Compresses a finetuned model over the grid; null if interrupted. */
export async function compressModelGrid(out: string, model: FinetunedModel, settingBudget: string, maxLatencyMs: number | undefined, io: TaskStageIo): Promise<CompressRow[] | null> {
  const r = await compressSweep({
    model: model.dir, out: join(out, AUTO_FILES.compress, model.preset), sparsities: AUTO_SPARSITIES, bits: AUTO_BITS, pruning: 'layer',
    mode: 'gradual', qat: true, finetune: { ...finetuneBudgetOf(settingBudget), eval_every: 0.5, keep: 1 }, seed: 0,
    ...(maxLatencyMs !== undefined ? { structured: AUTO_STRUCTURED } : {}),
  }, io.log, (setting) => io.events(`compress ${model.preset} ${setting}`), io.signal);
  return r.interrupted ? null : r.rows;
}

/**
 * Which exploration sizes larger than the chosen one are worth finetuning and compressing: the
 * largest whose 4-bit, 90%-sparse file (about a twentieth of its float32 bytes) could fit the
 * byte budget — without one, the largest.
 */
export function largerWorthCompressing(chosen: string, explored: { preset: string; dir: string }[], maxBytes: number | undefined): { preset: string; dir: string } | null {
  const params = (dir: string) => countParams(readRunConfig(dir)).total;
  const chosenParams = params(explored.find((e) => e.preset === chosen)!.dir);
  const larger = explored.filter((e) => params(e.dir) > chosenParams && (maxBytes === undefined || (params(e.dir) * 4) / 20 <= maxBytes))
    .sort((a, b) => params(b.dir) - params(a.dir));
  return larger[0] ?? null;
}

export interface Selection {
  table: ParetoRow[];
  chosen: ParetoRow | null;
  runnerUp: ParetoRow | null;
  reason: string;
}

export function selectCompressed(rows: CompressRow[], maxBytes: number | undefined, maxLatencyMs: number | undefined): Selection {
  const table = paretoFrontier(rows).sort((a, b) => a.bytes - b.bytes);
  const limits = { ...(maxBytes !== undefined && { maxBytes }), ...(maxLatencyMs !== undefined && { maxLatencyMs }) };
  const choice = chooseWithin(table, limits);
  const rest = choice.row ? table.filter((r) => r !== choice.row) : table;
  const runnerUp = choice.row ? chooseWithin(rest, limits).row : null;
  return { table, chosen: choice.row, runnerUp, reason: choice.reason };
}

/** The folder of a compressed setting (what `evaluate` and `predict` load). */
export function settingDirOf(row: CompressRow): string {
  return dirname(row.file);
}

export function describeRow(row: CompressRow): string {
  return describe(row);
}
