// compress.json (every setting of a `tlc compress` output) and each setting's result.json.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { COMPRESS_FILES } from './layout.js';

export const compressModes = ['oneshot', 'finetune', 'gradual'] as const;
export type CompressMode = (typeof compressModes)[number];

const finite = z.number().finite();
export const compressRowSchema = z.looseObject({
  model: z.string(),
  params: finite,
  sparsity: finite,
  bits: finite,
  mode: z.enum(compressModes),
  /** Whether the finetuning was quantization-aware (absent in older outputs: false). */
  qat: z.boolean().optional(),
  /** Byte length of the compressed file. */
  bytes: finite,
  file: z.string(),
  accuracy: finite.nullable(),
  macro_f1: finite.nullable(),
  /** Measured fraction of zeros in the selected weights. */
  measured_sparsity: finite,
  /** Inference kernels the linear layers ran on when scored and timed, e.g. "int8×10". */
  kernels: z.string().optional(),
  /** Structured settings: the fraction of every block's heads and FFN neurons removed, and how they were scored. */
  structured: finite.optional(),
  structured_criterion: z.enum(['magnitude', 'taylor']).optional(),
  /** Which units were removed, when not both heads and FFN neurons. */
  structured_units: z.enum(['both', 'heads', 'neurons']).optional(),
  /** Structured settings: parameters of the smaller model shipped (params is the source model's). */
  params_kept: finite.optional(),
  layer_heads: z.array(z.number().int()).optional(),
  layer_d_ff: z.array(z.number().int()).optional(),
  /** The task split the accuracy was measured on (classifiers), so that `tlc evaluate` scores the same examples. */
  scored_on: z.object({
    task: z.string(), task_seed: z.number().int(), max_examples: z.number().int().nullable(), max_len: z.number().int(),
  }).optional(),
  /** Median forward latency of one sequence (batch 1) on those kernels, in milliseconds. */
  latency_ms: finite.nullable().optional(),
  /** The sequence length latency_ms was measured at. */
  latency_seq_len: z.number().int().optional(),
});
export type CompressRow = z.infer<typeof compressRowSchema>;

const summarySchema = z.looseObject({ model: z.string(), mode: z.enum(compressModes), rows: z.array(compressRowSchema) });
export type CompressSummary = z.infer<typeof summarySchema>;

export function compressSummaryPath(dir: string): string {
  return join(dir, COMPRESS_FILES.summary);
}

// Each row's `file` is stored relative to the file that holds it (compress.json: `s0.5-b4/model…`;
// result.json: `model…`) and read back as a path under the directory it was read from, so a
// copied or moved output names its own files. Older outputs stored the path as given when
// written; only its last parts (setting folder, file name) are kept.

/** `file`, read from a summary in `dir`: its setting's folder and name under `dir`. */
function underSummary(dir: string, file: string): string {
  return join(dir, basename(dirname(file)), basename(file));
}

/** A `tlc compress` output's compress.json, checked row by row; its rows' files under `dir`. */
export function readCompressSummary(dir: string): CompressSummary & { path: string } {
  const path = compressSummaryPath(dir);
  const raw = readJsonFile(path, `run \`tlc compress --out ${dir}\` first`);
  const summary = parseWith(summarySchema, raw, path, 'compression summary');
  return { ...summary, rows: summary.rows.map((r) => ({ ...r, file: underSummary(dir, r.file) })), path };
}

export function writeCompressSummary(dir: string, summary: CompressSummary): void {
  writeJsonAtomic(compressSummaryPath(dir), { ...summary, rows: summary.rows.map((r) => ({ ...r, file: join(basename(dirname(r.file)), basename(r.file)) })) });
}

const settingResultSchema = z.object({ settings: z.record(z.string(), z.unknown()), row: compressRowSchema });
export type SettingResult = z.infer<typeof settingResultSchema>;

/** A setting's saved result, or null when there is none or a crash tore it (it is then redone). */
export function readSettingResult(settingDir: string): SettingResult | null {
  const path = join(settingDir, COMPRESS_FILES.result);
  if (!existsSync(path)) return null;
  try {
    const r = settingResultSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    return r.success ? { ...r.data, row: { ...r.data.row, file: join(settingDir, basename(r.data.row.file)) } } : null;
  } catch {
    return null;
  }
}

export function writeSettingResult(settingDir: string, result: SettingResult): void {
  writeJsonAtomic(join(settingDir, COMPRESS_FILES.result), { ...result, row: { ...result.row, file: basename(result.row.file) } });
}
