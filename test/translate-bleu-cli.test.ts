// `tlc bleu` as a real process on real files. Expected lines are what the sacrebleu 2.6.0 command
// printed for the same files (`sacrebleu r1.txt r2.txt -i hyp.txt -f text`, and without -f for
// JSON), with its "|version:2.6.0" signature field left out; the example is sacreBLEU's README's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { tempDir } from './temp-dir.js';

const root = tempDir('tlc-bleu-');
after(() => rmSync(root, { recursive: true, force: true }));
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

const hyp = join(root, 'hyp.txt'), ref1 = join(root, 'r1.txt'), ref2 = join(root, 'r2.txt');
writeFileSync(hyp, "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
writeFileSync(ref1, 'The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n');
writeFileSync(ref2, 'The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n');

function tlc(...args: string[]) {
  return spawnSync(process.execPath, [CLI, 'bleu', ...args], { encoding: 'utf8' });
}

test('tlc bleu prints the sacrebleu text line', () => {
  const r = tlc(hyp, ref1, ref2);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp = 48.5 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n');
  const lc = tlc(hyp, ref1, ref2, '--lowercase', '--tokenize', 'none');
  assert.equal(lc.stdout, 'BLEU|nrefs:2|case:lc|eff:no|tok:none|smooth:exp = 49.2 71.4/54.5/50.0/40.0 (BP = 0.931 ratio = 0.933 hyp_len = 14 ref_len = 15)\n');
  const wide = tlc(hyp, ref1, ref2, '--width', '2', '--lowercase');
  assert.equal(wide.stdout, 'BLEU|nrefs:2|case:lc|eff:no|tok:13a|smooth:exp = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n');
});

test('tlc bleu --json prints the sacrebleu JSON object', () => {
  const r = tlc(hyp, ref1, ref2, '--json');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    name: 'BLEU',
    score: 48.5,
    signature: 'nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp',
    verbose_score: '82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)',
    nrefs: '2', case: 'mixed', eff: 'no', tok: '13a', smooth: 'exp',
  });
  const perfect = tlc(ref1, ref1, '--json');
  assert.match(perfect.stdout, /\n "score": 100\.0,\n/);
  assert.match(perfect.stdout, /"verbose_score": "100\.0\/100\.0\/100\.0\/100\.0 \(BP = 1\.000 ratio = 1\.000 hyp_len = 17 ref_len = 17\)"/);
});

test('tlc bleu reads .gz files and CRLF line ends as sacrebleu does', () => {
  const gz = join(root, 'hyp.txt.gz');
  writeFileSync(gz, gzipSync("The dog bit the man.\r\nIt wasn't surprising.\r\nThe man had just bitten him."));
  const r = tlc(gz, ref1, ref2);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, / = 48\.5 82\.4\/50\.0\/45\.5\/37\.5 /);
});

test('tlc bleu: a line-count mismatch, a missing file or a bad flag is an error with a non-zero exit', () => {
  const short = join(root, 'short.txt');
  writeFileSync(short, 'The dog bit the man.\nIt was not unexpected.\n');
  const mismatch = tlc(hyp, ref1, short);
  assert.equal(mismatch.status, 1);
  assert.equal(mismatch.stdout, '');
  assert.match(mismatch.stderr, /short\.txt has 2 lines but .*hyp\.txt has 3: references and hypotheses must match line for line/);
  const missing = tlc(hyp, join(root, 'nope.txt'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope\.txt: file not found/);
  const tokenize = tlc(hyp, ref1, '--tokenize', 'intl');
  assert.equal(tokenize.status, 1);
  assert.match(tokenize.stderr, /--tokenize: expected 13a, none, got "intl"/);
  const noRefs = tlc(hyp);
  assert.notEqual(noRefs.status, 0);
});
