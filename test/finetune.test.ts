// Finetuning end to end: a pretrained tiny model becomes a classifier that learns a task;
// evaluate reproduces the recorded test score; bad inputs fail clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/engine/random.js';
import { presetConfig } from '../src/nn/config.js';
import { pretrain } from '../src/train/pretrain.js';
import { finetune, type FinetuneArgs } from '../src/train/finetune.js';
import { preparedSyntheticData } from './corpus-fixture.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

let pretrained: Promise<string> | null = null;
function pretrainedRun(): Promise<string> {
  pretrained ??= (async () => {
    const data = await preparedSyntheticData();
    const run = join(mkdtempSync(join(tmpdir(), 'tlc-pre-')), 'run');
    await pretrain(run, {
      dataDir: data, model: presetConfig('L1-D32', { vocab_size: 320, max_len: 32, dropout: 0 }),
      budget: { kind: 'steps', limit: 30 }, batchSize: 8, microBatchSize: 8, seqLen: 32,
      schedule: { peakLr: 3e-3, warmup: 0.1, decay: 'linear' }, weightDecay: 0.01, betas: [0.9, 0.98], eps: 1e-6,
      maxGradNorm: 1, seed: 0, evalEvery: { kind: 'fraction', value: 1 }, evalTokens: 1024,
      saveEvery: { kind: 'fraction', value: 1 }, saveAt: [], keep: 1,
    });
    return run;
  })();
  return pretrained;
}

/** Sentences whose label is the animal they mention: learnable from one word. */
function writeTask(path: string, n: number, seed: number, labels = ['cat', 'dog', 'bird']): void {
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

function args(from: string, task: string): FinetuneArgs {
  return {
    from, task, taskSeed: 0, budget: { kind: 'steps', limit: 150 }, batchSize: 16, microBatchSize: 8, maxLen: 24,
    schedule: { peakLr: 3e-3, warmup: 0.1, decay: 'linear' }, weightDecay: 0.01, betas: [0.9, 0.98], eps: 1e-6,
    maxGradNorm: 1, seed: 0, evalEvery: { kind: 'fraction', value: 0.25 }, saveEvery: { kind: 'fraction', value: 0.5 },
    keep: 1, patience: 10,
  };
}

test('finetuning a pretrained run learns a classification task; evaluate reproduces the test score', async () => {
  const from = await pretrainedRun();
  const root = mkdtempSync(join(tmpdir(), 'tlc-ft-'));
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 400, 1);
  const out = join(root, 'clf');
  const r = await finetune(out, args(from, taskFile));
  assert.ok(r.test && r.test.accuracy > 0.9, `test accuracy ${r.test?.accuracy}`);
  assert.deepEqual(r.labels, ['bird', 'cat', 'dog']);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.equal(results.test.accuracy, r.test!.accuracy);
  const ev = spawnSync(process.execPath, [CLI, 'evaluate', out, '--task', taskFile, '--json'], { encoding: 'utf8' });
  assert.equal(ev.status, 0, ev.stderr);
  const json = JSON.parse(ev.stdout);
  assert.equal(json.accuracy, results.test.accuracy, 'evaluate gives the recorded test accuracy');
  assert.equal(json.macro_f1, results.test.macro_f1);
});

test('finetune and evaluate reject bad input with a clear message', async () => {
  const from = await pretrainedRun();
  const root = mkdtempSync(join(tmpdir(), 'tlc-ft-bad-'));
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 200, 2);
  const out = join(root, 'clf');
  await finetune(out, { ...args(from, taskFile), budget: { kind: 'steps', limit: 5 } });

  const noLabel = join(root, 'nolabel.tsv');
  writeFileSync(noLabel, 'text\tcategory\nhello\tx\n');
  const run = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8' });
  let r = run('evaluate', out, '--task', noLabel);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /label/i);

  const unseen = join(root, 'unseen.jsonl');
  writeTask(unseen, 60, 3, ['cat', 'dog', 'fox']);
  r = run('evaluate', out, '--task', unseen);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /label "fox" .* not seen at training time/);

  // a run whose tokenizer does not belong to its model
  const broken = join(root, 'broken');
  cpSync(from, broken, { recursive: true });
  const cfg = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8'));
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 100 }));
  r = run('finetune', '--from', broken, '--task', taskFile, '--out', join(root, 'x'), '--steps', '2');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /tokenizer does not belong to this model/);

  r = run('finetune', '--from', from, '--task', join(root, 'missing.jsonl'), '--out', join(root, 'y'), '--steps', '2');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /missing\.jsonl/);
});
