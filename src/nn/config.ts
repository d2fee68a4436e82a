// Model shape as plain data: the config.json of a run directory (snake_case, as in
// Hugging Face configs), its validation, named presets, and parameter/FLOP counts.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { readProblem } from '../util/read-error.js';

export const modelConfigSchema = z.object({
  model_type: z.literal('tlc-transformer').default('tlc-transformer'),
  /** mlm and clm: one Transformer stack (n_layers); seq2seq: an encoder of n_layers and a decoder of n_decoder_layers. */
  objective: z.enum(['mlm', 'clm', 'seq2seq']),
  vocab_size: z.number().int().min(2),
  d_model: z.number().int().min(1),
  n_layers: z.number().int().min(1),
  /** Decoder blocks of a seq2seq model (default: n_layers); absent from other models. */
  n_decoder_layers: z.number().int().min(1).optional(),
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
  /**
   * After structured pruning: attention heads of each block (each of d_model/n_heads
   * channels; n_heads is the width before pruning). Absent: n_heads in every block.
   */
  layer_heads: z.array(z.number().int().min(1)).optional(),
  /** After structured pruning: FFN neurons of each block. Absent: d_ff in every block. */
  layer_d_ff: z.array(z.number().int().min(1)).optional(),
}).strict()
  .refine((c) => c.d_model % c.n_heads === 0, { message: 'd_model must be divisible by n_heads', path: ['n_heads'] })
  .refine((c) => c.objective === 'seq2seq' || c.n_decoder_layers === undefined,
    { message: 'only seq2seq models have a decoder', path: ['n_decoder_layers'] })
  .refine((c) => c.objective !== 'seq2seq' || c.norm === 'pre', { message: 'seq2seq models are pre-LN only', path: ['norm'] })
  .refine((c) => c.objective !== 'seq2seq' || c.labels === undefined, { message: 'seq2seq models have no class labels', path: ['labels'] })
  .refine((c) => c.layer_heads === undefined || c.layer_heads.length === c.n_layers,
    { message: 'must give one head count per block (n_layers of them)', path: ['layer_heads'] })
  .refine((c) => c.layer_heads === undefined || c.layer_heads.every((h) => h <= c.n_heads),
    { message: 'a block cannot have more heads than n_heads', path: ['layer_heads'] })
  .refine((c) => c.layer_d_ff === undefined || c.layer_d_ff.length === c.n_layers,
    { message: 'must give one FFN width per block (n_layers of them)', path: ['layer_d_ff'] })
  .refine((c) => c.objective !== 'seq2seq' || (c.layer_heads === undefined && c.layer_d_ff === undefined),
    { message: 'seq2seq models are not structurally pruned', path: ['layer_heads'] });

export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** Validates a config object; errors name the field (and the file, if given). */
export function parseModelConfig(raw: unknown, source = 'model config'): ModelConfig {
  const c = parseWith(modelConfigSchema, raw, source, 'model config');
  // written out in full, so config.json says how deep the decoder is
  if (c.objective === 'seq2seq' && c.n_decoder_layers === undefined) c.n_decoder_layers = c.n_layers;
  return c;
}

/** Channels of one attention head. */
export function headSize(c: ModelConfig): number {
  return c.d_model / c.n_heads;
}

/** Attention heads of block `layer` (fewer than n_heads after structured pruning). */
export function headsAt(c: ModelConfig, layer: number): number {
  return c.layer_heads?.[layer] ?? c.n_heads;
}

/** Width of block `layer`'s attention (heads × head size): its q, k and v each have this many channels. */
export function attentionWidthAt(c: ModelConfig, layer: number): number {
  return headsAt(c, layer) * headSize(c);
}

/** FFN neurons of block `layer`. */
export function ffnWidthAt(c: ModelConfig, layer: number): number {
  return c.layer_d_ff?.[layer] ?? c.d_ff;
}

/** Whether structured pruning removed heads or neurons from any block. */
export function isStructurallyPruned(c: ModelConfig): boolean {
  return c.layer_heads !== undefined || c.layer_d_ff !== undefined;
}

/** Decoder depth of a seq2seq config (0 for single-stack models). */
export function decoderLayers(c: ModelConfig): number {
  return c.objective === 'seq2seq' ? c.n_decoder_layers ?? c.n_layers : 0;
}

export function readModelConfig(path: string): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TlcError(readProblem(path, e, 'a model config'));
  }
  return parseModelConfig(raw, path);
}

