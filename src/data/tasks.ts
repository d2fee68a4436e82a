// Labelled datasets for finetuning classifiers (`--task <file|dir|example:NAME>`).
//
// A task is three splits of examples (text, optional second text, label) and the sorted
// list of its labels. It comes from
//   - one file (JSONL, TSV or CSV; see task-files.ts), split 80/10/10 with a fixed seed,
//     stratified by label;
//   - a directory holding train.*, valid.* (or dev.*, validation.*) and test.*; a missing
//     test split is cut from valid (half of it), a missing valid split from train (a tenth);
//   - a bundled example (example:spam, example:brown-genre; see task-examples.ts).
// Every label of valid and test must occur in train: a classifier cannot learn it otherwise.
import type { Example } from './example.js';
export type { Example } from './example.js';
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { Rng, mix } from '../engine/random.js';
import { readExampleFile, taskFileFormat, TASK_FILE_EXTENSIONS, type ExampleFile } from './task-files.js';
import { readBundledTask } from './task-examples.js';
import { EXAMPLE_PREFIX } from './examples.js';


export interface TaskSplits {
  train: Example[];
  valid: Example[];
  test: Example[];
}

export interface Task {
  name: string;
  /** Every label of the task, sorted (numerically when all labels are numbers); a label's id is its index. */
  labels: string[];
  splits: TaskSplits;
  /** The spec it was loaded from, as given. */
  source: string;
  /** How the task was made where that is not obvious: splits that were cut, examples left out, ... */
  notes: string[];
}

export interface LoadTaskOptions {
  /** Seed of the splits cut here (default 0). Keep it fixed to compare models on one test set. */
  seed?: number;
  /** Keeps about this many examples in all, each split its share, each label its share within a split. */
  maxExamples?: number;
}

export const DEFAULT_TASK_SEED = 0;
/** Shares of valid and test when a task's splits are cut here. */
export const HELD_OUT_FRACTION = 0.1;

const SPLIT_NAMES = ['train', 'valid', 'test'] as const;
type SplitName = (typeof SPLIT_NAMES)[number];

/** File stems accepted for each split of a task directory. */
const SPLIT_STEMS: Record<SplitName, string[]> = { train: ['train'], valid: ['valid', 'dev', 'validation'], test: ['test'] };

export async function loadTask(spec: string, opts: LoadTaskOptions = {}): Promise<Task> {
  const seed = opts.seed ?? DEFAULT_TASK_SEED;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TlcError(`task seed must be a non-negative integer, got ${seed}`);
  if (opts.maxExamples !== undefined && !(Number.isSafeInteger(opts.maxExamples) && opts.maxExamples >= 3)) {
    throw new TlcError(`--max-examples must be a whole number of at least 3 (one example for each of train, valid and test), got ${opts.maxExamples}`);
  }
  const task = spec.startsWith(EXAMPLE_PREFIX) ? bundledTask(spec, seed) : userTask(spec, seed);
  if (opts.maxExamples !== undefined) capTask(task, opts.maxExamples, seed);
  return task;
}

/** Refuses a task whose training examples all have one label: there is nothing to tell apart. */
export function checkLabels(task: Task): void {
  if (task.labels.length < 2) {
    throw new TlcError(`${task.source}: every training example has the label "${task.labels[0]}"; a classifier needs at least two labels to tell apart`);
  }
}

/** Examples per label in each split, labels in the task's order. */
export function labelDistribution(task: Task): Record<SplitName, Record<string, number>> {
  const count = (examples: Example[]) => {
    const counts: Record<string, number> = Object.fromEntries(task.labels.map((l) => [l, 0]));
    for (const e of examples) counts[e.label]++;
    return counts;
  };
  return { train: count(task.splits.train), valid: count(task.splits.valid), test: count(task.splits.test) };
}

/** Sorted labels: as numbers when every label is one ("2" before "10"), else by code point. */
export function sortLabels(labels: Iterable<string>): string[] {
  const unique = [...new Set(labels)];
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  if (unique.every((l) => /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(l))) {
    return unique.sort((a, b) => Number(a) - Number(b) || byCodePoint(a, b));
  }
  return unique.sort(byCodePoint);
}

function bundledTask(spec: string, seed: number): Task {
  const bundled = readBundledTask(spec.slice(EXAMPLE_PREFIX.length));
  const [train, valid, test] = stratifiedParts(bundled.units, (u) => u.label, [0.8, HELD_OUT_FRACTION, HELD_OUT_FRACTION], new Rng(mix(seed, 1)));
  const splits = { train: train.flatMap((u) => u.examples), valid: valid.flatMap((u) => u.examples), test: test.flatMap((u) => u.examples) };
  return finish(bundled.name, spec, splits, [...bundled.notes, `split 80/10/10 by label with seed ${seed}`]);
}

