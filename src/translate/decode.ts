// Decoding a seq2seq model: greedy search and beam search, batched over sentences.
//
// Each batch of sources is encoded once; the decoder then runs one token at a time with
// cached keys and values (IncrementalDecoder), so a step costs one token's worth of
// compute per hypothesis. Sentences leave the batch as soon as they are finished.
//
// Beam search follows fairseq's: at each step every live hypothesis of a sentence is
// extended by every token; of the 2·beam best candidates, an end-of-sentence among the
// first `beam` finishes a hypothesis, and the best `beam` others continue. A sentence is
// done when `beam` hypotheses have finished, or at its length limit, where every live
// hypothesis is finished with </s>. Finished hypotheses are ranked by
//   score = Σ log p(token) / |y|^α     (fairseq's --lenpen α; |y| counts the </s>),
// so α = 0 ranks by total log-probability and α = 1 by the mean per token.
import { TlcError } from '../util/errors.js';
import { runToEnd, type Pausable } from '../util/pausable.js';
import { noGrad } from '../engine/autograd.js';
import { tidy } from '../engine/tensor.js';
import { IncrementalDecoder, type Seq2SeqTransformer } from '../nn/seq2seq.js';
import { BOS_ID, EOS_ID, PAD_ID, type Tokenizer } from '../data/tokenizer.js';

export interface SearchOptions {
  /** Hypotheses kept per sentence; 1 is greedy search. Default 1. */
  beamSize?: number;
  /** α of the length normalisation score / |y|^α (beam search only). Default 1. */
  lengthPenalty?: number;
  /**
   * Most tokens generated per sentence, </s> excluded. Default: twice the source length
   * plus 10; never more than the model's max_len − 1 (the decoder's positions).
   */
  maxLen?: number;
}

export interface DecodeOptions extends SearchOptions {
  /** Sentences decoded together (default 32). */
  batchSize?: number;
  /** Called after each batch with the number of sentences done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface Hypothesis {
  /** Generated tokens, without <s> and </s>. */
  tokens: Int32Array;
  /** Σ log p of the tokens and of the closing </s> (forced at the length limit). */
  logProb: number;
  /** The rank score (see the header); for greedy search, logProb. */
  score: number;
}

/** The source rows the model reads: `x… </s>`, cut to the model's max_len. */
export function sourceTokens(tokenizer: Tokenizer, text: string, maxLen: number): Int32Array {
  const ids = tokenizer.encode(text);
  const n = Math.min(ids.length, maxLen - 1);
  const out = new Int32Array(n + 1);
  out.set(ids.subarray(0, n));
  out[n] = EOS_ID;
  return out;
}

/** The generation limit of each source, as SearchOptions.maxLen describes. */
function lengthLimit(model: Seq2SeqTransformer, source: Int32Array, opts: SearchOptions): number {
  const cap = model.config.max_len - 1;
  const want = opts.maxLen ?? 2 * source.length + 10;
  if (!(Number.isInteger(want) && want >= 1)) throw new TlcError(`maximum length must be a positive integer, got ${opts.maxLen}`);
  return Math.min(want, cap);
}

function checkSources(model: Seq2SeqTransformer, sources: Int32Array[]): void {
  for (const [i, s] of sources.entries()) {
    if (s.length === 0) throw new TlcError(`source ${i} is empty (it needs at least </s>)`);
    if (s.length > model.config.max_len) throw new TlcError(`source ${i} has ${s.length} tokens, more than the model's max_len ${model.config.max_len}`);
  }
}

/**
 * Encodes a batch of sources (padded to the longest) and starts a decoder over it with
 * `rowsPerGroup` rows per sentence, each fed <s>. Returns the decoder and the first logits.
 */
function start(model: Seq2SeqTransformer, sources: Int32Array[], rowsPerGroup: number, capacity: number) {
  const B = sources.length, S = Math.max(...sources.map((s) => s.length));
  const sourceIds = new Int32Array(B * S).fill(PAD_ID), sourceMask = new Uint8Array(B * S);
  sources.forEach((s, b) => {
    sourceIds.set(s, b * S);
    sourceMask.fill(1, b * S, b * S + s.length);
  });
  const decoder = noGrad(() => tidy(() => {
    const memory = model.encodeSource({ batchSize: B, sourceLen: S, sourceIds, sourceMask });
    return new IncrementalDecoder(model, memory, sourceMask, rowsPerGroup, capacity);
  }));
  const logits = decoder.next(new Int32Array(B * rowsPerGroup).fill(BOS_ID));
  return { decoder, logits };
}

