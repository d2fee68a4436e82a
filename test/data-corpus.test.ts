// Corpora: .txt / .jsonl / .gz files and directories, the bundled examples, and a clear
// error naming the file (and line) for each kind of bad input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TlcError } from '../src/util/errors.js';
import { readCorpus, type Document } from '../src/data/corpus.js';
import { detokenizeBrown } from '../src/data/examples.js';
import { tempDir } from './temp-dir.js';

const root = tempDir('tlc-corpus-');
after(() => rmSync(root, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const path = join(root, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

async function collect(...inputs: string[]): Promise<Document[]> {
  const docs: Document[] = [];
  for await (const d of readCorpus(inputs)) docs.push(d);
  return docs;
}

async function assertFails(inputs: string[], ...patterns: (RegExp | string)[]): Promise<void> {
  await assert.rejects(collect(...inputs), (e: unknown) => {
    assert.ok(e instanceof TlcError, `expected a TlcError, got ${String(e)}`);
    for (const p of patterns) assert.ok(typeof p === 'string' ? e.message.includes(p) : p.test(e.message), `"${e.message}" should match ${p}`);
    return true;
  });
}

test('files: .txt is one document, .jsonl one per line with other fields as meta, .gz of either', async () => {
  const txt = file('a/one.txt', '\ufeffFirst document.\nSecond line, same document.\n');
  const jsonl = file('a/lines.jsonl', '{"text":"line one","label":"x"}\n\n{"text":"line two"}\r\n{"text":""}\n');
  const gz = file('a/b/more.jsonl.gz', gzipSync('{"text":"zipped ünïcödé"}\n'));
  const txtGz = file('a/b/z.txt.gz', gzipSync('zipped text'));
  file('a/ignored.csv', 'not,read\n');

  const docs = await collect(txt, jsonl, gz, txtGz);
  assert.deepEqual(docs.map((d) => d.text), ['First document.\nSecond line, same document.\n', 'line one', 'line two', 'zipped ünïcödé', 'zipped text']);
  assert.deepEqual(docs.map((d) => d.id), [txt, `${jsonl}:1`, `${jsonl}:3`, `${gz}:1`, txtGz]);
  assert.deepEqual(docs[1].meta, { label: 'x' });
  assert.equal(docs[2].meta, undefined);

  // A directory: recursively, corpus extensions only, sorted.
  const fromDir = await collect(join(root, 'a'));
  assert.deepEqual(fromDir.map((d) => d.id), [`${gz}:1`, txtGz, `${jsonl}:1`, `${jsonl}:3`, txt]);
  assert.ok(fromDir.every((d) => d.source === join(root, 'a')));
});

test('a multi-byte character split across read chunks is read intact', async () => {
  const text = 'é'.repeat(100_000) + '日本'.repeat(50_000) + '😀'.repeat(30_000);
  const docs = await collect(file('big.txt', text));
  // read in passages (cut between characters here, the text having no breaks): intact when joined
  assert.ok(docs.length > 1);
  assert.ok(docs.every((d) => !/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(d.text)), 'no surrogate pair is cut');
  assert.equal(docs.map((d) => d.text).join(''), text);
});

test('example:brown: 500 documents with genres, tags removed, quotes and punctuation tidied', async () => {
  const docs = await collect('example:brown');
  assert.equal(docs.length, 500);
  assert.equal(docs[0].id, 'brown/ca01');
  assert.deepEqual(docs[0].meta, { genre: 'news' });
  assert.equal(new Set(docs.map((d) => d.meta?.genre)).size, 15);
  assert.ok(docs[0].text.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.'), docs[0].text.slice(0, 200));
  for (const d of docs) {
    assert.doesNotMatch(d.text, /\S\/(at|nn|np|in|jj|vbd|vbz|cc|nns|rb|dt|pps|np-tl|nn-tl|``|'')(\s|$)/, `${d.id} still has tags`);
    assert.doesNotMatch(d.text, /``|''| [,.;?!)]/, `${d.id} has untidied punctuation`);
  }
});

test('detokenizeBrown joins words, sentences and paragraphs', () => {
  const tagged = "\n\n\t``/`` Yes/rb ''/'' ,/, he/pps said/vbd (/( twice/rb ./.\n)/) And/cc and/or/cc 1/2/cd ./.\n\n\n\tNext/ap ./.\n";
  assert.equal(detokenizeBrown(tagged), '"Yes", he said (twice.) And and/or 1/2.\n\nNext.');
});

test('example:sotu: 233 addresses with year, president and party', async () => {
  const docs = await collect('example:sotu');
  assert.equal(docs.length, 233);
  assert.deepEqual(docs[0].meta, { year: 1790, president: 'George Washington', party: 'none' });
  assert.ok(docs[0].text.startsWith('Fellow-Citizens of the Senate'));
});

test('bad input: each a TlcError naming the file (and line)', async () => {
  const missing = join(root, 'missing.txt');
  await assertFails([missing], missing, 'not found');
  await assertFails(['example:nope'], 'example:sotu', 'nope');
  await assertFails([file('empty.txt', '')], 'no text found', 'empty.txt');
  await assertFails([file('blank.jsonl', '\n\n')], 'no text found');
  mkdirSync(join(root, 'nothing-here'));
  await assertFails([join(root, 'nothing-here')], 'nothing-here', 'holds no');

  const binary = file('binary.txt', new Uint8Array([104, 105, 10, 0, 1, 2, 255]));
  await assertFails([binary], binary, 'binary', 'byte 3', 'line 2');
  const latin1 = file('latin1.txt', Buffer.concat([Buffer.from('ok\nline two caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]));
  await assertFails([latin1], latin1, 'not valid UTF-8', 'byte 15', 'line 2');
  const truncated = file('cut.txt', Buffer.from('end: é').subarray(0, -1));
  await assertFails([truncated], truncated, 'not valid UTF-8');
  const badGz = file('bad.txt.gz', 'this is not gzip');
  await assertFails([badGz], badGz, 'gzip');

  const jsonl = (name: string, content: string) => file(name, content);
  await assertFails([jsonl('badjson.jsonl', '{"text":"ok"}\n{"text": nope}\n')], 'badjson.jsonl:2', 'invalid JSON');
  await assertFails([jsonl('notext.jsonl', '{"text":"ok"}\n\n{"body":"x"}\n')], 'notext.jsonl:3', 'missing "text"');
  await assertFails([jsonl('numtext.jsonl', '{"text":42}\n')], 'numtext.jsonl:1', 'must be a string, got number');
  await assertFails([jsonl('array.jsonl', '["text"]\n')], 'array.jsonl:1', 'JSON object');

  // All inputs are checked before the first document: a missing second input fails at once.
  const good = file('good.txt', 'fine');
  const iterator = readCorpus([good, missing]);
  await assert.rejects(iterator.next(), (e: unknown) => e instanceof TlcError && e.message.includes(missing));
});
