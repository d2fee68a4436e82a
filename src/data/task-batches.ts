// Labelled examples → token ids (RoBERTa's layout) → padded batches for a classifier.
//
// A single text is `<s> A </s>`, a pair `<s> A </s></s> B </s>`, cut to at most maxLen ids
// (for a pair, tokens come off the longer text first). A batch is padded with <pad> to its
// longest sequence; its attention mask is 1 on tokens and 0 on padding. The order of an
// epoch is a pure function of (seed, epoch), so a run resumed at (epoch, batch) sees the
// batches an uninterrupted one would.
import { TlcError } from '../util/errors.js';
import { Rng, mix } from '../engine/random.js';
import { BOS_ID, EOS_ID, PAD_ID, type Tokenizer } from './tokenizer.js';
import type { Example } from './tasks.js';

export interface EncodedExamples {
  /** The ids of every sequence, back to back. */
  ids: Int32Array;
  /** Sequence i is ids[offsets[i] .. offsets[i + 1]); length count + 1. */
  offsets: Int32Array;
  /** Index of each example's label in the task's label list. */
  labelIds: Int32Array;
  /** The longest a sequence may be, special tokens included. */
  maxLen: number;
  /** How many sequences were cut to maxLen. */
  truncated: number;
}

export interface ClassificationBatch {
  batchSize: number;
  /** The longest sequence of this batch. */
  seqLen: number;
  /** [batchSize, seqLen], padded with <pad> (id 1). */
  inputIds: Int32Array;
  /** [batchSize, seqLen]: 1 on tokens, 0 on padding. */
  attentionMask: Uint8Array;
  /** [batchSize] label ids. */
  labels: Int32Array;
}

export interface BatchOptions {
  batchSize: number;
  /** False keeps the examples' order (evaluation). */
  shuffle: boolean;
  seed: number;
  epoch: number;
  /** Batches of this epoch already seen: the first one yielded is batch `startBatch` (default 0). */
  startBatch?: number;
}

/** Special tokens around a single text and a pair. */
const SINGLE_SPECIALS = 2;
const PAIR_SPECIALS = 4;

/** Encodes examples for a classifier over `labels`; an example whose label is not among them is a TlcError. */
export function encodeExamples(
  examples: readonly Example[],
  tokenizer: Pick<Tokenizer, 'encode'>,
  labels: readonly string[],
  options: { maxLen: number },
): EncodedExamples {
  const labelId = new Map(labels.map((label, i) => [label, i]));
  const labelIds = new Int32Array(examples.length);
  examples.forEach((example, i) => {
    const id = labelId.get(example.label);
    if (id === undefined) {
      throw new TlcError(`label '${example.label}'${example.id ? ` of ${example.id}` : ''} is not one of the task's labels (${labels.join(', ')})`);
    }
    labelIds[i] = id;
  });
  return { ...encodeTexts(examples, tokenizer, options), labelIds };
}

/**
 * Encodes texts (or pairs) as a classifier reads them, without labels (`tlc predict`):
 * every label id is 0 and is not read.
 */
export function encodeTexts(
  texts: readonly Pick<Example, 'text' | 'textPair'>[],
  tokenizer: Pick<Tokenizer, 'encode'>,
  options: { maxLen: number },
): EncodedExamples {
  const { maxLen } = options;
  const hasPair = texts.some((e) => e.textPair !== undefined);
  const least = hasPair ? PAIR_SPECIALS + 2 : SINGLE_SPECIALS + 1;
  if (!Number.isInteger(maxLen) || maxLen < least) {
    throw new TlcError(`maxLen must be an integer of at least ${least} (room for the special tokens and a token of each text), got ${maxLen}`);
  }
  const offsets = new Int32Array(texts.length + 1);
  const sequences: Int32Array[] = [];
  let truncated = 0;
  texts.forEach((example, i) => {
    const a = tokenizer.encode(example.text);
    const b = example.textPair === undefined ? null : tokenizer.encode(example.textPair);
    const sequence = b === null ? single(a, maxLen) : pair(a, b, maxLen);
    if (sequence.length < (b === null ? a.length + SINGLE_SPECIALS : a.length + b.length + PAIR_SPECIALS)) truncated++;
    sequences.push(sequence);
    offsets[i + 1] = offsets[i] + sequence.length;
  });
  const ids = new Int32Array(offsets[texts.length]);
  sequences.forEach((s, i) => ids.set(s, offsets[i]));
  return { ids, offsets, labelIds: new Int32Array(texts.length), maxLen, truncated };
}

