// Parallel text for translation: sentence pairs { source, target } in three splits. They come from
//   - one TSV file (`source<TAB>target` per line), split 80/10/10 with a fixed seed;
//   - a directory holding train.tsv, valid.tsv (or dev.tsv, validation.tsv) and test.tsv; a
//     missing test split is cut from valid (half of it), a missing valid split from train (a
//     tenth), as for classification tasks (tasks.ts);
//   - the bundled example `example:de-en` (parallel-example.ts): 1,000 valid and 1,000 test pairs,
//     the rest train.
// Splits cut here never put one source sentence in two splits: all pairs with the same source
// go together, so that no test sentence was seen in training with another translation.
//
// TSV has no quoting: a field is everything between tabs, so a sentence cannot hold a tab or a
// line break. A first line `source<TAB>target` is a header; blank lines are skipped.
import type { Pair } from './pair.js';
export type { Pair } from './pair.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { refuseSpecialFile } from '../util/read-error.js';
import { TlcError } from '../util/errors.js';
import { Rng, mix } from '../engine/random.js';
import { writeFileAtomic } from '../util/atomic.js';
import { EXAMPLE_PREFIX } from './examples.js';
import { DEFAULT_TASK_SEED, HELD_OUT_FRACTION } from './tasks.js';
import { readDeEnDictionary } from './parallel-example.js';


export interface ParallelData {
  train: Pair[];
  valid: Pair[];
  test: Pair[];
  /** The spec it was loaded from, as given. */
  source: string;
  /** How the splits were made where that is not obvious. */
  notes: string[];
}

export interface LoadParallelOptions {
  /** Seed of the splits cut here (default 0). Keep it fixed to compare models on one test set. */
  seed?: number;
}

export const PARALLEL_EXAMPLE_NAMES = ['de-en'];
/** Pairs held out for validation and for test from example:de-en. */
export const EXAMPLE_HELD_OUT_PAIRS = 1000;
export const TSV_HEADER = 'source\ttarget';

const SPLIT_NAMES = ['train', 'valid', 'test'] as const;
type SplitName = (typeof SPLIT_NAMES)[number];
const SPLIT_STEMS: Record<SplitName, string[]> = { train: ['train'], valid: ['valid', 'dev', 'validation'], test: ['test'] };

export function loadParallel(spec: string, opts: LoadParallelOptions = {}): ParallelData {
  const seed = opts.seed ?? DEFAULT_TASK_SEED;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TlcError(`parallel data seed must be a non-negative integer, got ${seed}`);
  const data = spec.startsWith(EXAMPLE_PREFIX) ? exampleData(spec, seed) : userData(spec, seed);
  for (const split of SPLIT_NAMES) {
    if (data[split].length === 0) {
      const all = data.train.length + data.valid.length + data.test.length;
      throw new TlcError(`${spec}: too few sentence pairs to fill a ${split} split (${all} in all, with the pairs of one source sentence kept together)`);
    }
  }
  return data;
}

function exampleData(spec: string, seed: number): ParallelData {
  const name = spec.slice(EXAMPLE_PREFIX.length);
  if (!PARALLEL_EXAMPLE_NAMES.includes(name)) {
    throw new TlcError(`unknown translation example "${spec}"; the examples are ${PARALLEL_EXAMPLE_NAMES.map((n) => EXAMPLE_PREFIX + n).join(', ')}`);
  }
  const pairs = readDeEnDictionary();
  const [train, valid, test] = splitBySource(pairs, [EXAMPLE_HELD_OUT_PAIRS, EXAMPLE_HELD_OUT_PAIRS], new Rng(mix(seed, 1)));
  return { train, valid, test, source: spec, notes: [`${pairs.length} pairs from the trans-de-en dictionary; ${EXAMPLE_HELD_OUT_PAIRS} valid and ${EXAMPLE_HELD_OUT_PAIRS} test pairs by source sentence, seed ${seed}`] };
}

function userData(spec: string, seed: number): ParallelData {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(spec).isDirectory();
  } catch {
    throw new TlcError(`${spec}: parallel data file or directory not found`);
  }
  if (!isDirectory) {
    const pairs = readParallelTsv(spec);
    const [train, valid, test] = splitBySource(pairs, heldOutCounts(pairs.length, [HELD_OUT_FRACTION, HELD_OUT_FRACTION]), new Rng(mix(seed, 1)));
    return { train, valid, test, source: spec, notes: [`split ${spec} 80/10/10 by source sentence with seed ${seed}`] };
  }
  const files = findSplitFiles(spec);
  if (files.train === undefined) throw new TlcError(`${spec}: no train.tsv (beside valid.tsv and test.tsv)`);
  const train = readParallelTsv(files.train);
  const valid = files.valid === undefined ? undefined : readParallelTsv(files.valid);
  const test = files.test === undefined ? undefined : readParallelTsv(files.test);
  if (valid && test) return { train, valid, test, source: spec, notes: [] };
  if (valid) {
    const [v, t] = splitBySource(valid, heldOutCounts(valid.length, [0.5]), new Rng(mix(seed, 2)));
    return { train, valid: v, test: t, source: spec, notes: [`no test.tsv in ${spec}: ${basename(files.valid!)} split in half into valid and test (by source sentence, seed ${seed})`] };
  }
  if (test) {
    const [tr, v] = splitBySource(train, heldOutCounts(train.length, [0.1]), new Rng(mix(seed, 3)));
    return { train: tr, valid: v, test, source: spec, notes: [`no valid.tsv in ${spec}: a tenth of train.tsv held out as valid (by source sentence, seed ${seed})`] };
  }
  const [tr, v, t] = splitBySource(train, heldOutCounts(train.length, [HELD_OUT_FRACTION, HELD_OUT_FRACTION]), new Rng(mix(seed, 1)));
  return { train: tr, valid: v, test: t, source: spec, notes: [`no valid.tsv or test.tsv in ${spec}: train.tsv split 80/10/10 by source sentence with seed ${seed}`] };
}

