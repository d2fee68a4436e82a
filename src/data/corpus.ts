// Corpora: documents streamed from text files (.txt, .jsonl with a "text" field per line,
// .gz of either), directories of them, and the bundled examples (example:NAME).
import type { Document } from './document.js';
export type { Document } from './document.js';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { refuseSpecialFile } from '../util/read-error.js';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TlcError } from '../util/errors.js';
import { parseJsonObjectLine } from './jsonl.js';
import { EXAMPLE_PREFIX, readExample, checkExampleName } from './examples.js';


/**
 * A plain text file is read in contiguous chunks of about this many characters, each cut
 * after a blank line (else after a line break, else a space): each chunk is a document for
 * the train/valid split. So a single long file (a novel, a dump) gets a validation split
 * of whole passages, and memory stays bounded whatever the file's size.
 */
export const TEXT_CHUNK_CHARS = 64 * 1024;

/** Extensions read when walking a directory (a file named explicitly is read whatever its name). */
const CORPUS_EXTENSIONS = ['.txt', '.jsonl', '.txt.gz', '.jsonl.gz'];

type Input = { kind: 'file'; path: string; source: string } | { kind: 'example'; name: string; source: string };

/**
 * Streams the documents of every input in order: files as given, directories recursively
 * in sorted order, examples by name. Inputs are all checked before the first document;
 * empty documents are skipped, and a corpus with no text at all is an error.
 */
export async function* readCorpus(inputs: readonly string[]): AsyncGenerator<Document> {
  const resolved = inputs.flatMap(resolveInput);
  let documents = 0;
  for (const input of resolved) {
    const docs = input.kind === 'example' ? readExample(input.name, input.source) : readFileDocuments(input.path, input.source);
    for await (const doc of docs) {
      if (doc.text.length === 0) continue;
      documents++;
      yield doc;
    }
  }
  if (documents === 0) throw new TlcError(`no text found in ${inputs.join(', ') || 'the inputs (none given)'}`);
}

function resolveInput(input: string): Input[] {
  if (input.startsWith(EXAMPLE_PREFIX)) {
    const name = input.slice(EXAMPLE_PREFIX.length);
    checkExampleName(name);
    return [{ kind: 'example', name, source: input }];
  }
  let isDirectory: boolean;
  try {
    isDirectory = statSync(input).isDirectory();
  } catch {
    throw new TlcError(`${input}: input not found`);
  }
  // read twice (counting, then tokenizing): a FIFO would give nothing the second time
  refuseSpecialFile(input, 'a text, .jsonl or .gz file');
  if (!isDirectory) return [{ kind: 'file', path: input, source: input }];
  const files = listCorpusFiles(input);
  if (files.length === 0) throw new TlcError(`${input}: the directory holds no ${CORPUS_EXTENSIONS.join(', ')} files`);
  return files.map((path) => ({ kind: 'file', path, source: input }));
}

function listCorpusFiles(dir: string): string[] {
  const names = readdirSync(dir).sort();
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listCorpusFiles(path);
    return CORPUS_EXTENSIONS.some((ext) => name.endsWith(ext)) ? [path] : [];
  });
}

function isJsonl(path: string): boolean {
  return path.endsWith('.jsonl') || path.endsWith('.jsonl.gz');
}

async function* readFileDocuments(path: string, source: string): AsyncGenerator<Document> {
  if (!isJsonl(path)) {
    yield* readTextChunks(path, source);
    return;
  }
  let lineNo = 0;
  for await (const line of readLines(path)) {
    lineNo++;
    if (line.trim() === '') continue;
    yield parseJsonlLine(line, `${path}:${lineNo}`, source);
  }
}

async function* readTextChunks(path: string, source: string): AsyncGenerator<Document> {
  let buffer = '', k = 0;
  let pending: Document | null = null; // yielded once it is known whether text follows it
  const take = (cut: number): Document => {
    const doc: Document = { id: k === 0 ? path : `${path}#${k}`, text: buffer.slice(0, cut), source };
    buffer = buffer.slice(cut);
    k++;
    return doc;
  };
  for await (const piece of readTextPieces(path)) {
    buffer += piece;
    // cut only with a chunk and a half in hand, so that no chunk but a lone one is short
    while (buffer.length >= 1.5 * TEXT_CHUNK_CHARS) {
      if (pending) yield { ...pending, continues: true };
      pending = take(chunkEnd(buffer));
    }
  }
  if (buffer.trim() === '') {
    if (pending) yield { ...pending, text: pending.text + buffer };
    else if (buffer !== '') yield take(buffer.length);
    return;
  }
  if (pending) yield { ...pending, continues: true };
  yield take(buffer.length);
}

