// The tokenizer on disk, as Hugging Face writes it: tokenizer.json (model BPE, ByteLevel
// pre-tokenizer and decoder, RobertaProcessing) and tokenizer_config.json, so that
// transformers.js and Python's tokenizers/transformers load what tlc trains.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { refuseSpecialFile } from '../util/read-error.js';
import { describeIssues } from '../util/validation.js';
import { writeFileAtomic } from '../util/atomic.js';
import { BOS_ID, EOS_ID, MASK_ID, SPECIAL_TOKENS, Tokenizer } from './tokenizer.js';
import { makeDirs } from '../util/make-dirs.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** The tokenizer.json object. */
export function tokenizerJson(tokenizer: Tokenizer): object {
  // A prototype-free object, so that a token spelled "__proto__" is an ordinary key.
  const vocab: Record<string, number> = Object.create(null);
  tokenizer.vocab.forEach((token, id) => { vocab[token] = id; });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id, content, single_word: false,
      lstrip: id === MASK_ID, // as RoBERTa: "a <mask>" masks the word with its leading space
      rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: {
      type: 'RobertaProcessing', sep: [SPECIAL_TOKENS[EOS_ID], EOS_ID], cls: [SPECIAL_TOKENS[BOS_ID], BOS_ID],
      trim_offsets: true, add_prefix_space: false,
    },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab,
      merges: tokenizer.merges,
    },
  };
}

/** The tokenizer_config.json object: which tokenizer class and which special tokens. */
export function tokenizerConfigJson(modelMaxLength: number): object {
  const [bos, pad, eos, unk, mask] = SPECIAL_TOKENS;
  return {
    tokenizer_class: 'RobertaTokenizer',
    bos_token: bos, eos_token: eos, unk_token: unk, sep_token: eos, pad_token: pad, cls_token: bos, mask_token: mask,
    model_max_length: modelMaxLength,
    add_prefix_space: false,
    errors: 'replace',
    clean_up_tokenization_spaces: false,
  };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir` (created if needed), each atomically. */
export function saveTokenizer(dir: string, tokenizer: Tokenizer, options: { modelMaxLength?: number } = {}): void {
  makeDirs(dir);
  writeFileAtomic(join(dir, TOKENIZER_FILE), JSON.stringify(tokenizerJson(tokenizer), null, 2) + '\n');
  writeFileAtomic(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(tokenizerConfigJson(options.modelMaxLength ?? 512), null, 2) + '\n');
}

// Only what decides how text is encoded is checked; other fields are free.
const tokenizerFileSchema = z.object({
  normalizer: z.null().optional(),
  pre_tokenizer: z.object({
    type: z.literal('ByteLevel'),
    add_prefix_space: z.literal(false),
    use_regex: z.literal(true).optional(),
  }),
  model: z.object({
    type: z.literal('BPE'),
    vocab: z.record(z.string(), z.number().int().min(0)),
    merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])),
    dropout: z.null().optional(),
    continuing_subword_prefix: z.union([z.null(), z.literal('')]).optional(),
    end_of_word_suffix: z.union([z.null(), z.literal('')]).optional(),
    byte_fallback: z.literal(false).optional(),
    ignore_merges: z.literal(false).optional(),
  }),
});

/** Builds a Tokenizer from a parsed tokenizer.json; errors name `source`. */
export function parseTokenizerJson(raw: unknown, source: string): Tokenizer {
  const r = tokenizerFileSchema.safeParse(raw);
  if (!r.success) throw new TlcError(`${source}: not a byte-level BPE tokenizer that tlc can use — ${describeIssues(r.error)}`);
  const rawMerges = r.data.model.merges;
  // Entries of the input itself: zod's copy would turn a "__proto__" key into a prototype.
  const entries = Object.entries((raw as { model: { vocab: Record<string, number> } }).model.vocab);
  const vocab: string[] = new Array(entries.length);
  for (const [token, id] of entries) {
    if (id >= entries.length || vocab[id] !== undefined) {
      throw new TlcError(`${source}: model.vocab ids must be 0..${entries.length - 1}, each once; "${token}" has id ${id}`);
    }
    vocab[id] = token;
  }
  const merges = rawMerges.map((m): [string, string] => {
    if (typeof m !== 'string') return m;
    const space = m.indexOf(' ');
    return space < 0 ? [m, ''] : [m.slice(0, space), m.slice(space + 1)];
  });
  try {
    return new Tokenizer(vocab, merges);
  } catch (e) {
    if (e instanceof TlcError) throw new TlcError(`${source}: ${e.message}`);
    throw e;
  }
}

/** Loads a tokenizer from a tokenizer.json file or a directory that holds one. */
export function loadTokenizer(path: string): Tokenizer {
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, TOKENIZER_FILE);
  } catch {
    throw new TlcError(`${path}: tokenizer not found`);
  }
  refuseSpecialFile(file, 'a tokenizer.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found'
      : e instanceof SyntaxError ? 'not a tokenizer.json (it is not JSON)' : `cannot read (${(e as Error).message})`;
    throw new TlcError(`${file}: ${why}`);
  }
  return parseTokenizerJson(raw, file);
}
