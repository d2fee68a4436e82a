// Data-parallel training over MPI ranks. Every rank draws the whole global batch (the same
// data stream, so the data position and every checkpoint are those of one process) and
// computes forward and backward on its own contiguous slice of the step's micro-batches;
// the gradients are summed in rank order (native/src/mpi.cc), so AdamW then takes the same
// step on every rank. N ranks with per-rank batch b train as one process with batch N·b in
// N micro-batches does, up to the order of float additions inside a micro-batch's backward.
//
// Everything that decides the future is agreed: a step's time is the slowest rank's, an
// interrupt on any rank stops all of them after the same step, and evaluations (run on rank
// 0 alone) are broadcast. Rank 0 alone writes the run directory (src/run/rank.ts).
import { TlcError } from '../util/errors.js';
import { mpiRank } from '../util/launch.js';
import { gradOf } from '../engine/autograd.js';
import { zeros, outsideScopes, type Tensor } from '../engine/tensor.js';
import { loadMpi, type Mpi, type MpiWorld } from '../engine/mpi.js';
import { setWritesRuns } from '../run/rank.js';

export class DataParallel {
  private flat: Float32Array | null = null;

  constructor(private readonly mpi: Mpi, readonly world: MpiWorld) {}

  get rank(): number {
    return this.world.rank;
  }

  get size(): number {
    return this.world.size;
  }

  /** The micro-batches [start, end) of a step that this rank computes; refuses a split that is not even. */
  slice(microBatches: number): [number, number] {
    if (microBatches % this.size !== 0) {
      throw new TlcError(`data-parallel training over ${this.size} ranks needs a number of micro-batches per step divisible by ${this.size}, ` +
        `got ${microBatches}: make --batch-size a multiple of ${this.size} × --micro-batch-size`);
    }
    const per = microBatches / this.size;
    return [this.rank * per, (this.rank + 1) * per];
  }

  /**
   * Sums every parameter's gradient over the ranks, in place. A parameter this rank's
   * micro-batches did not reach counts as zero; one that no rank's reached stays without a
   * gradient, so that the optimizer skips it as it does in one process. One flag per
   * parameter rides at the end of the buffer to tell them apart.
   */
  reduceGradients(params: Tensor[]): void {
    const total = params.reduce((n, p) => n + p.size, 0);
    if (this.flat === null || this.flat.length !== total + params.length) this.flat = new Float32Array(total + params.length);
    const flat = this.flat;
    let offset = 0;
    params.forEach((p, i) => {
      const g = gradOf(p);
      const part = flat.subarray(offset, offset + p.size);
      if (g) g.readInto(part);
      else part.fill(0);
      flat[total + i] = g ? 1 : 0;
      offset += p.size;
    });
    this.mpi.allreduceSum(flat);
    offset = 0;
    params.forEach((p, i) => {
      const reached = flat[total + i] > 0;
      let g = gradOf(p);
      if (!reached) {
        p.gradStale = true;
      } else {
        if (!g) {
          if (!p.grad) p.grad = outsideScopes(() => zeros(p.shape));
          p.gradStale = false;
          g = p.grad;
        }
        g.write(flat.subarray(offset, offset + p.size));
      }
      offset += p.size;
    });
  }

  /** Every rank's values, one row per rank in rank order. */
  gather(values: number[]): number[][] {
    const all = this.mpi.allgather(Float64Array.from(values));
    const rows: number[][] = [];
    for (let r = 0; r < this.size; r++) rows.push(Array.from(all.subarray(r * values.length, (r + 1) * values.length)));
    return rows;
  }

  /** Rank 0's value (JSON, non-finite numbers included) on every rank; the others' `value` is ignored. */
  fromRankZero<T>(value: T | undefined): T {
    const bytes = this.rank === 0 ? new TextEncoder().encode(JSON.stringify(value ?? null, encodeNonFinite)) : null;
    return JSON.parse(new TextDecoder().decode(this.mpi.broadcast(bytes, 0)), decodeNonFinite) as T;
  }

  /** Ends every rank of the job: a rank that cannot go on must not leave the others waiting in a collective. */
  abort(code: number): void {
    this.mpi.abort(code);
  }

  /** Waits until every rank got here (e.g. until rank 0 has written what the others read). */
  barrier(): void {
    this.mpi.barrier();
  }

  finalize(): void {
    this.mpi.finalize();
  }
}

// JSON has no NaN or ±Infinity: they travel as tagged strings
const NON_FINITE = '\u0000non-finite:';
function encodeNonFinite(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? NON_FINITE + String(v) : v;
}
function decodeNonFinite(_key: string, v: unknown): unknown {
  return typeof v === 'string' && v.startsWith(NON_FINITE) ? Number(v.slice(NON_FINITE.length)) : v;
}

let current: DataParallel | null = null;
let joined = false;

/** A decision every rank must take alike: rank 0's in a data-parallel job, else this process's own. */
export function agreed<T>(mine: T): T {
  return current ? current.fromRankZero(mine) : mine;
}

/** The job this process is a rank of, or null when it trains alone. */
export function dataParallel(): DataParallel | null {
  return current;
}

/**
 * Joins the MPI job when an MPI launcher started this process with more than one rank;
 * ranks other than 0 stop writing run directories. Returns null outside a launcher.
 */
export function joinDataParallel(): DataParallel | null {
  if (current || joined) return current;
  joined = true;
  if (mpiRank() === null) return null;
  const mpi = loadMpi();
  const world = mpi.init();
  if (world.size < 2) {
    mpi.finalize();
    return null;
  }
  current = new DataParallel(mpi, world);
  setWritesRuns(world.rank === 0);
  return current;
}