/** Where the first chunk of `text` ends: after the last blank line, line break or space before the limit. */
function chunkEnd(text: string): number {
  for (const sep of ['\n\n', '\n', ' ']) {
    const at = text.lastIndexOf(sep, TEXT_CHUNK_CHARS);
    if (at > TEXT_CHUNK_CHARS / 2) return at + sep.length;
  }
  // no break anywhere near: cut between characters, never inside a surrogate pair
  const high = text.charCodeAt(TEXT_CHUNK_CHARS - 1);
  return high >= 0xd800 && high <= 0xdbff ? TEXT_CHUNK_CHARS - 1 : TEXT_CHUNK_CHARS;
}

function parseJsonlLine(line: string, where: string, source: string): Document {
  const { text, ...rest } = parseJsonObjectLine(line, where, 'a "text" field');
  if (text === undefined) throw new TlcError(`${where}: missing "text" field`);
  if (typeof text !== 'string') throw new TlcError(`${where}: "text" must be a string, got ${Array.isArray(text) ? 'array' : typeof text}`);
  return Object.keys(rest).length > 0 ? { id: where, text, source, meta: rest } : { id: where, text, source };
}

async function* readLines(path: string): AsyncGenerator<string> {
  let partial = '';
  for await (const piece of readTextPieces(path)) {
    const lines = (partial + piece).split('\n');
    partial = lines.pop()!;
    for (const line of lines) yield line.endsWith('\r') ? line.slice(0, -1) : line;
  }
  if (partial !== '') yield partial.endsWith('\r') ? partial.slice(0, -1) : partial;
}

/**
 * A file's text in pieces (gunzipped if it ends in .gz). A NUL byte or invalid UTF-8
 * is an error naming the file, the byte offset and the line.
 */
async function* readTextPieces(path: string): AsyncGenerator<string> {
  const raw = createReadStream(path);
  const bytes = path.endsWith('.gz') ? pipeline(raw, createGunzip(), () => {}) : raw;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let carry = new Uint8Array(0); // the start of a character cut by the chunk boundary
  let offset = 0; // bytes of the file before `carry`
  let lines = 0; // newlines before `carry`
  let first = true;
  try {
    for await (const chunk of bytes as AsyncIterable<Buffer>) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const where = (at: number) => `byte ${offset + at}, line ${lines + countNewlines(buf, at) + 1}`;
      const nul = buf.indexOf(0);
      if (nul >= 0) throw new TlcError(`${path}: looks like a binary file (NUL byte at ${where(nul)}); expected UTF-8 text`);
      const end = completeUtf8Length(buf);
      let text: string;
      try {
        text = decoder.decode(buf.subarray(0, end));
      } catch {
        throw new TlcError(`${path}: not valid UTF-8 text (at ${where(Math.max(0, firstInvalidUtf8(buf.subarray(0, end))))})`);
      }
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
      first = false;
      lines += countNewlines(buf, end);
      offset += end;
      carry = buf.slice(end);
      if (text.length > 0) yield text;
    }
  } catch (e) {
    if (e instanceof TlcError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'Z_DATA_ERROR' || err.code === 'Z_BUF_ERROR') throw new TlcError(`${path}: not a valid gzip file (${err.message})`);
    if (err.code === 'EISDIR') throw new TlcError(`${path}: is a directory, expected a file`);
    throw new TlcError(`${path}: cannot read (${err.message})`);
  } finally {
    raw.destroy();
  }
  if (carry.length > 0) throw new TlcError(`${path}: not valid UTF-8 text (the file ends inside a character, byte ${offset})`);
}

function countNewlines(buf: Uint8Array, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** Length of `buf` without a multi-byte character cut off at its end. */
function completeUtf8Length(buf: Uint8Array): number {
  for (let i = buf.length - 1; i >= Math.max(0, buf.length - 4); i--) {
    const b = buf[i];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + need > buf.length ? i : buf.length;
  }
  return buf.length;
}

/** Offset of the first byte that does not start a valid UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    const extra = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (extra === 0 || i + extra >= b.length) return i;
    for (let k = 1; k <= extra; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    // overlong forms, UTF-16 surrogates, and code points above U+10FFFF
    const c1 = b[i + 1];
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += extra + 1;
  }
  return -1;
}
