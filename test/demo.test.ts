// The README's main command runs end to end (here with a tiny budget and two tiny sizes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('tlc demo runs the whole pipeline: sweep, finetune, compress, choose, answer', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'tlc-demo-')), 'demo');
  const args = [CLI, 'demo', '--out', out, '--budget', '1s', '--finetune-budget', '1s', '--sizes', 'L1-D32,L1-D64', '--task-examples', '600'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| L1-D32 \| .* \|\n\| L1-D64 \|/);
  assert.match(r.stdout, /reached the lowest validation loss/);
  assert.match(r.stdout, /For a 2MB budget: /);
  for (const size of ['L1-D32', 'L1-D64']) assert.ok(existsSync(join(out, 'sweep', 'runs', size, 'model.safetensors')));
  for (const f of ['pareto.json', 'pareto.csv', 'answer.txt', 'report/index.html']) assert.ok(existsSync(join(out, f)), f);
  // run again: every step is found done and reused
  const again = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /finished before, skipped/);
});
