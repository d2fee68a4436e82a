// `tlc sweep`: a grid of model shapes (and optionally batch sizes) pretrained one after
// another on the same data under the same budget, each run getting the whole machine.
// Running it again skips finished runs and resumes an interrupted one.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TlcError } from '../engine/errors.js';
import { countParams, presetConfig } from '../nn/config.js';
import { budgetFromFlags } from '../train/budget.js';
import { readMetrics } from '../train/metrics.js';
import { dataVocabSize, pretrain, resumePretrain, type PretrainArgs } from '../train/pretrain.js';
import type { LoopEvents } from '../train/loop.js';
import { writeJsonAtomic } from '../util/atomic.js';

const sweepSchema = z.object({
  data: z.string().min(1),
  /** `translation` is shorthand for objective seq2seq on a prepared translation directory. */
  task: z.enum(['language-model', 'translation']).optional(),
  objective: z.enum(['mlm', 'clm', 'seq2seq']).optional(),
  /** Presets like L4-D256; or give `layers` × `widths`. */
  sizes: z.array(z.string()).optional(),
  layers: z.array(z.number().int().min(1)).optional(),
  widths: z.array(z.number().int().min(1)).optional(),
  batch_sizes: z.array(z.number().int().min(1)).default([32]),
  micro_batch_size: z.number().int().min(1).optional(),
  budget: z.string().optional(),
  tokens: z.union([z.string(), z.number()]).optional(),
  steps: z.union([z.string(), z.number()]).optional(),
  flops: z.union([z.string(), z.number()]).optional(),
  seq_len: z.number().int().min(2).default(128),
  lr: z.number().positive().default(1e-3),
  warmup: z.number().min(0).lt(1).default(0.06),
  decay: z.enum(['linear', 'cosine', 'constant']).default('linear'),
  weight_decay: z.number().min(0).default(0.01),
  dropout: z.number().min(0).lt(1).default(0),
  clip: z.number().min(0).default(1),
  seed: z.number().int().default(0),
  eval_every: z.number().positive().lte(1).default(0.05),
  eval_tokens: z.number().int().min(1).default(32768),
}).strict();

export type SweepSpec = Omit<z.infer<typeof sweepSchema>, 'task' | 'objective'> & { objective: 'mlm' | 'clm' | 'seq2seq' };

