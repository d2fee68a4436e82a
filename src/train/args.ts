// The arguments of the training commands: one zod schema per command family, read from
// command-line flags (strings), sweep files and the demo (numbers or strings) and run.json
// (what the schema itself produced, so a resumed run re-reads its own options). Defaults
// live here and nowhere else; keys are the sweep files' snake_case names of the flags.
import { dataParallel } from './data-parallel.js';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { modelConfigSchema, type ModelConfig } from '../nn/config.js';
import { budgetFromFlags, parseDuration, type Budget } from './budget.js';
import { PRECISIONS, bf16Unavailable, type PrecisionChoice } from '../engine/mixed.js';
import { COOLDOWN_SHAPES, SCHEDULES, type CooldownShape, type ScheduleConfig } from './schedule.js';

/** A trigger every `value` steps, every `value` seconds of training, or at budget fractions. */
export type Interval = { kind: 'steps' | 'seconds' | 'fraction'; value: number };

/** "200" → every 200 steps; "0.1" → every tenth of the budget; "30s" → every 30 s of training. */
export function parseInterval(v: string, what: string): Interval {
  if (/^\d+$/.test(v) && Number(v) >= 1) return { kind: 'steps', value: Number(v) };
  if (/^0?\.\d+$|^1(\.0+)?$/.test(v) && Number(v) > 0) return { kind: 'fraction', value: Number(v) };
  if (/^\s*\d*\.\d+\s*$/.test(v)) {
    throw new TlcError(`invalid ${what} "${v}": neither a step count (a whole number) nor a budget fraction (up to 1); for seconds write ${v.trim()}s`);
  }
  try {
    return { kind: 'seconds', value: parseDuration(v) };
  } catch {
    throw new TlcError(`invalid ${what} "${v}": use a step count (200), a duration (30s, 5m) or a budget fraction (0.1)`);
  }
}

/**
 * An interval as a file gives it: a number up to 1 is a fraction of the budget, a larger
 * integer a step count; text as on the command line ("200", "0.1", "30s").
 */
export function intervalOf(v: string | number, what: string): Interval {
  if (typeof v === 'string') return parseInterval(v, what);
  if (v > 0 && v <= 1) return { kind: 'fraction', value: v };
  if (Number.isInteger(v) && v > 1) return { kind: 'steps', value: v };
  throw new TlcError(`invalid ${what} ${v}: use a budget fraction (0.1), a step count (200) or a duration ("30s")`);
}

const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i;
/** A number, given as one or as its decimal text (flags). */
const numeric = <T extends z.ZodType>(inner: T) =>
  z.preprocess((v) => (typeof v === 'string' && NUMBER.test(v) ? Number(v) : v), inner);
const int = (min: number) => numeric(z.number().int().min(min));
const positive = () => numeric(z.number().positive().finite());
const nonNegative = () => numeric(z.number().min(0).finite());
const probability = () => numeric(z.number().min(0).lt(1));
const fractionOfBudget = () => numeric(z.number().gt(0).lte(1));
/** Kept as given (text or number) and parsed when the run starts: "200", "30s", 0.1. */
const interval = () => z.union([z.string(), z.number()]).refine((v) => {
  try {
    intervalOf(v, 'interval');
    return true;
  } catch {
    return false;
  }
}, 'use a step count (200), a duration (30s, 5m) or a budget fraction (0.1)');
/** "0.5,1" or [0.5, 1]. */
const fractionList = () => z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(fractionOfBudget()),
);
const budgetValue = () => z.union([z.string().min(1), z.number().positive()]);

/** Validation tokens per evaluation unless --eval-tokens says otherwise (at most the split). */
export const DEFAULT_EVAL_TOKENS = 65536;

/** Defaults that differ between the families. */
export const TRAINING_DEFAULTS = {
  pretrain: { lr: 1e-3, batch_size: 32, eval_every: '0.1', keep: 3 },
  finetune: { lr: 1e-4, batch_size: 32, eval_every: '0.05', keep: 2 },
} as const;

/**
 * Defaults of the short finetuning runs of `tlc compress` (finetune and gradual modes), on
 * top of the finetune family's: a step budget unless one is given, no warmup, and the last
 * weights kept rather than checkpoints.
 */
export const COMPRESS_FINETUNE_DEFAULTS = { steps: 200, lr: 5e-5, warmup: 0, eval_every: '0.25', keep: 1 } as const;

/** Defaults every training command shares. */
/** A seed: an integer in [0, 2^31 − 1] (it is mixed into 32-bit streams). */
const seedNumber = z.number().int('must be an integer from 0 to 2147483647').min(0, 'must be an integer from 0 to 2147483647').max(2 ** 31 - 1, 'must be an integer from 0 to 2147483647');

export const SHARED_DEFAULTS = {
  warmup: 0.06, schedule: 'linear', weight_decay: 0.01, clip: 1, betas: [0.9, 0.98] as [number, number], eps: 1e-6, seed: 0,
  save_every: '0.1', precision: 'auto',
} as const;

