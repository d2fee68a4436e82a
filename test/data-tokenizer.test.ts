// Byte-level BPE: training and encoding against plain reference implementations that
// recount everything at every step, decoding round trips, special tokens, tokenizer.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/engine/random.js';
import { TlcError } from '../src/util/errors.js';
import { BYTE_TO_CHAR, forEachWord } from '../src/data/byte-level.js';
import { trainBpe } from '../src/data/bpe-train.js';
import { SPECIAL_TOKENS, Tokenizer, baseVocab, tokenizerHash } from '../src/data/tokenizer.js';
import { loadTokenizer, parseTokenizerJson, saveTokenizer, tokenizerJson } from '../src/data/tokenizer-json.js';
import { tempDir } from './temp-dir.js';

/** Training as the textbook states it: count every pair anew before each merge. */
function referenceTrain(texts: string[], vocabSize: number, minFrequency = 2): { vocab: string[]; merges: [string, string][] } {
  const counts = new Map<string, number>();
  for (const t of texts) forEachWord(t, (w) => counts.set(w, (counts.get(w) ?? 0) + 1));
  const words = [...counts].map(([w, freq]) => ({ syms: [...Buffer.from(w, 'utf8')].map((b) => BYTE_TO_CHAR[b]), freq }));
  const vocab = baseVocab();
  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    const pairs = new Map<string, { a: string; b: string; count: number }>();
    for (const { syms, freq } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = JSON.stringify([syms[i], syms[i + 1]]);
        const p = pairs.get(key) ?? { a: syms[i], b: syms[i + 1], count: 0 };
        p.count += freq;
        pairs.set(key, p);
      }
    }
    let best: { a: string; b: string; count: number } | undefined;
    for (const p of pairs.values()) {
      if (!best || p.count > best.count || (p.count === best.count && (p.a < best.a || (p.a === best.a && p.b < best.b)))) best = p;
    }
    if (!best || best.count < minFrequency) break;
    const { a, b } = best;
    if (!vocab.includes(a + b)) vocab.push(a + b);
    merges.push([a, b]);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else {
          out.push(w.syms[i]);
        }
      }
      w.syms = out;
    }
  }
  return { vocab, merges };
}

/** Encoding as the textbook states it: merge the lowest-ranked pair, leftmost first, until none applies. */
function referenceEncode(tok: Tokenizer, text: string): number[] {
  const rank = new Map(tok.merges.map(([a, b], r) => [JSON.stringify([a, b]), r]));
  const ids: number[] = [];
  forEachWord(text, (word) => {
    const syms = [...Buffer.from(word, 'utf8')].map((b) => BYTE_TO_CHAR[b]);
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = rank.get(JSON.stringify([syms[i], syms[i + 1]]));
        if (r !== undefined && r < bestRank) { best = i; bestRank = r; }
      }
      if (best < 0) break;
      syms.splice(best, 2, syms[best] + syms[best + 1]);
    }
    for (const s of syms) ids.push(tok.tokenToId(s)!);
  });
  return ids;
}

/** Text from a small alphabet, so that pairs repeat, overlap ("aaaa") and tie often. */
function randomText(seed: number, length: number): string {
  const pieces = ['a', 'b', 'ab', 'aa', 'c', ' ', ' ', '  ', 'é', '日本', '\n', "'s", '1', '23', '.', '!', 'the', ' the'];
  const rng = new Rng(seed);
  let s = '';
  while (s.length < length) s += pieces[rng.int(pieces.length)];
  return s;
}

const ENGLISH = [
  'The jury further said in term-end presentments that the City Executive Committee deserves praise.',
  "It's the people's choice: they'll decide, won't they? I'd say we've 1,234 reasons.",
  'Numbers 3.14159 and 2024, tabs\tand  double  spaces, new\nlines\n\nand more.',
];

test('byte map: 256 distinct printable characters, space and newline as in GPT-2', () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[32], 'Ġ');
  assert.equal(BYTE_TO_CHAR[10], 'Ċ');
  assert.equal(BYTE_TO_CHAR['a'.charCodeAt(0)], 'a');
  assert.deepEqual(baseVocab().slice(0, 5), [...SPECIAL_TOKENS]);
});

test('trainBpe makes the same merges as recounting all pairs at every step', () => {
  for (const seed of [1, 2, 3]) {
    const texts = [randomText(seed, 3000), randomText(seed + 10, 500), ...ENGLISH];
    const tok = trainBpe(texts, { vocabSize: 420 });
    const ref = referenceTrain(texts, 420);
    assert.deepEqual(tok.merges, ref.merges, `merges, seed ${seed}`);
    assert.deepEqual(tok.vocab, ref.vocab, `vocab, seed ${seed}`);
  }
});

