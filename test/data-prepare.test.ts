// `tlc data prepare` end to end on a small corpus of real files: the shards decode back to
// the documents, the split is by document, data.json matches the files, and bad input or a
// damaged directory gives a clear error (also through the real CLI process).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { TlcError } from '../src/util/errors.js';
import { readCorpus, type Document } from '../src/data/corpus.js';
import { chooseValidDocuments, prepareData } from '../src/data/prepare.js';
import { openShards, type TokenArray } from '../src/data/shards.js';
import { EOS_ID, Tokenizer, baseVocab } from '../src/data/tokenizer.js';
import { BYTE_TO_CHAR } from '../src/data/byte-level.js';
import { saveTokenizer } from '../src/data/tokenizer-json.js';
import { trainBpe } from '../src/data/bpe-train.js';
import { tempDir } from './temp-dir.js';

const root = tempDir('tlc-prepare-');
after(() => rmSync(root, { recursive: true, force: true }));
const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** A corpus of 14 documents in .txt, .jsonl and .gz files. */
function makeCorpus(): string {
  const dir = join(root, 'corpus');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const sentences = ['The quick brown fox jumps over the lazy dog.', "It's 2024: prices rose 3.5% — again!", 'Ünïcödé text, 日本語, emoji 😀.', 'Tabs\tand  spaces\n\nand blank lines.'];
  for (let i = 0; i < 6; i++) writeFileSync(join(dir, `doc${i}.txt`), `Document ${i}. ${sentences[i % 4]} ${sentences[(i + 1) % 4]}\n`);
  const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `Line ${i}: ${sentences[(i + 2) % 4]}`, label: i % 2 }));
  writeFileSync(join(dir, 'sub', 'lines.jsonl'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'sub', 'zipped.txt.gz'), gzipSync(`Zipped text. ${sentences.join(' ')}`));
  writeFileSync(join(dir, 'sub', 'zipped.jsonl.gz'), gzipSync(JSON.stringify({ text: 'Zipped line.' }) + '\n'));
  return dir;
}

async function collect(inputs: string[]): Promise<Document[]> {
  const docs: Document[] = [];
  for await (const d of readCorpus(inputs)) docs.push(d);
  return docs;
}

/** The texts of a shard: one per </s>-terminated run of ids. */
function shardTexts(ids: TokenArray, tokenizer: Tokenizer): string[] {
  const texts: string[] = [];
  let start = 0;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === EOS_ID) {
      texts.push(tokenizer.decode(ids.subarray(start, i)));
      start = i + 1;
    }
  }
  assert.equal(start, ids.length, 'a shard ends with </s>');
  return texts;
}

const corpus = makeCorpus();
const out = join(root, 'out');

test('prepare: shards decode back to the documents, split by document, data.json matches the files', async () => {
  const result = await prepareData({ inputs: [corpus], outDir: out, vocabSize: 300, validFraction: 0.2, seed: 7, showProgress: false });
  const docs = await collect([corpus]);
  assert.equal(docs.length, 14);
  const isValid = chooseValidDocuments(docs.length, 0.2, 7);
  const expectedValid = docs.filter((_, i) => isValid[i]).map((d) => d.text);
  const expectedTrain = docs.filter((_, i) => !isValid[i]).map((d) => d.text);
  assert.equal(expectedValid.length, 3); // round(14 · 0.2)

  const shards = openShards(out);
  assert.deepEqual(shardTexts(shards.valid, shards.tokenizer), expectedValid);
  assert.deepEqual(shardTexts(shards.train, shards.tokenizer), expectedTrain);
  const validIds = new Set(docs.filter((_, i) => isValid[i]).map((d) => d.id));
  assert.ok(docs.filter((_, i) => !isValid[i]).every((d) => !validIds.has(d.id)), 'train and valid share no document');

  const { meta } = shards;
  assert.deepEqual(meta, result.meta);
  assert.equal(meta.dtype, 'uint16');
  assert.equal(meta.vocab_size, shards.tokenizer.vocabSize);
  assert.ok(meta.vocab_size <= 300);
  assert.equal(meta.train.documents, 11);
  assert.equal(meta.valid.documents, 3);
  assert.equal(statSync(join(out, 'train.bin')).size, 2 * meta.train.tokens);
  assert.equal(statSync(join(out, 'valid.bin')).size, 2 * meta.valid.tokens);
  assert.equal(meta.bytes_of_text, docs.reduce((n, d) => n + Buffer.byteLength(d.text), 0));
  assert.deepEqual(meta.sources, [corpus]);
  assert.equal(result.trainBytes + result.validBytes, meta.bytes_of_text);
  assert.deepEqual(readdirSync(out).sort(), ['data.json', 'tokenizer.json', 'tokenizer_config.json', 'train.bin', 'valid.bin']);
});

