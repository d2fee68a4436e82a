// A byte-level BPE tokenizer (GPT-2 / RoBERTa): text is split by the GPT-2 regex,
// each word becomes its UTF-8 bytes, and merges are applied by rank. Special tokens
// have fixed ids, then come the 256 byte symbols, then one token per merge.
import { createHash } from 'node:crypto';
import { TlcError } from '../util/errors.js';
import { Heap } from '../util/heap.js';
import { BYTE_TO_CHAR, GPT2_SPLIT_PATTERN, tokenStringToBytes } from './byte-level.js';

export const SPECIAL_TOKENS = ['<s>', '<pad>', '</s>', '<unk>', '<mask>'] as const;
export const BOS_ID = 0;
export const PAD_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
export const MASK_ID = 4;
/** Id of byte 0; byte b is FIRST_BYTE_ID + b in every vocabulary tlc trains. */
export const FIRST_BYTE_ID = SPECIAL_TOKENS.length;

/** The vocabulary before any merge: special tokens, then the 256 byte symbols. */
export function baseVocab(): string[] {
  return [...SPECIAL_TOKENS, ...BYTE_TO_CHAR];
}

/** Words longer than this (in UTF-16 units) are encoded without caching them. */
const MAX_CACHED_WORD = 256;
const MAX_CACHE_ENTRIES = 1 << 20;

export class Tokenizer {
  /** id → token string, in the byte-level alphabet (e.g. "Ġthe"). */
  readonly vocab: readonly string[];
  /** Merges in rank order, each a pair of token strings. */
  readonly merges: readonly (readonly [string, string])[];
  /** byte value → token id. */
  readonly byteIds = new Int32Array(256);

  private readonly ids = new Map<string, number>();
  /** (left id · vocabSize + right id) → merge rank. */
  private readonly rankOf = new Map<number, number>();
  /** merge rank → id of the merged token. */
  private readonly mergedId: Int32Array;
  /** id → the bytes it stands for (special tokens: their UTF-8 text). */
  private readonly tokenBytes: Uint8Array[];
  private readonly cache = new Map<string, Int32Array>();
  private readonly utf8 = new TextEncoder();

