// Labelled examples from files: JSONL (an object per line with `text`, optional
// `text_pair`, and `label`), or TSV / CSV with a header row naming those columns.
//
// CSV follows RFC 4180: fields may be quoted, a quoted field may hold commas, newlines and
// doubled quotes (""). TSV has no quoting (IANA text/tab-separated-values): a field is
// everything between tabs, so it cannot hold a tab or a newline.
//
// A label may be a string or (in JSONL) a number; either way it becomes a trimmed string.
// Where `text_pair` is given (a column of the header, or a JSONL field that is not null) the
// example is a pair, even when the second text is empty.
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { TlcError } from '../util/errors.js';
import { parseJsonObjectLine } from './jsonl.js';
import type { Example } from './example.js';

/** Examples of one file with the line each starts on (for messages about them). */
export interface ExampleFile {
  path: string;
  examples: Example[];
  lines: number[];
}

type Format = 'jsonl' | 'tsv' | 'csv';

const FORMATS: Record<string, Format> = { '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.json': 'jsonl', '.tsv': 'tsv', '.csv': 'csv' };

/** File extensions read as task files. */
export const TASK_FILE_EXTENSIONS = Object.keys(FORMATS);

export function taskFileFormat(path: string): Format | undefined {
  return FORMATS[extname(path).toLowerCase()];
}

/** Reads one task file; every problem is a TlcError naming the file (and line). */
export function readExampleFile(path: string): ExampleFile {
  const format = taskFileFormat(path);
  if (format === undefined) {
    throw new TlcError(`${path}: unknown task file format; expected one of ${TASK_FILE_EXTENSIONS.join(', ')}`);
  }
  const text = readUtf8(path);
  if (text.trim() === '') throw new TlcError(`${path}: empty file`);
  const file = format === 'jsonl' ? parseJsonl(text, path) : parseTable(format === 'csv' ? parseCsv(text, path) : parseTsv(text), path);
  if (file.examples.length === 0) throw new TlcError(`${path}: no examples (only a header)`);
  return file;
}

