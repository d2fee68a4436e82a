// Encoding labelled examples in RoBERTa's layout, truncation, and padded, seeded batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlcError } from '../src/util/errors.js';
import { Tokenizer, baseVocab, BOS_ID, EOS_ID, PAD_ID, FIRST_BYTE_ID } from '../src/data/tokenizer.js';
import {
  encodeExamples, classificationBatches, classificationOrder, pairLengths, sequenceAt, batchesPerEpoch,
  type ClassificationBatch,
} from '../src/data/task-batches.js';
import { trainBpe } from '../src/data/bpe-train.js';
import type { Example } from '../src/data/tasks.js';

// With no merges, every byte is a token: "ab" → [5 + 97, 5 + 98].
const tokenizer = new Tokenizer(baseVocab(), []);
const bytes = (s: string) => Array.from(Buffer.from(s), (b) => FIRST_BYTE_ID + b);

test('single texts are <s> A </s>, pairs <s> A </s></s> B </s>, labels become their index', () => {
  assert.deepEqual([BOS_ID, PAD_ID, EOS_ID], [0, 1, 2]);
  const examples: Example[] = [
    { text: 'hi', label: 'b' },
    { text: 'ab', textPair: 'xyz', label: 'a' },
    { text: 'q', textPair: '', label: 'c' },
  ];
  const encoded = encodeExamples(examples, tokenizer, ['a', 'b', 'c'], { maxLen: 64 });
  assert.deepEqual([...sequenceAt(encoded, 0)], [0, ...bytes('hi'), 2]);
  assert.deepEqual([...sequenceAt(encoded, 1)], [0, ...bytes('ab'), 2, 2, ...bytes('xyz'), 2]);
  assert.deepEqual([...sequenceAt(encoded, 2)], [0, ...bytes('q'), 2, 2, 2]);
  assert.deepEqual([...encoded.labelIds], [1, 0, 2]);
  assert.equal(encoded.truncated, 0);
  // The same ids as the tokenizer's own special-token encodings, also with merges.
  const bpe = trainBpe(['the cat sat on the mat', 'the dog sat on the log'], { vocabSize: 280 });
  const pair = { text: 'the cat sat', textPair: 'on the log', label: 'a' };
  const withMerges = encodeExamples([pair, { text: 'the mat', label: 'a' }], bpe, ['a'], { maxLen: 64 });
  assert.deepEqual(sequenceAt(withMerges, 0), bpe.encodePairWithSpecial(pair.text, pair.textPair));
  assert.deepEqual(sequenceAt(withMerges, 1), bpe.encodeWithSpecial('the mat'));
  assert.ok(sequenceAt(withMerges, 1).length < 'the mat'.length + 2, 'merges apply');
});

test('truncation: a single text keeps its start; a pair loses tokens off the longer side first', () => {
  const examples: Example[] = [
    { text: 'abcdefghij', label: 'x' },
    { text: 'abcdefghij', textPair: 'xy', label: 'x' },
    { text: 'ab', textPair: 'uvwxyz', label: 'x' },
    { text: 'abcde', textPair: 'vwxyz', label: 'x' },
    { text: 'ab', label: 'x' },
  ];
  const encoded = encodeExamples(examples, tokenizer, ['x'], { maxLen: 8 });
  assert.deepEqual([...sequenceAt(encoded, 0)], [0, ...bytes('abcdef'), 2]);
  assert.deepEqual([...sequenceAt(encoded, 1)], [0, ...bytes('ab'), 2, 2, ...bytes('xy'), 2]);
  assert.deepEqual([...sequenceAt(encoded, 2)], [0, ...bytes('ab'), 2, 2, ...bytes('uv'), 2]);
  assert.deepEqual([...sequenceAt(encoded, 3)], [0, ...bytes('ab'), 2, 2, ...bytes('vw'), 2]);
  assert.equal(encoded.truncated, 4);
  assert.ok(Array.from({ length: 5 }, (_, i) => sequenceAt(encoded, i).length).every((n) => n <= 8));
});

