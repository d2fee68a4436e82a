// The memory a training run will need, estimated before anything is allocated, against the
// memory this machine has available: a model that cannot fit is refused with the numbers,
// instead of allocating until the kernel kills the process.
//
//   parameters   4 (weight) + 4 (gradient) + 8 (AdamW's two moments) bytes each, + 2 for the
//                bf16 copy of each weight matrix in bf16 runs (docs/engine.md)
//   activations  what backward keeps per layer and token of a micro-batch: the block's inputs,
//                norms, q|k|v, attention output, the MLP's 4·C hidden layer before and after
//                GELU (≈ 17·C floats), plus the attention probabilities (heads · T), in f32;
//                and the logits and their gradient at the predicted positions (V floats each)
import { MLM_MASK_RATE } from '../nn/config.js';
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { TlcError } from '../util/errors.js';
import { localRanks } from '../util/launch.js';
import { countParams, decoderLayers, type ModelConfig } from '../nn/config.js';

export interface MemoryEstimate {
  parameterBytes: number;
  activationBytes: number;
  total: number;
}

/** Floats every Transformer layer keeps per token for backward (see the top of the file). */
const FLOATS_PER_TOKEN_PER_WIDTH = 17;

export function estimateTrainingBytes(c: ModelConfig, microBatch: number, seqLen: number, bf16: boolean): MemoryEstimate {
  const counts = countParams(c);
  const parameterBytes = counts.total * (16 + (bf16 ? 2 : 0));
  const layers = c.n_layers + decoderLayers(c);
  const tokens = microBatch * seqLen;
  const perLayer = tokens * (FLOATS_PER_TOKEN_PER_WIDTH * c.d_model + c.n_heads * seqLen) * 4;
  // a masked LM predicts about 15% of positions; a causal LM and a translation model every one
  const predicted = c.labels ? microBatch : c.objective === 'mlm' ? Math.ceil(MLM_MASK_RATE * tokens) : tokens;
  const head = predicted * (c.labels ? c.labels.length : c.vocab_size) * 4 * 2;
  const activationBytes = layers * perLayer + head;
  return { parameterBytes, activationBytes, total: parameterBytes + activationBytes };
}

/**
 * Memory this process can still get: the kernel's MemAvailable (else the machine's total),
 * shared among the ranks of a launch on this machine.
 */
export function availableMemory(): number {
  let bytes = totalmem();
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) bytes = Number(m[1]) * 1024;
  } catch { /* not Linux: the total */ }
  return bytes / localRanks();
}

const GB = 1024 ** 3;
const fmt = (bytes: number) => (bytes >= GB ? `${(bytes / GB).toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`);

/** Refuses, with the numbers, a run whose estimate exceeds the available memory (or a tensor too large to allocate). */
export function checkTrainingFits(c: ModelConfig, microBatch: number, seqLen: number, bf16: boolean, available = availableMemory()): MemoryEstimate {
  const largest = Math.max(c.vocab_size, c.max_len, c.d_ff) * c.d_model;
  // typed arrays and native blocks address at most 2^31 − 1 elements at once
  if (largest > 2 ** 31 - 1) {
    throw new TlcError(`the model's largest weight matrix has ${largest.toExponential(2)} elements, more than one tensor can hold (2^31 − 1): ` +
      'reduce d_model, d_ff or the vocabulary');
  }
  const e = estimateTrainingBytes(c, microBatch, seqLen, bf16);
  if (e.total > available) {
    const params = countParams(c).total;
    throw new TlcError(`the run needs about ${fmt(e.total)} of memory — ${fmt(e.parameterBytes)} for ${(params / 1e6).toFixed(1)}M parameters ` +
      `(weights, gradients, AdamW moments${bf16 ? ', bf16 copies' : ''}) and ${fmt(e.activationBytes)} of activations for a micro-batch of ` +
      `${microBatch} × ${seqLen} tokens — but ${fmt(available)} is available: choose a smaller model, or a smaller --micro-batch-size`);
  }
  return e;
}