test('trainBpe breaks count ties by the pair strings, and stops at minFrequency', () => {
  // "xy" and "ab" occur equally often: ("a","b") < ("x","y") goes first.
  const tok = trainBpe(['xy ab xy ab'], { vocabSize: 300 });
  assert.deepEqual(tok.merges.slice(0, 2), [['a', 'b'], ['x', 'y']]);
  const rare = trainBpe(['qz qz pw'], { vocabSize: 300, minFrequency: 2 });
  assert.ok(rare.merges.every(([a, b]) => a + b !== 'pw'), 'a pair seen once is not merged');
  assert.ok(rare.vocabSize < 300);
  assert.deepEqual(rare.merges, referenceTrain(['qz qz pw'], 300).merges);
});

test('trainBpe is deterministic and rejects bad sizes', () => {
  const texts = [randomText(7, 2000), ...ENGLISH];
  assert.equal(tokenizerHash(trainBpe(texts, { vocabSize: 350 })), tokenizerHash(trainBpe(texts, { vocabSize: 350 })));
  assert.throws(() => trainBpe(texts, { vocabSize: 100 }), (e: unknown) => e instanceof TlcError && /vocab size/.test(e.message));
  assert.throws(() => trainBpe(texts, { vocabSize: 1000, minFrequency: 0 }), TlcError);
  // No merges at all: the base vocabulary.
  assert.equal(trainBpe(texts, { vocabSize: 261 }).vocabSize, 261);
});

test('encode applies merges by rank exactly as the reference, and decode inverts it', () => {
  const tok = trainBpe([randomText(4, 4000), ...ENGLISH], { vocabSize: 500 });
  const samples = [...ENGLISH, randomText(99, 1500), '', ' ', '   x', 'aaaaaaaaaaaaaaaaaaaaaaa', 'emoji 😀👍🏽 and ünïcödé, 中文字符', '\u0000\u0001 ctrl', 'x'.repeat(300)];
  for (const s of samples) {
    assert.deepEqual(Array.from(tok.encode(s)), referenceEncode(tok, s), JSON.stringify(s.slice(0, 40)));
    assert.equal(tok.decode(tok.encode(s)), s);
  }
  // Words are cached: encoding again gives the same ids.
  assert.deepEqual(tok.encode(ENGLISH[1]), tok.encode(ENGLISH[1]));
  // A lone surrogate is not valid text: it round-trips as U+FFFD, as UTF-8 encoding makes it.
  assert.equal(tok.decode(tok.encode('a\ud800b')), 'a\ufffdb');
});

test('special tokens: fixed ids, RoBERTa layout for one and two sequences', () => {
  const tok = trainBpe(ENGLISH, { vocabSize: 300 });
  SPECIAL_TOKENS.forEach((t, id) => assert.equal(tok.tokenToId(t), id));
  const a = Array.from(tok.encode('Hello there')), b = Array.from(tok.encode('General Kenobi'));
  assert.deepEqual(Array.from(tok.encodeWithSpecial('Hello there')), [0, ...a, 2]);
  assert.deepEqual(Array.from(tok.encodePairWithSpecial('Hello there', 'General Kenobi')), [0, ...a, 2, 2, ...b, 2]);
  // "</s>" in text is text, not the separator.
  assert.ok(!Array.from(tok.encode('a </s> b')).includes(2));
  assert.equal(tok.decode(tok.encodePairWithSpecial('x', 'y')), '<s>x</s></s>y</s>');
  assert.equal(tok.decode(tok.encodePairWithSpecial('x', 'y'), { skipSpecialTokens: true }), 'xy');
  assert.throws(() => tok.decode([tok.vocabSize]), (e: unknown) => e instanceof TlcError && /outside the vocabulary/.test(e.message));
});

