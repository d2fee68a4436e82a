// Work written as a generator: run straight through, or stopped by a signal at a pause.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInterruptibly, runToEnd, WorkInterrupted, type Pausable } from '../src/util/pausable.js';

function* pieces(n: number, log: string[], msEach = 0): Pausable<number> {
  let sum = 0;
  try {
    for (let i = 1; i <= n; i++) {
      const until = performance.now() + msEach;
      while (performance.now() < until); // busy, as a batch of work is
      sum += i;
      yield;
    }
  } finally {
    log.push('cleaned up');
  }
  return sum;
}

test('pausable work returns the same result run straight through or interruptibly', async () => {
  const log: string[] = [];
  assert.equal(runToEnd(pieces(100, log)), 5050);
  assert.equal(await runInterruptibly(pieces(100, log), new AbortController().signal, 0), 5050);
  assert.deepEqual(log, ['cleaned up', 'cleaned up']);
});

test('a signal fired during pausable work stops it at the next pause, its finally blocks run', async () => {
  const controller = new AbortController();
  const log: string[] = [];
  // the abort comes from a timer, as a signal handler's does: only a pause lets it run
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(runInterruptibly(pieces(1000, log, 5), controller.signal, 10), WorkInterrupted);
  assert.deepEqual(log, ['cleaned up']);
});
