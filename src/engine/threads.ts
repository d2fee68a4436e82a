// Thread count for every native kernel (OpenMP, shared with oneDNN). Default: the cores
// this process owns (all of them, or its share when a launcher started several ranks on
// the machine); TLC_THREADS overrides it, and the CLI's --threads flag calls setThreads.
import { coresOfThisProcess } from '../util/launch.js';
import { native } from './native.js';
import { TlcError } from '../util/errors.js';

/** The most threads tlc starts: OpenMP's runtime gives each a stack, and far beyond the cores they only compete. */
export const MAX_THREADS = 1024;

export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new TlcError(`threads must be an integer from 1 to ${MAX_THREADS}, got ${n}`);
  native.setThreads(n);
}

export function getThreads(): number {
  return native.getThreads();
}

/** What is wrong with TLC_THREADS, or null (unset, or a positive integer). */
export function threadsEnvironmentProblem(): string | null {
  const env = process.env.TLC_THREADS;
  if (env === undefined || env === '') return null;
  const n = Number(env);
  return Number.isInteger(n) && n >= 1 && n <= MAX_THREADS ? null : `TLC_THREADS must be an integer from 1 to ${MAX_THREADS}, got "${env}"`;
}

function initialThreads(): number {
  const env = process.env.TLC_THREADS;
  // a bad value is reported by the command (threadsEnvironmentProblem), not as a crash while loading
  if (env === undefined || env === '' || threadsEnvironmentProblem() !== null) return coresOfThisProcess();
  return Number(env);
}

native.setThreads(initialThreads());