/** Greedy search over one batch of sources (token rows ending in </s>). */
export function greedySearch(model: Seq2SeqTransformer, sources: Int32Array[], opts: SearchOptions = {}): Hypothesis[] {
  checkSources(model, sources);
  const V = model.config.vocab_size;
  const limits = sources.map((s) => lengthLimit(model, s, opts));
  const out: Hypothesis[] = sources.map(() => ({ tokens: new Int32Array(0), logProb: 0, score: 0 }));
  const tokens: number[][] = sources.map(() => []);
  let { decoder, logits } = start(model, sources, 1, Math.max(...limits) + 1);
  try {
    let active = sources.map((_, i) => i); // sentence of each decoder row
    for (;;) {
      const kept: number[] = [], next: number[] = [];
      active.forEach((s, row) => {
        const lp = logProbs(logits, row, V);
        // at the length limit the sentence ends, with </s> as beam search forces it
        const best = tokens[s].length >= limits[s] ? EOS_ID : argmax(lp.logits);
        out[s].logProb += lp.of(best);
        if (best === EOS_ID) {
          out[s] = { tokens: Int32Array.from(tokens[s]), logProb: out[s].logProb, score: out[s].logProb };
          return;
        }
        tokens[s].push(best);
        kept.push(row);
        next.push(best);
      });
      if (kept.length === 0) break;
      decoder.select(Int32Array.from(kept));
      active = kept.map((row) => active[row]);
      logits = decoder.next(Int32Array.from(next));
    }
  } finally {
    decoder.dispose();
  }
  return out;
}

interface Live {
  tokens: number[];
  logProb: number;
}

/** Beam search over one batch of sources (token rows ending in </s>). */
export function beamSearch(model: Seq2SeqTransformer, sources: Int32Array[], opts: SearchOptions = {}): Hypothesis[] {
  checkSources(model, sources);
  const K = opts.beamSize ?? 1, alpha = opts.lengthPenalty ?? 1;
  const V = model.config.vocab_size;
  if (!(Number.isInteger(K) && K >= 1)) throw new TlcError(`beam size must be a positive integer, got ${opts.beamSize}`);
  if (2 * K >= V) throw new TlcError(`beam size ${K} is too large for a vocabulary of ${V}`);
  if (!Number.isFinite(alpha)) throw new TlcError(`length penalty must be a finite number, got ${opts.lengthPenalty}`);
  const limits = sources.map((s) => lengthLimit(model, s, opts));
  const finished: Hypothesis[][] = sources.map(() => []);
  // a finished hypothesis: its tokens and the total log-probability with its </s>
  const finish = (s: number, tokens: number[], logProb: number): void => {
    finished[s].push({ tokens: Int32Array.from(tokens), logProb, score: logProb / Math.pow(tokens.length + 1, alpha) });
  };
  // beams[g][k]: the hypothesis in row g·K + k (null: a dead row, as all but one are at the start)
  let beams: (Live | null)[][] = sources.map(() => Array.from({ length: K }, (_, k) => (k === 0 ? { tokens: [], logProb: 0 } : null)));
  let active = sources.map((_, i) => i);
  let { decoder, logits } = start(model, sources, K, Math.max(...limits) + 1);
  try {
    for (;;) {
      const rows: number[] = [], next: number[] = [], nextBeams: (Live | null)[][] = [], nextActive: number[] = [];
      active.forEach((s, g) => {
        const lps = beams[g].map((h, k) => (h ? logProbs(logits, g * K + k, V) : null));
        if (beams[g][0]!.tokens.length >= limits[s]) {
          // the length limit: every live hypothesis ends here
          beams[g].forEach((h, k) => { if (h) finish(s, h.tokens, h.logProb + lps[k]!.of(EOS_ID)); });
          return;
        }
        const candidates = topCandidates(beams[g], lps, 2 * K);
        const continuing: { row: number; token: number; logProb: number }[] = [];
        for (const [i, c] of candidates.entries()) {
          if (c.token === EOS_ID) {
            if (i < K) finish(s, beams[g][c.row]!.tokens, c.logProb);
          } else if (continuing.length < K) {
            continuing.push(c);
          }
        }
        if (finished[s].length >= K || continuing.length === 0) return;
        const nb: (Live | null)[] = [];
        for (let k = 0; k < K; k++) {
          const c = continuing[Math.min(k, continuing.length - 1)];
          rows.push(g * K + c.row);
          next.push(c.token);
          // rows beyond the candidates repeat the last one, dead
          nb.push(k < continuing.length ? { tokens: [...beams[g][c.row]!.tokens, c.token], logProb: c.logProb } : null);
        }
        nextBeams.push(nb);
        nextActive.push(s);
      });
      if (nextActive.length === 0) break;
      decoder.select(Int32Array.from(rows));
      beams = nextBeams;
      active = nextActive;
      logits = decoder.next(Int32Array.from(next));
    }
  } finally {
    decoder.dispose();
  }
  return finished.map((hs) => hs.reduce((best, h) => (h.score > best.score ? h : best)));
}

