// example:debian-docs — about 17M words of English reference text from Debian's own packages,
// large enough for hour-scale pretraining budgets and reachable offline once installed:
//   linux-doc-6.1   the Linux kernel's documentation (reStructuredText; GPL-2), translations left out
//   python3.11-doc  the Python documentation's sources (reStructuredText; PSF licence)
//   perl-doc        Perl's manual pages (POD; Artistic or GPL-1+)
//   git-doc         Git's manual (AsciiDoc; GPL-2)
//   dict-gcide      the GNU Collaborative International Dictionary of English, from Webster's
//                   1913 (GPL-3+)
//   dict-wn         WordNet 3.0's glosses and usage examples (WordNet licence, BSD-like)
// Files are read as documents in a fixed order; the two dictionaries, one file each, are cut
// into documents of about DICTIONARY_DOCUMENT_BYTES at entry boundaries.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TlcError } from '../util/errors.js';
import type { Document } from './document.js';

export const DEBIAN_DOCS_PACKAGES = ['linux-doc-6.1', 'python3.11-doc', 'perl-doc', 'git-doc', 'dict-gcide', 'dict-wn'] as const;

/** A dictionary is cut into documents of about this size, so that validation draws from all of it. */
export const DICTIONARY_DOCUMENT_BYTES = 32 * 1024;

interface Part {
  /** The Debian package that installs it. */
  pkg: string;
  /** Its files, in order (empty when the package is missing). */
  files: () => string[];
  /** The documents of one file. */
  read: (file: string, source: string) => Generator<Document>;
}

function parts(root: string): Part[] {
  const dictd = join(root, 'usr/share/dictd');
  return [
    { pkg: 'linux-doc-6.1', files: () => kernelDocFiles(root), read: readPlainFile('linux', 'Documentation/') },
    { pkg: 'python3.11-doc', files: () => pythonDocFiles(root), read: readPlainFile('python', '_sources/') },
    { pkg: 'perl-doc', files: () => perlPodFiles(root), read: readPlainFile('perl', 'pod/') },
    { pkg: 'git-doc', files: () => filesUnder(join(root, 'usr/share/doc/git-doc'), (f) => f.endsWith('.txt')), read: readPlainFile('git', 'git-doc/') },
    { pkg: 'dict-gcide', files: () => existingFiles([join(dictd, 'gcide.dict.dz')]), read: readDictionary('gcide') },
    { pkg: 'dict-wn', files: () => existingFiles([join(dictd, 'wn.dict.dz')]), read: readDictionary('wordnet') },
  ];
}

/**
 * The documents of example:debian-docs. Refuses, naming the packages and how to install them,
 * when any of them is missing: a corpus with a part silently left out would not be the same corpus.
 */
export function* readDebianDocs(source: string, root = '/'): Generator<Document> {
  const found = parts(root).map((part) => ({ part, files: part.files() }));
  const missing = found.filter((f) => f.files.length === 0).map((f) => f.part.pkg);
  if (missing.length > 0) {
    // the newest installed kernel, Python and Perl documentation is read; these are Debian 12's
    throw new TlcError(`${source} reads Debian's documentation packages; missing: ${missing.join(', ')} ` +
      `(install them with: apt-get install --no-install-recommends ${missing.join(' ')}, or run scripts/setup.sh)`);
  }
  for (const { part, files } of found) {
    for (const file of files) yield* part.read(file, source);
  }
}

function kernelDocFiles(root: string): string[] {
  const doc = join(root, 'usr/share/doc');
  const dirs = existsSync(doc) ? readdirSync(doc).filter((d) => /^linux-doc-\d/.test(d)).sort(byVersion) : [];
  if (dirs.length === 0) return [];
  // the newest installed version only: two would repeat most of the text
  const base = join(doc, dirs[dirs.length - 1], 'Documentation');
  return filesUnder(base, (f) => /\.(rst|txt)(\.gz)?$/.test(f) && !f.startsWith(join(base, 'translations') + sep));
}

function pythonDocFiles(root: string): string[] {
  const doc = join(root, 'usr/share/doc');
  const dirs = existsSync(doc) ? readdirSync(doc).filter((d) => /^python3\.\d+$/.test(d)).sort(byVersion) : [];
  for (const dir of dirs.reverse()) {
    const files = filesUnder(join(doc, dir, 'html/_sources'), (f) => f.endsWith('.rst.txt'));
    if (files.length > 0) return files;
  }
  return [];
}

function perlPodFiles(root: string): string[] {
  const perl = join(root, 'usr/share/perl');
  const dirs = existsSync(perl) ? readdirSync(perl).filter((d) => /^5\.\d+/.test(d)).sort(byVersion) : [];
  for (const dir of dirs.reverse()) {
    const files = filesUnder(join(perl, dir, 'pod'), (f) => f.endsWith('.pod'));
    if (files.length > 0) return files;
  }
  return [];
}

/** Version order: python3.9 before python3.11, linux-doc-6.9 before linux-doc-6.10. */
function byVersion(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function existingFiles(paths: string[]): string[] {
  return paths.filter((p) => existsSync(p));
}

/** Every file under `dir` that `keep` accepts, sorted by path (a fixed order on every machine). */
function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (keep(path)) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

function readText(file: string): string {
  const bytes = readFileSync(file);
  return (file.endsWith('.gz') || file.endsWith('.dz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** One document per file; its id is the part's name and the path after `marker`. */
function readPlainFile(name: string, marker: string) {
  return function* (file: string, source: string): Generator<Document> {
    const text = readText(file).trim();
    const at = file.lastIndexOf(marker);
    const rel = (at >= 0 ? file.slice(at + marker.length) : file).replace(/\.gz$/, '');
    if (text !== '') yield { id: `debian-docs/${name}/${rel}`, text, source };
  };
}

/** A dictd dictionary (dictzip is gzip): entries cut into documents at entry starts. */
function readDictionary(name: string) {
  return function* (file: string, source: string): Generator<Document> {
    let index = 0;
    for (const text of splitDictionary(readText(file), DICTIONARY_DOCUMENT_BYTES)) {
      yield { id: `debian-docs/${name}/${String(index++).padStart(5, '0')}`, text, source };
    }
  };
}

/**
 * A dictd text in pieces of about `target` characters, each cut before a line that starts in
 * column 0: in GCIDE and WordNet only headwords do (an entry's body is indented), so no entry is cut.
 */
export function splitDictionary(text: string, target: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + target);
    if (end < text.length) {
      const next = nextEntryStart(text, end);
      end = next < 0 ? text.length : next;
    }
    const piece = text.slice(start, end).trim();
    if (piece !== '') pieces.push(piece);
    start = end;
  }
  return pieces;
}

/** The first position at or after `from` where a line begins in column 0 with a non-space. */
function nextEntryStart(text: string, from: number): number {
  let at = text.indexOf('\n', from);
  while (at >= 0 && at + 1 < text.length) {
    const c = text[at + 1];
    if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') return at + 1;
    at = text.indexOf('\n', at + 1);
  }
  return -1;
}