function userTask(spec: string, seed: number): Task {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(spec).isDirectory();
  } catch {
    throw new TlcError(`${spec}: task file or directory not found`);
  }
  if (isDirectory) return directoryTask(spec, seed);
  const file = readExampleFile(spec);
  const [train, valid, test] = splitFile(file, [0.8, HELD_OUT_FRACTION, HELD_OUT_FRACTION], seed, 1);
  return finish(taskName(spec), spec, { train, valid, test }, [`split ${spec} 80/10/10 by label with seed ${seed}`]);
}

function directoryTask(dir: string, seed: number): Task {
  const files = findSplitFiles(dir);
  if (files.train === undefined) {
    throw new TlcError(`${dir}: no training file; expected train${TASK_FILE_EXTENSIONS[0]} (or ${TASK_FILE_EXTENSIONS.slice(1).join(', ')}) beside valid.* and test.*`);
  }
  const train = readExampleFile(files.train);
  const valid = files.valid === undefined ? undefined : readExampleFile(files.valid);
  const test = files.test === undefined ? undefined : readExampleFile(files.test);
  const known = new Set(train.examples.map((e) => e.label));
  for (const file of [valid, test]) if (file) checkLabelsKnown(file, known);

  const notes: string[] = [];
  let splits: TaskSplits;
  if (valid && test) {
    splits = { train: train.examples, valid: valid.examples, test: test.examples };
  } else if (valid) {
    const [v, t] = splitFile(valid, [0.5, 0.5], seed, 2);
    splits = { train: train.examples, valid: v, test: t };
    notes.push(`no test file in ${dir}: ${basename(valid.path)} split in half into valid and test (by label, seed ${seed})`);
  } else if (test) {
    const [tr, v] = splitFile(train, [0.9, 0.1], seed, 3);
    splits = { train: tr, valid: v, test: test.examples };
    notes.push(`no valid file in ${dir}: a tenth of ${basename(train.path)} held out as valid (by label, seed ${seed})`);
  } else {
    const [tr, v, t] = splitFile(train, [0.8, HELD_OUT_FRACTION, HELD_OUT_FRACTION], seed, 1);
    splits = { train: tr, valid: v, test: t };
    notes.push(`no valid or test file in ${dir}: ${basename(train.path)} split 80/10/10 by label with seed ${seed}`);
  }
  return finish(basename(dir.replace(/[/\\]+$/, '')), dir, splits, notes);
}

function findSplitFiles(dir: string): Partial<Record<SplitName, string>> {
  const names = readdirSync(dir).sort();
  const found: Partial<Record<SplitName, string>> = {};
  for (const split of SPLIT_NAMES) {
    const matches = names.filter((name) => {
      const dot = name.indexOf('.');
      return dot > 0 && SPLIT_STEMS[split].includes(name.slice(0, dot).toLowerCase()) && taskFileFormat(name) !== undefined;
    });
    if (matches.length > 1) throw new TlcError(`${dir}: several ${split} files (${matches.join(', ')}); keep one`);
    if (matches.length === 1) found[split] = join(dir, matches[0]);
  }
  return found;
}

function checkLabelsKnown(file: ExampleFile, known: Set<string>): void {
  file.examples.forEach((e, i) => {
    if (!known.has(e.label)) {
      throw new TlcError(`label '${e.label}' in ${file.path} line ${file.lines[i]} does not occur in the training split`);
    }
  });
}

/** A file's examples cut into parts by label (see stratifiedParts); `stream` keeps each kind of cut's randomness apart. */
function splitFile(file: ExampleFile, fractions: number[], seed: number, stream: number): Example[][] {
  return stratifiedParts(file.examples, (e) => e.label, fractions, new Rng(mix(seed, stream)));
}

/**
 * Cuts `units` into parts of about the given fractions (the first part takes the rest),
 * each label separately, so that every part has about the same label distribution. A
 * label with at least as many units as there are parts has at least one in every part;
 * a rarer label goes to the first part only. Parts keep the units' original order.
 */
