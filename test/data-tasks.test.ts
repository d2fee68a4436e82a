// Labelled tasks: JSONL/TSV/CSV files, task directories, the fixed-seed split, the bundled
// example:spam and example:brown-genre, and a clear error for each kind of bad input.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../src/util/errors.js';
import { loadTask, labelDistribution, sortLabels, type Example, type Task } from '../src/data/tasks.js';
import { parseCsv } from '../src/data/task-files.js';
import { brownPassages, MAX_EMAIL_CHARS } from '../src/data/task-examples.js';
import { emailBodyText } from '../src/data/email.js';
import { tempDir } from './temp-dir.js';

const root = tempDir('tlc-tasks-');
after(() => rmSync(root, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(root, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

async function assertFails(spec: string, ...patterns: (RegExp | string)[]): Promise<void> {
  await assert.rejects(loadTask(spec), (e: unknown) => {
    assert.ok(e instanceof TlcError, `expected a TlcError, got ${String(e)}`);
    for (const p of patterns) assert.ok(typeof p === 'string' ? e.message.includes(p) : p.test(e.message), `"${e.message}" should match ${p}`);
    return true;
  });
}

const all = (task: Task): Example[] => [...task.splits.train, ...task.splits.valid, ...task.splits.test];
const strip = (e: Example) => ({ text: e.text, textPair: e.textPair, label: e.label });

/** n examples per label of `labels`, text "<label> <i>". */
function jsonl(labels: (string | number)[], n: number): string {
  return labels.flatMap((label) => Array.from({ length: n }, (_, i) => JSON.stringify({ text: `${label} example ${i}`, label }))).join('\n') + '\n';
}

test('JSONL: string and numeric labels become strings, text_pair makes a pair, blank lines and CRLF are fine', async () => {
  const dir = join(root, 'jsonl');
  file('jsonl/train.jsonl', '{"text":"a good film","label":1}\r\n\r\n{"text":"dull","label":0,"extra":true}\n{"text":"premise","text_pair":"hypothesis","label":2}\n{"text":"x","text_pair":null,"label":10}\n');
  file('jsonl/valid.jsonl', '{"text":"fine","label":"1"}\n');
  file('jsonl/test.jsonl', '{"text":"bad","label":0.0}\n');
  const task = await loadTask(dir);
  assert.equal(task.name, 'jsonl');
  assert.deepEqual(task.labels, ['0', '1', '2', '10']);
  assert.deepEqual(task.splits.train.map(strip), [
    { text: 'a good film', textPair: undefined, label: '1' },
    { text: 'dull', textPair: undefined, label: '0' },
    { text: 'premise', textPair: 'hypothesis', label: '2' },
    { text: 'x', textPair: undefined, label: '10' },
  ]);
  assert.equal(task.splits.train[2].id, `${join(dir, 'train.jsonl')}:4`);
  assert.deepEqual(task.splits.test.map((e) => e.label), ['0']);
  assert.deepEqual(task.notes, []);
});

test('TSV: columns found by name in any order, extra columns ignored, labels trimmed', async () => {
  const dir = join(root, 'tsv');
  file('tsv/train.tsv', 'id\tlabel\ttext\ttext_pair\n1\tpos \tI "loved" it, really\tsecond\n2\tneg\tmeh\t\n');
  file('tsv/dev.tsv', "label\ttext\tid\nneg\t'quoted'\t3\n");
  file('tsv/test.tsv', 'text\tlabel\nok\tpos\n');
  const task = await loadTask(dir);
  assert.deepEqual(task.labels, ['neg', 'pos']);
  assert.deepEqual(task.splits.train.map(strip), [
    { text: 'I "loved" it, really', textPair: 'second', label: 'pos' },
    { text: 'meh', textPair: '', label: 'neg' },
  ]);
  assert.deepEqual(task.splits.valid.map(strip), [{ text: "'quoted'", textPair: undefined, label: 'neg' }]);
});

test('CSV: RFC 4180 quoting with commas, doubled quotes and line breaks inside fields', async () => {
  const csv = 'text,label\r\n"Hello, world",greeting\r\n"She said ""hi""\r\nand left",story\r\nplain text,"multi\nline label? no"\r\n,\r\n\r\n"last, no newline","x"';
  const rows = parseCsv(csv, 'mem.csv');
  assert.deepEqual(rows, [
    { fields: ['text', 'label'], line: 1 },
    { fields: ['Hello, world', 'greeting'], line: 2 },
    { fields: ['She said "hi"\r\nand left', 'story'], line: 3 },
    { fields: ['plain text', 'multi\nline label? no'], line: 5 },
    { fields: ['', ''], line: 7 },
    { fields: ['last, no newline', 'x'], line: 9 },
  ]);
  assert.deepEqual(parseCsv('a,"b"\n"",c,\n', 'm.csv'), [{ fields: ['a', 'b'], line: 1 }, { fields: ['', 'c', ''], line: 2 }]);

  const dir = join(root, 'csv');
  file('csv/train.csv', 'label,text,text_pair\nq,"Is it, really?","Yes,\n""really"""\nr,second,"two\nlines"\n');
  file('csv/valid.csv', 'text,label\n"a,b",q\n');
  file('csv/test.csv', 'text,label\nc,q\n');
  const task = await loadTask(dir);
  assert.deepEqual(task.splits.train.map(strip), [
    { text: 'Is it, really?', textPair: 'Yes,\n"really"', label: 'q' },
    { text: 'second', textPair: 'two\nlines', label: 'r' },
  ]);
  assert.equal(task.splits.train[1].id, `${join(dir, 'train.csv')}:4`, 'a row after a multi-line field knows its line');
  // An error after multi-line fields names the right line.
  file('csv-bad/data.csv', 'text,label\n"one\ntwo\nthree",a\nfour\n');
  await assertFails(join(root, 'csv-bad/data.csv'), 'data.csv line 5', 'missing label');
});

test('labels sort numerically when all are numbers, else by code point', () => {
  assert.deepEqual(sortLabels(['10', '2', '-1', '2.5', '2']), ['-1', '2', '2.5', '10']);
  assert.deepEqual(sortLabels(['b', 'B', 'a', '10', '9']), ['10', '9', 'B', 'a', 'b']);
});

test('a single file is split 80/10/10, stratified, disjoint and the same every time; the seed changes it', async () => {
  const path = file('single/reviews.jsonl', jsonl(['pos', 'neg', 'neutral'], 50) + jsonl(['rare'], 2));
  const a = await loadTask(path);
  const b = await loadTask(path);
  assert.equal(a.name, 'reviews');
  assert.deepEqual(a.splits, b.splits);
  assert.deepEqual(a.labels, ['neg', 'neutral', 'pos', 'rare']);
  const ids = all(a).map((e) => e.id);
  assert.equal(new Set(ids).size, 152, 'every example in exactly one split');
  assert.deepEqual(labelDistribution(a), {
    train: { neg: 40, neutral: 40, pos: 40, rare: 2 },
    valid: { neg: 5, neutral: 5, pos: 5, rare: 0 },
    test: { neg: 5, neutral: 5, pos: 5, rare: 0 },
  });
  // Each split keeps the file's order.
  for (const split of Object.values(a.splits)) {
    const lines = split.map((e: Example) => Number(e.id!.split(':').pop()));
    assert.deepEqual(lines, [...lines].sort((x, y) => x - y));
  }
  assert.match(a.notes.join(' '), /80\/10\/10 by label with seed 0/);
  const c = await loadTask(path, { seed: 7 });
  assert.notDeepEqual(c.splits.test.map((e) => e.id), a.splits.test.map((e) => e.id));
  assert.deepEqual(labelDistribution(c), labelDistribution(a));
});

test('maxExamples keeps each split its share and each label its share', async () => {
  const path = file('cap/data.jsonl', jsonl(['a', 'b'], 100));
  const task = await loadTask(path, { maxExamples: 50 });
  assert.deepEqual(labelDistribution(task), { train: { a: 20, b: 20 }, valid: { a: 3, b: 2 }, test: { a: 3, b: 2 } });
  assert.match(task.notes.join(' '), /kept 40\/5\/5 of 200/);
});

test('directories: dev.* is valid; a missing test or valid split is cut and said so; train only is split 80/10/10', async () => {
  file('dir-a/train.jsonl', jsonl(['x', 'y'], 10));
  file('dir-a/dev.jsonl', jsonl(['x', 'y'], 4));
  const a = await loadTask(join(root, 'dir-a'));
  assert.deepEqual(labelDistribution(a), { train: { x: 10, y: 10 }, valid: { x: 2, y: 2 }, test: { x: 2, y: 2 } });
  assert.match(a.notes[0], /no test file .*dev\.jsonl split in half into valid and test/);
  assert.equal(new Set([...a.splits.valid, ...a.splits.test].map((e) => e.id)).size, 8);

  file('dir-b/train.csv', 'text,label\n' + Array.from({ length: 20 }, (_, i) => `t${i},${i % 2}`).join('\n'));
  file('dir-b/test.csv', 'text,label\nq,0\nr,1\n');
  const b = await loadTask(join(root, 'dir-b'));
  assert.deepEqual(labelDistribution(b), { train: { 0: 9, 1: 9 }, valid: { 0: 1, 1: 1 }, test: { 0: 1, 1: 1 } });
  assert.match(b.notes[0], /no valid file .*a tenth of train\.csv held out as valid/);

  file('dir-c/train.tsv', 'text\tlabel\n' + Array.from({ length: 30 }, (_, i) => `t${i}\t${i % 3}`).join('\n'));
  const c = await loadTask(join(root, 'dir-c'));
  assert.deepEqual([c.splits.train.length, c.splits.valid.length, c.splits.test.length], [24, 3, 3]);
  assert.match(c.notes[0], /no valid or test file/);
});

test('bad input: a TlcError naming the file (and line)', async () => {
  await assertFails(join(root, 'nope.jsonl'), 'nope.jsonl: task file or directory not found');
  await assertFails(file('bad/empty.csv', '\n\n'), 'empty.csv: empty file');
  await assertFails(file('bad/header-only.tsv', 'text\tlabel\n'), 'header-only.tsv: no examples');
  await assertFails(file('bad/nolabel.tsv', 'text\tcategory\nhello\tx\n'), 'nolabel.tsv: missing label column');
  await assertFails(file('bad/notext.csv', 'sentence,label\nhello,x\n'), 'notext.csv: missing text column');
  await assertFails(file('bad/short.tsv', 'text\tlabel\na\tx\nb\n'), 'short.tsv line 3: missing label');
  await assertFails(file('bad/long.csv', 'text,label\nhello, world,x\n'), 'long.csv line 2: 3 fields, but the header has 2', 'quoted');
  await assertFails(file('bad/emptylabel.csv', 'text,label\nhello,  \n'), 'emptylabel.csv line 2: empty label');
  await assertFails(file('bad/json.jsonl', '{"text":"a","label":"x"}\n{"text":"b", label:"y"}\n'), 'json.jsonl line 2: invalid JSON');
  await assertFails(file('bad/nofield.jsonl', '{"text":"a"}\n'), 'nofield.jsonl line 1: missing "label" field');
  await assertFails(file('bad/booleanlabel.jsonl', '{"text":"a","label":true}\n'), 'line 1: "label" must be a string or a number, got true');
  await assertFails(file('bad/array.jsonl', '{"text":"a","label":"x"}\n[1,2]\n'), 'array.jsonl line 2: expected a JSON object');
  await assertFails(file('bad/array.json', '[{"text":"a","label":"x"}]\n'), 'array.json: holds a JSON array; expected one JSON object per line');
  await assertFails(file('bad/unclosed.csv', 'text,label\n"never closed,x\n'), 'unclosed.csv line 2: quoted field never closed');
  await assertFails(file('bad/afterquote.csv', 'text,label\n"a"b,x\n'), 'afterquote.csv line 2: text after the closing quote');
  await assertFails(file('bad/data.xlsx', 'x'), 'data.xlsx: unknown task file format');
  await assertFails(file('bad/tiny.jsonl', jsonl(['a', 'b'], 1)), 'too few examples');
  writeFileSync(join(root, 'bad/latin1.tsv'), Buffer.from([0x74, 0x65, 0x78, 0x74, 0x09, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0x0a, 0xe9, 0x09, 0x61, 0x0a]));
  await assertFails(join(root, 'bad/latin1.tsv'), 'latin1.tsv: not valid UTF-8');

  file('unseen/train.tsv', 'text\tlabel\na\tx\nb\ty\n');
  file('unseen/valid.tsv', 'text\tlabel\n' + 'c\tx\n'.repeat(5) + 'd\tz\n');
  file('unseen/test.tsv', 'text\tlabel\ne\tx\n');
  await assertFails(join(root, 'unseen'), "label 'z' in", 'valid.tsv line 7 does not occur in the training split');
  file('twice/train.tsv', 'text\tlabel\na\tx\n');
  file('twice/train.jsonl', '{"text":"a","label":"x"}\n');
  await assertFails(join(root, 'twice'), 'several train files (train.jsonl, train.tsv)');
  file('notrain/valid.tsv', 'text\tlabel\na\tx\n');
  await assertFails(join(root, 'notrain'), 'notrain: no training file');
  await assertFails('example:nothing', 'unknown example task "nothing"', 'example:spam, example:brown-genre');
  await assert.rejects(loadTask(file('opts.jsonl', jsonl(['a'], 5)), { maxExamples: 1 }), /--max-examples must be a whole number of at least 3/);
});

test('e-mail bodies: headers dropped, plain part preferred, quoted-printable, base64, charsets and HTML decoded', () => {
  const message = [
    'From someone@example.com  Mon Jan  1 00:00:00 2002',
    'Received: from mail.example.com',
    '\tby mx.example.org',
    'Subject: offer',
    'Content-Type: multipart/mixed; boundary="outer"',
    '',
    'preamble',
    '--outer',
    'Content-Type: multipart/alternative; boundary=inner',
    '',
    '--inner',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>HTML version</p>',
    '--inner',
    'Content-Type: text/plain; charset="iso-8859-1"',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Caf=E9 prices =3D low,=',
    ' see   <a href=3D"http://x">here</a>',
    '--inner--',
    '--outer',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('<html><head><style>p{}</style></head><body>Tom &amp; Jerry&nbsp;&#233;t&eacute;<br>bye<!-- hidden --></body></html>').toString('base64'),
    '--outer',
    'Content-Type: image/gif',
    '',
    'R0lGODlh',
    '--outer',
    'Content-Type: text/plain',
    'Content-Disposition: attachment; filename="notes.txt"',
    '',
    'attached notes',
    '--outer--',
    '',
  ].join('\r\n');
  assert.equal(emailBodyText(Buffer.from(message, 'latin1')), 'Café prices = low, see here Tom & Jerry été bye');
  // No MIME at all; a forwarded message pasted with its headers; HTML sent as text/plain.
  assert.equal(emailBodyText(Buffer.from('Subject: hi\n\nJust  text,\n<jo@example.com> <g>\n')), 'Just text, <jo@example.com> <g>');
  assert.equal(emailBodyText(Buffer.from('Subject: fwd\n\nReturn-Path: <a@b>\nReceived: from x\n\nthe real text\n')), 'the real text');
  assert.equal(emailBodyText(Buffer.from('Subject: x\n\n<html><body><b>Buy</b> now</body></html>\n')), 'Buy now');
});

test('example:spam: the message bodies of the SpamAssassin corpus, no headers or HTML left', async () => {
  const task = await loadTask('example:spam');
  assert.equal(task.name, 'spam');
  assert.deepEqual(task.labels, ['ham', 'spam']);
  const examples = all(task);
  // 6,046 messages less those with no body text and those repeating an earlier body.
  const left = task.notes.join(' ').match(/(\d+) of 6046 messages have no text.*?(\d+) messages whose body repeats/);
  assert.ok(left, task.notes.join('; '));
  assert.equal(examples.length, 6046 - Number(left[1]) - Number(left[2]));
  assert.ok(examples.length > 5500, `${examples.length} examples`);
  assert.equal(new Set(examples.map((e) => e.text)).size, examples.length);
  const counts = labelDistribution(task);
  for (const split of ['train', 'valid', 'test'] as const) {
    const share = counts[split].spam / (counts[split].spam + counts[split].ham);
    assert.ok(share > 0.25 && share < 0.3, `${split}: spam share ${share}`);
  }
  const header = /^(Received|Return-Path|Delivered-To|Message-I[dD]|MIME-Version|Content-Type|X-[A-Za-z-]+): /;
  const htmlTag = /<\/?(html|head|body|p|br|div|font|table|tr|td|a|b|i|img|span|center|style|script)(\s[^<>]*)?\/?>/i;
  for (const e of examples) {
    assert.ok(e.text.length > 0 && e.text.length <= MAX_EMAIL_CHARS, `${e.id}: ${e.text.length} characters`);
    // Bodies may start with "FROM: COL. MICHAEL BUNDU", "From: <the author of a forwarded article>" or a
    // quoted "Date: ... From: ..." block, all written by people; none starts with a header only mail software writes.
    assert.doesNotMatch(e.text.slice(0, 200), header, `${e.id} starts with a header: ${e.text.slice(0, 100)}`);
    assert.doesNotMatch(e.text, htmlTag, `${e.id} holds an HTML tag`);
    assert.doesNotMatch(e.text, /&(nbsp|amp|lt|gt|quot);|\s{2}|\n/, `${e.id} holds an entity or uncollapsed whitespace`);
    assert.equal(e.label, e.id!.startsWith('spam') ? 'spam' : 'ham');
  }
});

test('example:brown-genre: 15 genres, passages split by text, every genre in every split', async () => {
  const task = await loadTask('example:brown-genre');
  assert.equal(task.name, 'brown-genre');
  assert.deepEqual(task.labels, [
    'adventure', 'belles_lettres', 'editorial', 'fiction', 'government', 'hobbies', 'humor', 'learned', 'lore',
    'mystery', 'news', 'religion', 'reviews', 'romance', 'science_fiction',
  ]);
  const textsOf = (split: Example[]) => new Set(split.map((e) => e.id!.split(':')[0]));
  const [train, valid, test] = [textsOf(task.splits.train), textsOf(task.splits.valid), textsOf(task.splits.test)];
  assert.equal(train.size + valid.size + test.size, 500);
  for (const t of valid) assert.ok(!train.has(t) && !test.has(t), `${t} is in two splits`);
  for (const t of test) assert.ok(!train.has(t), `${t} is in two splits`);
  assert.deepEqual([train.size, valid.size, test.size], [396, 52, 52]);
  const counts = labelDistribution(task);
  for (const split of ['train', 'valid', 'test'] as const) {
    for (const genre of task.labels) assert.ok(counts[split][genre] > 0, `${genre} missing from ${split}`);
  }
  assert.ok(task.splits.train.length > 15000, `${task.splits.train.length} training passages`);
  const first = task.splits.train[0];
  assert.equal(first.id, 'brown/ca01:1');
  assert.equal(first.label, 'news');
  assert.ok(first.text.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place. The jury further said'), first.text);
  const words = all(task).map((e) => e.text.split(' ').length).sort((a, b) => a - b);
  const median = words[words.length >> 1];
  assert.ok(median >= 30 && median <= 50, `median passage of ${median} words`);
});

test('brownPassages groups whole sentences into passages of about 30-60 words', () => {
  const s = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ') + '.';
  const passages = brownPassages([s(10), s(10), s(15), s(50), s(70), s(5)]);
  assert.deepEqual(passages.map((p) => p.split(' ').length), [35, 50, 70, 5]);
});
