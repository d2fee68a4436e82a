// Sequence classifier on a pretrained Transformer body, as RoBERTa finetunes: the hidden
// state of one token goes through dense → tanh → projection to class logits. Masked-LM
// bodies pool the first token (<s>, which sees the whole sequence); causal bodies pool
// the last real token, the only one that has seen the whole sequence.
import { TlcError } from '../util/errors.js';
import { Rng } from '../engine/random.js';
import { tensor, type Tensor } from '../engine/tensor.js';
import { tanh } from '../engine/ops/activation.js';
import { gatherRows } from '../engine/ops/embedding.js';
import { crossEntropy } from '../engine/ops/crossentropy.js';
import { Module } from './module.js';
import { Linear } from './layers.js';
import { TransformerBody, type ForwardOptions, type LMBatch } from './transformer.js';
import type { ModelConfig } from './config.js';

/** A batch of sequences with one label each. */
export interface ClassificationBatch extends LMBatch {
  labels?: Int32Array;
}

class ClassificationHead extends Module {
  readonly dense: Linear;
  readonly out: Linear;

  constructor(dModel: number, numLabels: number, rng: Rng) {
    super();
    this.dense = this.addChild('dense', new Linear(dModel, dModel, rng));
    this.out = this.addChild('out', new Linear(dModel, numLabels, rng));
  }

  forward(pooled: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    return this.out.forward(drop(tanh(this.dense.forward(drop(pooled)))));
  }
}

export class TransformerClassifier extends TransformerBody {
  readonly head: ClassificationHead;
  readonly labels: readonly string[];

  constructor(config: ModelConfig, opts: { seed?: number } = {}) {
    if (!config.labels) throw new TlcError('a classifier config needs "labels"');
    if (config.objective === 'seq2seq') throw new TlcError('a classifier needs a masked or causal LM body, not a seq2seq model');
    const seed = opts.seed ?? 0;
    super(config, new Rng(seed), seed);
    this.labels = config.labels;
    // the head is initialised from its own stream, so it does not depend on the body's size
    this.head = this.addChild('cls_head', new ClassificationHead(config.d_model, config.labels.length, new Rng(seed + 1)));
    this.nameParameters();
  }

  /** Class logits [B, numLabels]. */
  logits(batch: ClassificationBatch, opts: ForwardOptions = {}): Tensor {
    const { batchSize: B, seqLen: T } = batch;
    const hidden = this.encode(batch, opts).reshape([B * T, this.config.d_model]);
    const rows = new Int32Array(B);
    for (let b = 0; b < B; b++) rows[b] = b * T + (this.config.objective === 'clm' ? lastRealToken(batch, b) : 0);
    const pooled = gatherRows(hidden, tensor(rows, [B], 'i32'));
    return this.head.forward(pooled, this.dropper(opts));
  }

  /** Mean cross-entropy over the batch's labels. */
  loss(batch: ClassificationBatch, opts: ForwardOptions = {}): { loss: Tensor; logits: Tensor } {
    if (!batch.labels) throw new TlcError('loss: the batch has no labels');
    const logits = this.logits(batch, opts);
    return { loss: crossEntropy(logits, tensor(batch.labels, [batch.batchSize], 'i32')), logits };
  }
}

function lastRealToken(batch: LMBatch, b: number): number {
  const T = batch.seqLen;
  if (!batch.attentionMask) return T - 1;
  for (let t = T - 1; t > 0; t--) if (batch.attentionMask[b * T + t]) return t;
  return 0;
}

/** The prediction (argmax class) of each row of [B, numLabels] logits. */
export function argmaxRows(logits: Tensor): Int32Array {
  const [B, K] = logits.shape;
  const v = logits.toFloat32Array();
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (v[b * K + k] > v[b * K + best]) best = k;
    out[b] = best;
  }
  return out;
}
