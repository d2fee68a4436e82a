// A toy translation task with learnable structure: English-like sentences and their
// word-by-word translation into an invented language that puts the verb last, prepared as
// `tlc data prepare --task translation` prepares any parallel data.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/random.js';
import { writeParallelTsv, type Pair } from '../src/data/parallel.js';
import { prepareTranslation } from '../src/data/prepare-translation.js';
import { tempDir } from './temp-dir.js';

const SUBJECTS: [string, string][] = [['the cat', 'ka mir'], ['a dog', 'na hund'], ['the old man', 'ka vel dom'], ['my sister', 'mi sora'],
  ['the teacher', 'ka lerin'], ['a small bird', 'na pik vogi'], ['the king', 'ka regu'], ['our neighbour', 'nos vizin']];
const VERBS: [string, string][] = [['sees', 'vidas'], ['likes', 'amas'], ['follows', 'sekvas'], ['feeds', 'nutras'],
  ['paints', 'pentras'], ['remembers', 'memoras'], ['visits', 'vizitas'], ['calls', 'vokas']];
const OBJECTS: [string, string][] = [['the river', 'ka rivo'], ['a red house', 'na ruga domo'], ['the garden', 'ka gardo'],
  ['an apple', 'na pomo'], ['the city', 'ka urbo'], ['a long letter', 'na longa letro'], ['the market', 'ka merko'], ['the moon', 'ka luno']];
const ENDINGS: [string, string][] = [['every morning', 'ciu matene'], ['in the winter', 'en vintro'], ['before dinner', 'antau vespo'],
  ['at night', 'nokte']];

/** `count` distinct pairs drawn with `seed`: "<subject> <verb> <object> <ending>." → "<subject> <ending> <object> <verb>." */
export function toyPairs(count: number, seed: number): Pair[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: T[]): T => xs[rng.int(xs.length)];
  const seen = new Set<string>();
  const pairs: Pair[] = [];
  while (pairs.length < count) {
    const [s, v, o, e] = [pick(SUBJECTS), pick(VERBS), pick(OBJECTS), pick(ENDINGS)];
    const source = `${s[0]} ${v[0]} ${o[0]} ${e[0]}.`;
    if (seen.has(source)) continue;
    seen.add(source);
    pairs.push({ source, target: `${s[1]} ${e[1]} ${o[1]} ${v[1]}.` });
  }
  return pairs;
}

/** A prepared translation directory whose train, valid and test splits all hold `pairs` (a memorisation task). */
export function writeTranslationDir(pairs: Pair[], vocabSize = 400): string {
  const root = tempDir('tlc-translation-');
  const raw = join(root, 'raw'), out = join(root, 'prepared');
  mkdirSync(raw);
  for (const split of ['train', 'valid', 'test']) writeParallelTsv(join(raw, `${split}.tsv`), pairs);
  prepareTranslation({ input: raw, outDir: out, vocabSize, showProgress: false });
  return out;
}
