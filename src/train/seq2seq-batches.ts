// Batches of translation pairs for teacher-forced training.
//
// Each pair becomes a source `x… </s>` and a target y…, cut so that neither side exceeds
// the model's max_len (the decoder reads `<s> y…` and predicts `y… </s>`). Batches are
// bucketed: every epoch shuffles the pairs, cuts the order into pools of many batches,
// sorts each pool by length and slices it into batches (so a batch holds pairs of
// similar lengths and little padding), then shuffles the batches. The whole stream is a
// pure function of (seed, epoch), so a data position of (epoch, batch) resumes it exactly.
import { TlcError } from '../util/errors.js';
import { Rng, mix } from '../engine/random.js';
import { IGNORE_INDEX } from '../nn/transformer.js';
import type { Seq2SeqBatch } from '../nn/seq2seq.js';
import { BOS_ID, EOS_ID, PAD_ID, type Tokenizer } from '../data/tokenizer.js';
import type { Pair } from '../data/parallel.js';

/** Token ids of pairs: sources end with </s>; targets carry neither <s> nor </s>. */
export interface EncodedPairs {
  sources: Int32Array[];
  targets: Int32Array[];
}

/** Batches per pool of length-sorted pairs: larger pools pad less but shuffle less locally. */
const POOL_BATCHES = 50;

export function encodePairs(pairs: readonly Pair[], tokenizer: Tokenizer, maxLen: number): EncodedPairs {
  if (!(Number.isInteger(maxLen) && maxLen >= 2)) throw new TlcError(`maximum length must be an integer >= 2, got ${maxLen}`);
  const sources: Int32Array[] = [], targets: Int32Array[] = [];
  for (const p of pairs) {
    const x = tokenizer.encode(p.source), y = tokenizer.encode(p.target);
    const src = new Int32Array(Math.min(x.length, maxLen - 1) + 1);
    src.set(x.subarray(0, src.length - 1));
    src[src.length - 1] = EOS_ID;
    sources.push(src);
    targets.push(y.slice(0, maxLen - 1));
  }
  return { sources, targets };
}

/** Source and target tokens of pair i (the target counted with its </s>). */
export function pairTokens(data: EncodedPairs, i: number): { source: number; target: number } {
  return { source: data.sources[i].length, target: data.targets[i].length + 1 };
}

/** The batch of pairs `indices`, padded to its longest source and target. */
export function makeBatch(data: EncodedPairs, indices: readonly number[]): Seq2SeqBatch {
  const B = indices.length;
  if (B === 0) throw new TlcError('a batch needs at least one pair');
  const S = Math.max(...indices.map((i) => data.sources[i].length));
  const T = Math.max(...indices.map((i) => data.targets[i].length)) + 1;
  const sourceIds = new Int32Array(B * S).fill(PAD_ID), sourceMask = new Uint8Array(B * S);
  const decoderInputIds = new Int32Array(B * T).fill(PAD_ID), targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  indices.forEach((i, b) => {
    const x = data.sources[i], y = data.targets[i];
    sourceIds.set(x, b * S);
    sourceMask.fill(1, b * S, b * S + x.length);
    decoderInputIds[b * T] = BOS_ID;
    decoderInputIds.set(y, b * T + 1);
    targets.set(y, b * T);
    targets[b * T + y.length] = EOS_ID;
  });
  return { batchSize: B, sourceLen: S, sourceIds, sourceMask, targetLen: T, decoderInputIds, targets };
}

/** Orders pair indices by length (source, then target, then index). */
function byLength(data: EncodedPairs): (a: number, b: number) => number {
  return (a, b) => data.sources[a].length - data.sources[b].length || data.targets[a].length - data.targets[b].length || a - b;
}

export interface PairBatcherPosition {
  epoch: number;
  /** Next batch within the epoch. */
  batch: number;
}

export class PairBatcher {
  private batches: number[][] = [];
  private pos: PairBatcherPosition = { epoch: 0, batch: 0 };

  constructor(private readonly data: EncodedPairs, private readonly batchSize: number, private readonly seed: number) {
    if (data.sources.length === 0) throw new TlcError('no training pairs');
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new TlcError(`batch size must be a positive integer, got ${batchSize}`);
    this.startEpoch(0);
  }

  get position(): PairBatcherPosition {
    return { ...this.pos };
  }

  set position(p: PairBatcherPosition) {
    if (!(Number.isInteger(p?.epoch) && p.epoch >= 0 && Number.isInteger(p.batch) && p.batch >= 0)) {
      throw new TlcError(`invalid data position ${JSON.stringify(p)}`);
    }
    this.startEpoch(p.epoch);
    if (p.batch > this.batches.length) throw new TlcError(`invalid data position ${JSON.stringify(p)}: an epoch has ${this.batches.length} batches`);
    this.pos = { ...p };
  }

  /** Batches per epoch. */
  get epochBatches(): number {
    return this.batches.length;
  }

  next(): Seq2SeqBatch {
    if (this.pos.batch >= this.batches.length) this.startEpoch(this.pos.epoch + 1);
    return makeBatch(this.data, this.batches[this.pos.batch++]);
  }

  private startEpoch(epoch: number): void {
    const rng = new Rng(mix(this.seed, 0x7a1a5, epoch));
    const order = Array.from({ length: this.data.sources.length }, (_, i) => i);
    rng.shuffle(order);
    const pool = POOL_BATCHES * this.batchSize, cmp = byLength(this.data);
    const batches: number[][] = [];
    for (let p = 0; p < order.length; p += pool) {
      const sorted = order.slice(p, p + pool).sort(cmp);
      for (let b = 0; b < sorted.length; b += this.batchSize) batches.push(sorted.slice(b, b + this.batchSize));
    }
    rng.shuffle(batches);
    this.batches = batches;
    this.pos = { epoch, batch: 0 };
  }
}

/**
 * Fixed evaluation batches: the first pairs (up to `maxTokens` source and target tokens
 * together, at least one pair), sorted by length and cut into batches — identical at
 * every evaluation.
 */
export function evaluationPairBatches(data: EncodedPairs, maxTokens: number, batchSize: number): Seq2SeqBatch[] {
  const chosen: number[] = [];
  let tokens = 0;
  for (let i = 0; i < data.sources.length; i++) {
    const n = pairTokens(data, i);
    if (chosen.length > 0 && tokens + n.source + n.target > maxTokens) break;
    chosen.push(i);
    tokens += n.source + n.target;
  }
  chosen.sort(byLength(data));
  const batches: Seq2SeqBatch[] = [];
  for (let b = 0; b < chosen.length; b += batchSize) batches.push(makeBatch(data, chosen.slice(b, b + batchSize)));
  return batches;
}
