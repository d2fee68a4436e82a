// Translation: BLEU as sacreBLEU computes it (the data side is in src/data/parallel.ts).
export {
  tokenize13a, corpusBleu, sentenceBleu, computeBleu, formatBleu, bleuJson, verboseBleu, closestRefLength, splitWhitespace, pyFixed,
  SMOOTH_METHODS, SMOOTH_DEFAULTS, BLEU_TOKENIZERS, MAX_NGRAM_ORDER,
} from './bleu.js';
export type { BleuOptions, BleuResult, BleuStats, BleuTokenize, SmoothMethod, FormatOptions } from './bleu.js';
