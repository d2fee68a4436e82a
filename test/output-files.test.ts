// A file a command writes (evaluate --predictions, translate --output) never lands inside what
// another tlc command made, over the command's own input, or on a directory; a user's own
// folders are never taken for tlc outputs by the names of the files they hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkNotInsideOutput, checkOutputFile, markOutputDir } from '../src/run/ownership.js';
import { tempDir } from './temp-dir.js';

test('file outputs: refused inside tlc outputs, over the input or on a directory; a user folder with look-alike files is fine', () => {
  const root = tempDir('tlc-output-files-');
  // a user's folder with files that tlc's outputs also hold, by name only
  const mine = join(root, 'corpus');
  mkdirSync(join(mine, 'deeper'), { recursive: true });
  for (const f of ['train.tsv', 'index.html', 'compress.json', 'sweep.json']) writeFileSync(join(mine, f), 'mine\n');
  writeFileSync(join(mine, 'data.json'), '{"anything": 1}\n');
  checkOutputFile(join(mine, 'test.hyp'), '--output');
  checkOutputFile(join(mine, 'deeper', 'preds.jsonl'), '--predictions');
  // what tlc made: a marked output (at any depth), a run, a dataset described by its tokenizer's hash
  const made = join(root, 'cmp');
  markOutputDir(made, 'compress');
  mkdirSync(join(made, 's0-b8'));
  assert.throws(() => checkOutputFile(join(made, 's0-b8', 'x.jsonl'), '--predictions'), /--predictions .*x\.jsonl is inside .*cmp, which holds a `tlc compress` output/);
  const run = join(root, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'run.json'), JSON.stringify({ command: 'finetune', options: {} }));
  assert.throws(() => checkOutputFile(join(run, 'model.safetensors'), '--output'), /inside .*run, which holds a finetuning run/);
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(join(data, 'data.json'), JSON.stringify({ tokenizer_sha256: 'a'.repeat(64) }));
  assert.throws(() => checkOutputFile(join(data, 'p.jsonl'), '--predictions'), /inside .*data, which holds a prepared dataset/);
  const input = join(mine, 'in.txt');
  writeFileSync(input, 'x\n');
  assert.throws(() => checkOutputFile(input, '--output', [input]), /is this command's own input/);
  assert.throws(() => checkOutputFile(mine, '--output'), /is a directory/);
});

test('an output is refused inside another tlc output, but a pareto table may sit inside the compression or auto output it ranks', () => {
  const root = tempDir('tlc-nested-');
  markOutputDir(join(root, 'auto'), 'auto');
  markOutputDir(join(root, 'auto', 'compress'), 'compress', join(root, 'model'));
  markOutputDir(join(root, 'run'), 'pretrain');
  checkNotInsideOutput(join(root, 'auto', 'pareto-1MB'), 'pareto');
  checkNotInsideOutput(join(root, 'auto', 'compress', 'pareto-1MB'), 'pareto');
  assert.throws(() => checkNotInsideOutput(join(root, 'run', 'pareto'), 'pareto'), /run\/pareto is inside .*run, which holds a pretraining run/);
  assert.throws(() => checkNotInsideOutput(join(root, 'auto', 'export'), 'export'), /auto\/export is inside .*auto, which holds/);
  checkNotInsideOutput(join(root, 'elsewhere'), 'export');
});