function trainingShape(d: { lr: number; batch_size: number; eval_every: string; keep: number }) {
  return {
    budget: budgetValue().optional(),
    tokens: budgetValue().optional(),
    steps: budgetValue().optional(),
    flops: budgetValue().optional(),
    batch_size: int(1).default(d.batch_size),
    micro_batch_size: int(1).optional(),
    lr: positive().default(d.lr),
    warmup: numeric(z.number().min(0).lt(1)).default(SHARED_DEFAULTS.warmup),
    schedule: z.enum(SCHEDULES).default(SHARED_DEFAULTS.schedule),
    weight_decay: nonNegative().default(SHARED_DEFAULTS.weight_decay),
    clip: nonNegative().default(SHARED_DEFAULTS.clip),
    betas: z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()) : v),
      z.array(numeric(z.number().min(0).lt(1))).length(2, { error: 'give two numbers b1,b2, each in [0, 1), e.g. 0.9,0.98' })
        .transform((b) => b as [number, number])).default(SHARED_DEFAULTS.betas),
    eps: positive().default(SHARED_DEFAULTS.eps),
    dropout: probability().optional(),
    seed: numeric(seedNumber).default(SHARED_DEFAULTS.seed),
    eval_every: interval().default(d.eval_every),
    save_every: interval().default(SHARED_DEFAULTS.save_every),
    keep: int(1).default(d.keep),
    /** Matrix products in f32, in bf16 with f32 accumulation, or auto (bf16 where the CPU multiplies bf16 natively). */
    precision: z.enum(PRECISIONS).default(SHARED_DEFAULTS.precision),
    /** Set by `--resume` with a larger budget: the limits of the earlier budgets (seconds, tokens, steps or FLOPs), oldest first. */
    extended_from: z.array(z.number().positive()).optional(),
  };
}

/**
 * Dropout of a preset model when pretraining does not name one: none, as in short-budget
 * pretraining (Cramming; Geiping & Goldstein 2022), where every token is seen about once.
 * A config.json keeps its own.
 */
export const PRESET_PRETRAIN_DROPOUT = 0;

export const DEFAULT_LABEL_SMOOTHING = 0.1;
export const DEFAULT_BLEU_PAIRS = 200;

/** Pretraining (and encoder–decoder training): data, model, sequence length, evaluation. */
export const pretrainShape = {
  ...trainingShape(TRAINING_DEFAULTS.pretrain),
  data: z.string().min(1),
  /** A preset (L4-D256), a config.json path, or (in run.json) the resolved config. */
  model: z.union([z.string().min(1), modelConfigSchema]),
  objective: z.enum(['mlm', 'clm', 'seq2seq']).optional(),
  norm: z.enum(['pre', 'post']).optional(),
  seq_len: int(2).default(128),
  eval_tokens: int(1).default(DEFAULT_EVAL_TOKENS),
  save_at: fractionList().default([]),
  /** wsd: budget fractions at which a cooldown branch forks from the trunk (default: 1, its end). */
  branches: fractionList().optional(),
  /** wsd: a branch's cooldown, as a fraction of the training done when it forks. */
  cooldown: numeric(z.number().gt(0).lte(1)).default(0.2),
  cooldown_shape: z.enum(COOLDOWN_SHAPES).default('1-sqrt'),
  /** seq2seq: ε of the label-smoothed training loss. */
  label_smoothing: probability().optional(),
  /** seq2seq: validation pairs translated for BLEU at each evaluation. */
  bleu_pairs: int(0).optional(),
};
export const pretrainOptionsSchema = z.object(pretrainShape).strict();
export type PretrainOptions = z.infer<typeof pretrainOptionsSchema>;

/** Finetuning a classifier on a labelled task. */
export const finetuneShape = {
  ...trainingShape(TRAINING_DEFAULTS.finetune),
  /** The pretrained run (or a finetuned classifier, to finetune further). */
  from: z.string().min(1),
  task: z.string().min(1),
  /** Seed of the task's train/valid/test split (fixed, so every model sees the same test set). */
  task_seed: numeric(seedNumber).default(0),
  max_examples: int(1).optional(),
  /** Tokens per example, including <s> and </s> (longer texts are truncated). */
  max_len: int(4).default(128),
  /** Evaluations without a better validation accuracy before stopping early. */
  patience: int(1).default(5),
};
export const finetuneOptionsSchema = z.object(finetuneShape).strict();
export type FinetuneOptions = z.infer<typeof finetuneOptionsSchema>;

export interface OptimizerArgs {
  schedule: ScheduleConfig;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  maxGradNorm: number | null;
}

/** What every training command is given: budget, batching, optimizer, triggers. */
export interface RunArgs extends OptimizerArgs {
  budget: Budget;
  batchSize: number;
  microBatchSize: number;
  seed: number;
  evalEvery: Interval;
  saveEvery: Interval;
  keep: number;
  dropout?: number;
  /** As given: `auto` is resolved when the run starts (src/engine/mixed.ts). */
  precision: PrecisionChoice;
}

type TrainingOptions = z.infer<z.ZodObject<ReturnType<typeof trainingShape>>>;

