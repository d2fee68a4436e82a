// Parallel data: TSV files read and written as the format says, splits cut by source sentence,
// the example:de-en rules on a small dictionary file and on the installed trans-de-en, and
// `tlc data prepare --task translation` (API and real CLI process) with readPreparedTranslation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TlcError } from '../src/util/errors.js';
import { type Pair, loadParallel, readParallelTsv, writeParallelTsv } from '../src/data/parallel.js';
import { DE_EN_DICTIONARY, readDeEnDictionary } from '../src/data/parallel-example.js';
import { TRANSLATION_META_FILE, prepareTranslation, readPreparedTranslation } from '../src/data/prepare-translation.js';
import { saveTokenizer } from '../src/data/tokenizer-json.js';
import { trainBpe } from '../src/data/bpe-train.js';
import { tempDir } from './temp-dir.js';

const root = tempDir('tlc-parallel-');
after(() => rmSync(root, { recursive: true, force: true }));
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

const isTlc = (pattern: RegExp) => (e: unknown) => e instanceof TlcError && pattern.test(e.message);

/** 60 pairs; "Hallo." has three translations, which must stay in one split. */
function samplePairs(): Pair[] {
  const pairs = Array.from({ length: 57 }, (_, i) => ({ source: `Satz Nummer ${i} ist kurz.`, target: `Sentence number ${i} is short.` }));
  for (const target of ['Hello.', 'Hi.', 'Hello there.']) pairs.splice(20, 0, { source: 'Hallo.', target });
  return pairs;
}

function sourcesOf(pairs: Pair[]): Set<string> {
  return new Set(pairs.map((p) => p.source));
}

function assertDisjointSources(...splits: Pair[][]): void {
  const seen = new Map<string, number>();
  splits.forEach((split, k) => {
    for (const s of sourcesOf(split)) {
      assert.ok(!seen.has(s) || seen.get(s) === k, `"${s}" is in two splits`);
      seen.set(s, k);
    }
  });
}

