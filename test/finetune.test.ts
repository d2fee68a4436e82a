// Finetuning end to end: a pretrained tiny model becomes a classifier that learns a task;
// evaluate reproduces the recorded test score; bad inputs fail clearly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finetune } from '../src/train/finetune.js';
import { finetuneArgs, pretrainedRun, writeTask } from './corpus-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');


test('finetuning a pretrained run learns a classification task; evaluate reproduces the test score', async () => {
  const from = await pretrainedRun();
  const root = tempDir('tlc-ft-');
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

  // without --task: the task the run was finetuned on; label names beside the numbers; each prediction on request
  const preds = join(root, 'predictions.jsonl');
  const ev2 = spawnSync(process.execPath, [CLI, 'evaluate', out, '--json', '--predictions', preds], { encoding: 'utf8' });
  assert.equal(ev2.status, 0, ev2.stderr);
  const json2 = JSON.parse(ev2.stdout);
  assert.equal(json2.accuracy, json.accuracy);
  assert.deepEqual(json2.per_label.map((l: { label: string }) => l.label), ['bird', 'cat', 'dog']);
  assert.deepEqual(json2.confusion_labels, ['bird', 'cat', 'dog']);
  const lines = readFileSync(preds, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { gold: string; predicted: string });
  assert.equal(lines.length, json.examples);
  assert.equal(lines.filter((l) => l.gold === l.predicted).length / lines.length, json.accuracy);

  // predict: plain lines and JSON lines, from a file or stdin, one output per input line (a blank
  // line too), a byte-order mark and CRLF line ends dropped; the probabilities are a distribution
  const inputs = join(root, 'inputs.txt');
  writeFileSync(inputs, '\uFEFFThe old cat likes the moon every morning.\r\n{"text": "The old dog sees the garden every morning."}\n\nThe old bird feeds the river every morning.\n');
  for (const viaStdin of [false, true]) {
    const pr = spawnSync(process.execPath, [CLI, 'predict', out, '--input', viaStdin ? '-' : inputs],
      { encoding: 'utf8', input: viaStdin ? readFileSync(inputs, 'utf8') : undefined });
    assert.equal(pr.status, 0, pr.stderr);
    const rows = pr.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; probabilities: Record<string, number> });
    assert.equal(rows.length, 4, 'one output per input line, the blank one included');
    assert.deepEqual([rows[0], rows[1], rows[3]].map((x) => x.label), ['cat', 'dog', 'bird']);
    for (const x of rows) {
      const total = Object.values(x.probabilities).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-9 && x.probabilities[x.label] === Math.max(...Object.values(x.probabilities)));
    }
  }
  const badInput = spawnSync(process.execPath, [CLI, 'predict', out, '--input', taskFile.replace('animals', 'missing')], { encoding: 'utf8' });
  assert.equal(badInput.status, 1);
  const notJson = join(root, 'bad.txt');
  writeFileSync(notJson, '{"text": 3}\n');
  const badLine = spawnSync(process.execPath, [CLI, 'predict', out, '--input', notJson], { encoding: 'utf8' });
  assert.equal(badLine.status, 1);
  assert.match(badLine.stderr, /bad\.txt:1: a JSON input needs a "text" string/);
  const binary = join(root, 'binary.bin');
  writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x00, 0x00, 0x01]));
  const badBinary = spawnSync(process.execPath, [CLI, 'predict', out, '--input', binary], { encoding: 'utf8' });
  assert.equal(badBinary.status, 1);
  assert.match(badBinary.stderr, /binary\.bin: holds NUL bytes — a binary file/);
});

test('finetune and evaluate reject bad input with a clear message', async () => {
  const from = await pretrainedRun();
  const root = tempDir('tlc-ft-bad-');
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
