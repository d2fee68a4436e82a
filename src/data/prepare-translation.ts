// `tlc data prepare --task translation`: parallel data → one byte-level BPE vocabulary shared by
// source and target (trained on both sides of the training pairs only) → a directory the
// translation trainer reads:
//   tokenizer.json, tokenizer_config.json   the shared tokenizer
//   train.tsv, valid.tsv, test.tsv          the raw text pairs (source<TAB>target, header line)
//   prepare.json                            what was made from what; written last
// The text stays raw so that BLEU is computed on detokenized sentences, as sacreBLEU expects.
import { join } from 'node:path';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { writeFileAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import { WordCounter, checkVocabSize, trainBpeFromCounts } from './bpe-train.js';
import { type Pair, loadParallel, readParallelTsv, writeParallelTsv } from './parallel.js';
import { DEFAULT_VOCAB_SIZE, checkOutDir, startOutDir } from './prepare.js';
import { DEFAULT_TASK_SEED } from './tasks.js';
import { type Tokenizer, baseVocab, tokenizerHash } from './tokenizer.js';
import { TOKENIZER_FILE, loadTokenizer, saveTokenizer } from './tokenizer-json.js';

export const TRANSLATION_META_FILE = 'prepare.json';
export const TRANSLATION_FORMAT_VERSION = 1;
const SPLITS = ['train', 'valid', 'test'] as const;
type Split = (typeof SPLITS)[number];

const sideTokensSchema = z.object({
  tokens: z.number().int().min(0),
  max_tokens: z.number().int().min(0),
});

const splitSchema = z.object({
  file: z.string().min(1),
  pairs: z.number().int().min(1),
  source: sideTokensSchema,
  target: sideTokensSchema,
});

export const translationMetaSchema = z.object({
  task: z.literal('translation'),
  format_version: z.literal(TRANSLATION_FORMAT_VERSION),
  input: z.string(),
  pairs: z.object({ train: z.number().int().min(1), valid: z.number().int().min(1), test: z.number().int().min(1) }),
  vocab_size: z.number().int().min(1),
  tokenizer_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Token counts (without special tokens) per split and side, and the longest sentence. */
  splits: z.object({ train: splitSchema, valid: splitSchema, test: splitSchema }),
  seed: z.number().int(),
  notes: z.array(z.string()),
  created_at: z.string(),
});

export type TranslationMeta = z.infer<typeof translationMetaSchema>;

export interface PrepareTranslationOptions {
  /** A TSV file, a directory of train/valid/test.tsv, or example:de-en. */
  input: string;
  outDir: string;
  /** Vocabulary to train (default 8192); not together with tokenizerPath. */
  vocabSize?: number;
  /** Seed of the splits cut from the input (default 0). */
  seed?: number;
  /** Reuse this tokenizer.json (or a directory holding one) instead of training. */
  tokenizerPath?: string;
  /** Progress on stderr (default true). */
  showProgress?: boolean;
}

export interface PrepareTranslationResult {
  meta: TranslationMeta;
  /** Seconds spent training the tokenizer; null when reused. */
  trainingSeconds: number | null;
}

export function prepareTranslation(options: PrepareTranslationOptions): PrepareTranslationResult {
  const { input, outDir, seed = DEFAULT_TASK_SEED, tokenizerPath, showProgress = true } = options;
  if (tokenizerPath !== undefined && options.vocabSize !== undefined) {
    throw new TlcError('--vocab-size cannot be combined with --tokenizer: the tokenizer fixes the vocabulary');
  }
  const vocabSize = options.vocabSize ?? DEFAULT_VOCAB_SIZE;
  checkVocabSize(vocabSize, '--vocab-size');
  const reused = tokenizerPath !== undefined ? loadTokenizer(tokenizerPath) : null;
  checkOutDir(outDir);
  const data = loadParallel(input, { seed });
  startOutDir(outDir, TRANSLATION_META_FILE);

  let tokenizer: Tokenizer;
  let trainingSeconds: number | null = null;
  if (reused) {
    tokenizer = reused;
  } else {
    const t0 = performance.now();
    tokenizer = trainSharedTokenizer(data.train, vocabSize, showProgress);
    trainingSeconds = (performance.now() - t0) / 1000;
  }
  saveTokenizer(outDir, tokenizer);

  const splits = {} as TranslationMeta['splits'];
  for (const split of SPLITS) {
    const file = `${split}.tsv`;
    writeParallelTsv(join(outDir, file), data[split]);
    splits[split] = { file, pairs: data[split].length, source: sideTokens(data[split], 'source', tokenizer), target: sideTokens(data[split], 'target', tokenizer) };
  }
  const meta: TranslationMeta = {
    task: 'translation',
    format_version: TRANSLATION_FORMAT_VERSION,
    input,
    pairs: { train: data.train.length, valid: data.valid.length, test: data.test.length },
    vocab_size: tokenizer.vocabSize,
    tokenizer_sha256: tokenizerHash(tokenizer),
    splits,
    seed,
    notes: data.notes,
    created_at: new Date().toISOString(),
  };
  // Last: a directory without prepare.json is an unfinished one.
  writeFileAtomic(join(outDir, TRANSLATION_META_FILE), JSON.stringify(meta, null, 2) + '\n');
  return { meta, trainingSeconds };
}

/** One vocabulary for both languages: words are counted over sources and targets of train. */
function trainSharedTokenizer(train: readonly Pair[], vocabSize: number, showProgress: boolean): Tokenizer {
  const counter = new WordCounter();
  for (const p of train) {
    counter.add(p.source);
    counter.add(p.target);
  }
  const base = baseVocab().length;
  const merging = progress({ label: 'merging', total: vocabSize - base, unit: 'merges', enabled: showProgress });
  const tokenizer = trainBpeFromCounts(counter.counts, { vocabSize, onProgress: (p) => merging.update(p.vocabSize - base) });
  merging.done();
  return tokenizer;
}

function sideTokens(pairs: readonly Pair[], side: 'source' | 'target', tokenizer: Tokenizer) {
  let tokens = 0, max = 0;
  for (const p of pairs) {
    const n = tokenizer.encode(p[side]).length;
    tokens += n;
    max = Math.max(max, n);
  }
  return { tokens, max_tokens: max };
}

export interface PreparedTranslation {
  meta: TranslationMeta;
  train: Pair[];
  valid: Pair[];
  test: Pair[];
  /** The shared tokenizer's file, and the tokenizer itself (checked against prepare.json). */
  tokenizerPath: string;
  tokenizer: Tokenizer;
}

/**
 * Reads a directory written by `tlc data prepare --task translation`, checking prepare.json, that
 * the tokenizer is the one it names, and that each split file holds the pairs it counts.
 */
export function readPreparedTranslation(dir: string): PreparedTranslation {
  const metaPath = join(dir, TRANSLATION_META_FILE);
  const raw = readJsonFile(metaPath, `is ${dir} a directory made by "tlc data prepare --task translation" (and did it finish)?`);
  if (raw !== null && typeof raw === 'object' && 'task' in raw && raw.task !== 'translation') {
    throw new TlcError(`${metaPath}: prepared for task ${JSON.stringify(raw.task)}, not translation`);
  }
  const meta = parseWith(translationMetaSchema, raw, metaPath, 'translation data description');
  const tokenizerPath = join(dir, TOKENIZER_FILE);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizerHash(tokenizer) !== meta.tokenizer_sha256) {
    throw new TlcError(`${tokenizerPath}: not the tokenizer ${metaPath} was prepared with (its sha256 differs); prepare the data again`);
  }
  if (tokenizer.vocabSize !== meta.vocab_size) throw new TlcError(`${metaPath}: vocab_size ${meta.vocab_size}, but the tokenizer has ${tokenizer.vocabSize}`);
  const pairs = {} as Record<Split, Pair[]>;
  for (const split of SPLITS) {
    const path = join(dir, meta.splits[split].file);
    pairs[split] = readParallelTsv(path);
    if (pairs[split].length !== meta.pairs[split] || meta.splits[split].pairs !== meta.pairs[split]) {
      throw new TlcError(`${path}: holds ${pairs[split].length} pairs, but ${metaPath} counts ${meta.pairs[split]}; prepare the data again`);
    }
  }
  return { meta, ...pairs, tokenizerPath, tokenizer };
}
