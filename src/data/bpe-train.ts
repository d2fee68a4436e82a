// Byte-level BPE training. Words are counted once; then the most frequent adjacent
// pair is merged again and again. Each merge touches only the words that hold the
// pair (pair → word index) and updates pair counts by the difference it makes; a max-heap
// with lazy deletion finds the next pair, so no merge recounts the corpus.
import { TlcError } from '../util/errors.js';
import { Heap } from '../util/heap.js';
import { forEachWord } from './byte-level.js';
import { FIRST_BYTE_ID, Tokenizer, baseVocab } from './tokenizer.js';

export interface BpeTrainOptions {
  /** Final vocabulary size, special tokens and the 256 byte symbols included. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged (training may stop below vocabSize). */
  minFrequency?: number;
  /** Called every few hundred merges and at the end. */
  onProgress?: (p: { vocabSize: number; target: number; pairCount: number }) => void;
}

/** The largest vocabulary tlc trains: pair keys a·V + b must stay exact doubles, ids fit uint32 shards. */
export const MAX_VOCAB_SIZE = 1 << 24;

/** Throws unless `vocabSize` is one tlc can train; `name` is how the message calls it. */
export function checkVocabSize(vocabSize: number, name = 'vocab size'): void {
  const min = baseVocab().length;
  if (!Number.isInteger(vocabSize) || vocabSize < min || vocabSize > MAX_VOCAB_SIZE) {
    throw new TlcError(`${name} must be an integer from ${min} (special tokens and bytes) to ${MAX_VOCAB_SIZE}, got ${vocabSize}`);
  }
}

/** Counts pre-tokenized words; feed it text piece by piece, then train on the counts. */
/** Distinct words a WordCounter keeps by default: about 100 MB of counts, whatever the corpus. */
export const DEFAULT_MAX_WORDS = 1 << 20;

/**
 * Word counts in bounded memory. At most `capacity` distinct words are kept: when the table
 * fills, the rarest words — every count at or below the smallest threshold that frees half the
 * table — are dropped (lossy counting, Manku & Motwani 2002). A word seen again starts over,
 * so any count is low by at most `errorBound`, the sum of the thresholds used; BPE merges are
 * decided by the frequent words, whose counts stay exact or nearly so.
 */
export class WordCounter {
  readonly counts = new Map<string, number>();
  bytesOfText = 0;
  /** How far below its true count a kept word's count can be. */
  errorBound = 0;
  /** Times the table was pruned. */
  prunes = 0;

  constructor(readonly capacity = DEFAULT_MAX_WORDS) {
    if (!(Number.isInteger(capacity) && capacity >= 2)) throw new TlcError(`the word counter needs room for at least 2 words, got ${capacity}`);
  }

  add(text: string): void {
    const counts = this.counts;
    forEachWord(text, (word) => {
      counts.set(word, (counts.get(word) ?? 0) + 1);
      if (counts.size > this.capacity) this.prune();
    });
    this.bytesOfText += Buffer.byteLength(text, 'utf8');
  }

  private prune(): void {
    const histogram = new Map<number, number>();
    for (const c of this.counts.values()) histogram.set(c, (histogram.get(c) ?? 0) + 1);
    const target = this.counts.size - Math.floor(this.capacity / 2);
    let threshold = 0, freed = 0;
    for (const c of [...histogram.keys()].sort((a, b) => a - b)) {
      threshold = c;
      freed += histogram.get(c)!;
      if (freed >= target) break;
    }
    for (const [word, c] of this.counts) if (c <= threshold) this.counts.delete(word);
    this.errorBound += threshold;
    this.prunes++;
  }
}

/** Trains a byte-level BPE tokenizer on `texts`. */
export function trainBpe(texts: Iterable<string>, options: BpeTrainOptions): Tokenizer {
  const counter = new WordCounter();
  for (const text of texts) counter.add(text);
  return trainBpeFromCounts(counter.counts, options);
}

