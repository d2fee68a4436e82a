// `tlc sweep`: a grid of model shapes (and optionally batch sizes) pretrained one after
// another on the same data under the same budget, each run getting the whole machine.
// Running it again skips finished runs and resumes an interrupted one. A sweep file takes
// the options of `tlc pretrain` (the same schema, the same defaults) plus the grid.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { countParams, presetConfig, type ModelConfig } from '../nn/config.js';
import { readMetrics, eventsOf } from '../run/metrics.js';
import { SWEEP_FILES, runFile } from '../run/layout.js';
import { writeSweepSummary, type SweepRow } from '../run/sweep-summary.js';
import { PRESET_PRETRAIN_DROPOUT, pretrainShape, type PretrainOptions } from '../train/args.js';
import { dataVocabSize, pretrain, pretrainPlan, resumePretrain } from '../train/pretrain.js';
import type { LoopEvents } from '../train/loop.js';

const { model: _model, batch_size: _batchSize, ...sweptOptions } = pretrainShape;

const sweepSchema = z.object({
  ...sweptOptions,
  /** `translation` is shorthand for objective seq2seq on a prepared translation directory. */
  task: z.enum(['language-model', 'translation']).optional(),
  /** Presets like L4-D256; or give `layers` × `widths`. */
  sizes: z.array(z.string()).optional(),
  layers: z.array(z.number().int().min(1)).optional(),
  widths: z.array(z.number().int().min(1)).optional(),
  batch_sizes: z.array(z.number().int().min(1)).default([32]),
  /**
   * A learning-rate probe: every size trains at each of these peak rates, and the fit takes
   * each size's best, so no size loses for a rate that does not suit it (instead of `lr`).
   */
  lrs: z.array(z.number().positive()).min(1).optional(),
}).strict();

/** A sweep as a file or the demo writes it. */
export type SweepInput = z.input<typeof sweepSchema>;
/** A checked sweep, defaults filled in and the objective decided. */
export type SweepSpec = z.infer<typeof sweepSchema> & { objective: 'mlm' | 'clm' | 'seq2seq' };
type ParsedSpec = SweepSpec;

export function readSweepSpec(path: string): SweepSpec {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new TlcError(`${path}: cannot read the sweep (${(e as Error).message})`);
  }
  return parseSpec(raw as SweepInput, path);
}

/** Checks a sweep (from a file or the demo); `source` names it in errors. */
function parseSpec(spec: SweepInput, source: string): ParsedSpec {
  const { task, ...rest } = parseWith(sweepSchema, spec, source, 'sweep');
  const objective = rest.objective;
  if (task === 'translation' && objective !== undefined && objective !== 'seq2seq') {
    throw new TlcError(`${source}: task translation trains encoder–decoders (objective seq2seq), not objective ${objective}`);
  }
  if (task === 'language-model' && objective === 'seq2seq') throw new TlcError(`${source}: task language-model takes objective mlm or clm, not seq2seq`);
  const parsed: ParsedSpec = { ...rest, task, objective: objective ?? (task === 'translation' ? 'seq2seq' : 'mlm') };
  if (!parsed.sizes && !(parsed.layers && parsed.widths)) throw new TlcError(`${source}: give "sizes" (e.g. [L2-D128, L4-D256]) or "layers" and "widths"`);
  return parsed;
}

export interface SweepPoint {
  name: string;
  preset: string;
  batchSize: number;
  /** The peak learning rate (the sweep's `lr`, or one of its `lrs`). */
  lr: number;
}

export function sweepPoints(spec: SweepInput): SweepPoint[] {
  const s = parseSpec(spec, 'sweep');
  const presets = s.sizes ?? s.layers!.flatMap((l) => s.widths!.map((w) => `L${l}-D${w}`));
  const lrs = s.lrs ?? [s.lr];
  return presets.flatMap((preset) => s.batch_sizes.flatMap((b) => lrs.map((lr) => ({
    preset, batchSize: b, lr,
    name: preset + (s.batch_sizes.length > 1 ? `-B${b}` : '') + (lrs.length > 1 ? `-lr${lr}` : ''),
  }))));
}
export type { SweepRow } from '../run/sweep-summary.js';

export async function runSweep(spec: SweepInput, out: string, events: (point: SweepPoint) => LoopEvents = () => ({}),
  signal?: AbortSignal, log: (line: string) => void = () => {}): Promise<{ rows: SweepRow[]; interrupted: boolean }> {
  const parsed = parseSpec(spec, 'sweep');
  const vocabSize = dataVocabSize(parsed.data, parsed.objective);
  const { task: _task, sizes: _sizes, layers: _layers, widths: _widths, batch_sizes: _batchSizes, lrs: _lrs, ...options } = parsed;
  mkdirSync(out, { recursive: true });
  writeJsonAtomic(join(out, SWEEP_FILES.spec), spec);
  const rows: SweepRow[] = [];
  for (const point of sweepPoints(spec)) {
    const runDir = join(out, SWEEP_FILES.runs, point.name);
    const model = presetConfig(point.preset, {
      vocab_size: vocabSize, max_len: Math.max(parsed.seq_len, 128), objective: parsed.objective,
      activation: parsed.objective === 'clm' ? 'gelu_tanh' : 'gelu', dropout: parsed.dropout ?? PRESET_PRETRAIN_DROPOUT,
    });
    // a micro-batch size that does not divide a point's batch size means no accumulation there
    const micro = parsed.micro_batch_size && point.batchSize % parsed.micro_batch_size === 0 ? parsed.micro_batch_size : undefined;
    const pointOptions: PretrainOptions = { ...options, model, batch_size: point.batchSize, micro_batch_size: micro, lr: point.lr };
    if (!finishedRun(runDir)) {
      const started = existsSync(runFile(runDir, 'args'));
      log(`${point.name}: ${started ? 'resuming' : 'starting'} (${(countParams(model).total / 1e6).toFixed(2)}M parameters)`);
      const r = started
        ? await resumePretrain(runDir, events(point), signal)
        : await pretrain(runDir, pretrainPlan(pointOptions).options, events(point), signal);
      if (r.interrupted) return { rows, interrupted: true };
    } else {
      log(`${point.name}: finished before, skipped`);
    }
    rows.push(summarize(point, runDir, model));
    writeSweepSummary(out, spec, rows);
  }
  return { rows, interrupted: false };
}

function finishedRun(runDir: string): boolean {
  return eventsOf(readMetrics(runFile(runDir, 'metrics')), 'end').length > 0;
}

function summarize(point: SweepPoint, runDir: string, model: ModelConfig): SweepRow {
  const end = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'end').pop()!;
  const counts = countParams(model);
  const validBleu = end.valid_bleu;
  return {
    name: point.name, preset: point.preset, batch_size: point.batchSize, lr: point.lr, params: counts.total,
    non_embedding_params: counts.nonEmbedding, steps: end.step, tokens: end.tokens, train_seconds: end.train_seconds,
    valid_loss: end.valid_loss ?? NaN, ...(typeof validBleu === 'number' ? { valid_bleu: validBleu } : {}),
    tokens_per_s: end.tokens / end.train_seconds, run: runDir,
  };
}