test('pairLengths matches removing one token at a time from the longer side (ties: the second)', () => {
  for (let a = 0; a <= 12; a++) {
    for (let b = 0; b <= 12; b++) {
      for (let budget = 0; budget <= 20; budget++) {
        let x = a, y = b;
        while (x + y > budget) {
          if (x > y) x--;
          else y--;
        }
        assert.deepEqual(pairLengths(a, b, budget), [x, y], `a=${a} b=${b} budget=${budget}`);
      }
    }
  }
});

test('encoding errors: an unknown label is named; maxLen must leave room for the special tokens', () => {
  assert.throws(() => encodeExamples([{ text: 'a', label: 'spam', id: 'mail.tsv:3' }], tokenizer, ['ham'], { maxLen: 8 }),
    (e: unknown) => e instanceof TlcError && e.message === "label 'spam' of mail.tsv:3 is not one of the task's labels (ham)");
  assert.throws(() => encodeExamples([{ text: 'a', label: 'x' }], tokenizer, ['x'], { maxLen: 2 }), /maxLen must be an integer of at least 3/);
  assert.throws(() => encodeExamples([{ text: 'a', textPair: 'b', label: 'x' }], tokenizer, ['x'], { maxLen: 5 }), /at least 6/);
});

function examplesOfLengths(lengths: number[]): Example[] {
  return lengths.map((n, i) => ({ text: 'x'.repeat(n), label: String(i % 3) }));
}

test('batches: padded with <pad> to the longest in the batch, mask 1 on tokens, labels in order', () => {
  const encoded = encodeExamples(examplesOfLengths([3, 1, 5, 2, 4]), tokenizer, ['0', '1', '2'], { maxLen: 16 });
  const batches = [...classificationBatches(encoded, { batchSize: 2, shuffle: false, seed: 0, epoch: 0 })];
  assert.deepEqual(batches.map((b) => [b.batchSize, b.seqLen]), [[2, 5], [2, 7], [1, 6]]);
  const x = FIRST_BYTE_ID + 'x'.charCodeAt(0);
  const [first, , last] = batches;
  assert.deepEqual([...first.inputIds], [0, x, x, x, 2, 0, x, 2, 1, 1]);
  assert.deepEqual([...first.attentionMask], [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  assert.deepEqual([...first.labels], [0, 1]);
  assert.deepEqual([...last.inputIds], [0, x, x, x, x, 2]);
  assert.deepEqual([...last.labels], [1]);
  for (const b of batches) {
    for (let i = 0; i < b.inputIds.length; i++) assert.equal(b.attentionMask[i] === 0, b.inputIds[i] === PAD_ID);
  }
});

test('the order is a seeded permutation per epoch, and resuming at a batch gives the rest of the epoch', () => {
  const count = 23;
  const encoded = encodeExamples(examplesOfLengths(Array.from({ length: count }, (_, i) => 1 + (i % 7))), tokenizer, ['0', '1', '2'], { maxLen: 16 });
  const order = (seed: number, epoch: number) => [...classificationOrder(count, { shuffle: true, seed, epoch })];
  assert.deepEqual([...order(5, 0)].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));
  assert.deepEqual(order(5, 0), order(5, 0));
  assert.notDeepEqual(order(5, 0), order(5, 1));
  assert.notDeepEqual(order(5, 0), order(6, 0));
  assert.deepEqual([...classificationOrder(count, { shuffle: false, seed: 5, epoch: 3 })], Array.from({ length: count }, (_, i) => i));

  const options = { batchSize: 4, shuffle: true, seed: 5, epoch: 2 };
  const whole = [...classificationBatches(encoded, options)];
  assert.equal(whole.length, batchesPerEpoch(count, 4));
  const labelsSeen = whole.flatMap((b: ClassificationBatch) => [...b.labels]);
  assert.deepEqual(labelsSeen, order(5, 2).map((i) => encoded.labelIds[i]));
  assert.deepEqual([...classificationBatches(encoded, { ...options, startBatch: 4 })], whole.slice(4));
  assert.deepEqual([...classificationBatches(encoded, { ...options, startBatch: whole.length })], []);
  assert.throws(() => [...classificationBatches(encoded, { ...options, startBatch: whole.length + 1 })], /start batch 7 is outside the epoch's 6 batches/);
  assert.throws(() => [...classificationBatches(encoded, { ...options, batchSize: 0 })], /batch size must be a positive integer/);
});
