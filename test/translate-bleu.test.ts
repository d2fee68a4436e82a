// BLEU against sacreBLEU's own published numbers: the cases of its test suite
// (mjpost/sacrebleu test/test_bleu.py and test/test_sentence_bleu.py, to the precision those
// files test to) and the outputs printed in its README. Tokenizer outputs and the few
// formatted lines marked "sacreBLEU 2.6.0" were produced by running sacreBLEU 2.6.0 on the
// same strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlcError } from '../src/util/errors.js';
import {
  bleuJson, closestRefLength, computeBleu, corpusBleu, formatBleu, pyFixed, sentenceBleu, tokenize13a, type BleuOptions,
} from '../src/translate/bleu.js';

const EPSILON = 1e-8; // test_bleu.py

/** sacrebleu.raw_corpus_bleu (sacrebleu/compat.py): no tokenization, floor smoothing, effective order. */
function rawCorpusBleu(hyps: string[], refs: string[][], smoothValue?: number) {
  return corpusBleu(hyps, refs, { tokenize: 'none', smoothMethod: 'floor', smoothValue: smoothValue ?? 0.1, effectiveOrder: true, force: true });
}

function close(actual: number, expected: number, eps: number, what: string): void {
  assert.ok(Math.abs(actual - expected) < eps, `${what}: ${actual} vs ${expected}`);
}

// The README example and test_bleu.py's _refs / _hyps.
const REFS = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const HYPS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

test('test_bleu.py: test_raw_bleu and test_effective_order', () => {
  const cases: [string[], string[][], number][] = [
    [['this is a test', 'another test'], [['ref1', 'ref2']], 0.0],
    [['this is a test'], [['this is a test']], 1.0],
    [['this is a fest'], [['this is a test']], 0.223606797749979],
    [['test'], [['a test']], 0.3678794411714425],
    [['a test'], [['a test']], 1.0],
    [['a little test'], [['a test']], 0.03218297948685433],
  ];
  for (const [hyps, refs, expected] of cases) close(rawCorpusBleu(hyps, refs, 0.01).score / 100, expected, EPSILON, hyps.join('|'));
});

test('test_bleu.py: test_corpus_bleu (13a and none tokenizers, smoothing none)', () => {
  const cases: [string[], BleuOptions, number][] = [
    [HYPS, {}, 48.530827],
    [['', '', ''], {}, 0.0], // empty hypotheses are kept, not dropped
    [HYPS, { tokenize: 'none' }, 49.1919566],
    [HYPS, { tokenize: '13a' }, 48.530827],
    [HYPS, { smoothMethod: 'none' }, 48.530827],
  ];
  for (const [hyps, opts, expected] of cases) close(corpusBleu(hyps, REFS, opts).score, expected, EPSILON, JSON.stringify(opts));
});

test('test_bleu.py: test_statistics, test_scoring, test_offset', () => {
  const r = rawCorpusBleu(['am I am a character sequence'], [['I am a symbol string sequence a a']], 0.01);
  assert.deepEqual(r.counts, [4, 2, 1, 0]);
  assert.deepEqual(r.totals, [6, 5, 4, 3]);

  const scored = computeBleu({ correct: [9, 7, 5, 3], total: [10, 8, 6, 4], sysLen: 11, refLen: 11 }, { smoothMethod: 'none' });
  close(scored.score / 100, 0.8375922397, EPSILON, 'test_scoring');

  const hyp = ['am I am a character sequence'], ref = [['I am a symbol string sequence a a']];
  close(rawCorpusBleu(hyp, ref, 0.0).score / 100, 0, EPSILON, 'offset 0');
  close(rawCorpusBleu(hyp, ref).score / 100, 0.1555722182, EPSILON, 'default offset 0.1');
});