test('prepare: the tokenizer is trained on the train split only', async () => {
  // Only one document has the word "Zebra"; with a tiny vocabulary a word seen in training twice
  // becomes one token. Put it in valid (by seed) and check it was not learned.
  const dir = join(root, 'leak');
  mkdirSync(dir);
  for (let i = 0; i < 9; i++) writeFileSync(join(dir, `d${i}.txt`), 'plain words here and there\n');
  writeFileSync(join(dir, 'z.txt'), ' Zebraquux'.repeat(50));
  const docs = await collect([dir]);
  const zebra = docs.findIndex((d) => d.text.includes('Zebraquux'));
  const seed = [...Array(100).keys()].find((s) => chooseValidDocuments(docs.length, 0.1, s)[zebra] === 1)!;
  await prepareData({ inputs: [dir], outDir: join(root, 'leak-out'), vocabSize: 400, validFraction: 0.1, seed, showProgress: false });
  const { tokenizer, meta } = openShards(join(root, 'leak-out'));
  assert.equal(meta.valid.documents, 1);
  assert.equal(tokenizer.tokenToId('ĠZebraquux'), undefined);
  assert.ok(tokenizer.vocab.every((t) => !t.includes('quux')));
});

test('prepare: --tokenizer reuses a tokenizer; wide vocabularies are stored as uint32', async () => {
  const texts = (await collect([corpus])).map((d) => d.text);
  const tokenizer = trainBpe(texts, { vocabSize: 320 });
  saveTokenizer(join(root, 'tok'), tokenizer);
  const reuseOut = join(root, 'reuse');
  const r = await prepareData({ inputs: [corpus], outDir: reuseOut, tokenizerPath: join(root, 'tok', 'tokenizer.json'), showProgress: false });
  assert.equal(r.trainingSeconds, null);
  const shards = openShards(reuseOut);
  assert.deepEqual(shards.tokenizer.vocab, tokenizer.vocab);
  assert.equal(shards.meta.valid.documents, 1); // round(14 · 0.05) = 1

  await assert.rejects(prepareData({ inputs: [corpus], outDir: reuseOut, tokenizerPath: join(root, 'tok'), vocabSize: 500, showProgress: false }),
    (e: unknown) => e instanceof TlcError && /--vocab-size cannot be combined with --tokenizer/.test(e.message));

  // A byte-level tokenizer with more than 65536 tokens: one merge for every pair of bytes.
  const vocab = baseVocab(), merges: [string, string][] = [];
  for (const x of BYTE_TO_CHAR) {
    for (const y of BYTE_TO_CHAR) {
      merges.push([x, y]);
      vocab.push(x + y);
    }
  }
  saveTokenizer(join(root, 'wide'), new Tokenizer(vocab, merges));
  await prepareData({ inputs: [corpus], outDir: join(root, 'wide-out'), tokenizerPath: join(root, 'wide'), showProgress: false });
  const wide = openShards(join(root, 'wide-out'));
  assert.equal(wide.meta.dtype, 'uint32');
  assert.ok(wide.train instanceof Uint32Array);
  assert.equal(statSync(join(root, 'wide-out', 'train.bin')).size, 4 * wide.meta.train.tokens);
  assert.deepEqual(shardTexts(wide.valid, wide.tokenizer).length, 1);
});

test('prepare: one short document is refused (validation would be empty), unless --valid-fraction is 0', async () => {
  const one = join(root, 'one.txt');
  writeFileSync(one, 'just one document');
  await assert.rejects(prepareData({ inputs: [one], outDir: join(root, 'one-refused'), vocabSize: 270, showProgress: false }),
    /one\.txt: one document of 17 bytes is too little text for a validation split/);
  assert.ok(!existsSync(join(root, 'one-refused')), 'nothing is written');
  await prepareData({ inputs: [one], outDir: join(root, 'one-out'), vocabSize: 270, validFraction: 0, showProgress: false });
  const { meta, valid, train, tokenizer } = openShards(join(root, 'one-out'));
  assert.equal(meta.valid.documents, 0);
  assert.equal(valid.length, 0);
  assert.deepEqual(shardTexts(train, tokenizer), ['just one document']);
});