  /** Throws a TlcError (message without a file name) when vocab and merges are inconsistent. */
  constructor(vocab: readonly string[], merges: readonly (readonly [string, string])[]) {
    this.vocab = vocab;
    this.merges = merges;
    SPECIAL_TOKENS.forEach((t, id) => {
      if (vocab[id] !== t) throw new TlcError(`token ${id} must be the special token ${t}, found ${JSON.stringify(vocab[id])}`);
    });
    this.tokenBytes = new Array(vocab.length);
    vocab.forEach((token, id) => {
      if (this.ids.has(token)) throw new TlcError(`token ${JSON.stringify(token)} appears twice in the vocabulary (ids ${this.ids.get(token)} and ${id})`);
      this.ids.set(token, id);
      const bytes = id < SPECIAL_TOKENS.length ? this.utf8.encode(token) : tokenStringToBytes(token);
      if (bytes === null) throw new TlcError(`token ${id} ${JSON.stringify(token)} is not written in the byte-level alphabet`);
      this.tokenBytes[id] = bytes;
    });
    BYTE_TO_CHAR.forEach((c, b) => {
      const id = this.ids.get(c);
      if (id === undefined) throw new TlcError(`the vocabulary lacks the symbol ${JSON.stringify(c)} of byte ${b}`);
      this.byteIds[b] = id;
    });
    this.mergedId = new Int32Array(merges.length);
    merges.forEach(([left, right], rank) => {
      const a = this.ids.get(left), b = this.ids.get(right), m = this.ids.get(left + right);
      if (a === undefined || b === undefined || m === undefined) {
        throw new TlcError(`merge ${rank} (${JSON.stringify(left)} ${JSON.stringify(right)}) uses or makes a token that is not in the vocabulary`);
      }
      const key = a * vocab.length + b;
      if (this.rankOf.has(key)) throw new TlcError(`merge ${rank} (${JSON.stringify(left)} ${JSON.stringify(right)}) repeats merge ${this.rankOf.get(key)}`);
      this.rankOf.set(key, rank);
      this.mergedId[rank] = m;
    });
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Token ids of `text`, with no special tokens. Special-token text such as "</s>" is encoded as plain text. */
  encode(text: string): Int32Array {
    const out = new IdBuffer(text.length >> 2);
    this.encodeInto(text, out);
    return out.toArray();
  }

  /** RoBERTa's single sequence: <s> text </s>. */
  encodeWithSpecial(text: string): Int32Array {
    const out = new IdBuffer(text.length >> 2);
    out.push(BOS_ID);
    this.encodeInto(text, out);
    out.push(EOS_ID);
    return out.toArray();
  }

  /** RoBERTa's pair of sequences: <s> A </s></s> B </s>. */
  encodePairWithSpecial(textA: string, textB: string): Int32Array {
    const out = new IdBuffer((textA.length + textB.length) >> 2);
    out.push(BOS_ID);
    this.encodeInto(textA, out);
    out.push(EOS_ID);
    out.push(EOS_ID);
    this.encodeInto(textB, out);
    out.push(EOS_ID);
    return out.toArray();
  }

  /**
   * The text of `ids`: their bytes concatenated and read as UTF-8 (an invalid sequence,
   * e.g. a cut-off character, becomes U+FFFD). Special tokens appear as their text unless skipped.
   */
  decode(ids: ArrayLike<number>, options: { skipSpecialTokens?: boolean } = {}): string {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const bytes = this.tokenBytes[id];
      if (bytes === undefined) throw new TlcError(`decode: token id ${id} is outside the vocabulary (size ${this.vocab.length})`);
      if (options.skipSpecialTokens && id < SPECIAL_TOKENS.length) continue;
      parts.push(bytes);
      length += bytes.length;
    }
    const joined = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) {
      joined.set(p, offset);
      offset += p.length;
    }
    return new TextDecoder().decode(joined);
  }

  private encodeInto(text: string, out: IdBuffer): void {
    const re = new RegExp(GPT2_SPLIT_PATTERN);
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const word = m[0];
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.encodeWord(this.utf8.encode(word));
        if (word.length <= MAX_CACHED_WORD) {
          if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
          this.cache.set(word, ids);
        }
      }
      out.pushAll(ids);
    }
  }

  /**
   * Applies merges to one word's bytes: always the lowest-ranked adjacent pair, the leftmost
   * of equals, one at a time, as Hugging Face's tokenizers do. A linked list over the symbols
   * and a min-heap of (rank, position) keep long words fast.
   */
  private encodeWord(bytes: Uint8Array): Int32Array {
    const n = bytes.length;
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]];
    if (n < 2) return sym;
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const V = this.vocab.length;
    const heap = new Heap<number>((x, y) => x < y);
    const consider = (pos: number) => {
      const rank = this.rankOf.get(sym[pos] * V + sym[next[pos]]);
      if (rank !== undefined) heap.push(rank * n + pos);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const entry = heap.pop()!;
      const rank = Math.floor(entry / n), pos = entry - rank * n;
      // Skip entries whose pair has since been changed by another merge.
      if (sym[pos] < 0 || next[pos] < 0 || this.rankOf.get(sym[pos] * V + sym[next[pos]]) !== rank) continue;
      const right = next[pos];
      sym[pos] = this.mergedId[rank];
      sym[right] = -1;
      next[pos] = next[right];
      if (next[pos] >= 0) prev[next[pos]] = pos;
      if (prev[pos] >= 0) consider(prev[pos]);
      if (next[pos] >= 0) consider(pos);
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]) count++;
    const result = new Int32Array(count);
    count = 0;
    for (let i = 0; i >= 0; i = next[i]) result[count++] = sym[i];
    return result;
  }
}

/**
 * sha256 of the canonical vocabulary and merges: equal for two tokenizers exactly when
 * they encode alike, whatever the formatting of the files they came from.
 */
export function tokenizerHash(tokenizer: Tokenizer): string {
  return createHash('sha256').update(JSON.stringify({ vocab: tokenizer.vocab, merges: tokenizer.merges })).digest('hex');
}

/** A growable Int32Array. */
class IdBuffer {
  private data: Int32Array;
  private length = 0;

  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }

  push(id: number): void {
    if (this.length === this.data.length) this.grow(1);
    this.data[this.length++] = id;
  }

  pushAll(ids: Int32Array): void {
    if (this.length + ids.length > this.data.length) this.grow(ids.length);
    this.data.set(ids, this.length);
    this.length += ids.length;
  }

  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }

  private grow(extra: number): void {
    const bigger = new Int32Array(Math.max(2 * this.data.length, this.length + extra));
    bigger.set(this.data.subarray(0, this.length));
    this.data = bigger;
  }
}
