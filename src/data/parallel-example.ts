// The bundled translation example `example:de-en`: German–English whole-sentence pairs taken
// from the example sentences of Debian's `trans-de-en` dictionary (Frank Richter's
// dictionary of TU Chemnitz, GPL 2+), installed as /usr/share/trans/de-en.
//
// A dictionary line is `German | alt | alt :: English | alt | alt`: the k-th `|` part on the left
// translates the k-th on the right, and a part may list `;`-separated equivalents. The rules:
//   - lines starting with `#` are comments; a line whose two sides have different numbers of
//     parts is skipped (none in the 2023-01-30 edition);
//   - annotations are removed: `{...}` grammar tags ({m}, {vt}), `[...]` region and usage tags
//     ([Br.], [ugs.]) and `<...>` spelling variants or search keys; whitespace is normalised and
//     a space left before punctuation by a removed tag is dropped;
//   - an equivalent is kept when it is a whole sentence: it starts with an uppercase letter, a
//     digit or a quote and ends in `.`, `!` or `?` (a closing quote may follow), and holds no
//     `/` (inline alternatives: "Er sitzt auf dem / am Klo."), no `…` (a placeholder for words
//     to fill in) and no parentheses (optional or explanatory words, which the other side
//     rarely marks the same way);
//   - the kept equivalents of one part are paired k-th with k-th, the shorter list repeating,
//     so that each appears once and lists of different lengths do not multiply; any pairing
//     is a valid translation, since the equivalents of a part mean the same;
//   - identical (source, target) pairs are kept once.
// From trans-de-en 1.9-6 (dictionary of 2023-01-30) this gives 18,927 pairs with 18,015
// distinct German sentences.
import { readFileSync } from 'node:fs';
import { TlcError } from '../util/errors.js';
import type { Pair } from './pair.js';

export const DE_EN_DICTIONARY = '/usr/share/trans/de-en';
export const DE_EN_PACKAGE = 'trans-de-en';

const ANNOTATION = /\s*(\{[^{}]*\}|\[[^[\]]*\]|<[^<>]*>)/g;
const SENTENCE_START = /^[\p{Lu}0-9"'„“‚‘»«]/u;
const SENTENCE_END = /[.!?]["'”“’‘»«]?$/u;

/** The dictionary's sentence pairs, in the dictionary's order. */
export function readDeEnDictionary(path = DE_EN_DICTIONARY): Pair[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new TlcError(`example:de-en needs the German–English dictionary ${path}, which is missing: install the Debian package ${DE_EN_PACKAGE} (apt-get install ${DE_EN_PACKAGE})`);
    }
    throw new TlcError(`${path}: cannot read (${err.message})`);
  }
  const pairs: Pair[] = [];
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const sides = line.split(' :: ');
    if (sides.length !== 2) continue;
    const germanParts = sides[0].split(' | '), englishParts = sides[1].split(' | ');
    if (germanParts.length !== englishParts.length) continue;
    germanParts.forEach((part, k) => {
      // English first: most of its parts are lowercase words, rejected before any cleaning.
      const english = sentences(englishParts[k]);
      if (english.length === 0) return;
      const german = sentences(part);
      if (german.length === 0) return;
      for (let i = 0; i < Math.max(german.length, english.length); i++) {
        const pair = { source: german[i % german.length], target: english[i % english.length] };
        const key = pair.source + '\t' + pair.target;
        if (seen.has(key)) continue;
        seen.add(key);
        pairs.push(pair);
      }
    });
  }
  if (pairs.length === 0) throw new TlcError(`${path}: no sentence pairs found; is it the ${DE_EN_PACKAGE} dictionary?`);
  return pairs;
}

/** The equivalents of one part that are whole sentences, annotations removed. */
function sentences(part: string): string[] {
  return part.split(';').filter(mayBeSentence).map(clean).filter(isWholeSentence);
}

/** A quick test on the raw text: a sentence starts as one, unless with an annotation. */
function mayBeSentence(raw: string): boolean {
  const text = raw.trimStart();
  return SENTENCE_START.test(text) || /^[{[<]/.test(text);
}

function clean(text: string): string {
  return text.replace(ANNOTATION, '').replace(/\s+/g, ' ').trim().replace(/ ([.,!?;:])/g, '$1');
}

function isWholeSentence(s: string): boolean {
  return SENTENCE_START.test(s) && SENTENCE_END.test(s) && !/[/…()[\]{}<>]/.test(s);
}