export function readSweepSpec(path: string): SweepSpec {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new TlcError(`${path}: cannot read the sweep (${(e as Error).message})`);
  }
  const r = sweepSchema.safeParse(raw);
  if (!r.success) {
    throw new TlcError(`${path}: invalid sweep — ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const { task, objective, ...rest } = r.data;
  if (task === 'translation' && objective !== undefined && objective !== 'seq2seq') {
    throw new TlcError(`${path}: task translation trains encoder–decoders (objective seq2seq), not objective ${objective}`);
  }
  if (task === 'language-model' && objective === 'seq2seq') throw new TlcError(`${path}: task language-model takes objective mlm or clm, not seq2seq`);
  const spec: SweepSpec = { ...rest, objective: objective ?? (task === 'translation' ? 'seq2seq' : 'mlm') };
  if (!spec.sizes && !(spec.layers && spec.widths)) throw new TlcError(`${path}: give "sizes" (e.g. [L2-D128, L4-D256]) or "layers" and "widths"`);
  return spec;
}

export interface SweepPoint {
  name: string;
  preset: string;
  batchSize: number;
}

export function sweepPoints(spec: SweepSpec): SweepPoint[] {
  const presets = spec.sizes ?? spec.layers!.flatMap((l) => spec.widths!.map((w) => `L${l}-D${w}`));
  return presets.flatMap((preset) => spec.batch_sizes.map((b) => ({
    preset, batchSize: b, name: spec.batch_sizes.length > 1 ? `${preset}-B${b}` : preset,
  })));
}

export interface SweepRow {
  name: string;
  preset: string;
  batch_size: number;
  params: number;
  non_embedding_params: number;
  steps: number;
  tokens: number;
  train_seconds: number;
  valid_loss: number;
  /** seq2seq: BLEU of the last evaluation. */
  valid_bleu?: number;
  tokens_per_s: number;
  run: string;
}

export const SWEEP_SUMMARY = 'sweep.json';

export async function runSweep(spec: SweepSpec, out: string, events: (point: SweepPoint) => LoopEvents = () => ({}),
  signal?: AbortSignal, log: (line: string) => void = () => {}): Promise<{ rows: SweepRow[]; interrupted: boolean }> {
  const vocabSize = dataVocabSize(spec.data, spec.objective);
  const budget = budgetFromFlags({
    budget: spec.budget, tokens: spec.tokens?.toString(), steps: spec.steps?.toString(), flops: spec.flops?.toString(),
  });
  mkdirSync(out, { recursive: true });
  writeJsonAtomic(join(out, 'sweep.spec.json'), spec);
  const rows: SweepRow[] = [];
  for (const point of sweepPoints(spec)) {
    const runDir = join(out, 'runs', point.name);
    const model = presetConfig(point.preset, {
      vocab_size: vocabSize, max_len: Math.max(spec.seq_len, 128), objective: spec.objective,
      activation: spec.objective === 'clm' ? 'gelu_tanh' : 'gelu', dropout: spec.dropout,
    });
    const args: PretrainArgs = {
      dataDir: spec.data, model, budget, batchSize: point.batchSize,
      microBatchSize: spec.micro_batch_size && point.batchSize % spec.micro_batch_size === 0 ? spec.micro_batch_size : point.batchSize,
      seqLen: spec.seq_len, schedule: { peakLr: spec.lr, warmup: spec.warmup, decay: spec.decay },
      weightDecay: spec.weight_decay, betas: [0.9, 0.98], eps: 1e-6, maxGradNorm: spec.clip > 0 ? spec.clip : null,
      seed: spec.seed, evalEvery: { kind: 'fraction', value: spec.eval_every }, evalTokens: spec.eval_tokens,
      saveEvery: { kind: 'fraction', value: 0.1 }, saveAt: [], keep: 1,
    };
    const done = finishedRun(runDir);
    if (!done) {
      log(`${point.name}: ${existsSync(join(runDir, 'run.json')) ? 'resuming' : 'starting'} (${(countParams(model).total / 1e6).toFixed(2)}M parameters)`);
      const r = existsSync(join(runDir, 'run.json'))
        ? await resumePretrain(runDir, events(point), signal)
        : await pretrain(runDir, args, events(point), signal);
      if (r.interrupted) return { rows, interrupted: true };
    } else {
      log(`${point.name}: finished before, skipped`);
    }
    rows.push(summarize(point, runDir, model));
    writeJsonAtomic(join(out, SWEEP_SUMMARY), { spec, rows });
  }
  return { rows, interrupted: false };
}

function finishedRun(runDir: string): boolean {
  const metrics = join(runDir, 'metrics.jsonl');
  return existsSync(metrics) && readMetrics(metrics).some((e) => e.event === 'end');
}

function summarize(point: SweepPoint, runDir: string, model: ReturnType<typeof presetConfig>): SweepRow {
  const events = readMetrics(join(runDir, 'metrics.jsonl'));
  const end = events.filter((e) => e.event === 'end').pop()!;
  const counts = countParams(model);
  const trainSeconds = end.train_seconds as number;
  return {
    name: point.name, preset: point.preset, batch_size: point.batchSize, params: counts.total,
    non_embedding_params: counts.nonEmbedding, steps: end.step, tokens: end.tokens as number, train_seconds: trainSeconds,
    valid_loss: end.valid_loss as number, ...(typeof end.valid_bleu === 'number' ? { valid_bleu: end.valid_bleu } : {}),
    tokens_per_s: (end.tokens as number) / trainSeconds, run: runDir,
  };
}
