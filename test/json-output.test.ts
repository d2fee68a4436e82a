// `--json` on every command that produces a result: stdout is exactly one JSON object (progress
// and warnings go to stderr), with the fields a script needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticDocuments, writeTask } from './corpus-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

function json(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tlc ${args.join(' ')} --json: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `tlc ${args.join(' ')} --json printed ${lines.length} lines:\n${r.stdout}`);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

test('--json prints one parseable object on data prepare, pretrain, finetune, evaluate, sweep, export, import, inspect, compress, generate', () => {
  const root = tempDir('tlc-json-');
  const corpus = join(root, 'corpus.jsonl');
  writeFileSync(corpus, syntheticDocuments(60, 3).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const data = json(['data', 'prepare', '--input', corpus, '--vocab-size', '300', '--out', join(root, 'data')]);
  assert.equal(data.vocab_size, 300);
  assert.ok((data.train as { tokens: number }).tokens > 0);
  const run = join(root, 'run');
  const pre = json(['pretrain', '--data', join(root, 'data'), '--model', 'L1-D32', '--norm', 'post', '--seq-len', '32', '--batch-size', '8',
    '--steps', '12', '--eval-tokens', '512', '--schedule', 'wsd', '--branches', '0.5,1', '--out', run]);
  assert.equal(pre.steps, 12);
  assert.equal((pre.branches as unknown[]).length, 2);
  assert.equal(typeof pre.valid_loss, 'number');
  const task = join(root, 'task.jsonl');
  writeTask(task, 90, 2);
  const ft = json(['finetune', '--from', run, '--task', task, '--steps', '6', '--batch-size', '8', '--max-len', '24', '--out', join(root, 'clf')]);
  assert.deepEqual(ft.labels, ['bird', 'cat', 'dog']);
  assert.equal(typeof (ft.test as { accuracy: number }).accuracy, 'number');
  const ev = json(['evaluate', join(root, 'clf')]);
  assert.equal(ev.accuracy, (ft.test as { accuracy: number }).accuracy);
  const spec = join(root, 'sweep.yaml');
  writeFileSync(spec, `data: ${join(root, 'data')}\nsizes: [L1-D32]\nsteps: 4\nseq_len: 32\nbatch_sizes: [8]\neval_tokens: 512\n`);
  const sweep = json(['sweep', spec, '--out', join(root, 'sweep')]);
  assert.deepEqual((sweep.rows as { name: string }[]).map((r) => r.name), ['L1-D32']);
  const exp = json(['export', run, '--format', 'hf', '--out', join(root, 'hf')]);
  assert.equal(exp.architecture, 'RobertaForMaskedLM');
  const imp = json(['import', join(root, 'hf'), '--out', join(root, 'imported')]);
  assert.equal(imp.architecture, 'RobertaForMaskedLM');
  const ins = json(['inspect', join(root, 'clf')]);
  assert.ok(Object.keys(ins).length > 0);
  const comp = json(['compress', '--from', join(root, 'clf'), '--sparsity', '0', '--bits', '8', '--out', join(root, 'compressed')]);
  assert.ok(Array.isArray(comp.rows));
  const clm = join(root, 'clm');
  json(['pretrain', '--data', join(root, 'data'), '--model', 'L1-D32', '--objective', 'clm', '--seq-len', '32', '--batch-size', '8', '--steps', '4', '--eval-tokens', '512', '--out', clm]);
  const gen = json(['generate', clm, 'a', '--greedy', '--max-new-tokens', '3']);
  assert.ok(Array.isArray(gen.ids));
});
