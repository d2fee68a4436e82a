// Dropout with a counter-based RNG. Kernels: native/src/dropout.cc.
//
// The mask of element i is a pure function of (seed, offset + i): nothing is stored,
// backward regenerates it, and the result is the same for any thread count. A training
// loop takes (seed, offset) ranges from a DropoutRng, whose state is one counter.
import { native } from '../native.js';
import { record } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { TlcError } from '../../util/errors.js';
import { expect, expectDtype } from './check.js';

/** Seeds and counters stay below 2⁵², exact as JS numbers and in the native kernel. */
const MAX_COUNTER = 2 ** 52;

function isCounter(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_COUNTER;
}

/**
 * y = x·mask/(1 − p), mask[i] = 1 with probability 1 − p, drawn from (seed, offset + i).
 * p = 0 (evaluation) returns a view of x: no copy, gradients pass straight through.
 */
export function dropout(x: Tensor, p: number, seed: number, offset: number): Tensor {
  const op = 'dropout';
  expectDtype(op, 'input', x, 'f32');
  expect(typeof p === 'number' && p >= 0 && p < 1, op, `p must be in [0, 1), got ${p}`);
  expect(isCounter(seed), op, `seed must be an integer in [0, 2^52], got ${seed}`);
  expect(isCounter(offset) && offset + x.size <= MAX_COUNTER, op,
    `offset must be an integer with offset + ${x.size} elements in [0, 2^52], got ${offset}`);
  if (p === 0) return x.reshape(x.shape);
  const y = empty(x.shape);
  native.dropoutForward({ x: x.handle, y: y.handle, n: x.size, p, seed, offset });
  return record(op, [x], y, (dy, grad) => {
    const dx = grad(0);
    if (dx) native.dropoutBackward({ dy: dy.handle, dx: dx.handle, n: x.size, p, seed, offset, accumulate: dx.accumulate });
  });
}

export interface DropoutRngState {
  seed: number;
  /** Counters handed out so far; the next range starts here. */
  counter: number;
}

/**
 * Hands out non-overlapping (seed, offset) ranges for dropout calls: `next(x.size)`
 * before each call. The state is one counter, so a checkpoint that saves `getState()`
 * resumes with the same masks, provided the calls happen in the same order.
 */
export class DropoutRng {
  private state: DropoutRngState;

  constructor(seed: number) {
    if (!isCounter(seed)) throw new TlcError(`DropoutRng: seed must be an integer in [0, 2^52], got ${seed}`);
    this.state = { seed, counter: 0 };
  }

  /** Reserves `n` consecutive counters. */
  next(n: number): { seed: number; offset: number } {
    if (!Number.isInteger(n) || n < 0) throw new TlcError(`DropoutRng.next: n must be a non-negative integer, got ${n}`);
    const offset = this.state.counter;
    if (offset + n > MAX_COUNTER) throw new TlcError(`DropoutRng.next: the counter would pass 2^52 (at ${offset}, asked for ${n})`);
    this.state.counter = offset + n;
    return { seed: this.state.seed, offset };
  }

  getState(): DropoutRngState {
    return { ...this.state };
  }

  setState(state: DropoutRngState): void {
    if (!state || !isCounter(state.seed) || !isCounter(state.counter)) {
      throw new TlcError(`DropoutRng.setState: expected { seed, counter } with integers in [0, 2^52], got ${JSON.stringify(state)}`);
    }
    this.state = { seed: state.seed, counter: state.counter };
  }
}
