// Timing a model's forward pass as it would serve: fixed-length sequences without padding,
// no tape, the same input every time. Classifiers run body + head (class logits); language
// models run the body (hidden states), since which positions get vocabulary logits depends
// on the use (fill-mask needs one position, generation the last).
import { noGrad } from '../engine/autograd.js';
import { tidy } from '../engine/tensor.js';
import { TransformerClassifier } from '../nn/classifier.js';
import type { LMBatch, TransformerBody } from '../nn/transformer.js';

export function syntheticBatch(model: TransformerBody, batchSize: number, seqLen: number): LMBatch {
  const V = model.config.vocab_size;
  const inputIds = new Int32Array(batchSize * seqLen);
  for (let i = 0; i < inputIds.length; i++) inputIds[i] = 5 + ((i * 2654435761) >>> 0) % Math.max(1, V - 5);
  for (let b = 0; b < batchSize; b++) inputIds[b * seqLen] = 0; // <s>
  return { batchSize, seqLen, inputIds };
}

/** One inference forward pass over `batch` (its outputs are freed). */
export function forwardOnce(model: TransformerBody, batch: LMBatch): void {
  noGrad(() => tidy(() => {
    if (model instanceof TransformerClassifier) model.logits(batch);
    else model.encode(batch);
  }));
}

/** Median seconds of `runs` forward passes after `warmup` untimed ones. */
export function medianForwardSeconds(model: TransformerBody, batch: LMBatch, runs: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) forwardOnce(model, batch);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    forwardOnce(model, batch);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
