// Translation: BLEU as sacreBLEU computes it, and decoding a trained encoder–decoder (the data
// side is in src/data/parallel.ts, the model in src/nn/seq2seq.ts).
export {
  tokenize13a, corpusBleu, sentenceBleu, computeBleu, formatBleu, bleuJson, verboseBleu, closestRefLength, splitWhitespace, pyFixed,
  SMOOTH_METHODS, SMOOTH_DEFAULTS, BLEU_TOKENIZERS, MAX_NGRAM_ORDER,
} from './bleu.js';
export type { BleuOptions, BleuResult, BleuStats, BleuTokenize, SmoothMethod, FormatOptions } from './bleu.js';
export { greedySearch, beamSearch, decodeSources, translateTexts, sourceTokens } from './decode.js';
export type { SearchOptions, DecodeOptions, Hypothesis } from './decode.js';
export { loadTranslationModel } from './load.js';
export type { TranslationModel } from './load.js';
