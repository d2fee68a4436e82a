// Batches for language-model pretraining, drawn from a token shard.
//
// The shard is cut into non-overlapping windows (RoBERTa's "full sentences": windows
// cross document boundaries, which are marked by </s>). Each epoch visits the windows in
// a fresh random order from a fresh random offset. Masked-LM masks are re-drawn every
// time a window is seen (dynamic masking) from a random stream keyed by the sample's
// global index, so the whole sequence of batches is a pure function of (seed, position)
// and a resumed run sees exactly the batches an uninterrupted one would.
import { MLM_MASK_RATE } from '../nn/config.js';
import { TlcError } from '../util/errors.js';
import { Rng, mix } from '../engine/random.js';
import { IGNORE_INDEX, type LMBatch } from '../nn/transformer.js';

export { mix };

export type TokenArray = Uint16Array | Uint32Array;

/** Special token ids (tlc's tokenizer fixes these). */
export const SPECIAL = { bos: 0, pad: 1, eos: 2, unk: 3, mask: 4, firstRegular: 5 } as const;

export interface BatcherOptions {
  objective: 'mlm' | 'clm';
  seqLen: number;
  vocabSize: number;
  seed: number;
  /** Fraction of tokens selected for prediction in masked LM (default MLM_MASK_RATE, 0.15). */
  maskProb?: number;
}

export interface BatcherPosition {
  epoch: number;
  /** Next window within the epoch's order. */
  index: number;
  /** Windows drawn so far, over all epochs: keys the masking stream. */
  samples: number;
}

export class LMBatcher {
  private readonly windowLen: number;
  private readonly windows: number;
  private order: Int32Array = new Int32Array(0);
  private offset = 0;
  private pos: BatcherPosition = { epoch: 0, index: 0, samples: 0 };

  constructor(private readonly tokens: TokenArray, private readonly opts: BatcherOptions) {
    // masked LM: <s> + (T−1) stream tokens; causal LM: T+1 tokens give T inputs and T targets
    this.windowLen = opts.objective === 'mlm' ? opts.seqLen - 1 : opts.seqLen + 1;
    this.windows = Math.floor((tokens.length - opts.seqLen) / this.windowLen);
    if (this.windows < 1) {
      throw new TlcError(`the token shard holds ${tokens.length} tokens, too few for one sequence of ${opts.seqLen} (with a random offset)`);
    }
    this.startEpoch(0);
  }

  get windowCount(): number {
    return this.windows;
  }

  get position(): BatcherPosition {
    return { ...this.pos };
  }

  set position(p: BatcherPosition) {
    if (!(Number.isInteger(p.epoch) && p.epoch >= 0 && Number.isInteger(p.index) && p.index >= 0 && p.index <= this.windows)) {
      throw new TlcError(`invalid data position ${JSON.stringify(p)} for ${this.windows} windows`);
    }
    this.startEpoch(p.epoch);
    this.pos = { ...p };
  }

  private startEpoch(epoch: number): void {
    const rng = new Rng(mix(this.opts.seed, 0x0e90c4, epoch));
    this.offset = rng.int(this.opts.seqLen);
    const order = Array.from({ length: this.windows }, (_, i) => i);
    rng.shuffle(order);
    this.order = Int32Array.from(order);
    this.pos = { epoch, index: 0, samples: this.pos.samples };
  }

  /** The next `batchSize` sequences. */
  next(batchSize: number): LMBatch {
    const T = this.opts.seqLen;
    const inputIds = new Int32Array(batchSize * T);
    const targets = new Int32Array(batchSize * T);
    for (let b = 0; b < batchSize; b++) {
      if (this.pos.index >= this.windows) this.startEpoch(this.pos.epoch + 1);
      const start = this.offset + this.order[this.pos.index++] * this.windowLen;
      const sample = this.pos.samples++;
      this.fill(start, sample, inputIds.subarray(b * T, (b + 1) * T), targets.subarray(b * T, (b + 1) * T));
    }
    return { batchSize, seqLen: T, inputIds, targets };
  }

  private fill(start: number, sample: number, ids: Int32Array, tgt: Int32Array): void {
    const T = this.opts.seqLen, src = this.tokens;
    if (this.opts.objective === 'clm') {
      for (let t = 0; t < T; t++) {
        ids[t] = src[start + t];
        tgt[t] = src[start + t + 1];
      }
      return;
    }
    ids[0] = SPECIAL.bos;
    for (let t = 1; t < T; t++) ids[t] = src[start + t - 1];
    applyMasking(ids, tgt, new Rng(mix(this.opts.seed, 0x3a5c, sample)), this.opts.vocabSize, this.opts.maskProb ?? MLM_MASK_RATE);
  }
}

/**
 * BERT/RoBERTa masking in place: each non-special token is selected with probability
 * `prob`; a selected token becomes <mask> 80% of the time, a random regular token 10%,
 * and stays itself 10%; targets hold the original at selected positions.
 */
export function applyMasking(ids: Int32Array, targets: Int32Array, rng: Rng, vocabSize: number, prob: number): void {
  for (let t = 0; t < ids.length; t++) {
    const tok = ids[t];
    if (tok < SPECIAL.firstRegular || rng.uniform() >= prob) {
      targets[t] = IGNORE_INDEX;
      continue;
    }
    targets[t] = tok;
    const r = rng.uniform();
    if (r < 0.8) ids[t] = SPECIAL.mask;
    else if (r < 0.9) ids[t] = SPECIAL.firstRegular + rng.int(vocabSize - SPECIAL.firstRegular);
  }
}

/**
 * A fixed evaluation set: the first windows of the validation shard, in order, with
 * masks drawn from a fixed seed — identical at every evaluation of every run.
 */
export function evaluationBatches(tokens: TokenArray, opts: BatcherOptions, maxTokens: number, batchSize: number): LMBatch[] {
  const T = opts.seqLen;
  const windowLen = opts.objective === 'mlm' ? T - 1 : T + 1;
  const available = Math.floor((tokens.length - (opts.objective === 'clm' ? 1 : 0)) / windowLen);
  const count = Math.min(available, Math.max(1, Math.floor(maxTokens / T)));
  if (available < 1) throw new TlcError(`the validation shard holds ${tokens.length} tokens, too few for one sequence of ${T}`);
  const batches: LMBatch[] = [];
  for (let w0 = 0; w0 < count; w0 += batchSize) {
    const n = Math.min(batchSize, count - w0);
    const inputIds = new Int32Array(n * T), targets = new Int32Array(n * T);
    for (let b = 0; b < n; b++) {
      const start = (w0 + b) * windowLen;
      const ids = inputIds.subarray(b * T, (b + 1) * T), tgt = targets.subarray(b * T, (b + 1) * T);
      if (opts.objective === 'clm') {
        for (let t = 0; t < T; t++) { ids[t] = tokens[start + t]; tgt[t] = tokens[start + t + 1]; }
      } else {
        ids[0] = SPECIAL.bos;
        for (let t = 1; t < T; t++) ids[t] = tokens[start + t - 1];
        applyMasking(ids, tgt, new Rng(mix(0xe7a1, 0, w0 + b)), opts.vocabSize, opts.maskProb ?? MLM_MASK_RATE);
      }
    }
    batches.push({ batchSize: n, seqLen: T, inputIds, targets });
  }
  return batches;
}