export function stratifiedParts<T>(units: readonly T[], labelOf: (unit: T) => string, fractions: number[], rng: Rng): T[][] {
  const byLabel = new Map<string, number[]>();
  units.forEach((u, i) => {
    const label = labelOf(u);
    if (!byLabel.has(label)) byLabel.set(label, []);
    byLabel.get(label)!.push(i);
  });
  const partOf = new Int32Array(units.length);
  for (const label of sortLabels(byLabel.keys())) {
    const indices = rng.shuffle(byLabel.get(label)!);
    const n = indices.length;
    let next = 0;
    for (let p = 1; p < fractions.length; p++) {
      const count = n >= fractions.length ? Math.min(Math.max(1, Math.round(fractions[p] * n)), n - next - (fractions.length - p)) : 0;
      for (let k = 0; k < count; k++) partOf[indices[next++]] = p;
    }
    // the rest stays in part 0
  }
  const parts: T[][] = fractions.map(() => []);
  units.forEach((u, i) => parts[partOf[i]].push(u));
  return parts;
}

function finish(name: string, source: string, splits: TaskSplits, notes: string[]): Task {
  for (const split of SPLIT_NAMES) {
    if (splits[split].length === 0) {
      throw new TlcError(`${source}: too few examples to fill a ${split} split (${splits.train.length + splits.valid.length + splits.test.length} in all; a label needs 3 examples to appear in every split)`);
    }
  }
  return { name, labels: sortLabels(splits.train.map((e) => e.label)), splits, source, notes };
}

function taskName(path: string): string {
  const name = basename(path);
  const dot = name.indexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * Keeps about `maxExamples` examples in all: each split its share of them (at least one),
 * and within a split each label its share (largest remainders), drawn at random; the kept
 * examples stay in order.
 */
function capTask(task: Task, maxExamples: number, seed: number): void {
  const sizes = SPLIT_NAMES.map((s) => task.splits[s].length);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total <= maxExamples) return;
  SPLIT_NAMES.forEach((split, s) => {
    const examples = task.splits[split];
    const quota = Math.max(1, Math.round((maxExamples * examples.length) / total));
    task.splits[split] = sampleByLabel(examples, quota, new Rng(mix(seed, 4, s)));
  });
  task.notes.push(`kept ${SPLIT_NAMES.map((s) => task.splits[s].length).join('/')} of ${total} examples (maxExamples ${maxExamples})`);
  for (const split of ['valid', 'test'] as const) {
    const held = new Set(task.splits[split].map((e) => e.label));
    const missing = task.labels.filter((l) => !held.has(l));
    if (missing.length === 0) continue;
    const share = sizes[SPLIT_NAMES.indexOf(split)] / total;
    const enough = Math.min(total, Math.ceil((task.labels.length - 0.5) / share));
    warn(`--max-examples ${maxExamples} leaves the ${split} split ${task.splits[split].length} example${task.splits[split].length === 1 ? '' : 's'}, ` +
      `none labelled ${missing.map((l) => `"${l}"`).join(', ')}: its scores say little; give at least ${enough}`);
  }
}

function sampleByLabel(examples: Example[], quota: number, rng: Rng): Example[] {
  if (quota >= examples.length) return examples;
  const groups = new Map<string, number[]>();
  examples.forEach((e, i) => {
    if (!groups.has(e.label)) groups.set(e.label, []);
    groups.get(e.label)!.push(i);
  });
  const labels = sortLabels(groups.keys());
  const sizes = labels.map((l) => groups.get(l)!.length);
  // One of each label first where the quota allows, the rest in proportion (largest remainders).
  const base = quota >= labels.length ? 1 : 0;
  const exact = sizes.map((n) => base + ((quota - base * labels.length) * n) / examples.length);
  const counts = exact.map((x, k) => Math.min(sizes[k], Math.floor(x)));
  const order = labels.map((_, k) => k).sort((a, b) => exact[b] - counts[b] - (exact[a] - counts[a]) || a - b);
  let left = quota - counts.reduce((a, b) => a + b, 0);
  while (left > 0) {
    // terminates: quota < examples.length, so some label always has room
    for (const k of order) {
      if (left > 0 && counts[k] < sizes[k]) {
        counts[k]++;
        left--;
      }
    }
  }
  const keep = new Uint8Array(examples.length);
  labels.forEach((label, k) => {
    for (const i of rng.shuffle(groups.get(label)!).slice(0, counts[k])) keep[i] = 1;
  });
  return examples.filter((_, i) => keep[i] === 1);
}

/**
 * The ids of the corpus documents a task's test examples come from: an example's id
 * (`brown/ca01:3`, `file.jsonl:12`) and the document it is a passage of (`brown/ca01`).
 * Leaving these out of a pretraining corpus keeps the test text unseen.
 */
export function testDocumentIds(task: Task): Set<string> {
  const ids = new Set<string>();
  for (const e of task.splits.test) {
    if (!e.id) continue;
    ids.add(e.id);
    const cut = e.id.lastIndexOf(':');
    if (cut > 0) ids.add(e.id.slice(0, cut));
  }
  return ids;
}