test('prepare: a single long text file is split into passages; validation gets whole passages, the text is kept exactly', async () => {
  const novel = join(root, 'novel.txt');
  const paragraphs = Array.from({ length: 900 }, (_, i) => `Paragraph ${i}: ${'the river runs past the old mill and on to the sea. '.repeat(8)}`);
  const text = paragraphs.join('\n\n') + '\n';
  writeFileSync(novel, text);
  const docs: Document[] = [];
  for await (const d of readCorpus([novel])) docs.push(d);
  assert.ok(docs.length >= 5, `${docs.length} passages`);
  assert.equal(docs.map((d) => d.text).join(''), text, 'the passages are the file, in order, with nothing lost');
  assert.ok(docs.slice(0, -1).every((d) => d.continues && d.text.endsWith('\n\n')), 'passages end at blank lines');
  assert.ok(!docs.at(-1)!.continues);
  const out = join(root, 'novel-out');
  await prepareData({ inputs: [novel], outDir: out, vocabSize: 300, validFraction: 0.2, showProgress: false });
  const { meta, valid, train, tokenizer } = openShards(out);
  assert.ok(meta.valid.documents >= 1 && valid.length > 0, 'a non-empty validation split');
  // every passage ends up whole in one split; </s> marks only where the text leaves a split
  const all = [...shardTexts(train, tokenizer), ...shardTexts(valid, tokenizer)].join('');
  assert.equal(all.length, text.length);
});

test('openShards: truncated shard, foreign tokenizer, unfinished directory', async () => {
  const dir = join(root, 'damaged');
  await prepareData({ inputs: [corpus], outDir: dir, vocabSize: 280, showProgress: false });
  const fails = (pattern: RegExp) => assert.throws(() => openShards(dir), (e: unknown) => e instanceof TlcError && pattern.test(e.message));

  const trainBin = join(dir, 'train.bin');
  truncateSync(trainBin, statSync(trainBin).size - 2);
  fails(/train\.bin: holds \d+ bytes, but data\.json describes \d+ uint16 tokens .* truncated/);

  await prepareData({ inputs: [corpus], outDir: dir, vocabSize: 280, showProgress: false });
  saveTokenizer(dir, trainBpe(['something else entirely'], { vocabSize: 280 }));
  fails(/tokenizer\.json: not the tokenizer these shards were made with/);

  rmSync(join(dir, 'data.json'));
  fails(/data\.json: not found/);
  writeFileSync(join(dir, 'data.json'), JSON.stringify({ format_version: 1, dtype: 'uint8' }));
  fails(/data\.json: invalid data description — dtype/);
});

test('prepare: bad input fails before the output directory is touched', async () => {
  const missing = join(root, 'missing.txt');
  await assert.rejects(prepareData({ inputs: [missing], outDir: out, showProgress: false }),
    (e: unknown) => e instanceof TlcError && e.message.includes(missing));
  assert.ok(existsSync(join(out, 'data.json')), 'the earlier result is still complete');
  await assert.rejects(prepareData({ inputs: [corpus], outDir: join(root, 'x'), vocabSize: 100, showProgress: false }), /--vocab-size must be/);
  await assert.rejects(prepareData({ inputs: [corpus], outDir: join(root, 'x'), validFraction: 1, showProgress: false }), /--valid-fraction/);
  await assert.rejects(prepareData({ inputs: [corpus], outDir: join(corpus, 'doc0.txt'), showProgress: false }), /exists and is not a directory/);
});

