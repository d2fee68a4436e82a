// Finetuning end to end: a pretrained tiny model becomes a classifier that learns a task;
// evaluate reproduces the recorded test score; bad inputs fail clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finetune } from '../src/train/finetune.js';
import { finetuneArgs, pretrainedRun, writeTask } from './corpus-fixture.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');


test('finetuning a pretrained run learns a classification task; evaluate reproduces the test score', async () => {
  const from = await pretrainedRun();
  const root = mkdtempSync(join(tmpdir(), 'tlc-ft-'));
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 400, 1);
  const out = join(root, 'clf');
  const r = await finetune(out, finetuneArgs(from, taskFile));
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
  await finetune(out, finetuneArgs(from, taskFile, { steps: 5 }));

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
