import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embedding, gatherRows, tidy, tensor, backward, zeros, setThreads, getThreads, TlcError } from '../src/engine/index.js';
import { assertGradcheck, randn, randint } from './helpers.js';

// float32 reference of the scatter-add: rows summed in position order, as the kernel promises
function scatterAddRef(ids: Int32Array, dout: Float32Array, V: number, C: number, into?: Float32Array): Float32Array {
  const d = into ? Float32Array.from(into) : new Float32Array(V * C);
  for (let i = 0; i < ids.length; i++)
    for (let c = 0; c < C; c++) d[ids[i] * C + c] = Math.fround(d[ids[i] * C + c] + dout[i * C + c]);
  return d;
}

test('embedding forward gathers table rows; the output has shape [...ids, C]', () => {
  tidy(() => {
    const [V, C] = [13, 5];
    const table = randn([V, C], 1);
    const ids = tensor(new Int32Array([0, 12, 3, 3, 7, 0, 12, 1, 3, 5, 9, 11, 2, 3]), [2, 7], 'i32');
    const out = embedding(ids, table);
    assert.deepEqual(out.shape, [2, 7, C]);
    const t = table.toFloat32Array(), y = out.toFloat32Array(), id = ids.toArray() as Int32Array;
    for (let i = 0; i < id.length; i++)
      for (let c = 0; c < C; c++) assert.equal(y[i * C + c], t[id[i] * C + c], `row ${i}, column ${c}`);
    assert.deepEqual(embedding(tensor(new Int32Array([4]), [1], 'i32'), table).shape, [1, C]);
  });
});

test('embedding backward matches finite differences, with repeated ids, one token, C=13', () => {
  tidy(() => {
    const ids = tensor(new Int32Array([0, 3, 3, 12, 0, 5, 3]), [1, 7], 'i32');
    assertGradcheck('embedding repeated ids', (i, t) => embedding(i, t), [ids, randn([13, 13], 2)]);
    assertGradcheck('embedding one token', (i, t) => embedding(i, t), [tensor(new Int32Array([2]), [1], 'i32'), randn([3, 4], 3)]);
    assertGradcheck('embedding batch', (i, t) => embedding(i, t), [randint([3, 7], 5, 4), randn([5, 13], 5)]);
  });
});

test('embedding backward sums repeated ids in position order and accumulates across calls', () => {
  tidy(() => {
    const [V, C] = [6, 19];
    const ids = tensor(new Int32Array([5, 1, 5, 5, 0, 1, 5, 2]), [8], 'i32');
    const table = randn([V, C], 6);
    table.requiresGrad = true;
    const g = randn([8, C], 7);
    backward(embedding(ids, table), g);
    const want = scatterAddRef(ids.toArray() as Int32Array, g.toFloat32Array(), V, C);
    assert.deepEqual(Array.from(table.grad!.toFloat32Array()), Array.from(want));  // rows 3, 4 are zero
    backward(embedding(ids, table), g);
    const twice = scatterAddRef(ids.toArray() as Int32Array, g.toFloat32Array(), V, C, want);
    assert.deepEqual(Array.from(table.grad!.toFloat32Array()), Array.from(twice));
  });
});

test('embedding backward is bit-identical with 1 and 2 threads (many repeated ids)', () => {
  const saved = getThreads();
  try {
    tidy(() => {
      const [n, V, C] = [3000, 40, 100];
      const ids = randint([n], V, 8);
      const g = randn([n, C], 9);
      const run = (threads: number): Float32Array => {
        setThreads(threads);
        const table = zeros([V, C]);
        table.requiresGrad = true;
        backward(embedding(ids, table), g);
        return table.grad!.toFloat32Array();
      };
      const one = run(1), two = run(2);
      assert.deepEqual(Buffer.from(one.buffer), Buffer.from(two.buffer));
      assert.deepEqual(Array.from(one), Array.from(scatterAddRef(ids.toArray() as Int32Array, g.toFloat32Array(), V, C)));
    });
  } finally {
    setThreads(saved);
  }
});

test('gatherRows forward selects rows; backward scatter-adds (gradcheck, repeated rows)', () => {
  tidy(() => {
    const x = randn([7, 13], 10);
    const index = tensor(new Int32Array([6, 0, 2, 2, 6]), [5], 'i32');
    const y = gatherRows(x, index);
    assert.deepEqual(y.shape, [5, 13]);
    const xs = x.toFloat32Array(), ys = y.toFloat32Array();
    [6, 0, 2, 2, 6].forEach((r, m) => {
      for (let c = 0; c < 13; c++) assert.equal(ys[m * 13 + c], xs[r * 13 + c]);
    });
    assertGradcheck('gatherRows', (a, i) => gatherRows(a, i), [x, index]);
    assertGradcheck('gatherRows one row', (a, i) => gatherRows(a, i), [randn([1, 4], 11), tensor(new Int32Array([0]), [1], 'i32')]);
  });
});

test('bad input: ids outside the vocabulary, wrong dtypes and ranks', () => {
  tidy(() => {
    const table = zeros([8192, 4]);
    const bad = new Int32Array(20);
    bad[17] = 9000;
    const err = (re: RegExp) => (e: Error) => e instanceof Error && re.test(e.message);
    assert.throws(() => embedding(tensor(bad, [20], 'i32'), table),
      err(/^embedding: id 9000 at position 17 is outside the vocabulary of 8192$/));
    assert.throws(() => embedding(tensor(new Int32Array([1, -3]), [2], 'i32'), table),
      err(/embedding: id -3 at position 1 is outside the vocabulary of 8192/));
    assert.throws(() => embedding(randn([2], 1), table),
      (e: Error) => e instanceof TlcError && /embedding: ids \[2\] has dtype f32, expected i32/.test(e.message));
    assert.throws(() => embedding(zeros([2], 'i32'), zeros([4, 3], 'i32')), /embedding: table \[4, 3\] has dtype i32, expected f32/);
    assert.throws(() => embedding(zeros([2], 'i32'), randn([12], 1)), /embedding: table must have rank 2, got shape \[12\]/);
    assert.throws(() => gatherRows(randn([5, 3], 1), tensor(new Int32Array([0, 5]), [2], 'i32')),
      err(/gatherRows: index 5 at position 1 is outside the 5 rows of the input/));
    assert.throws(() => gatherRows(randn([5, 3], 1), zeros([2, 2], 'i32')), /gatherRows: index must have rank 1, got shape \[2, 2\]/);
    assert.throws(() => gatherRows(randn([15], 1), zeros([2], 'i32')), /gatherRows: input must have rank 2, got shape \[15\]/);
  });
});