/**
 * Presets are named L<layers>-D<width>, with heads = width/64 (at least 1), d_ff = 4·width:
 * e.g. L4-D256 (3.2M non-embedding parameters) up to L12-D768 (85M, BERT-base's body).
 */
/** Fraction of tokens a masked LM predicts (BERT's and RoBERTa's 15%). */
export const MLM_MASK_RATE = 0.15;

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

/** Parameters of the pieces of a Transformer of width C and MLP width F (weights and biases). */
function pieceParams(c: ModelConfig) {
  const C = c.d_model, F = c.d_ff;
  const ln = 2 * C;
  const selfAttention = (3 * C * C + 3 * C) + (C * C + C);
  const mlp = (F * C + F) + (C * F + C);
  /** Cross-attention's key/value projection, which runs over the source tokens. */
  const crossKv = 2 * C * C + 2 * C;
  /** Cross-attention's query and output projections, which run over the target tokens. */
  const crossQOut = 2 * (C * C + C);
  return { ln, block: ln + selfAttention + ln + mlp, decoderBlock: ln + selfAttention + ln + crossQOut + crossKv + ln + mlp, crossKv };
}

/** Parameters of block `layer` of a single-stack model, whose widths structured pruning may have cut. */
function blockParams(c: ModelConfig, layer: number): number {
  const C = c.d_model, A = attentionWidthAt(c, layer), F = ffnWidthAt(c, layer);
  return 2 * (2 * C) + (3 * A * C + 3 * A) + (C * A + C) + (F * C + F) + (C * F + C);
}

function sumOverBlocks(c: ModelConfig, f: (layer: number) => number): number {
  let total = 0;
  for (let l = 0; l < c.n_layers; l++) total += f(l);
  return total;
}

export function countParams(c: ModelConfig): ParamCounts {
  const C = c.d_model;
  const { ln, decoderBlock } = pieceParams(c);
  let embedding = c.vocab_size * C + c.max_len * C;
  let rest = sumOverBlocks(c, (l) => blockParams(c, l)) + ln; // ln_f (pre-LN) or emb_ln (post-LN)
  if (c.labels) rest += C * C + C + c.labels.length * C + c.labels.length; // classifier head
  else if (c.objective === 'mlm') rest += C * C + C + ln + c.vocab_size; // lm_head dense, ln, bias
  else if (c.objective === 'seq2seq') {
    embedding += c.max_len * C; // the decoder's positions; its tokens and the output layer share tok_emb
    rest += decoderLayers(c) * decoderBlock + ln; // decoder blocks, dec_ln_f
  }
  return { total: embedding + rest, nonEmbedding: rest, embedding };
}

/**
 * Training FLOPs per token: 6·N (forward + backward through the non-embedding
 * parameters) + 12·L·T·d (attention scores and weighted sum), as in Kaplan et al. 2020;
 * after structured pruning each block's attention width stands for d.
 * A seq2seq model is counted on a pair of `seqLen` source and `seqLen` target tokens
 * (see seq2seqTrainingFlops), per token of the two.
 */
export function trainingFlopsPerToken(c: ModelConfig, seqLen: number): number {
  if (c.objective === 'seq2seq') return seq2seqTrainingFlops(c, seqLen, seqLen) / (2 * seqLen);
  return 6 * countParams(c).nonEmbedding + 12 * seqLen * sumOverBlocks(c, (l) => attentionWidthAt(c, l));
}

/**
 * Training FLOPs of one translation pair of S source and T target tokens, Kaplan et al.'s
 * count applied to each stack: 6 FLOPs per parameter per token it runs on, the encoder
 * (and the decoder's cross-attention key/value projections) on the S source tokens, the
 * rest of the decoder on the T target tokens; plus 12·d per query–key pair per layer for
 * attention: S² in each encoder layer, T² (decoder self-attention) and T·S
 * (cross-attention) in each decoder layer. The tied output layer is an embedding, not
 * counted, as in the language models.
 */
export function seq2seqTrainingFlops(c: ModelConfig, S: number, T: number): number {
  const { ln, block, decoderBlock, crossKv } = pieceParams(c);
  const L = c.n_layers, Ld = decoderLayers(c), d = c.d_model;
  const onSource = L * block + ln + Ld * crossKv;
  const onTarget = Ld * (decoderBlock - crossKv) + ln;
  return 6 * (onSource * S + onTarget * T) + 12 * d * (L * S * S + Ld * (T * T + T * S));
}