function findSplitFiles(dir: string): Partial<Record<SplitName, string>> {
  const names = readdirSync(dir).sort();
  const found: Partial<Record<SplitName, string>> = {};
  for (const split of SPLIT_NAMES) {
    const matches = names.filter((name) => SPLIT_STEMS[split].some((stem) => name.toLowerCase() === `${stem}.tsv`));
    if (matches.length > 1) throw new TlcError(`${dir}: several ${split} files (${matches.join(', ')}); keep one`);
    if (matches.length === 1) found[split] = join(dir, matches[0]);
  }
  return found;
}

/** round(n · fraction) pairs for each held-out part, at least one each where n allows one for every part. */
function heldOutCounts(n: number, fractions: number[]): number[] {
  return fractions.map((f) => (n > fractions.length ? Math.max(1, Math.round(n * f)) : 0));
}

/**
 * Cuts pairs into [rest, held-out part 1, part 2, ...] of the given sizes: source sentences in a
 * seeded random order fill each held-out part in turn, a sentence (with all its pairs) going in
 * only where it fits whole; everything left is the first part. Parts keep the pairs' order.
 */
export function splitBySource(pairs: readonly Pair[], heldOut: readonly number[], rng: Rng): Pair[][] {
  const groups = new Map<string, number[]>();
  pairs.forEach((p, i) => {
    let group = groups.get(p.source);
    if (group === undefined) groups.set(p.source, (group = []));
    group.push(i);
  });
  const partOf = new Int32Array(pairs.length);
  const left = [...heldOut];
  for (const group of rng.shuffle([...groups.values()])) {
    const part = left.findIndex((room) => room >= group.length);
    if (part < 0) continue;
    left[part] -= group.length;
    for (const i of group) partOf[i] = part + 1;
    if (left.every((room) => room === 0)) break;
  }
  const parts: Pair[][] = [[], ...heldOut.map(() => [])];
  pairs.forEach((p, i) => parts[partOf[i]].push(p));
  return parts;
}

/** Reads a `source<TAB>target` file; every problem is a TlcError naming the file and line. */
export function readParallelTsv(path: string): Pair[] {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new TlcError(`${path}: is a directory, expected a .tsv file`);
    refuseSpecialFile(path, 'a .tsv file');
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(path));
  } catch (e) {
    if (e instanceof TlcError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new TlcError(`${path}: parallel data file not found`);
    if (err instanceof TypeError) throw new TlcError(`${path}: not valid UTF-8 text`);
    throw new TlcError(`${path}: cannot read (${err.message})`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const pairs: Pair[] = [];
  let first = true;
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const isFirst = first;
    first = false;
    if (isFirst && line.trim().toLowerCase().replace(/\s*\t\s*/, '\t') === TSV_HEADER) return;
    const where = `${path}:${i + 1}`;
    const fields = line.split('\t');
    if (fields.length !== 2) {
      throw new TlcError(`${where}: expected source<TAB>target (exactly one tab), found ${fields.length - 1} tabs`);
    }
    const [source, target] = fields.map((f) => f.trim());
    if (source === '') throw new TlcError(`${where}: empty source sentence`);
    if (target === '') throw new TlcError(`${where}: empty target sentence`);
    pairs.push({ source, target });
  });
  if (pairs.length === 0) throw new TlcError(`${path}: no sentence pairs`);
  return pairs;
}

/** Writes pairs as `source<TAB>target` lines under a header line, atomically. */
export function writeParallelTsv(path: string, pairs: readonly Pair[]): void {
  const lines = [TSV_HEADER];
  pairs.forEach((p, i) => {
    for (const side of ['source', 'target'] as const) {
      const text = p[side];
      if (typeof text !== 'string' || text.trim() === '') throw new TlcError(`${path}: pair ${i + 1} has an empty ${side}`);
      if (/[\t\r\n]/.test(text)) throw new TlcError(`${path}: the ${side} of pair ${i + 1} holds a tab or a line break, which TSV cannot store`);
    }
    lines.push(`${p.source}\t${p.target}`);
  });
  writeFileAtomic(path, lines.join('\n') + '\n');
}
