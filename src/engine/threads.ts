// Thread count for every native kernel (OpenMP, shared with oneDNN). Default: all
// cores; TLC_THREADS overrides it, and the CLI's --threads flag calls setThreads.
import { availableParallelism } from 'node:os';
import { native } from './native.js';
import { TlcError } from './errors.js';

export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new TlcError(`threads must be a positive integer, got ${n}`);
  native.setThreads(n);
}

export function getThreads(): number {
  return native.getThreads();
}

function initialThreads(): number {
  const env = process.env.TLC_THREADS;
  if (env === undefined || env === '') return availableParallelism();
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new TlcError(`TLC_THREADS must be a positive integer, got "${env}"`);
  return n;
}

native.setThreads(initialThreads());
