// Token shards: a data directory holds tokenizer.json, train.bin and valid.bin (token
// ids, little-endian uint16 or uint32, each document followed by </s>) and data.json,
// written last, which describes them. openShards reads a directory back and checks it.
import { readFileSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { AtomicFile } from '../util/atomic.js';
import { type Tokenizer, tokenizerHash } from './tokenizer.js';
import { TOKENIZER_FILE, loadTokenizer } from './tokenizer-json.js';

export const DATA_FILE = 'data.json';
export const DATA_FORMAT_VERSION = 1;

export type TokenDtype = 'uint16' | 'uint32';
export type TokenArray = Uint16Array | Uint32Array;

const splitSchema = z.object({
  tokens: z.number().int().min(0),
  documents: z.number().int().min(0),
  file: z.string().min(1),
});

export const dataMetaSchema = z.object({
  format_version: z.literal(DATA_FORMAT_VERSION),
  dtype: z.enum(['uint16', 'uint32']),
  vocab_size: z.number().int().min(1),
  /** Words the bounded word counter dropped: how far below the truth a kept word's count can be (absent: all counts exact). */
  word_count_error_bound: z.number().int().optional(),
  /** The --vocab-size asked for, when the corpus gave fewer tokens. */
  vocab_size_asked: z.number().int().optional(),
  tokenizer_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  train: splitSchema,
  valid: splitSchema,
  sources: z.array(z.string()),
  /** Documents of the inputs left out (a task's test documents). */
  excluded_documents: z.number().int().optional(),
  seed: z.number().int(),
  valid_fraction: z.number().min(0).lt(1),
  bytes_of_text: z.number().int().min(0),
  created_at: z.string(),
});

export type DataMeta = z.infer<typeof dataMetaSchema>;
export type SplitMeta = z.infer<typeof splitSchema>;

export function dtypeForVocab(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

function bytesPerToken(dtype: TokenDtype): number {
  return dtype === 'uint16' ? 2 : 4;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Streams token ids into a shard file, which appears only on commit(). */
export class ShardWriter {
  tokens = 0;
  private readonly file: AtomicFile;
  private readonly buffer: TokenArray;
  private used = 0;

  constructor(readonly path: string, readonly dtype: TokenDtype, bufferTokens = 1 << 20) {
    this.file = new AtomicFile(path);
    this.buffer = dtype === 'uint16' ? new Uint16Array(bufferTokens) : new Uint32Array(bufferTokens);
  }

  append(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length;) {
      const n = Math.min(ids.length - i, this.buffer.length - this.used);
      for (let k = 0; k < n; k++) this.buffer[this.used + k] = ids[i + k];
      this.used += n;
      i += n;
      if (this.used === this.buffer.length) this.flush();
    }
    this.tokens += ids.length;
  }

  commit(): void {
    this.flush();
    this.file.commit();
  }

  abort(): void {
    this.file.abort();
  }

  private flush(): void {
    const chunk = this.buffer.subarray(0, this.used);
    if (!LITTLE_ENDIAN) swapBytes(chunk);
    this.file.write(chunk);
    this.used = 0;
  }
}

export interface Shards {
  meta: DataMeta;
  tokenizer: Tokenizer;
  train: TokenArray;
  valid: TokenArray;
}

/** A prepared data directory's description (data.json), checked, without reading its shards. */
export function readDataMeta(dir: string): DataMeta {
  const metaPath = join(dir, DATA_FILE);
  const raw = readJsonFile(metaPath, `is ${dir} a directory made by "tlc data prepare" (and did it finish)?`);
  const meta = parseWith(dataMetaSchema, raw, metaPath, 'data description');
  if (dtypeForVocab(meta.vocab_size) !== meta.dtype) {
    throw new TlcError(`${metaPath}: dtype ${meta.dtype} does not fit vocab_size ${meta.vocab_size}`);
  }
  return meta;
}

/**
 * Reads a data directory written by `tlc data prepare`, checking data.json, that the
 * tokenizer is the one the shards were made with, and each shard's size and ids.
 */
export function openShards(dir: string): Shards {
  const meta = readDataMeta(dir);
  const tokenizer = loadTokenizer(join(dir, TOKENIZER_FILE));
  if (tokenizerHash(tokenizer) !== meta.tokenizer_sha256 || tokenizer.vocabSize !== meta.vocab_size) {
    throw new TlcError(`${join(dir, TOKENIZER_FILE)}: not the tokenizer these shards were made with (its sha256 or vocab size differs from ${join(dir, DATA_FILE)})`);
  }
  return {
    meta,
    tokenizer,
    train: readShard(join(dir, meta.train.file), meta.train, meta.dtype, meta.vocab_size),
    valid: readShard(join(dir, meta.valid.file), meta.valid, meta.dtype, meta.vocab_size),
  };
}

function readShard(path: string, split: SplitMeta, dtype: TokenDtype, vocabSize: number): TokenArray {
  const expected = split.tokens * bytesPerToken(dtype);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new TlcError(`${path}: shard not found`);
  }
  if (size !== expected) {
    throw new TlcError(`${path}: holds ${size} bytes, but data.json describes ${split.tokens} ${dtype} tokens (${expected} bytes); the shard is ${size < expected ? 'truncated' : 'not the one described'}`);
  }
  const bytes = readFileSync(path);
  const ids = dtype === 'uint16' ? new Uint16Array(split.tokens) : new Uint32Array(split.tokens);
  new Uint8Array(ids.buffer).set(bytes);
  if (!LITTLE_ENDIAN) swapBytes(ids);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= vocabSize) throw new TlcError(`${path}: token ${i} has id ${ids[i]}, outside the vocabulary (size ${vocabSize})`);
  }
  return ids;
}

/** Reverses the byte order of each element, in place (shards are little-endian on every machine). */
function swapBytes(ids: TokenArray): void {
  const bytes = new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength);
  const width = ids.BYTES_PER_ELEMENT;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}