/** The shared part of parsed options, as the trainer takes it. */
export function runArgsOf(o: TrainingOptions): RunArgs {
  const str = (v: string | number | undefined): string | undefined => (v === undefined ? undefined : String(v));
  const budget = budgetFromFlags({ budget: str(o.budget), tokens: str(o.tokens), steps: str(o.steps), flops: str(o.flops) });
  // data-parallel ranks split a step's micro-batches: by default one each
  const ranks = dataParallel()?.size ?? 1;
  // (that it divides the batch is checked with the rest of the batching: validateBatching, src/train/loop.ts)
  const microBatchSize = o.micro_batch_size ?? (o.batch_size % ranks === 0 ? o.batch_size / ranks : o.batch_size);
  const noBf16 = o.precision === 'bf16' ? bf16Unavailable('--precision bf16') : null;
  if (noBf16) throw new TlcError(noBf16);
  return {
    budget, batchSize: o.batch_size, microBatchSize,
    schedule: {
      peakLr: o.lr, warmup: o.warmup, decay: o.schedule,
      ...(o.extended_from?.length ? { segments: o.extended_from.map((limit) => limit / budget.limit) } : {}),
    },
    weightDecay: o.weight_decay, betas: o.betas, eps: o.eps, maxGradNorm: o.clip > 0 ? o.clip : null,
    seed: o.seed, evalEvery: intervalOf(o.eval_every, 'eval_every'),
    saveEvery: intervalOf(o.save_every, 'save_every'), keep: o.keep, dropout: o.dropout,
    precision: o.precision,
  };
}

export interface PretrainArgs extends RunArgs {
  dataDir: string;
  model: ModelConfig;
  seqLen: number;
  evalTokens: number;
  saveAt: number[];
  /** seq2seq only: ε of the label-smoothed training loss. */
  labelSmoothing: number;
  /** seq2seq only: validation pairs translated for BLEU at each evaluation. */
  bleuPairs: number;
  /** wsd only: where cooldown branches fork, as budget fractions, ascending. */
  branches: number[];
  cooldown: number;
  cooldownShape: CooldownShape;
}

/** Options whose model is resolved to a config (see src/train/pretrain.ts resolveModel). */
export type ResolvedPretrainOptions = Omit<PretrainOptions, 'model'> & { model: ModelConfig };

export function pretrainArgsOf(o: ResolvedPretrainOptions): PretrainArgs {
  const seq2seq = o.model.objective === 'seq2seq';
  if (!seq2seq) {
    for (const key of ['label_smoothing', 'bleu_pairs'] as const) {
      if (o[key] !== undefined) throw new TlcError(`${flagName(key)} (${key}) applies to objective seq2seq only`);
    }
  }
  if (o.seq_len > o.model.max_len) throw new TlcError(`sequence length ${o.seq_len} exceeds the model's max_len ${o.model.max_len}`);
  const wsd = o.schedule === 'wsd';
  if (!wsd && o.branches !== undefined) throw new TlcError('branches fork from a wsd trunk: add --schedule wsd');
  const branches = [...new Set(wsd ? o.branches ?? [1] : [])].sort((a, b) => a - b);
  return {
    ...runArgsOf(o), dataDir: o.data, model: o.model, seqLen: o.seq_len, evalTokens: o.eval_tokens, saveAt: o.save_at,
    labelSmoothing: o.label_smoothing ?? DEFAULT_LABEL_SMOOTHING, bleuPairs: o.bleu_pairs ?? DEFAULT_BLEU_PAIRS,
    branches, cooldown: o.cooldown, cooldownShape: o.cooldown_shape,
  };
}

export interface FinetuneArgs extends RunArgs {
  from: string;
  task: string;
  taskSeed: number;
  maxExamples?: number;
  maxLen: number;
  patience: number;
}

export function finetuneArgsOf(o: FinetuneOptions): FinetuneArgs {
  if (o.schedule === 'wsd') throw new TlcError('finetuning takes schedule linear, cosine or constant; wsd is for pretraining with cooldown branches');
  return {
    ...runArgsOf(o), from: o.from, task: o.task, taskSeed: o.task_seed, maxExamples: o.max_examples, maxLen: o.max_len,
    patience: o.patience,
  };
}

/** `batch_size` → `--batch-size`. */
export function flagName(key: string): string {
  return `--${key.replace(/_/g, '-')}`;
}

/**
 * Parses command-line values (keys as the schema's, values as typed) with `schema`; errors
 * name the flag: `missing --data`, `invalid --lr "abc": expected number`.
 */
export function parseFlags<S extends z.ZodType>(schema: S, values: Record<string, unknown>): z.infer<S> {
  const r = schema.safeParse(values);
  if (r.success) return r.data;
  const messages = r.error.issues.map((i) => {
    const key = String(i.path[0] ?? '');
    if (!key) return i.message;
    const given = values[key];
    if (given === undefined) return `missing ${flagName(key)}`;
    // zod says "expected number, received number" of 1e400 (Infinity)
    const message = i.code === 'invalid_type' && i.expected === 'number' ? 'expected a finite number' : i.message;
    return `invalid ${flagName(key)} ${JSON.stringify(typeof given === 'string' ? given : JSON.stringify(given))}: ${message}`;
  });
  throw new TlcError(messages.join('; '));
}
