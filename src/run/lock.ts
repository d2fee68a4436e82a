// The lock on a run directory while a process writes it: <run>/.lock, created atomically
// (open 'wx') and holding the holder's pid, host and start time. Released when the work
// ends, however it ends (an error, SIGINT/SIGTERM, process.exit); a lock left by a process
// that no longer lives (killed with SIGKILL, a crash) is reported and taken over.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { runFile } from './layout.js';

interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

/** Locks this process holds: path → how many nested holds. */
const held = new Map<string, number>();
let exitHookInstalled = false;

function releaseAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const path of held.keys()) removeIfOurs(path);
  });
}

function readLock(path: string): LockInfo | null {
  try {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    return typeof raw.pid === 'number' && typeof raw.host === 'string' ? { pid: raw.pid, host: raw.host, started: String(raw.started ?? '?') } : null;
  } catch {
    return null;
  }
}

function removeIfOurs(path: string): void {
  const info = readLock(path);
  if (info && info.pid === process.pid && info.host === hostname()) rmSync(path, { force: true });
}

/** Whether process `pid` exists on this host. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of run directory `dir` (which must exist) for this process; returns the
 * function that releases it. Refuses, naming the holder, a directory another live process
 * holds. Nested takes by the same process share the lock.
 */
export function lockRun(dir: string): () => void {
  const path = resolve(runFile(dir, 'lock')); // one key however the directory is spelled
  const count = held.get(path);
  if (count !== undefined) {
    held.set(path, count + 1);
    return once(() => release(path));
  }
  const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new TlcError(`${dir}: cannot lock the run directory (${(e as Error).message})`);
      const holder = readLock(path);
      if (holder === null) {
        // being written this instant by another process, or torn by a crash
        if (attempt < 20) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25);
          continue;
        }
        warn(`${path}: an unreadable lock file; taking it over`);
      } else if (holder.host !== info.host) {
        throw new TlcError(`${dir} is locked by process ${holder.pid} on host ${holder.host} (since ${holder.started}); ` +
          `if no process there is writing it, remove ${path}`);
      } else if (alive(holder.pid) && holder.pid !== process.pid) {
        throw new TlcError(`${dir} is in use by process ${holder.pid} (since ${holder.started}): wait for it to finish, or stop it`);
      } else {
        warn(`${dir}: taking over the stale lock of process ${holder.pid} (started ${holder.started}), which is no longer running`);
      }
      rmSync(path, { force: true });
      if (attempt >= 40) throw new TlcError(`${dir}: cannot lock the run directory (${path} keeps reappearing)`);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(info) + '\n');
    } finally {
      closeSync(fd);
    }
    break;
  }
  held.set(path, 1);
  releaseAllOnExit();
  return once(() => release(path));
}

function release(path: string): void {
  const count = held.get(path) ?? 0;
  if (count > 1) {
    held.set(path, count - 1);
    return;
  }
  held.delete(path);
  removeIfOurs(path);
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

/** Runs `fn` holding the lock of `dir`, released when it settles. */
export async function withRunLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const release = lockRun(dir);
  try {
    return await fn();
  } finally {
    release();
  }
}

