// Silent pitfalls are said out loud, on the terminal and in the run's metrics: a vocabulary
// smaller than asked, a budget worth many epochs of the corpus, a model no better than a
// unigram table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preparedSyntheticData, syntheticDocuments } from './corpus-fixture.js';
import { readMetrics } from '../src/run/metrics.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const tlc = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const warningsOf = (run: string) => readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'warning') as unknown as { kind: string; message: string }[];

test('data prepare warns when the corpus cannot fill the vocabulary asked for, and records both sizes', () => {
  const root = tempDir('tlc-warn-vocab-');
  const input = join(root, 'small.jsonl');
  writeFileSync(input, syntheticDocuments(20, 3).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const r = tlc(['data', 'prepare', '--input', input, '--out', join(root, 'data'), '--vocab-size', '4000']);
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(readFileSync(join(root, 'data', 'data.json'), 'utf8')) as { vocab_size: number; vocab_size_asked?: number };
  assert.ok(meta.vocab_size < 4000);
  assert.equal(meta.vocab_size_asked, 4000);
  assert.match(r.stderr, new RegExp(`warning: the vocabulary has ${meta.vocab_size} tokens, not the 4000 asked for`));
});

test('data prepare says when its validation split is far from the share asked for, or holds nothing out', () => {
  const root = tempDir('tlc-warn-split-');
  const few = join(root, 'few.jsonl');
  writeFileSync(few, syntheticDocuments(4, 5).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const r = tlc(['data', 'prepare', '--input', few, '--out', join(root, 'few'), '--vocab-size', '300']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*few\.jsonl: 4 documents, so the validation split holds 1 of them \(25%\), not the 5\.0% asked for/);
  const many = join(root, 'many.jsonl');
  writeFileSync(many, syntheticDocuments(40, 5).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const fine = tlc(['data', 'prepare', '--input', many, '--out', join(root, 'many'), '--vocab-size', '300']);
  assert.equal(fine.status, 0, fine.stderr);
  assert.doesNotMatch(fine.stderr, /validation split holds/, '2 of 40 documents is the 5% asked for');
  const none = tlc(['data', 'prepare', '--input', many, '--out', join(root, 'none'), '--vocab-size', '300', '--valid-fraction', '0']);
  assert.equal(none.status, 0, none.stderr);
  assert.match(none.stderr, /warning: --valid-fraction 0 holds out nothing: tlc pretrain needs a validation split/);
});

test('pretraining warns once when the budget buys more than 4 epochs, and when the model ends no better than unigram', async () => {
  const data = await preparedSyntheticData();
  const corpus = (JSON.parse(readFileSync(join(data, 'data.json'), 'utf8')) as { train: { tokens: number } }).train.tokens;
  const root = tempDir('tlc-warn-run-');
  const common = ['pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--batch-size', '8', '--eval-tokens', '512'];
  // 5 epochs' worth of tokens at a learning rate too small to learn anything
  const stuck = join(root, 'stuck');
  const r = tlc([...common, '--tokens', String(5 * corpus), '--lr', '1e-9', '--eval-every', '0.5', '--out', stuck]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.match(/warning: the budget buys about 5\.0 passes/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /warning: the final validation loss .* is not below the unigram baseline/);
  assert.deepEqual(warningsOf(stuck).map((w) => w.kind), ['epochs', 'baseline']);
  // a sensible run of three epochs: neither
  const fine = join(root, 'fine');
  const ok = tlc([...common, '--tokens', String(3 * corpus), '--lr', '3e-3', '--out', fine]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /warning/);
  assert.deepEqual(warningsOf(fine), []);
});