/**
 * The best `count` (row, token) extensions of a sentence's live hypotheses by total
 * log-probability; ties go to the lower row, then the lower token id (as argmax does).
 */
function topCandidates(beam: (Live | null)[], lps: (LogProbs | null)[], count: number): { row: number; token: number; logProb: number }[] {
  const best: { row: number; token: number; logProb: number }[] = [];
  beam.forEach((h, row) => {
    if (!h) return;
    const { logits, lse } = lps[row]!;
    for (let v = 0; v < logits.length; v++) {
      const score = h.logProb + (logits[v] - lse);
      if (best.length === count && !(score > best[count - 1].logProb)) continue;
      let i = best.length;
      while (i > 0 && score > best[i - 1].logProb) i--;
      best.splice(i, 0, { row, token: v, logProb: score });
      if (best.length > count) best.pop();
    }
  });
  return best;
}

/** One row of logits with its log-sum-exp: log p(v) = logits[v] − lse, in double precision. */
interface LogProbs {
  logits: Float32Array;
  lse: number;
  of(token: number): number;
}

function logProbs(all: Float32Array, row: number, V: number): LogProbs {
  const logits = all.subarray(row * V, (row + 1) * V);
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (logits[v] > max) max = logits[v];
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[v] - max);
  const lse = max + Math.log(sum);
  return { logits, lse, of: (token) => logits[token] - lse };
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let v = 1; v < x.length; v++) if (x[v] > x[best]) best = v;
  return best;
}

/**
 * Decodes any number of sources: sorted by length into batches of similar lengths (less
 * padding), searched, and returned in the input order. Greedy when beamSize is 1. Pauses after
 * each batch.
 */
export function* decodeSourcesSteps(model: Seq2SeqTransformer, sources: Int32Array[], opts: DecodeOptions = {}): Pausable<Hypothesis[]> {
  const batchSize = opts.batchSize ?? 32;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new TlcError(`batch size must be a positive integer, got ${opts.batchSize}`);
  const order = sources.map((_, i) => i).sort((a, b) => sources[a].length - sources[b].length || a - b);
  const out: Hypothesis[] = new Array(sources.length);
  const search = (opts.beamSize ?? 1) === 1 ? greedySearch : beamSearch;
  for (let i = 0; i < order.length; i += batchSize) {
    const idx = order.slice(i, i + batchSize);
    const hyps = search(model, idx.map((j) => sources[j]), opts);
    idx.forEach((j, k) => { out[j] = hyps[k]; });
    opts.onProgress?.(Math.min(i + batchSize, order.length), order.length);
    yield;
  }
  return out;
}

/** decodeSourcesSteps, straight through. */
export function decodeSources(model: Seq2SeqTransformer, sources: Int32Array[], opts: DecodeOptions = {}): Hypothesis[] {
  return runToEnd(decodeSourcesSteps(model, sources, opts));
}

/** Translates texts with a model and its tokenizer; see decodeSources. */
export function translateTexts(model: Seq2SeqTransformer, tokenizer: Tokenizer, texts: string[], opts: DecodeOptions = {}): string[] {
  const sources = texts.map((t) => sourceTokens(tokenizer, t, model.config.max_len));
  return decodeSources(model, sources, opts).map((h) => tokenizer.decode(h.tokens, { skipSpecialTokens: true }));
}