test('TSV: header, blank lines, CRLF and a byte order mark are read; write then read gives the pairs back', () => {
  const path = join(root, 'read.tsv');
  writeFileSync(path, '\ufeffsource\ttarget\r\nEins.\tOne.\r\n\r\n  \nZwei ist gut!\tTwo is good!\n');
  assert.deepEqual(readParallelTsv(path), [{ source: 'Eins.', target: 'One.' }, { source: 'Zwei ist gut!', target: 'Two is good!' }]);
  // Without a header the first line is a pair.
  writeFileSync(path, 'Eins.\tOne.\n');
  assert.deepEqual(readParallelTsv(path), [{ source: 'Eins.', target: 'One.' }]);

  const pairs = samplePairs();
  const out = join(root, 'written.tsv');
  writeParallelTsv(out, pairs);
  assert.equal(readFileSync(out, 'utf8').split('\n')[0], 'source\ttarget');
  assert.deepEqual(readParallelTsv(out), pairs);
  assert.deepEqual(readdirSync(root).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  assert.throws(() => writeParallelTsv(out, [{ source: 'a\tb', target: 'c' }]), isTlc(/source of pair 1 holds a tab/));
  assert.throws(() => writeParallelTsv(out, [{ source: 'a', target: 'line\nbreak' }]), isTlc(/target of pair 1 holds a tab or a line break/));
  assert.deepEqual(readParallelTsv(out), pairs, 'a failed write leaves the old file');
});

test('TSV: a line without exactly one tab, an empty side, a missing file are errors naming file and line', () => {
  const path = join(root, 'bad.tsv');
  writeFileSync(path, 'source\ttarget\nEins.\tOne.\n\nno tab here\n');
  assert.throws(() => readParallelTsv(path), isTlc(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:4: expected source<TAB>target \\(exactly one tab\\), found 0 tabs`)));
  writeFileSync(path, 'Eins.\tOne.\tUn.\n');
  assert.throws(() => readParallelTsv(path), isTlc(/bad\.tsv:1: .*found 2 tabs/));
  writeFileSync(path, 'Eins.\t \n');
  assert.throws(() => readParallelTsv(path), isTlc(/bad\.tsv:1: empty target sentence/));
  writeFileSync(path, 'source\ttarget\n\n');
  assert.throws(() => readParallelTsv(path), isTlc(/bad\.tsv: no sentence pairs/));
  writeFileSync(path, Buffer.from([0x61, 0x09, 0xff, 0x0a]));
  assert.throws(() => readParallelTsv(path), isTlc(/not valid UTF-8/));
  assert.throws(() => loadParallel(join(root, 'missing.tsv')), isTlc(/missing\.tsv: parallel data file or directory not found/));
});

test('one file: split 80/10/10 by source sentence, the same for the same seed', () => {
  const path = join(root, 'all.tsv');
  writeParallelTsv(path, samplePairs());
  const a = loadParallel(path);
  assert.deepEqual([a.train.length, a.valid.length, a.test.length], [48, 6, 6]);
  assertDisjointSources(a.train, a.valid, a.test);
  assert.equal([a.train, a.valid, a.test].filter((s) => s.some((p) => p.source === 'Hallo.')).length, 1);
  assert.deepEqual([...a.train, ...a.valid, ...a.test].sort((x, y) => (x.target < y.target ? -1 : 1)), samplePairs().sort((x, y) => (x.target < y.target ? -1 : 1)));
  assert.deepEqual(loadParallel(path), a);
  assert.notDeepEqual(loadParallel(path, { seed: 1 }).test, a.test);
  assert.equal(a.source, path);

  writeParallelTsv(path, samplePairs().slice(0, 2));
  assert.throws(() => loadParallel(path), isTlc(/too few sentence pairs to fill a valid split/));
});

test('a directory: train/valid/test.tsv as given; a missing test or valid split is cut', () => {
  const dir = join(root, 'dir');
  mkdirSync(dir);
  const pairs = samplePairs();
  writeParallelTsv(join(dir, 'train.tsv'), pairs.slice(0, 40));
  writeParallelTsv(join(dir, 'valid.tsv'), pairs.slice(40, 50));
  writeParallelTsv(join(dir, 'test.tsv'), pairs.slice(50));
  const full = loadParallel(dir);
  assert.deepEqual([full.train, full.valid, full.test], [pairs.slice(0, 40), pairs.slice(40, 50), pairs.slice(50)]);
  assert.deepEqual(full.notes, []);

  rmSync(join(dir, 'test.tsv'));
  const noTest = loadParallel(dir);
  assert.deepEqual(noTest.train, pairs.slice(0, 40));
  assert.deepEqual([noTest.valid.length, noTest.test.length], [5, 5]);
  assert.match(noTest.notes[0], /no test\.tsv .* split in half/);

  rmSync(join(dir, 'valid.tsv'));
  const trainOnly = loadParallel(dir);
  assert.deepEqual([trainOnly.train.length, trainOnly.valid.length, trainOnly.test.length], [32, 4, 4]);
  assertDisjointSources(trainOnly.train, trainOnly.valid, trainOnly.test);

  rmSync(join(dir, 'train.tsv'));
  assert.throws(() => loadParallel(dir), isTlc(/no train\.tsv/));
});

test('example:de-en rules on a small dictionary: tags, alternatives, what is not a whole sentence', () => {
  const path = join(root, 'de-en');
  writeFileSync(path, [
    '# Version :: devel 2023-01-30',
    'Haus {n} | Häuser {pl} :: house | houses',
    'Es regnet. [ugs.] | Wie spät ist es? :: It’s raining [Br.]. | What time is it?',
    'Viel Glück!; Toi, toi, toi! :: Good luck!; Best of luck!; All the best!',
    'Er sitzt auf dem / am [Ös.] Klo. :: He’s on the loo.',
    'Was schlägst du (also) vor? :: What do you suggest?',
    'Das ist gut in … sortiert. :: This shop has a good range of …',
    'kleines Wort. :: small word.',
    '„Halt!“ | Es regnet. :: "Stop!" | It’s raining.',
    'Ohne Gegenstück | Zweiter Teil. :: Without counterpart',
    '',
  ].join('\n'));
  assert.deepEqual(readDeEnDictionary(path), [
    { source: 'Es regnet.', target: 'It’s raining.' },
    { source: 'Wie spät ist es?', target: 'What time is it?' },
    { source: 'Viel Glück!', target: 'Good luck!' },
    { source: 'Toi, toi, toi!', target: 'Best of luck!' },
    { source: 'Viel Glück!', target: 'All the best!' },
    { source: '„Halt!“', target: '"Stop!"' },
  ]);
  assert.throws(() => readDeEnDictionary(join(root, 'nowhere')), isTlc(/install the Debian package trans-de-en/));
  writeFileSync(path, '# only a comment\nHaus {n} :: house\n');
  assert.throws(() => readDeEnDictionary(path), isTlc(/no sentence pairs found/));
});

test('example:de-en from the installed trans-de-en: about 19,000 pairs, 1,000 valid and 1,000 test, no source in two splits', () => {
  const pairs = readDeEnDictionary(DE_EN_DICTIONARY);
  assert.ok(pairs.length > 18000 && pairs.length < 20000, `${pairs.length} pairs`);
  assert.equal(new Set(pairs.map((p) => `${p.source}\t${p.target}`)).size, pairs.length, 'no duplicate pairs');
  for (const p of pairs) {
    for (const s of [p.source, p.target]) {
      assert.match(s, /^[\p{Lu}0-9"'„“‚‘»«].*[.!?]["'”“’‘»«]?$/u, s);
      assert.doesNotMatch(s, /[{}[\]<>()/…\t]|\s\s|^\s|\s$/, s);
    }
  }
  const data = loadParallel('example:de-en');
  assert.deepEqual([data.valid.length, data.test.length, data.train.length], [1000, 1000, pairs.length - 2000]);
  assertDisjointSources(data.train, data.valid, data.test);
  assert.throws(() => loadParallel('example:fr-en'), isTlc(/unknown translation example "example:fr-en"; the examples are example:de-en/));
});

test('prepare --task translation: one tokenizer for both sides, TSV splits, prepare.json; readPreparedTranslation checks them', () => {
  const input = join(root, 'prep.tsv');
  // "Zebraquux" occurs only on the target side: a tokenizer trained on both sides learns it.
  const pairs = samplePairs().map((p, i) => (i % 2 ? { ...p, target: `${p.target.slice(0, -1)} Zebraquux.` } : p));
  writeParallelTsv(input, pairs);
  const out = join(root, 'prepared');
  const { meta } = prepareTranslation({ input, outDir: out, vocabSize: 400, seed: 3, showProgress: false });
  assert.deepEqual(readdirSync(out).sort(), ['prepare.json', 'test.tsv', 'tokenizer.json', 'tokenizer_config.json', 'train.tsv', 'valid.tsv']);
  assert.equal(meta.task, 'translation');
  assert.equal(meta.input, input);
  assert.deepEqual(meta.pairs, { train: 48, valid: 6, test: 6 });
  assert.equal(meta.seed, 3);

  const prepared = readPreparedTranslation(out);
  assert.deepEqual(prepared.meta, meta);
  const expected = loadParallel(input, { seed: 3 });
  assert.deepEqual([prepared.train, prepared.valid, prepared.test], [expected.train, expected.valid, expected.test]);
  assert.equal(prepared.tokenizerPath, join(out, 'tokenizer.json'));
  assert.equal(prepared.tokenizer.vocabSize, meta.vocab_size);
  assert.ok(prepared.tokenizer.tokenToId('ĠZebraquux') !== undefined, 'a target-only word was learned');
  assert.ok(prepared.tokenizer.tokenToId('ĠNummer') !== undefined, 'a source-only word was learned');
  const sourceTokens = prepared.train.reduce((n, p) => n + prepared.tokenizer.encode(p.source).length, 0);
  assert.equal(meta.splits.train.source.tokens, sourceTokens);

  // A damaged directory is refused with a clear message.
  writeFileSync(join(out, 'test.tsv'), readFileSync(join(out, 'test.tsv'), 'utf8').split('\n').slice(0, 3).join('\n') + '\n');
  assert.throws(() => readPreparedTranslation(out), isTlc(/test\.tsv: holds 2 pairs, but .*prepare\.json counts 6/));
  saveTokenizer(out, trainBpe(['other text entirely'], { vocabSize: 300 }));
  assert.throws(() => readPreparedTranslation(out), isTlc(/tokenizer\.json: not the tokenizer/));
  rmSync(join(out, TRANSLATION_META_FILE));
  assert.throws(() => readPreparedTranslation(out), isTlc(/prepare\.json: not found; is .* made by "tlc data prepare --task translation"/));
  writeFileSync(join(out, TRANSLATION_META_FILE), JSON.stringify({ task: 'lm' }));
  assert.throws(() => readPreparedTranslation(out), isTlc(/prepared for task "lm", not translation/));
  writeFileSync(join(out, TRANSLATION_META_FILE), JSON.stringify({ ...meta, pairs: { train: 0 } }));
  assert.throws(() => readPreparedTranslation(out), isTlc(/invalid translation data description — pairs\.train/));
});

test('tlc data prepare --task translation as a real process; wrong flag combinations fail', () => {
  const input = join(root, 'cli.tsv');
  writeParallelTsv(input, samplePairs());
  const out = join(root, 'cli-out');
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'data', 'prepare', ...args], { encoding: 'utf8' });
  const ok = run('--task', 'translation', '--input', input, '--out', out, '--vocab-size', '320');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /pairs: +48 train, 6 valid, 6 test/);
  assert.equal(readPreparedTranslation(out).meta.vocab_size <= 320, true);

  const twoInputs = run('--task', 'translation', '--input', input, input, '--out', out);
  assert.equal(twoInputs.status, 1);
  assert.match(twoInputs.stderr, /--task translation takes one --input/);
  const fraction = run('--task', 'translation', '--input', input, '--out', out, '--valid-fraction', '0.2');
  assert.equal(fraction.status, 1);
  assert.match(fraction.stderr, /--valid-fraction does not apply to --task translation/);
  const task = run('--task', 'summarize', '--input', input, '--out', out);
  assert.notEqual(task.status, 0);
  assert.match(task.stderr, /--task: expected lm or translation/);
});