test('tokenizer.json: saved, loaded back identical; bad files name the file and the field', () => {
  const dir = tempDir('tlc-tokenizer-');
  try {
    const tok = trainBpe([randomText(5, 3000), ...ENGLISH], { vocabSize: 400 });
    saveTokenizer(dir, tok);
    const back = loadTokenizer(dir);
    assert.equal(tokenizerHash(back), tokenizerHash(tok));
    assert.deepEqual(back.encode(ENGLISH[0]), tok.encode(ENGLISH[0]));
    const file = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    assert.equal(file.model.type, 'BPE');
    assert.deepEqual(file.post_processor.sep, ['</s>', 2]);
    assert.deepEqual(file.post_processor.cls, ['<s>', 0]);
    assert.equal(file.added_tokens.length, 5);
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
    assert.equal(config.tokenizer_class, 'RobertaTokenizer');
    assert.equal(config.mask_token, '<mask>');

    // Old-style merges ("a b" strings) load the same.
    const oldStyle = { ...file, model: { ...file.model, merges: file.model.merges.map((m: string[]) => m.join(' ')) } };
    writeFileSync(join(dir, 'old.json'), JSON.stringify(oldStyle));
    assert.equal(tokenizerHash(loadTokenizer(join(dir, 'old.json'))), tokenizerHash(tok));

    const bad = (name: string, content: unknown, pattern: RegExp) => {
      const path = join(dir, name);
      writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
      assert.throws(() => loadTokenizer(path), (e: unknown) => e instanceof TlcError && e.message.includes(path) && pattern.test(e.message), name);
    };
    bad('notjson.json', '{ nope', /not a tokenizer\.json \(it is not JSON\)/);
    bad('wordpiece.json', { ...file, model: { ...file.model, type: 'WordPiece' } }, /model\.type/);
    bad('prefix.json', { ...file, pre_tokenizer: { ...file.pre_tokenizer, add_prefix_space: true } }, /add_prefix_space/);
    const vocab = { ...file.model.vocab };
    delete vocab['Ġ'];
    bad('nobyte.json', { ...file, model: { ...file.model, vocab } }, /ids must be|byte/);
    bad('merge.json', { ...file, model: { ...file.model, merges: [['q', 'zzz'], ...file.model.merges] } }, /merge 0/);
    assert.throws(() => loadTokenizer(join(dir, 'missing')), (e: unknown) => e instanceof TlcError && /not found/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizer.json keeps a token spelled __proto__ as an ordinary vocabulary entry', () => {
  const merges: [string, string][] = [['_', '_'], ['p', 'r'], ['pr', 'o'], ['pro', 't'], ['prot', 'o'], ['__', 'proto'], ['__proto', '__']];
  const tok = new Tokenizer([...baseVocab(), '__', 'pr', 'pro', 'prot', 'proto', '__proto', '__proto__'], merges);
  const json = JSON.parse(JSON.stringify(tokenizerJson(tok)));
  assert.equal(json.model.vocab['__proto__'], tok.tokenToId('__proto__'));
  assert.equal(tokenizerHash(parseTokenizerJson(json, 'test')), tokenizerHash(tok));
});

test('the word counter keeps bounded memory: the frequent words are counted within its stated error, the table never outgrows its capacity', async () => {
  const { WordCounter } = await import('../src/data/bpe-train.js');
  const { Rng } = await import('../src/engine/random.js');
  const rng = new Rng(5);
  // 20,000 distinct words with Zipf frequencies, far more than the capacity of 500
  const exact = new Map<string, number>();
  const counter = new WordCounter(500);
  for (let line = 0; line < 400; line++) {
    const words: string[] = [];
    for (let i = 0; i < 200; i++) {
      const rank = Math.floor(1 / (rng.uniform() * (1 - 1 / 20000) + 1 / 20000));
      // letters only: the pre-tokenizer splits digits off a word
      let w = 'x';
      for (let r = rank; r > 0; r = Math.floor(r / 26)) w += String.fromCharCode(97 + (r % 26));
      words.push(w);
      exact.set(' ' + w, (exact.get(' ' + w) ?? 0) + 1);
    }
    counter.add(' ' + words.join(' '));
    assert.ok(counter.counts.size <= 500);
  }
  assert.ok(counter.prunes > 0 && counter.errorBound > 0, 'the table was pruned');
  const top = [...exact.entries()].sort((a, b) => b[1] - a[1]).slice(0, 50);
  for (const [word, n] of top) {
    const kept = counter.counts.get(word);
    assert.ok(kept !== undefined, `${word} (seen ${n} times) was dropped`);
    assert.ok(kept <= n && n - kept <= counter.errorBound, `${word}: ${kept} of ${n}, error bound ${counter.errorBound}`);
  }
  // below capacity nothing is dropped and every count is exact
  const small = new WordCounter(100000);
  small.add(' a b a c a b');
  assert.equal(small.errorBound, 0);
  assert.equal(small.counts.get(' a'), 3);
});