function readUtf8(path: string): string {
  let bytes: Buffer;
  try {
    if (statSync(path).isDirectory()) throw new TlcError(`${path}: is a directory, expected a file`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof TlcError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new TlcError(err.code === 'ENOENT' ? `${path}: task file not found` : `${path}: cannot read (${err.message})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TlcError(`${path}: not valid UTF-8 text`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function parseJsonl(text: string, path: string): ExampleFile {
  if (text.trimStart().startsWith('[')) throw new TlcError(`${path}: holds a JSON array; expected one JSON object per line (JSON Lines)`);
  const file: ExampleFile = { path, examples: [], lines: [] };
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const where = `${path} line ${i + 1}`;
    const r = parseJsonObjectLine(line, where, '"text" and "label" fields');
    const example: Example = { text: textField(r.text, 'text', where), label: labelField(r.label, where), id: `${path}:${i + 1}` };
    if (r.text_pair !== undefined && r.text_pair !== null) example.textPair = stringField(r.text_pair, 'text_pair', where);
    file.examples.push(example);
    file.lines.push(i + 1);
  });
  return file;
}

function stringField(value: unknown, name: string, where: string): string {
  if (value === undefined) throw new TlcError(`${where}: missing "${name}" field`);
  if (typeof value !== 'string') throw new TlcError(`${where}: "${name}" must be a string, got ${describe(value)}`);
  return value;
}

function textField(value: unknown, name: string, where: string): string {
  const text = stringField(value, name, where);
  if (text.trim() === '') throw new TlcError(`${where}: empty ${name}`);
  return text;
}

function labelField(value: unknown, where: string): string {
  if (value === undefined || value === null) throw new TlcError(`${where}: missing "label" field`);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') throw new TlcError(`${where}: "label" must be a string or a number, got ${describe(value)}`);
  const label = value.trim();
  if (label === '') throw new TlcError(`${where}: empty label`);
  return label;
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : JSON.stringify(value);
}

/** One row of a table and the line it starts on. */
export interface Row {
  fields: string[];
  line: number;
}

/** Rows of a headed table (the first row is the header); columns are found by name. */
function parseTable(rows: Row[], path: string): ExampleFile {
  const file: ExampleFile = { path, examples: [], lines: [] };
  const header = rows[0].fields.map((name) => name.trim().toLowerCase());
  const column = (name: string): number => header.indexOf(name);
  for (const name of ['text', 'label']) {
    if (column(name) < 0) throw new TlcError(`${path}: missing ${name} column (the header names ${header.map((h) => JSON.stringify(h)).join(', ')})`);
  }
  const seen = new Set<string>();
  for (const name of header) {
    if (name !== '' && seen.has(name)) throw new TlcError(`${path}: the header names the column "${name}" twice`);
    seen.add(name);
  }
  const textCol = column('text'), pairCol = column('text_pair'), labelCol = column('label');
  for (const { fields, line } of rows.slice(1)) {
    const where = `${path} line ${line}`;
    if (fields.length < header.length) {
      const missing = header.slice(fields.length).filter((h) => h === 'text' || h === 'text_pair' || h === 'label');
      throw new TlcError(`${where}: missing ${missing.length > 0 ? missing.join(', ') : 'field'} (${fields.length} of ${header.length} fields)`);
    }
    if (fields.length > header.length) {
      throw new TlcError(`${where}: ${fields.length} fields, but the header has ${header.length}${path.endsWith('.csv') ? ' (a field with commas must be quoted)' : ''}`);
    }
    const example: Example = { text: textField(fields[textCol], 'text', where), label: labelField(fields[labelCol], where), id: `${path}:${line}` };
    if (pairCol >= 0) example.textPair = fields[pairCol];
    file.examples.push(example);
    file.lines.push(line);
  }
  return file;
}

/** Tab-separated rows; blank lines are skipped. */
export function parseTsv(text: string): Row[] {
  const rows: Row[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') rows.push({ fields: line.split('\t'), line: i + 1 });
  });
  return rows;
}

/**
 * RFC 4180 rows: fields separated by commas, records by CRLF or LF; a field in double
 * quotes may hold commas, line breaks and "" (a quote). Blank lines are skipped. Each row
 * carries the line it starts on.
 */
export function parseCsv(text: string, path: string): Row[] {
  const rows: Row[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      if (text[i] === '"') {
        // Quoted field: runs to the next quote that is not doubled.
        let value = '';
        let j = i + 1;
        for (;;) {
          const quote = text.indexOf('"', j);
          if (quote < 0) throw new TlcError(`${path} line ${line}: quoted field never closed (a quote inside a field must be doubled: "")`);
          value += text.slice(j, quote);
          line += countNewlines(text, j, quote);
          if (text[quote + 1] === '"') {
            value += '"';
            j = quote + 2;
          } else {
            i = quote + 1;
            break;
          }
        }
        if (i < n && text[i] !== ',' && text[i] !== '\n' && !(text[i] === '\r' && text[i + 1] === '\n')) {
          throw new TlcError(`${path} line ${line}: text after the closing quote of a field (a quote inside a field must be doubled: "")`);
        }
        fields.push(value);
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\n') j++;
        fields.push(text[j - 1] === '\r' && text[j] === '\n' ? text.slice(i, j - 1) : text.slice(i, j));
        i = j;
      }
      if (text[i] !== ',') break;
      i++;
    }
    if (text[i] === '\r') i++;
    if (text[i] === '\n') {
      i++;
      line++;
    }
    const blank = fields.length === 1 && fields[0].trim() === '';
    if (!blank) rows.push({ fields, line: start });
  }
  return rows;
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let k = text.indexOf('\n', from); k >= 0 && k < to; k = text.indexOf('\n', k + 1)) count++;
  return count;
}
