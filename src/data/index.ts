// Text → tokens: the byte-level BPE tokenizer and its files, corpora, token shards, `data prepare`;
// labelled tasks for classifiers and their batches; parallel text for translation.
export { Tokenizer, tokenizerHash, baseVocab, SPECIAL_TOKENS, BOS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID, FIRST_BYTE_ID } from './tokenizer.js';
export { trainBpe, trainBpeFromCounts, WordCounter, checkVocabSize, MAX_VOCAB_SIZE } from './bpe-train.js';
export type { BpeTrainOptions } from './bpe-train.js';
export { saveTokenizer, loadTokenizer, parseTokenizerJson, tokenizerJson, tokenizerConfigJson, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE } from './tokenizer-json.js';
export { readCorpus } from './corpus.js';
export type { Document } from './corpus.js';
export { readExample, readBrownFiles, detokenizeBrown, detokenizeBrownSentences, EXAMPLE_NAMES, EXAMPLE_PREFIX } from './examples.js';
export type { BrownFile } from './examples.js';
export { openShards, ShardWriter, dtypeForVocab, dataMetaSchema, DATA_FILE, DATA_FORMAT_VERSION } from './shards.js';
export type { Shards, DataMeta, SplitMeta, TokenArray, TokenDtype } from './shards.js';
export { prepareData, chooseValidDocuments, DEFAULT_VOCAB_SIZE, DEFAULT_VALID_FRACTION, DEFAULT_SEED } from './prepare.js';
export type { PrepareOptions, PrepareResult } from './prepare.js';
export { loadTask, labelDistribution, sortLabels, stratifiedParts, DEFAULT_TASK_SEED, HELD_OUT_FRACTION } from './tasks.js';
export type { Task, TaskSplits, Example, LoadTaskOptions } from './tasks.js';
export { readExampleFile, parseCsv, parseTsv, TASK_FILE_EXTENSIONS } from './task-files.js';
export type { ExampleFile, Row } from './task-files.js';
export { readBundledTask, brownPassages, TASK_EXAMPLE_NAMES, MAX_EMAIL_CHARS, PASSAGE_MIN_WORDS, PASSAGE_MAX_WORDS } from './task-examples.js';
export type { BundledTask } from './task-examples.js';
export { emailBodyText, htmlToText, truncateText } from './email.js';
export {
  encodeExamples, classificationBatches, classificationOrder, makeBatch, batchesPerEpoch, encodedCount, sequenceAt, pairLengths,
} from './task-batches.js';
export type { EncodedExamples, ClassificationBatch, BatchOptions } from './task-batches.js';
export { loadParallel, readParallelTsv, writeParallelTsv, splitBySource, PARALLEL_EXAMPLE_NAMES, EXAMPLE_HELD_OUT_PAIRS } from './parallel.js';
export type { Pair, ParallelData, LoadParallelOptions } from './parallel.js';
export { readDeEnDictionary, DE_EN_DICTIONARY } from './parallel-example.js';
export { prepareTranslation, readPreparedTranslation, translationMetaSchema, TRANSLATION_META_FILE } from './prepare-translation.js';
export type { PrepareTranslationOptions, PrepareTranslationResult, PreparedTranslation, TranslationMeta } from './prepare-translation.js';
