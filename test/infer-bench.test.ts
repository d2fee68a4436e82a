// `tlc bench infer` as a real process on a real run: the DESIGN.md JSON contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pretrainedRun } from './corpus-fixture.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const VARIANTS = ['fp32', 'bf16', 'int8', 'w4', 'w4a8', 'sparse50', 'sparse70', 'sparse90', 'struct50', 'struct50-int8'];

test('bench infer --json prints one row per variant and batch size', async () => {
  const run = await pretrainedRun();
  const p = spawnSync(process.execPath, [CLI, 'bench', 'infer', run, '--json', '--rounds', '1', '--batch-size', '3', '--seq-len', '16'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const { rows } = JSON.parse(p.stdout);
  assert.equal(rows.length, 2 * VARIANTS.length);
  for (const v of VARIANTS) {
    for (const batch of [1, 3]) {
      const r = rows.find((x: { variant: string; batch: number }) => x.variant === v && x.batch === batch);
      assert.ok(r, `${v} at batch ${batch}`);
      assert.deepEqual(Object.keys(r).sort(), ['batch', 'latency_ms', 'seq_per_s', 'variant']);
      assert.ok(r.latency_ms > 0 && Math.abs(r.seq_per_s - 1000 * batch / r.latency_ms) < 1e-6 * r.seq_per_s);
    }
  }
  assert.match(p.stderr, /round 1\/1/, 'progress goes to stderr');
});

test('bench infer rejects unknown variants and missing models clearly', () => {
  let p = spawnSync(process.execPath, [CLI, 'bench', 'infer', '--variants', 'fp32,fp8'], { encoding: 'utf8' });
  assert.notEqual(p.status, 0);
  assert.match(p.stderr, /unknown variant "fp8"/);
  p = spawnSync(process.execPath, [CLI, 'bench', 'infer', '/nonexistent/run'], { encoding: 'utf8' });
  assert.notEqual(p.status, 0);
  assert.match(p.stderr, /not a model directory \(config.json is missing\)/);
});