test('test_bleu.py: test_degenerate_statistics (floor smoothing) are exactly 0', () => {
  const cases: [number[], number[], number, number, number][] = [
    [[0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0],
    [[0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0],
    [[6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0],
    [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1],
    [[0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01],
  ];
  for (const [correct, total, sysLen, refLen, offset] of cases) {
    assert.equal(computeBleu({ correct, total, sysLen, refLen }, { smoothMethod: 'floor', smoothValue: offset }).score, 0);
  }
});

test('test_bleu.py: test_max_ngram_order 1..6', () => {
  const expected = ['77.65', '60.50', '53.93', '48.53', '46.14', '43.28'];
  expected.forEach((score, i) => assert.equal(pyFixed(corpusBleu(HYPS, REFS, { maxNgramOrder: i + 1 }).score, 2), score));
});

test('test_sentence_bleu.py: smoothing methods and tokenizers at sentence level', () => {
  // Example from sacreBLEU issue #98; effective order on (test_api_sentence_bleu).
  const REF = 'producţia de zahăr brut se exprimă în zahăr alb;';
  const SYS = 'Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;';
  const cases: [BleuOptions, number][] = [
    [{ smoothMethod: 'exp' }, 8.493],
    [{ smoothMethod: 'none' }, 0.0],
    [{ smoothMethod: 'floor' }, 4.51688],
    [{ smoothMethod: 'floor', smoothValue: 0.1 }, 4.51688],
    [{ smoothMethod: 'floor', smoothValue: 0.5 }, 10.10],
    [{ smoothMethod: 'add-k' }, 14.882],
    [{ smoothMethod: 'add-k', smoothValue: 1 }, 14.882],
    [{ smoothMethod: 'add-k', smoothValue: 2 }, 21.389],
    [{ smoothMethod: 'exp', tokenize: 'none' }, 7.347],
  ];
  for (const [opts, expected] of cases) {
    close(sentenceBleu(SYS, [REF], opts).score, expected, 1e-3, JSON.stringify(opts));
    close(corpusBleu([SYS], [[REF]], { ...opts, effectiveOrder: true }).score, expected, 1e-3, `corpus ${JSON.stringify(opts)}`);
  }
  // Example from #141: no match at all is 0 whatever the smoothing.
  for (const smoothMethod of ['exp', 'none', 'floor', 'add-k'] as const) {
    assert.equal(sentenceBleu('this is a cat', ['okay thanks'], { smoothMethod }).score, 0);
  }
});

test('README: str(bleu), the variable-reference example, and the signature', () => {
  const r = corpusBleu(HYPS, REFS);
  assert.equal(formatBleu(r), 'BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)');
  assert.equal(r.signature, 'nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp');
  assert.deepEqual([r.sysLen, r.refLen, r.bp, r.ratio], [17, 18, Math.exp(1 - 18 / 17), 17 / 18]);

  // A missing reference (None in Python, null here) makes nrefs "var"; '' is a reference of length 0.
  const missing = [[null, ...REFS[0].slice(1)], REFS[1]];
  const v = corpusBleu(HYPS, missing);
  assert.equal(formatBleu(v), 'BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)');
  assert.equal(v.nrefs, 'var');
  const empty = corpusBleu(HYPS, [['', ...REFS[0].slice(1)], REFS[1]]);
  assert.equal(formatBleu(empty), formatBleu(v)); // sacreBLEU 2.6.0: same line, but nrefs:2
  assert.equal(empty.nrefs, 2);
});

test('format: sacreBLEU 2.6.0 lines with signature, lowercase, width, smoothing value; JSON as sacrebleu prints it', () => {
  assert.equal(formatBleu(corpusBleu(HYPS, REFS, { lowercase: true }), { signature: true, width: 2 }),
    'BLEU|nrefs:2|case:lc|eff:no|tok:13a|smooth:exp = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)');
  assert.equal(formatBleu(corpusBleu(HYPS, REFS, { lowercase: true, tokenize: 'none' }), { signature: true, width: 1 }),
    'BLEU|nrefs:2|case:lc|eff:no|tok:none|smooth:exp = 49.2 71.4/54.5/50.0/40.0 (BP = 0.931 ratio = 0.933 hyp_len = 14 ref_len = 15)');
  assert.equal(corpusBleu(HYPS, REFS, { smoothMethod: 'floor' }).signature, 'nrefs:2|case:mixed|eff:no|tok:13a|smooth:floor[0.10]');
  assert.equal(corpusBleu(HYPS, REFS, { smoothMethod: 'add-k', smoothValue: 2, effectiveOrder: true }).signature,
    'nrefs:2|case:mixed|eff:yes|tok:13a|smooth:add-k[2.00]');

  assert.equal(bleuJson(corpusBleu(HYPS, REFS), 1), [
    '{',
    ' "name": "BLEU",',
    ' "score": 48.5,',
    ' "signature": "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp",',
    ' "verbose_score": "82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)",',
    ' "nrefs": "2",',
    ' "case": "mixed",',
    ' "eff": "no",',
    ' "tok": "13a",',
    ' "smooth": "exp"',
    '}',
  ].join('\n'));
  assert.match(bleuJson(corpusBleu(REFS[0], [REFS[0]]), 1), /"score": 100\.0,/);
});

test('pyFixed rounds exact ties to even as Python does, and like toFixed otherwise', () => {
  assert.equal(pyFixed(12.25, 1), '12.2'); // (12.25).toFixed(1) is "12.3"
  assert.equal(pyFixed(12.35, 1), '12.3'); // 12.35 is just below the tie in binary
  assert.equal(pyFixed(0.125, 2), '0.12');
  assert.equal(pyFixed(0.375, 2), '0.38');
  assert.equal(pyFixed(2.5, 0), '2');
  assert.equal(pyFixed(3.5, 0), '4');
  assert.equal(pyFixed(-2.5, 0), '-2');
  assert.equal(pyFixed(100, 1), '100.0');
  assert.equal(pyFixed(99.95, 1), '100.0'); // 99.95 is just above the tie in binary
  assert.equal(pyFixed(1 / 3, 3), '0.333');
});

test('tokenize13a: each mteval-v13a rule (outputs of sacreBLEU 2.6.0 Tokenizer13a)', () => {
  const cases: [string, string][] = [
    ['Hello, world!', 'Hello , world !'],
    ["It's 3.5% (or 3,000 people) - see e.g. p. 12.", "It's 3.5 % ( or 3,000 people ) - see e . g . p . 12 ."],
    ['The 2-3 year-old cost $1,000.50.', 'The 2 - 3 year-old cost $ 1,000.50 .'],
    ['a.b,c 1.b a.1 1,2 x,y', 'a . b , c 1 . b a . 1 1,2 x , y'],
    ['&quot;Quoted&quot; &amp; &lt;tag&gt; &amp;quot; &nbsp;', '" Quoted " & < tag > & quot ; & nbsp ;'],
    ['<skipped> line-\nbreak and\nnewline', 'linebreak and newline'],
    ['{braces} [brackets] ~tilde^ _under_ back\\slash `tick` |pipe|', '{ braces } [ brackets ] ~ tilde ^ _ under _ back \\ slash ` tick ` | pipe |'],
    ['a@b.com / c:d;e=f?g#h*i+j', 'a @ b . com / c : d ; e = f ? g # h * i + j'],
    ['  many   spaces\tand\ttabs  ', 'many spaces and tabs'],
    ['Ünïcödé wörds — “curly” quotes… 😀.', 'Ünïcödé wörds — “curly” quotes… 😀 .'],
    ['end with period .', 'end with period .'],
    ['', ''],
    ['1990-1995 and -5 and 5- and a-b', '1990 - 1995 and -5 and 5 - and a-b'],
    ['...', '. . .'],
    // Python's whitespace, not JavaScript's: U+0085 and U+001C separate, U+FEFF does not.
    ['a\u0085b\u001cc\ufeffd', 'a b c\ufeffd'],
  ];
  for (const [line, expected] of cases) assert.equal(tokenize13a(line), expected, JSON.stringify(line));
});

test('closest reference length: the nearest, the shorter on a tie', () => {
  assert.equal(closestRefLength(10, [12, 8]), 8);
  assert.equal(closestRefLength(10, [8, 12]), 8);
  assert.equal(closestRefLength(10, [13, 9, 11]), 9);
  assert.equal(closestRefLength(5, [7]), 7);
});

test('clipping: a hypothesis n-gram counts at most as often as the one reference that has it most', () => {
  const r = corpusBleu(['the the the the'], [['the cat'], ['the the dog']], { tokenize: 'none' });
  assert.deepEqual(r.counts, [2, 1, 0, 0]);
  assert.deepEqual(r.totals, [4, 3, 2, 1]);
  assert.equal(r.refLen, 3);
});

test('errors: length mismatch, no references, unknown settings', () => {
  const isTlc = (pattern: RegExp) => (e: unknown) => e instanceof TlcError && pattern.test(e.message);
  assert.throws(() => corpusBleu(['a', 'b'], [['a']]), isTlc(/reference stream 1 has 1 segments but there are 2 hypotheses/));
  assert.throws(() => corpusBleu(['a'], [['a'], ['a', 'b']]), isTlc(/reference stream 2 has 2 segments/));
  assert.throws(() => corpusBleu(['a'], []), isTlc(/at least one reference stream/));
  assert.throws(() => corpusBleu(['a'], [[null]]), isTlc(/segment 1 has no reference/));
  assert.throws(() => corpusBleu(['a'], [['a']], { smoothMethod: 'bogus' as never }), isTlc(/unknown method "bogus"/));
  assert.throws(() => corpusBleu(['a'], [['a']], { tokenize: 'intl' as never }), isTlc(/unknown tokenizer "intl"/));
});

test('a warning when many hypotheses look tokenized, unless forced', () => {
  const hyps = Array.from({ length: 100 }, (_, i) => `sentence ${i} .`);
  assert.equal(corpusBleu(hyps, [hyps]).warnings.length, 1);
  assert.equal(corpusBleu(hyps, [hyps], { force: true }).warnings.length, 0);
  assert.equal(corpusBleu(hyps.slice(1), [hyps.slice(1)]).warnings.length, 0);
});