test('tlc data prepare: the real command, success and a one-line error naming the file', () => {
  const cliOut = join(root, 'cli-out');
  const ok = spawnSync(process.execPath, [CLI, 'data', 'prepare', '--input', corpus, '--out', cliOut, '--vocab-size', '300', '--seed', '3'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /documents: 13 train .*, 1 valid/);
  assert.match(ok.stdout, /tokenizer: trained on .* MB\/s/);
  assert.match(ok.stdout, /encoding: .* MB\/s/);
  assert.equal(openShards(cliOut).meta.seed, 3);

  const missing = join(root, 'missing.txt');
  const bad = spawnSync(process.execPath, [CLI, 'data', 'prepare', '--input', missing, '--out', join(root, 'cli-bad')], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, new RegExp(`^tlc: error: .*${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  const badJsonl = join(root, 'bad.jsonl');
  writeFileSync(badJsonl, '{"text":"fine"}\n{"txt":"oops"}\n');
  const jsonlRun = spawnSync(process.execPath, [CLI, 'data', 'prepare', '--input', badJsonl, '--out', join(root, 'cli-bad')], { encoding: 'utf8' });
  assert.notEqual(jsonlRun.status, 0);
  assert.equal(jsonlRun.stderr.trim().split('\n').length, 1, jsonlRun.stderr);
  assert.match(jsonlRun.stderr, /bad\.jsonl:2: missing "text" field/);

  const badFlag = spawnSync(process.execPath, [CLI, 'data', 'prepare', '--input', corpus, '--out', cliOut, '--valid-fraction', '1.5'], { encoding: 'utf8' });
  assert.notEqual(badFlag.status, 0);
  assert.match(badFlag.stderr, /--valid-fraction/);
});

test("the demo's pretraining corpus leaves out every document of the Brown genre task's test split", async () => {
  const { DEMO_CORPORA, DEMO_TASK, demoPretrainingExclusion } = await import('../src/experiment/demo.js');
  const { loadTask } = await import('../src/data/tasks.js');
  const exclude = await demoPretrainingExclusion();
  const test = (await loadTask(DEMO_TASK, { seed: 0 })).splits.test;
  const testDocs = new Set(test.map((e) => e.id!.slice(0, e.id!.lastIndexOf(':'))));
  assert.ok(testDocs.size >= 10, `${testDocs.size} test documents`);
  const corpusIds = new Set<string>();
  for await (const d of readCorpus(DEMO_CORPORA)) corpusIds.add(d.id);
  for (const id of testDocs) {
    assert.ok(exclude.has(id), `${id} is excluded`);
    assert.ok(corpusIds.has(id), `${id} names a document of the corpus, so excluding it removes text`);
  }
  // what is left is the rest of the corpus
  const kept = [...corpusIds].filter((id) => !exclude.has(id));
  assert.equal(kept.length, corpusIds.size - testDocs.size);
});

test('prepare: --exclude-test-of leaves those documents out of both splits and says how many', async () => {
  const corpus = join(root, 'lines.jsonl');
  writeFileSync(corpus, Array.from({ length: 40 }, (_, i) => JSON.stringify({ text: `document number ${i} about rivers` })).join('\n') + '\n');
  const out = join(root, 'excluded');
  const r = await prepareData({ inputs: [corpus], outDir: out, vocabSize: 280, showProgress: false,
    exclude: new Set([`${corpus}:4`, `${corpus}:8`]) }); // JSONL ids count lines from 1
  assert.equal(r.meta.excluded_documents, 2);
  const { train, valid, tokenizer } = openShards(out);
  const texts = [...shardTexts(train, tokenizer), ...shardTexts(valid, tokenizer)];
  assert.equal(texts.length, 38);
  assert.ok(!texts.includes('document number 3 about rivers') && !texts.includes('document number 7 about rivers'));
});

test('data prepare never replaces a dataset of other inputs unasked, and two at once into one folder leave one whole dataset', async () => {
  const root = tempDir('tlc-prepare-twice-');
  const corpus = (name: string, word: string) => {
    const p = join(root, name);
    writeFileSync(p, Array.from({ length: 400 }, (_, i) => JSON.stringify({ text: `${word} number ${i} sees the ${word} again.` })).join('\n') + '\n');
    return p;
  };
  const cats = corpus('cats.jsonl', 'cat'), dogs = corpus('dogs.jsonl', 'dog');
  const prepare = (input: string, out: string, ...more: string[]) =>
    spawnSync(process.execPath, [CLI, 'data', 'prepare', '--input', input, '--out', out, '--vocab-size', '300', ...more], { encoding: 'utf8' });
  const out = join(root, 'data');
  assert.equal(prepare(cats, out).status, 0);
  const again = prepare(cats, out);
  assert.equal(again.status, 0, 'the same inputs again: prepared again');
  const other = prepare(dogs, out);
  assert.equal(other.status, 1);
  assert.match(other.stderr, /holds a dataset prepared from .*cats\.jsonl \(data\.json\); preparing .*dogs\.jsonl would replace it/);
  assert.equal(prepare(dogs, out, '--force').status, 0, '--force replaces it');
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'data.json'), 'utf8')).sources, [dogs]);
  // two processes into one new folder: one writes, the other is refused; the dataset is whole
  const both = join(root, 'both');
  const run = (input: string) => new Promise<number>((done) => {
    const p = spawn(process.execPath, [CLI, 'data', 'prepare', '--input', input, '--out', both, '--vocab-size', '300'], { stdio: 'ignore' });
    p.on('exit', (code) => done(code ?? -1));
  });
  const codes = await Promise.all([run(cats), run(dogs)]);
  assert.deepEqual([...codes].sort(), [0, 1], `exit codes ${codes}`);
  const winner = codes[0] === 0 ? cats : dogs;
  assert.deepEqual(JSON.parse(readFileSync(join(both, 'data.json'), 'utf8')).sources, [winner]);
  assert.ok(openShards(both).meta.train.tokens > 0, 'the dataset opens and checks');
});
