// Corpus and sentence BLEU computed exactly as sacreBLEU 2.x computes it (Post, 2018): the
// mteval-v13a tokenizer, clipped n-gram matches against one or more reference streams,
// the brevity penalty against the closest reference length, and its smoothing methods.
// Every detail that moves a score (or its printed form) follows sacreBLEU's own code:
// Python's idea of whitespace, the order of its float sums, log(0) as -9999999999, and
// Python's round-half-to-even when a number is printed.
import { TlcError } from '../util/errors.js';

export type SmoothMethod = 'exp' | 'floor' | 'add-k' | 'none';
export type BleuTokenize = '13a' | 'none';

export const SMOOTH_METHODS: readonly SmoothMethod[] = ['exp', 'floor', 'add-k', 'none'];
export const BLEU_TOKENIZERS: readonly BleuTokenize[] = ['13a', 'none'];
/** The smoothing value each method uses when none is given (Chen & Cherry, 2014); null where it takes none. */
export const SMOOTH_DEFAULTS: Readonly<Record<SmoothMethod, number | null>> = { exp: null, floor: 0.1, 'add-k': 1, none: null };
export const MAX_NGRAM_ORDER = 4;

export interface BleuOptions {
  /** '13a' (default) or 'none' (split on whitespace only). */
  tokenize?: BleuTokenize;
  /** Lowercase hypotheses and references before tokenizing. */
  lowercase?: boolean;
  /** 'exp' (default; mteval's NIST smoothing), 'floor', 'add-k' or 'none'. */
  smoothMethod?: SmoothMethod;
  /** The value of 'floor' (default 0.1) and 'add-k' (default 1). */
  smoothValue?: number;
  /** Average only over the n-gram orders the hypotheses have (for sentence-level BLEU). */
  effectiveOrder?: boolean;
  /** Highest n-gram order (default 4). */
  maxNgramOrder?: number;
  /** Do not warn about hypotheses that look tokenized already. */
  force?: boolean;
}

export interface BleuResult {
  /** BLEU on the 0–100 scale. */
  score: number;
  /** Matched n-grams per order (1..maxNgramOrder), clipped by the references. */
  counts: number[];
  /** Hypothesis n-grams per order. */
  totals: number[];
  /** Precisions per order in percent, smoothed. */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  /** Tokens in the hypotheses. */
  sysLen: number;
  /** Tokens in the closest reference of each segment, summed. */
  refLen: number;
  /** sysLen / refLen (0 when refLen is 0). */
  ratio: number;
  /** References per segment, or 'var' when segments have different numbers. */
  nrefs: number | 'var';
  /** sacreBLEU's signature of the settings, without its version field: "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp". */
  signature: string;
  /** Things a person should know about the input (sacreBLEU logs the same warnings). */
  warnings: string[];
}

/** Sufficient statistics of BLEU: what compute_bleu takes. */
export interface BleuStats {
  correct: number[];
  total: number[];
  sysLen: number;
  refLen: number;
}

// Python's str.isspace(): unlike JavaScript's \s it includes U+001C..U+001F and U+0085, and
// excludes U+FEFF. str.split() and str.rstrip() cut on exactly these.
const PY_SPACE = '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACES = new RegExp(`[${PY_SPACE}]+`, 'gu');
const PY_TRAILING_SPACES = new RegExp(`[${PY_SPACE}]+$`, 'u');

/** Python's str.split() with no argument: runs of whitespace separate, none at either end. */
export function splitWhitespace(line: string): string[] {
  return line.split(PY_SPACES).filter((t) => t !== '');
}

function rstrip(line: string): string {
  return line.replace(PY_TRAILING_SPACES, '');
}