/** <s> A </s>, A cut to fit maxLen. */
function single(a: Int32Array, maxLen: number): Int32Array {
  const keepA = Math.min(a.length, maxLen - SINGLE_SPECIALS);
  const out = new Int32Array(keepA + SINGLE_SPECIALS);
  out[0] = BOS_ID;
  out.set(a.subarray(0, keepA), 1);
  out[keepA + 1] = EOS_ID;
  return out;
}

/** <s> A </s></s> B </s>, the longer of A and B cut first (Hugging Face's "longest_first"). */
function pair(a: Int32Array, b: Int32Array, maxLen: number): Int32Array {
  const [keepA, keepB] = pairLengths(a.length, b.length, maxLen - PAIR_SPECIALS);
  const out = new Int32Array(keepA + keepB + PAIR_SPECIALS);
  out[0] = BOS_ID;
  out.set(a.subarray(0, keepA), 1);
  out[keepA + 1] = EOS_ID;
  out[keepA + 2] = EOS_ID;
  out.set(b.subarray(0, keepB), keepA + 3);
  out[keepA + keepB + 3] = EOS_ID;
  return out;
}

/**
 * Lengths of A and B after taking tokens one at a time off the longer until they fit
 * `budget` (off B when they are equal), computed in one step.
 */
export function pairLengths(lengthA: number, lengthB: number, budget: number): [number, number] {
  if (lengthA + lengthB <= budget) return [lengthA, lengthB];
  const shorter = Math.min(lengthA, lengthB);
  if (shorter * 2 <= budget) {
    // Only the longer is cut, down to what the shorter leaves.
    return lengthA > lengthB ? [budget - lengthB, lengthB] : [lengthA, budget - lengthA];
  }
  // Both are cut to within one token of each other; A keeps the odd token.
  return [Math.ceil(budget / 2), Math.floor(budget / 2)];
}

/** The number of sequences encoded. */
export function encodedCount(encoded: EncodedExamples): number {
  return encoded.labelIds.length;
}

/** Sequence i's ids (a view, not a copy). */
export function sequenceAt(encoded: EncodedExamples, i: number): Int32Array {
  return encoded.ids.subarray(encoded.offsets[i], encoded.offsets[i + 1]);
}

/** The order in which an epoch visits the examples: shuffled from (seed, epoch), or 0..count-1. */
export function classificationOrder(count: number, options: { shuffle: boolean; seed: number; epoch: number }): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (options.shuffle) {
    const rng = new Rng(mix(options.seed, 0xc1a55, options.epoch));
    for (let i = count - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  return order;
}

/** Batches of one epoch, the last possibly smaller. */
export function batchesPerEpoch(count: number, batchSize: number): number {
  return Math.ceil(count / batchSize);
}

/** The batches of one epoch, from `startBatch` on. */
export function* classificationBatches(encoded: EncodedExamples, options: BatchOptions): Generator<ClassificationBatch> {
  const { batchSize, startBatch = 0 } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TlcError(`batch size must be a positive integer, got ${batchSize}`);
  const count = encodedCount(encoded);
  const batches = batchesPerEpoch(count, batchSize);
  if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > batches) {
    throw new TlcError(`start batch ${startBatch} is outside the epoch's ${batches} batches`);
  }
  const order = classificationOrder(count, options);
  for (let b = startBatch; b < batches; b++) yield makeBatch(encoded, order.subarray(b * batchSize, Math.min(count, (b + 1) * batchSize)));
}

/** The examples at `indices`, padded to the longest of them. */
export function makeBatch(encoded: EncodedExamples, indices: ArrayLike<number>): ClassificationBatch {
  const B = indices.length;
  let T = 0;
  for (let r = 0; r < B; r++) T = Math.max(T, encoded.offsets[indices[r] + 1] - encoded.offsets[indices[r]]);
  const inputIds = new Int32Array(B * T).fill(PAD_ID);
  const attentionMask = new Uint8Array(B * T);
  const labels = new Int32Array(B);
  for (let r = 0; r < B; r++) {
    const sequence = sequenceAt(encoded, indices[r]);
    inputIds.set(sequence, r * T);
    attentionMask.fill(1, r * T, r * T + sequence.length);
    labels[r] = encoded.labelIds[indices[r]];
  }
  return { batchSize: B, seqLen: T, inputIds, attentionMask, labels };
}
