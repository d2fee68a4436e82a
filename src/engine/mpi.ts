// The MPI binding (native/src/mpi.cc), loaded only by a process an MPI launcher started:
// a plain `tlc` never opens it, so it runs where no MPI library is installed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { packageRoot } from './native.js';
import { addonDir } from './cpu.js';

export interface MpiWorld {
  rank: number;
  size: number;
  /** Rank and count of the processes on this machine. */
  localRank: number;
  localSize: number;
  host: string;
}

export interface Mpi {
  init(): MpiWorld;
  /** In place; summed in rank order, so the same bits on every rank and every run. */
  allreduceSum(buf: Float32Array): void;
  /** Every rank's values, rank-major. */
  allgather(values: Float64Array): Float64Array;
  /** `root`'s bytes on every rank (others pass null). */
  broadcast(bytes: Uint8Array | null, root: number): Uint8Array;
  barrier(): void;
  finalize(): void;
  abort(code: number): void;
}

let loaded: Mpi | null = null;

export function loadMpi(): Mpi {
  if (loaded) return loaded;
  const path = join(addonDir(packageRoot()), 'tlc_mpi.node');
  if (!existsSync(path)) {
    throw new TlcError(`tlc runs under an MPI launcher, but its MPI addon is not built (${path} is missing): ` +
      'install Open MPI (apt-get install libopenmpi-dev openmpi-bin, or bash scripts/setup.sh) and run `npm run build:native`');
  }
  loaded = createRequire(import.meta.url)(path) as Mpi;
  return loaded;
}