// mteval-v13a's language-dependent rules (sacreBLEU's TokenizerRegexp), applied in order.
const TOKENIZE_RULES: [RegExp, string][] = [
  // ASCII symbols and punctuation other than . , - become tokens: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
  [/([{-~[-` -&(-+:-@/])/gu, ' $1 '],
  // period and comma split off unless preceded by a digit
  [/([^0-9])([.,])/gu, '$1 $2 '],
  // ... or unless followed by a digit
  [/([.,])([^0-9])/gu, ' $1 $2'],
  // a dash after a digit
  [/([0-9])(-)/gu, '$1 $2 '],
];

/** sacreBLEU's `13a` tokenizer (mteval-v13a.pl); tokens joined by single spaces. */
export function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (s.includes('&')) {
    // In this order: "&amp;quot;" becomes "&quot;", not a quote.
    s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  s = ` ${s} `;
  for (const [re, replacement] of TOKENIZE_RULES) s = s.replace(re, replacement);
  return splitWhitespace(s).join(' ');
}

interface Settings {
  tokenize: BleuTokenize;
  lowercase: boolean;
  smoothMethod: SmoothMethod;
  smoothValue: number | undefined;
  effectiveOrder: boolean;
  maxNgramOrder: number;
  force: boolean;
}

function settings(opts: BleuOptions, effectiveOrderDefault: boolean): Settings {
  const s: Settings = {
    tokenize: opts.tokenize ?? '13a',
    lowercase: opts.lowercase ?? false,
    smoothMethod: opts.smoothMethod ?? 'exp',
    smoothValue: opts.smoothValue,
    effectiveOrder: opts.effectiveOrder ?? effectiveOrderDefault,
    maxNgramOrder: opts.maxNgramOrder ?? MAX_NGRAM_ORDER,
    force: opts.force ?? false,
  };
  if (!BLEU_TOKENIZERS.includes(s.tokenize)) throw new TlcError(`BLEU tokenize: unknown tokenizer "${s.tokenize}"; use ${BLEU_TOKENIZERS.join(' or ')}`);
  if (!SMOOTH_METHODS.includes(s.smoothMethod)) throw new TlcError(`BLEU smoothing: unknown method "${s.smoothMethod}"; use ${SMOOTH_METHODS.join(', ')}`);
  if (s.smoothValue !== undefined && !(Number.isFinite(s.smoothValue) && s.smoothValue >= 0)) {
    throw new TlcError(`BLEU smoothing value must be a non-negative number, got ${s.smoothValue}`);
  }
  if (!Number.isInteger(s.maxNgramOrder) || s.maxNgramOrder < 1) throw new TlcError(`BLEU max n-gram order must be a positive integer, got ${s.maxNgramOrder}`);
  return s;
}

function preprocess(line: string, s: Settings): string {
  const text = s.lowercase ? line.toLowerCase() : line;
  return s.tokenize === '13a' ? tokenize13a(rstrip(text)) : rstrip(text);
}

/** Counts of each order's n-grams (index n-1), an n-gram as its tokens joined by spaces (no token holds one). */
function ngramCounts(tokens: string[], maxOrder: number): Map<string, number>[] {
  const byOrder: Map<string, number>[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      const ngram = n === 1 ? tokens[i] : tokens.slice(i, i + n).join(' ');
      counts.set(ngram, (counts.get(ngram) ?? 0) + 1);
    }
    byOrder.push(counts);
  }
  return byOrder;
}

/** sacreBLEU's rule: the reference length closest to the hypothesis length, the shorter one on a tie. */
export function closestRefLength(hypLen: number, refLens: readonly number[]): number {
  let closestDiff = -1, closestLen = -1;
  for (const refLen of refLens) {
    const diff = Math.abs(hypLen - refLen);
    if (closestDiff === -1 || diff < closestDiff) {
      closestDiff = diff;
      closestLen = refLen;
    } else if (diff === closestDiff && refLen < closestLen) {
      closestLen = refLen;
    }
  }
  return closestLen;
}

/** Segment statistics: [hypLen, refLen, correct[0..N), total[0..N)]. */
function segmentStats(hyp: string, refs: string[], maxOrder: number): number[] {
  const refNgrams = Array.from({ length: maxOrder }, () => new Map<string, number>());
  const refLens: number[] = [];
  for (const ref of refs) {
    const tokens = splitWhitespace(ref);
    refLens.push(tokens.length);
    // Each n-gram may match as often as it occurs in the one reference that has it most.
    ngramCounts(tokens, maxOrder).forEach((counts, n) => {
      const best = refNgrams[n];
      for (const [ngram, count] of counts) if (count > (best.get(ngram) ?? 0)) best.set(ngram, count);
    });
  }
  const hypTokens = splitWhitespace(hyp);
  const correct = new Array<number>(maxOrder).fill(0);
  const total = new Array<number>(maxOrder).fill(0);
  ngramCounts(hypTokens, maxOrder).forEach((counts, n) => {
    for (const [ngram, count] of counts) {
      total[n] += count;
      correct[n] += Math.min(count, refNgrams[n].get(ngram) ?? 0);
    }
  });
  return [hypTokens.length, closestRefLength(hypTokens.length, refLens), ...correct, ...total];
}

/**
 * Corpus BLEU. `references` holds one array per reference stream, each as long as
 * `hypotheses`; a null entry means that stream has no reference for that segment.
 */
export function corpusBleu(hypotheses: readonly string[], references: ReadonlyArray<ReadonlyArray<string | null>>, opts: BleuOptions = {}): BleuResult {
  return scoreCorpus(hypotheses, references, settings(opts, false));
}

/**
 * BLEU of one hypothesis against its references. Effective order is on by default here (as in
 * sacreBLEU's sentence_bleu), since a short sentence often has no 4-gram match at all.
 */
export function sentenceBleu(hypothesis: string, references: readonly string[], opts: BleuOptions = {}): BleuResult {
  return scoreCorpus([hypothesis], references.map((r) => [r]), settings(opts, true));
}

function scoreCorpus(hypotheses: readonly string[], references: ReadonlyArray<ReadonlyArray<string | null>>, s: Settings): BleuResult {
  if (references.length === 0) throw new TlcError('BLEU needs at least one reference stream');
  references.forEach((stream, k) => {
    if (stream.length !== hypotheses.length) {
      throw new TlcError(`BLEU: reference stream ${k + 1} has ${stream.length} segments but there are ${hypotheses.length} hypotheses`);
    }
  });
  const N = s.maxNgramOrder;
  const sums = new Array<number>(2 + 2 * N).fill(0);
  const refCounts = new Set<number>();
  let tokenizedLooking = 0;
  hypotheses.forEach((hyp, i) => {
    const refs: string[] = [];
    for (const stream of references) {
      const ref = stream[i];
      if (ref !== null && ref !== undefined) refs.push(preprocess(ref, s));
    }
    if (refs.length === 0) throw new TlcError(`BLEU: segment ${i + 1} has no reference in any stream`);
    refCounts.add(refs.length);
    if (!s.force && hyp.endsWith(' .')) tokenizedLooking++;
    const stats = segmentStats(preprocess(hyp, s), refs, N);
    for (let k = 0; k < sums.length; k++) sums[k] += stats[k];
  });
  const stats: BleuStats = { sysLen: sums[0], refLen: sums[1], correct: sums.slice(2, 2 + N), total: sums.slice(2 + N) };
  const nrefs = refCounts.size === 1 ? [...refCounts][0] : refCounts.size === 0 ? references.length : 'var';
  const warnings = tokenizedLooking >= 100
    ? [`${tokenizedLooking} hypotheses end in a tokenized period (" ."): they look tokenized, and BLEU should see detokenized text (force to silence this)`]
    : [];
  return { ...computeBleu(stats, s), nrefs, signature: bleuSignature(nrefs, s), warnings };
}

/**
 * BLEU from its sufficient statistics, sacreBLEU's compute_bleu. As there, 'add-k' adds k to
 * the counts and totals of orders 2 and up, and the returned counts and totals include it.
 */
export function computeBleu(stats: BleuStats, opts: BleuOptions = {}): Omit<BleuResult, 'nrefs' | 'signature' | 'warnings'> {
  const s = settings(opts, false);
  const maxOrder = s.maxNgramOrder;
  if (stats.correct.length !== maxOrder || stats.total.length !== maxOrder) {
    throw new TlcError(`BLEU statistics: expected ${maxOrder} counts and totals, got ${stats.correct.length} and ${stats.total.length}`);
  }
  const correct = [...stats.correct], total = [...stats.total];
  const { sysLen, refLen } = stats;
  const smoothValue = s.smoothValue ?? SMOOTH_DEFAULTS[s.smoothMethod] ?? 0;
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(maxOrder).fill(0);
  const result = (score: number) => ({ score, counts: correct, totals: total, precisions, bp, sysLen, refLen, ratio: refLen ? sysLen / refLen : 0 });
  if (correct.every((c) => c === 0)) return result(0);

  let smoothMteval = 1;
  let effOrder = maxOrder;
  for (let n = 1; n <= maxOrder; n++) {
    if (s.smoothMethod === 'add-k' && n > 1) {
      correct[n - 1] += smoothValue;
      total[n - 1] += smoothValue;
    }
    if (total[n - 1] === 0) break;
    if (s.effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (s.smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
      } else if (s.smoothMethod === 'floor') {
        precisions[n - 1] = (100 * smoothValue) / total[n - 1];
      }
    } else {
      precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
    }
  }
  let logSum = 0;
  for (const p of precisions.slice(0, effOrder)) logSum += p === 0 ? -9999999999 : Math.log(p);
  return result(bp * Math.exp(logSum / effOrder));
}

/** sacreBLEU's BLEU signature, less the version field (this is not sacreBLEU's code). */
function bleuSignature(nrefs: number | 'var', s: Settings): string {
  const defaultValue = SMOOTH_DEFAULTS[s.smoothMethod];
  const smooth = defaultValue === null ? s.smoothMethod : `${s.smoothMethod}[${pyFixed(s.smoothValue ?? defaultValue, 2)}]`;
  return `nrefs:${nrefs}|case:${s.lowercase ? 'lc' : 'mixed'}|eff:${s.effectiveOrder ? 'yes' : 'no'}|tok:${s.tokenize}|smooth:${smooth}`;
}

/** The part after the score: "63.6/38.1/26.3/18.9 (BP = 1.000 ratio = 1.022 hyp_len = 47 ref_len = 46)". */
export function verboseBleu(r: Pick<BleuResult, 'precisions' | 'bp' | 'ratio' | 'sysLen' | 'refLen'>): string {
  const prec = r.precisions.map((p) => pyFixed(p, 1)).join('/');
  return `${prec} (BP = ${pyFixed(r.bp, 3)} ratio = ${pyFixed(r.ratio, 3)} hyp_len = ${r.sysLen} ref_len = ${r.refLen})`;
}

export interface FormatOptions {
  /** Decimals of the score (default 2, as str(bleu); the sacrebleu command uses 1). */
  width?: number;
  /** Print "BLEU|<signature> = ..." as the sacrebleu command does. */
  signature?: boolean;
}

/** What sacreBLEU's BLEUScore.format() prints: "BLEU = 32.29 63.6/38.1/26.3/18.9 (BP = 1.000 ...)". */
export function formatBleu(r: BleuResult, opts: FormatOptions = {}): string {
  const name = opts.signature ? `BLEU|${r.signature}` : 'BLEU';
  return `${name} = ${pyFixed(r.score, checkWidth(opts.width ?? 2))} ${verboseBleu(r)}`;
}

/** sacreBLEU's JSON output (format(is_json=True)): name, score, signature, verbose_score, then each signature field. */
export function bleuJson(r: BleuResult, width = 2): string {
  const fields: Record<string, string> = {};
  for (const part of r.signature.split('|')) {
    const colon = part.indexOf(':');
    fields[part.slice(0, colon)] = part.slice(colon + 1);
  }
  const SCORE = '\u0000score\u0000';
  const json = JSON.stringify({ name: 'BLEU', score: SCORE, signature: r.signature, verbose_score: verboseBleu(r), ...fields }, null, 1);
  // Python prints a float as a float: 100.0, not 100.
  return json.replace(JSON.stringify(SCORE), pyFloatRepr(Number(pyFixed(r.score, checkWidth(width)))));
}

function checkWidth(width: number): number {
  if (!Number.isInteger(width) || width < 0 || width > 20) throw new TlcError(`BLEU width must be an integer from 0 to 20, got ${width}`);
  return width;
}

function pyFloatRepr(x: number): string {
  const s = String(x);
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

/**
 * Python's f"{x:.{digits}f}". JavaScript's toFixed rounds an exact tie (12.25 → "12.3") away
 * from zero, Python to even ("12.2"); both work on the exact binary value otherwise.
 */
export function pyFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const rounded = x.toFixed(digits);
  if (Object.is(x, -0)) return '-' + rounded; // Python keeps the sign of -0.0
  if (Math.abs(x) >= 1e21) return rounded;
  // toFixed(100) is the exact decimal expansion for any double a tie could be (a tie at
  // `digits` places is a multiple of 2^-(digits+1)).
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  const rest = exact.slice(dot + 1 + digits);
  if (!/^50*$/.test(rest)) return rounded;
  const kept = exact.slice(0, dot + 1 + digits).replace(/\.$/, '');
  const lastDigit = Number(kept[kept.length - 1]);
  if (lastDigit % 2 === 1) return rounded; // toFixed rounded away from zero, which is to even here
  return (x < 0 ? '-' : '') + kept;
}
