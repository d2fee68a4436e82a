// Classification metrics against hand-computed values and scikit-learn's documented examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlcError } from '../src/util/errors.js';
import { classificationMetrics } from '../src/train/classification-metrics.js';

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

test("scikit-learn's documented example: f1_score(average='macro') = 0.2667, per label [0.8, 0, 0]", () => {
  // y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]
  // precision_recall_fscore_support(average='macro') = (0.2222, 0.3333, 0.2667)
  const m = classificationMetrics(Int32Array.from([0, 2, 1, 0, 0, 1]), Int32Array.from([0, 1, 2, 0, 1, 2]), 3);
  close(m.macroF1, 0.26666666666666666, 'macro F1');
  close(m.accuracy, 1 / 3, 'accuracy');
  assert.deepEqual(m.perLabel.map((l) => l.f1), [0.8, 0, 0]);
  close(m.perLabel.reduce((s, l) => s + l.precision, 0) / 3, 0.2222222222222222, 'macro precision');
  close(m.perLabel.reduce((s, l) => s + l.recall, 0) / 3, 0.3333333333333333, 'macro recall');
  assert.deepEqual(m.confusion, [[2, 0, 0], [1, 0, 1], [0, 2, 0]]);
  assert.deepEqual(m.perLabel.map((l) => l.support), [2, 2, 2]);
});

test('hand-computed: per-label precision, recall, F1, support; macro-F1 over labels in gold or predictions', () => {
  // gold:      0 0 0 1 1 2 2 2 2
  // predicted: 0 0 1 1 3 2 2 0 2      (label 3 is predicted but never gold; label 4 occurs nowhere)
  const m = classificationMetrics(Int32Array.from([0, 0, 1, 1, 3, 2, 2, 0, 2]), Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2, 2]), 5);
  close(m.accuracy, 6 / 9, 'accuracy');
  const expected = [
    { precision: 2 / 3, recall: 2 / 3, support: 3 }, // TP 2, predicted 3, gold 3
    { precision: 1 / 2, recall: 1 / 2, support: 2 }, // TP 1, predicted 2, gold 2
    { precision: 1, recall: 3 / 4, support: 4 }, // TP 3, predicted 3, gold 4
    { precision: 0, recall: 0, support: 0 }, // predicted once, never right
    { precision: 0, recall: 0, support: 0 }, // absent
  ];
  expected.forEach((e, k) => {
    const f1 = e.precision + e.recall > 0 ? (2 * e.precision * e.recall) / (e.precision + e.recall) : 0;
    close(m.perLabel[k].precision, e.precision, `precision ${k}`);
    close(m.perLabel[k].recall, e.recall, `recall ${k}`);
    close(m.perLabel[k].f1, f1, `f1 ${k}`);
    assert.equal(m.perLabel[k].support, e.support);
  });
  // Labels 0-3 count (3 with F1 0); label 4, in neither gold nor predictions, is left out.
  close(m.macroF1, (2 / 3 + 1 / 2 + 6 / 7 + 0) / 4, 'macro F1');
  assert.deepEqual(m.confusion, [
    [2, 1, 0, 0, 0],
    [0, 1, 0, 1, 0],
    [1, 0, 3, 0, 0],
    [0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0],
  ]);
});

test('all right gives 1; bad arguments are TlcErrors', () => {
  const m = classificationMetrics(Int32Array.from([1, 1, 0]), Int32Array.from([1, 1, 0]), 4);
  assert.deepEqual([m.accuracy, m.macroF1], [1, 1]);
  assert.throws(() => classificationMetrics(new Int32Array(2), new Int32Array(3), 2), (e: unknown) => e instanceof TlcError && /2 predictions for 3 gold labels/.test(e.message));
  assert.throws(() => classificationMetrics(Int32Array.from([2]), Int32Array.from([0]), 2), /predicted label 2 at 0 is outside 0\.\.1/);
  assert.throws(() => classificationMetrics(Int32Array.from([0]), Int32Array.from([-1]), 2), /gold label -1 at 0/);
  assert.throws(() => classificationMetrics(new Int32Array(0), new Int32Array(0), 2), /no examples/);
});
