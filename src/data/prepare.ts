// `tlc data prepare`: corpus → train/valid split by document → byte-level BPE tokenizer
// (trained on the train split) → token shards and data.json. The corpus is streamed
// three times (count, train the tokenizer, encode) rather than held in memory.
import { warn } from '../util/warn.js';
import { rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { Rng } from '../engine/random.js';
import { writeFileAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import { WordCounter, checkVocabSize, trainBpeFromCounts } from './bpe-train.js';
import { TEXT_CHUNK_CHARS, readCorpus, type Document } from './corpus.js';
import { EXAMPLE_PREFIX } from './examples.js';
import { DATA_FILE, DATA_FORMAT_VERSION, type DataMeta, ShardWriter, dtypeForVocab } from './shards.js';
import { EOS_ID, type Tokenizer, baseVocab, tokenizerHash } from './tokenizer.js';
import { loadTokenizer, saveTokenizer } from './tokenizer-json.js';
import { makeDirs } from '../util/make-dirs.js';

export const DEFAULT_VOCAB_SIZE = 8192;
export const DEFAULT_VALID_FRACTION = 0.05;
export const DEFAULT_SEED = 0;

export interface PrepareOptions {
  inputs: readonly string[];
  outDir: string;
  /** Vocabulary to train (default 8192); not together with tokenizerPath. */
  vocabSize?: number;
  /** Share of documents held out for validation (default 0.05). */
  validFraction?: number;
  seed?: number;
  /** Reuse this tokenizer.json (or a directory holding one) instead of training. */
  tokenizerPath?: string;
  /** Progress on stderr (default true). */
  showProgress?: boolean;
  /**
   * Documents left out of the corpus, by id: e.g. the documents a task's test examples come
   * from, so that pretraining never reads the text a finetuned model is tested on.
   */
  exclude?: ReadonlySet<string>;
}

export interface PrepareResult {
  meta: DataMeta;
  /** Text bytes per split. */
  trainBytes: number;
  validBytes: number;
  /** Seconds spent training the tokenizer (counting words and merging); null when reused. */
  trainingSeconds: number | null;
  /** Seconds spent encoding all documents. */
  encodingSeconds: number;
}

export async function prepareData(options: PrepareOptions): Promise<PrepareResult> {
  const { inputs, outDir, validFraction = DEFAULT_VALID_FRACTION, seed = DEFAULT_SEED, tokenizerPath, showProgress = true } = options;
  if (inputs.length === 0) throw new TlcError('no input given: name a file, a directory or example:NAME');
  checkInputsOnce(inputs);
  if (tokenizerPath !== undefined && options.vocabSize !== undefined) {
    throw new TlcError('--vocab-size cannot be combined with --tokenizer: the tokenizer fixes the vocabulary');
  }
  const vocabSize = options.vocabSize ?? DEFAULT_VOCAB_SIZE;
  checkVocabSize(vocabSize, '--vocab-size');
  if (!(validFraction >= 0 && validFraction < 1)) throw new TlcError(`--valid-fraction must be at least 0 and below 1, got ${validFraction}`);
  if (!Number.isInteger(seed)) throw new TlcError(`--seed must be an integer, got ${seed}`);
  const reused = tokenizerPath !== undefined ? loadTokenizer(tokenizerPath) : null;
  checkOutDir(outDir);
  const exclude = options.exclude ?? new Set<string>();
  let excluded = 0;
  const corpus = async function* (): AsyncGenerator<Document> {
    excluded = 0;
    for await (const doc of readCorpus(inputs)) {
      if (exclude.has(doc.id)) excluded++;
      else yield doc;
    }
  };

  // Pass 1: how many documents, how much text.
  const reading = progress({ label: 'reading', unit: 'B', enabled: showProgress });
  let documents = 0, bytesOfText = 0;
  for await (const doc of corpus()) {
    documents++;
    bytesOfText += Buffer.byteLength(doc.text, 'utf8');
    reading.update(bytesOfText, { documents });
  }
  reading.done();
  const isValid = chooseValidDocuments(documents, validFraction, seed);
  if (validFraction > 0 && !isValid.includes(1)) {
    throw new TlcError(`${inputs.join(', ')}: one document of ${bytesOfText.toLocaleString()} bytes is too little text for a validation split; ` +
      `give more text (a text file is split into passages of ${(TEXT_CHUNK_CHARS / 1024).toFixed(0)} KiB), more files, or a .jsonl file with one document per line`);
  }
  if (validFraction === 0) warn('--valid-fraction 0 holds out nothing: tlc pretrain needs a validation split to measure the loss on');
  const heldOut = isValid.reduce((n, v) => n + v, 0);
  // a few large documents cannot be split finely: say how far the split is from what was asked
  if (validFraction > 0 && heldOut / documents > 2 * validFraction) {
    warn(`${inputs.join(', ')}: ${documents} documents, so the validation split holds ${heldOut} of them (${(100 * heldOut / documents).toFixed(0)}%), ` +
      `not the ${(100 * validFraction).toFixed(1)}% asked for: give more text or more documents (a text file is split into passages of ` +
      `${(TEXT_CHUNK_CHARS / 1024).toFixed(0)} KiB; a .jsonl file holds one document per line)`);
  }
  // The corpus is readable and splits: only now is an old result in outDir given up.
  startOutDir(outDir);

  // Pass 2: the tokenizer, trained on the train split only.
  let tokenizer: Tokenizer;
  let trainingSeconds: number | null = null;
  let wordCountErrorBound = 0;
  if (reused) {
    tokenizer = reused;
  } else {
    ({ tokenizer, seconds: trainingSeconds, wordCountErrorBound } = await trainTokenizer(corpus, isValid, vocabSize, showProgress));
    if (tokenizer.vocabSize < vocabSize) {
      warn(`the vocabulary has ${tokenizer.vocabSize} tokens, not the ${vocabSize} asked for: the corpus ran out of pairs to merge ` +
        '(too little or too repetitive text); a model of this data needs no larger --vocab-size');
    }
  }
  saveTokenizer(outDir, tokenizer);

  // Pass 3: encode every document into its split's shard, each followed by </s>.
  const { train, valid, encodingMs } = await encodeSplits(corpus, tokenizer, isValid, { documents, bytesOfText }, outDir, showProgress);

  const meta: DataMeta = {
    format_version: DATA_FORMAT_VERSION,
    dtype: dtypeForVocab(tokenizer.vocabSize),
    vocab_size: tokenizer.vocabSize,
    ...(!reused && tokenizer.vocabSize < vocabSize ? { vocab_size_asked: vocabSize } : {}),
    ...(wordCountErrorBound > 0 ? { word_count_error_bound: wordCountErrorBound } : {}),
    tokenizer_sha256: tokenizerHash(tokenizer),
    train: { tokens: train.writer.tokens, documents: train.documents, file: 'train.bin' },
    valid: { tokens: valid.writer.tokens, documents: valid.documents, file: 'valid.bin' },
    sources: [...inputs],
    ...(exclude.size > 0 ? { excluded_documents: excluded } : {}),
    seed,
    valid_fraction: validFraction,
    bytes_of_text: bytesOfText,
    created_at: new Date().toISOString(),
  };
  // Last: a directory without data.json is an unfinished one.
  writeFileAtomic(join(outDir, DATA_FILE), JSON.stringify(meta, null, 2) + '\n');
  return { meta, trainBytes: train.bytes, validBytes: valid.bytes, trainingSeconds, encodingSeconds: encodingMs / 1000 };
}

/** Pass 3 of prepareData: every document encoded into its split's shard, each followed by </s>. */
async function encodeSplits(corpus: () => AsyncGenerator<Document>, tokenizer: Tokenizer, isValid: Uint8Array,
  seen: { documents: number; bytesOfText: number }, outDir: string, showProgress: boolean) {
  const dtype = dtypeForVocab(tokenizer.vocabSize);
  const train = { writer: new ShardWriter(join(outDir, 'train.bin'), dtype), documents: 0, bytes: 0 };
  const valid = { writer: new ShardWriter(join(outDir, 'valid.bin'), dtype), documents: 0, bytes: 0 };
  const encoding = progress({ label: 'encoding', total: seen.bytesOfText, unit: 'B', enabled: showProgress });
  let encodingMs = 0, index = 0, encodedBytes = 0;
  try {
    for await (const doc of corpus()) {
      if (index >= seen.documents) throw new TlcError(`the inputs changed while being read (more than ${seen.documents} documents now)`);
      const split = isValid[index++] ? valid : train;
      const t0 = performance.now();
      const ids = tokenizer.encode(doc.text);
      encodingMs += performance.now() - t0;
      split.writer.append(ids);
      // a text read in chunks runs on without </s>, unless its next chunk goes to the other split
      if (!doc.continues || isValid[index] !== isValid[index - 1]) split.writer.append([EOS_ID]);
      const bytes = Buffer.byteLength(doc.text, 'utf8');
      split.documents++;
      split.bytes += bytes;
      encodedBytes += bytes;
      encoding.update(encodedBytes, { tokens: train.writer.tokens + valid.writer.tokens });
    }
    if (index !== seen.documents) throw new TlcError(`the inputs changed while being read (${index} documents now, ${seen.documents} before)`);
    train.writer.commit();
    valid.writer.commit();
  } catch (e) {
    train.writer.abort();
    valid.writer.abort();
    throw e;
  }
  encoding.done();
  return { train, valid, encodingMs, dtype };
}

/**
 * Which documents go to validation: round(count · fraction) of them, at least one when
 * there are two or more (and fraction > 0), never all; chosen by a seeded shuffle.
 */
export function chooseValidDocuments(count: number, fraction: number, seed: number): Uint8Array {
  const isValid = new Uint8Array(count);
  const k = fraction > 0 && count >= 2 ? Math.min(count - 1, Math.max(1, Math.round(count * fraction))) : 0;
  const order = new Rng(seed).shuffle(Array.from({ length: count }, (_, i) => i));
  for (const i of order.slice(0, k)) isValid[i] = 1;
  return isValid;
}

async function trainTokenizer(corpus: () => AsyncGenerator<Document>, isValid: Uint8Array, vocabSize: number, showProgress: boolean) {
  const counter = new WordCounter();
  const counting = progress({ label: 'counting words', unit: 'B', enabled: showProgress });
  let index = 0, ms = 0;
  for await (const doc of corpus()) {
    if (isValid[index++]) continue;
    const t0 = performance.now();
    counter.add(doc.text);
    ms += performance.now() - t0;
    counting.update(counter.bytesOfText, { words: counter.counts.size });
  }
  counting.done();
  const base = baseVocab().length;
  const merging = progress({ label: 'merging', total: vocabSize - base, unit: 'merges', enabled: showProgress });
  const t0 = performance.now();
  const tokenizer = trainBpeFromCounts(counter.counts, {
    vocabSize,
    onProgress: (p) => merging.update(p.vocabSize - base),
  });
  ms += performance.now() - t0;
  merging.done();
  return { tokenizer, seconds: ms / 1000, wordCountErrorBound: counter.errorBound };
}

/** Throws unless `outDir` is a directory or does not exist yet. */
export function checkOutDir(outDir: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(outDir).isDirectory();
  } catch {
    return; // created later
  }
  if (!isDirectory) throw new TlcError(`${outDir}: exists and is not a directory`);
}

/** Creates the output directory and removes an old description file (data.json), so that until the new one is written the directory reads as unfinished. */
export function startOutDir(outDir: string, metaFile = DATA_FILE): void {
  try {
    makeDirs(outDir);
    rmSync(join(outDir, metaFile), { force: true });
  } catch (e) {
    throw new TlcError(`${outDir}: cannot write the output directory (${(e as Error).message})`);
  }
}

/** Every input named once, none empty: an input given twice would count each of its documents twice. */
function checkInputsOnce(inputs: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const input of inputs) {
    if (input.trim() === '') throw new TlcError('--input is empty: name a file, a directory or example:NAME');
    const key = input.startsWith(EXAMPLE_PREFIX) ? input : resolve(input);
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      throw new TlcError(`--input names ${input}${earlier !== input ? ` (${earlier})` : ''} more than once: each of its documents would count twice`);
    }
    seen.set(key, input);
  }
}
