// Helpers for the export tests: run directories of tiny models with random weights (every
// parameter random, LayerNorm gains near 1, so that a tensor put in the wrong place shows),
// padded batches, tlc's own logits, and onnxruntime sessions over exported files.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Rng } from '../src/engine/random.js';
import { noGrad } from '../src/engine/autograd.js';
import { tidy } from '../src/engine/tensor.js';
import { parseModelConfig, type ModelConfig } from '../src/nn/config.js';
import { TransformerLM, type TransformerBody } from '../src/nn/transformer.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { saveWeights } from '../src/nn/weights.js';
import { Tokenizer, baseVocab, BOS_ID, EOS_ID, PAD_ID } from '../src/data/tokenizer.js';
import { saveTokenizer } from '../src/data/tokenizer-json.js';
import { writeJsonAtomic } from '../src/util/atomic.js';
import { tempDir } from './temp-dir.js';

export function tinyConfig(overrides: Partial<ModelConfig>): ModelConfig {
  return parseModelConfig({
    objective: 'mlm', vocab_size: 300, d_model: 32, n_layers: 2, n_heads: 4, d_ff: 64, max_len: 16, dropout: 0, ...overrides,
  });
}

export function buildModel(config: ModelConfig, seed = 0): TransformerBody {
  return config.labels ? new TransformerClassifier(config, { seed }) : new TransformerLM(config, { seed });
}

/** Sets every parameter to random values: N(0, 0.3²), LayerNorm gains 1 + N(0, 0.2²). */
export function randomizeParameters(model: TransformerBody, seed: number): void {
  const rng = new Rng(seed);
  for (const [name, p] of model.namedParameters()) {
    const isGain = /(ln\d?|ln_f|emb_ln)\.weight$/.test(name);
    const data = new Float32Array(p.size);
    for (let i = 0; i < data.length; i++) data[i] = isGain ? 1 + 0.2 * rng.normal() : 0.3 * rng.normal();
    p.write(data);
  }
}

/** A run directory (config.json, tokenizer.json, model.safetensors) holding a model with random weights. */
export function randomRun(config: ModelConfig, seed: number): { dir: string; model: TransformerBody } {
  const dir = join(tempDir('tlc-export-run-'), 'run');
  mkdirSync(dir, { recursive: true });
  const model = buildModel(config, seed);
  randomizeParameters(model, seed + 1);
  writeJsonAtomic(join(dir, 'config.json'), config);
  saveTokenizer(dir, new Tokenizer(baseVocab(), []));
  saveWeights(model, join(dir, 'model.safetensors'));
  return { dir, model };
}

export interface PaddedBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  attentionMask: Uint8Array;
}

/** Right-padded sequences <s> … </s> of the given lengths, with random token ids. */
export function paddedBatch(lengths: number[], vocab: number, seed: number): PaddedBatch {
  const rng = new Rng(seed);
  const T = Math.max(...lengths), B = lengths.length;
  const inputIds = new Int32Array(B * T).fill(PAD_ID);
  const attentionMask = new Uint8Array(B * T);
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) {
      inputIds[b * T + t] = t === 0 ? BOS_ID : t === n - 1 ? EOS_ID : 5 + rng.int(vocab - 5);
      attentionMask[b * T + t] = 1;
    }
  });
  return { batchSize: B, seqLen: T, inputIds, attentionMask };
}

export function tlcLogits(model: TransformerBody, batch: PaddedBatch): Float32Array {
  return noGrad(() => tidy(() => {
    const m = model as TransformerLM & TransformerClassifier;
    return m.logits(batch).toFloat32Array();
  }));
}

export function onnxFeeds(batch: PaddedBatch): Record<string, ort.Tensor> {
  const dims = [batch.batchSize, batch.seqLen];
  return {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.inputIds, (x) => BigInt(x)), dims),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(batch.attentionMask, (x) => BigInt(x)), dims),
  };
}

export async function onnxLogits(session: ort.InferenceSession, batch: PaddedBatch): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const out = await session.run(onnxFeeds(batch));
  const logits = out.logits;
  return { data: logits.data as Float32Array, dims: logits.dims };
}

/** max |a − b| over the rows (of `width` values) whose position is a real token; all rows when `mask` is null. */
export function maxDiffAtTokens(a: Float32Array, b: Float32Array, width: number, mask: Uint8Array | null): number {
  let worst = 0;
  const rows = a.length / width;
  for (let r = 0; r < rows; r++) {
    if (mask && !mask[r]) continue;
    for (let i = r * width; i < (r + 1) * width; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst;
}

export function argmax(v: ArrayLike<number>, begin: number, end: number): number {
  let best = begin;
  for (let i = begin + 1; i < end; i++) if (v[i] > v[best]) best = i;
  return best - begin;
}
