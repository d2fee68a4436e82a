// The README's main command runs end to end (here with a tiny budget and two tiny sizes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('tlc demo prepares the bundled corpora, trains each size under the same budget and names the winner', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'tlc-demo-')), 'demo');
  const r = spawnSync(process.execPath, [CLI, 'demo', '--out', out, '--budget', '1s', '--sizes', 'L1-D32,L1-D64'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| L1-D32 \| .* \|\n\| L1-D64 \|/);
  assert.match(r.stdout, /reached the lowest validation loss/);
  for (const size of ['L1-D32', 'L1-D64']) assert.ok(existsSync(join(out, 'runs', size, 'model.safetensors')));
});
