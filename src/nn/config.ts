// Model shape as plain data: the config.json of a run directory (snake_case, as in
// Hugging Face configs), its validation, named presets, and parameter/FLOP counts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TlcError } from '../engine/errors.js';

export const modelConfigSchema = z.object({
  model_type: z.literal('tlc-transformer').default('tlc-transformer'),
  objective: z.enum(['mlm', 'clm']),
  vocab_size: z.number().int().min(2),
  d_model: z.number().int().min(1),
  n_layers: z.number().int().min(1),
  n_heads: z.number().int().min(1),
  d_ff: z.number().int().min(1),
  max_len: z.number().int().min(1),
  norm: z.enum(['pre', 'post']).default('pre'),
  activation: z.enum(['gelu', 'gelu_tanh']).default('gelu'),
  layer_norm_eps: z.number().positive().default(1e-5),
  dropout: z.number().min(0).lt(1).default(0.1),
  tie_embeddings: z.literal(true).default(true),
  pad_id: z.number().int().min(0).default(1),
  /** Set on classifiers: the class names, in the order of the output layer. */
  labels: z.array(z.string()).min(2).optional(),
}).strict().refine((c) => c.d_model % c.n_heads === 0, { message: 'd_model must be divisible by n_heads', path: ['n_heads'] });

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** Validates a config object; errors name the field (and the file, if given). */
export function parseModelConfig(raw: unknown, source = 'model config'): ModelConfig {
  const r = modelConfigSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new TlcError(`${source}: invalid model config — ${issues}`);
  }
  return r.data;
}

export function readModelConfig(path: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TlcError(`${path}: cannot read model config (${(e as Error).message})`);
  }
  return parseModelConfig(raw, path);
}

/**
 * Presets are named L<layers>-D<width>, with heads = width/64 (at least 1), d_ff = 4·width:
 * e.g. L4-D256 (3.2M non-embedding parameters) up to L12-D768 (85M, BERT-base's body).
 */
export const PRESETS = ['L2-D128', 'L4-D256', 'L4-D512', 'L6-D512', 'L8-D512', 'L6-D768', 'L12-D768'] as const;

export function presetConfig(name: string, overrides: Partial<ModelConfig> & Pick<ModelConfig, 'vocab_size'>): ModelConfig {
  const m = /^L(\d+)-D(\d+)(?:-H(\d+))?$/.exec(name);
  if (!m) throw new TlcError(`unknown model preset "${name}": expected L<layers>-D<width>[-H<heads>], e.g. ${PRESETS.join(', ')}`);
  const layers = Number(m[1]), width = Number(m[2]);
  const heads = m[3] ? Number(m[3]) : Math.max(1, Math.round(width / 64));
  return parseModelConfig({
    objective: 'mlm', d_model: width, n_layers: layers, n_heads: heads, d_ff: 4 * width, max_len: 128,
    ...overrides,
  }, `preset ${name}`);
}

export interface ParamCounts {
  total: number;
  /** Everything but token and position embeddings (Kaplan et al.'s N). */
  nonEmbedding: number;
  embedding: number;
}

export function countParams(c: ModelConfig): ParamCounts {
  const C = c.d_model, F = c.d_ff;
  const ln = 2 * C;
  const block = ln + (3 * C * C + 3 * C) + (C * C + C) + ln + (F * C + F) + (C * F + C);
  const embedding = c.vocab_size * C + c.max_len * C;
  let rest = c.n_layers * block + ln; // ln_f (pre-LN) or emb_ln (post-LN)
  if (c.labels) rest += C * C + C + c.labels.length * C + c.labels.length; // classifier head
  else if (c.objective === 'mlm') rest += C * C + C + ln + c.vocab_size; // lm_head dense, ln, bias
  return { total: embedding + rest, nonEmbedding: rest, embedding };
}

/**
 * Training FLOPs per token: 6·N (forward + backward through the non-embedding
 * parameters) + 12·L·T·d (attention scores and weighted sum), as in Kaplan et al. 2020.
 */
export function trainingFlopsPerToken(c: ModelConfig, seqLen: number): number {
  return 6 * countParams(c).nonEmbedding + 12 * c.n_layers * seqLen * c.d_model;
}
