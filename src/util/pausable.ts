// Long synchronous work (an evaluation, a decode) written once as a generator that yields
// between its pieces, so that it can run straight through, or give the event loop a turn now
// and then — which is where SIGINT/SIGTERM handlers run — and stop when a signal asks.

/** Work that yields between pieces and returns its result. */
export type Pausable<T> = Generator<void, T, undefined>;

/** Raised by runInterruptibly when its signal fired before the work ended. */
export class WorkInterrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'WorkInterrupted';
  }
}

/** Runs the work to its end without pausing. */
export function runToEnd<T>(work: Pausable<T>): T {
  for (;;) {
    const r = work.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs the work, giving the event loop a turn at the first pause after every `sliceMs`, and
 * throws WorkInterrupted there once `signal` has fired (the work's `finally` blocks run first).
 */
export async function runInterruptibly<T>(work: Pausable<T>, signal?: AbortSignal, sliceMs = 50): Promise<T> {
  let turn = performance.now();
  for (;;) {
    const r = work.next();
    if (r.done) return r.value;
    if (performance.now() - turn < sliceMs) continue;
    await new Promise((resolve) => setImmediate(resolve));
    turn = performance.now();
    if (signal?.aborted) {
      work.return(undefined as never);
      throw new WorkInterrupted();
    }
  }
}