/** Trains on word counts (a WordCounter's), so that text can be streamed in beforehand. */
export function trainBpeFromCounts(wordCounts: ReadonlyMap<string, number>, options: BpeTrainOptions): Tokenizer {
  const { vocabSize, minFrequency = 2, onProgress } = options;
  checkVocabSize(vocabSize);
  const vocab = baseVocab();
  if (!Number.isInteger(minFrequency) || minFrequency < 1) {
    throw new TlcError(`min frequency must be a positive integer, got ${minFrequency}`);
  }
  const tokenToId = new Map(vocab.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  const words = new WordTable(wordCounts);
  const V = vocabSize;
  const pairKey = (a: number, b: number) => a * V + b;

  // Pair counts, the words each pair occurs in, and the pairs changed since the last clear.
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const touched = new Set<number>();
  const changePair = (x: number, y: number, delta: number, w: number) => {
    const key = pairKey(x, y);
    pairCount.set(key, (pairCount.get(key) ?? 0) + delta);
    touched.add(key);
    if (delta > 0) {
      let set = pairWords.get(key);
      if (set === undefined) pairWords.set(key, (set = new Set()));
      set.add(w);
    }
  };
  for (let w = 0; w < words.count; w++) {
    const start = words.start[w], end = start + words.length[w];
    for (let i = start; i + 1 < end; i++) changePair(words.symbols[i], words.symbols[i + 1], words.freq[w], w);
  }

  // Most frequent pair first; equal counts go to the lexicographically smaller (left, right) strings.
  const heap = new Heap<{ key: number; count: number }>((x, y) => {
    if (x.count !== y.count) return x.count > y.count;
    const xa = vocab[Math.floor(x.key / V)], ya = vocab[Math.floor(y.key / V)];
    if (xa !== ya) return xa < ya;
    return vocab[x.key % V] < vocab[y.key % V];
  });
  for (const [key, count] of pairCount) heap.push({ key, count });

  const report = () => onProgress?.({ vocabSize: vocab.length, target: vocabSize, pairCount: pairCount.size });
  while (vocab.length < vocabSize) {
    const top = heap.pop();
    if (top === undefined) break;
    if (pairCount.get(top.key) !== top.count) continue; // stale: the count changed after this entry was pushed
    if (top.count < minFrequency) break;

    const a = Math.floor(top.key / V), b = top.key % V;
    const merged = vocab[a] + vocab[b];
    let id = tokenToId.get(merged);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(merged);
      tokenToId.set(merged, id);
    }
    merges.push([vocab[a], vocab[b]]);

    touched.clear();
    for (const w of pairWords.get(top.key)!) words.merge(w, a, b, id, changePair);
    pairCount.delete(top.key);
    pairWords.delete(top.key);
    touched.delete(top.key);
    for (const key of touched) {
      const count = pairCount.get(key)!;
      if (count > 0) {
        heap.push({ key, count });
      } else {
        pairCount.delete(key);
        pairWords.delete(key);
      }
    }
    if (merges.length % 200 === 0) report();
  }
  report();
  return new Tokenizer(vocab, merges);
}

/** Every distinct word as a run of symbol ids in one shared buffer, with its frequency. */
class WordTable {
  readonly count: number;
  readonly symbols: Int32Array;
  readonly start: Int32Array;
  readonly length: Int32Array;
  readonly freq: Float64Array;
  private scratch = new Int32Array(16);
  private mergedAt = new Uint8Array(16);

  constructor(wordCounts: ReadonlyMap<string, number>) {
    const encoder = new TextEncoder();
    const encoded: Uint8Array[] = [];
    const freqs: number[] = [];
    let total = 0;
    for (const [word, freq] of wordCounts) {
      const bytes = encoder.encode(word);
      if (bytes.length < 2) continue; // a single byte has no pair to merge
      encoded.push(bytes);
      freqs.push(freq);
      total += bytes.length;
    }
    this.count = encoded.length;
    this.symbols = new Int32Array(total);
    this.start = new Int32Array(this.count);
    this.length = new Int32Array(this.count);
    this.freq = Float64Array.from(freqs);
    let offset = 0;
    encoded.forEach((bytes, w) => {
      this.start[w] = offset;
      this.length[w] = bytes.length;
      for (const byte of bytes) this.symbols[offset++] = FIRST_BYTE_ID + byte;
    });
  }

  /**
   * Replaces each non-overlapping (a, b), left to right, with `id` in word w, and reports
   * each pair that disappears (delta −freq) or appears (delta +freq). A pair of the old
   * word disappears iff it overlaps a merged position; a pair of the new word appears iff
   * it touches a new symbol; every other pair is unchanged.
   */
  merge(w: number, a: number, b: number, id: number, change: (x: number, y: number, delta: number, w: number) => void): void {
    const start = this.start[w], n = this.length[w], freq = this.freq[w];
    const sym = this.symbols;
    if (this.scratch.length < n) {
      this.scratch = new Int32Array(2 * n);
      this.mergedAt = new Uint8Array(2 * n);
    }
    const out = this.scratch, isNew = this.mergedAt;
    let m = 0;
    let mergedAny = false;
    for (let i = 0; i < n;) {
      if (i + 1 < n && sym[start + i] === a && sym[start + i + 1] === b) {
        // old pairs (i-1, i), (i, i+1) and (i+1, i+2) overlap this merge
        if (i > 0 && isNew[m - 1] === 0) change(sym[start + i - 1], a, -freq, w); // else the previous merge removed it
        change(a, b, -freq, w);
        if (i + 2 < n) change(b, sym[start + i + 2], -freq, w);
        out[m] = id;
        isNew[m++] = 1;
        i += 2;
        mergedAny = true;
      } else {
        out[m] = sym[start + i];
        isNew[m++] = 0;
        i += 1;
      }
    }
    if (!mergedAny) return; // the word lost this pair to an earlier merge
    for (let j = 0; j + 1 < m; j++) {
      if (isNew[j] === 1 || isNew[j + 1] === 1) change(out[j], out[j + 1], freq, w);
    }
    sym.set(out.subarray(0, m), start);
    this.length[w] = m;
  }
}
