// The README's main command runs end to end: `tlc auto` on the bundled data (here with a tiny
// budget, two tiny candidate sizes and part of the task).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('tlc demo runs the whole pipeline: explore, plan, train, finetune, compress, choose, answer', () => {
  const out = join(tempDir('tlc-demo-'), 'demo');
  const args = [CLI, 'demo', '--out', out, '--budget', '40s', '--finetune-budget', '1s', '--compress-budget', '1s', '--probe', '2s',
    '--sizes', 'L1-D32,L1-D64', '--task-examples', '600'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /candidates L1-D32, L1-D64/);
  assert.match(r.stdout, /L1-D(32|64) was chosen for the budget \(40s of pretraining, exploration included/);
  assert.match(r.stdout, /For the test budget: /);
  for (const f of ['auto.json', 'pareto.json', 'pareto.csv', 'answer.txt', 'report/index.html', 'model/config.json']) assert.ok(existsSync(join(out, f)), f);
  const record = JSON.parse(readFileSync(join(out, 'auto.json'), 'utf8')) as { task: string; corpus: string[]; pretrain_cost: { budget_units: number } };
  assert.equal(record.task, 'example:brown-genre');
  assert.deepEqual(record.corpus, ['example:sotu', 'example:brown']);
  assert.ok(record.pretrain_cost.budget_units <= 40, `${record.pretrain_cost.budget_units} s of a 40 s budget`);
  // run again: every stage is found done, and the answer is given again
  const again = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /\[\d\/7\]/, 'no stage runs again');
  assert.match(again.stdout, /was chosen for the budget/);
});
