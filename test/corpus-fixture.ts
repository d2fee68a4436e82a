// A small synthetic corpus with learnable structure (a toy grammar), prepared into token
// shards once per test process: enough for a tiny model to show learning in seconds.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/engine/random.js';
import { prepareData } from '../src/data/prepare.js';

const SUBJECTS = ['the cat', 'a dog', 'the old man', 'my sister', 'the teacher', 'a small bird', 'the king', 'our neighbour'];
const VERBS = ['sees', 'likes', 'follows', 'feeds', 'paints', 'remembers', 'visits', 'calls'];
const OBJECTS = ['the river', 'a red house', 'the garden', 'an apple', 'the city', 'a long letter', 'the market', 'the moon'];
const ENDINGS = ['every morning.', 'in the winter.', 'with great care.', 'before dinner.', 'after the rain.', 'at night.'];

export function syntheticDocuments(count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const pick = (xs: string[]): string => xs[rng.int(xs.length)];
  const docs: string[] = [];
  for (let d = 0; d < count; d++) {
    const sentences: string[] = [];
    const n = 8 + rng.int(8);
    for (let s = 0; s < n; s++) {
      const text = `${pick(SUBJECTS)} ${pick(VERBS)} ${pick(OBJECTS)} ${pick(ENDINGS)}`;
      sentences.push(text[0].toUpperCase() + text.slice(1));
    }
    docs.push(sentences.join(' '));
  }
  return docs;
}

let prepared: Promise<string> | null = null;

/** A prepared data directory (vocabulary 320) shared by the tests of one process. */
export function preparedSyntheticData(): Promise<string> {
  prepared ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), 'tlc-corpus-'));
    const input = join(root, 'corpus.jsonl');
    writeFileSync(input, syntheticDocuments(120, 7).map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const out = join(root, 'data');
    await prepareData({ inputs: [input], outDir: out, vocabSize: 320, validFraction: 0.1, seed: 1, showProgress: false });
    return out;
  })();
  return prepared;
}
