// A small synthetic corpus with learnable structure (a toy grammar), prepared into token
// shards once per test process: enough for a tiny model to show learning in seconds.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/random.js';
import { prepareData } from '../src/data/prepare.js';
import { presetConfig } from '../src/nn/config.js';
import { pretrain, pretrainPlan } from '../src/train/pretrain.js';
import { finetune } from '../src/train/finetune.js';
import { finetuneOptionsSchema, pretrainOptionsSchema, type FinetuneOptions, type ResolvedPretrainOptions } from '../src/train/args.js';
import { tempDir } from './temp-dir.js';

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
    const root = tempDir('tlc-corpus-');
    const input = join(root, 'corpus.jsonl');
    writeFileSync(input, syntheticDocuments(120, 7).map((text) => JSON.stringify({ text })).join('\n') + '\n');
    const out = join(root, 'data');
    await prepareData({ inputs: [input], outDir: out, vocabSize: 320, validFraction: 0.1, seed: 1, showProgress: false });
    return out;
  })();
  return prepared;
}

let pretrained: Promise<string> | null = null;
export function pretrainedRun(): Promise<string> {
  pretrained ??= (async () => {
    const data = await preparedSyntheticData();
    const run = join(tempDir('tlc-pre-'), 'run');
    await pretrain(run, pretrainOptions({
      data, model: presetConfig('L1-D32', { vocab_size: 320, max_len: 32, dropout: 0 }),
      steps: 30, batch_size: 8, seq_len: 32, lr: 3e-3, warmup: 0.1, eval_every: 1, eval_tokens: 1024, save_every: 1, keep: 1,
      precision: 'f32', // the same model on every CPU (auto trains in bf16 where that is faster)
    }));
    return run;
  })();
  return pretrained;
}

/** Sentences whose label is the animal they mention: learnable from one word. */
export function writeTask(path: string, n: number, seed: number, labels = ['cat', 'dog', 'bird']): void {
  const rng = new Rng(seed);
  const verbs = ['sees', 'likes', 'follows', 'feeds'], objects = ['the river', 'a red house', 'the garden', 'the moon'];
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = labels[rng.int(labels.length)];
    const text = `The old ${label} ${verbs[rng.int(4)]} ${objects[rng.int(4)]} every morning.`;
    lines.push(JSON.stringify({ text, label }));
  }
  writeFileSync(path, lines.join('\n') + '\n');
}


let classifier: Promise<{ run: string; task: string }> | null = null;
/** A classifier finetuned from pretrainedRun() on a 300-example animal task (once per process; read it, do not write into it). */
export function finetunedClassifier(): Promise<{ run: string; task: string }> {
  classifier ??= (async () => {
    const root = tempDir('tlc-cmp-');
    const task = join(root, 'animals.jsonl');
    writeTask(task, 300, 5);
    const run = join(root, 'clf');
    await finetune(run, finetuneArgs(await pretrainedRun(), task));
    return { run, task };
  })();
  return classifier;
}

/** Pretraining options as a sweep file or the demo gives them (snake_case), checked and resolved. */
export function pretrainOptions(raw: Record<string, unknown>): ResolvedPretrainOptions {
  return pretrainPlan(pretrainOptionsSchema.parse(raw)).options;
}

export function finetuneArgs(from: string, task: string, more: Record<string, unknown> = {}): FinetuneOptions {
  return finetuneOptionsSchema.parse({
    from, task, steps: 150, batch_size: 16, micro_batch_size: 8, max_len: 24, lr: 3e-3, warmup: 0.1,
    eval_every: 0.25, save_every: 0.5, keep: 1, patience: 10, precision: 'f32', ...more,
  });
}
