// What went wrong reading (or writing) a file, said in words: the path a user gave, never a
// temporary name or an errno alone, and on one line.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { TlcError } from './errors.js';

/** The nearest existing ancestor of `path` that is a file, when one is (so `path` cannot exist). */
function fileAbove(path: string): string | null {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(dir)) return statSync(dir).isFile() ? dir : null;
  }
  return null;
}

/**
 * "<path>: <why>" for an error reading `path` (`what`: what it should have been, e.g. "the sweep").
 * Errno codes become words; a parser's message keeps its first line.
 */
export function readProblem(path: string, e: unknown, what = 'a file'): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return `${path}: not found`;
    case 'ENOTDIR': {
      const file = fileAbove(path);
      return file ? `${file} is a file, not a directory` : `${path}: a part of the path is not a directory`;
    }
    case 'EISDIR':
      return `${path} is a directory: give ${what === 'a file' ? what : `${what} file`}`;
    case 'EACCES':
    case 'EPERM':
      return `${path}: permission denied`;
    default: {
      const first = String(err.message ?? e).split('\n')[0].trim();
      return `${path}: cannot read ${what} (${first})`;
    }
  }
}

const ACTIONS: Record<string, string> = {
  mkdir: 'cannot create the folder', open: 'cannot open', rename: 'cannot move into place', write: 'cannot write',
  unlink: 'cannot remove', rmdir: 'cannot remove', scandir: 'cannot list', copyfile: 'cannot copy', stat: 'cannot read', read: 'cannot read',
};

/**
 * "cannot create the folder small.txt/sub: small.txt is a file, not a directory" for an error a
 * system call raised (it has `code`, `syscall` and `path`), or null for any other error.
 */
export function systemProblem(e: unknown): string | null {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== 'string' || typeof err.syscall !== 'string' || typeof err.path !== 'string') return null;
  const path = err.path;
  const action = `${ACTIONS[err.syscall] ?? `${err.syscall} failed on`} ${path === '' ? '""' : path}`;
  switch (err.code) {
    case 'ENOENT':
      return path === '' ? `${action}: the path is empty` : `${action}: it, or a folder on its way, does not exist`;
    case 'ENOTDIR': {
      const file = fileAbove(path);
      return `${action}: ${file ? `${file} is a file, not a directory` : 'a part of the path is not a directory'}`;
    }
    case 'EISDIR': return `${action}: it is a directory`;
    case 'EACCES': case 'EPERM': return `${action}: permission denied`;
    case 'EROFS': return `${action}: the file system is read-only`;
    case 'ENOSPC': return `${action}: no space left on the device`;
    case 'EEXIST': return `${action}: it exists already`;
    default: return `${action}: ${String(err.message).split('\n')[0]}`;
  }
}

/**
 * Refuses a FIFO, socket or device where a file is read by path (reading one would block, or
 * yield nothing the second time); a missing path is left to the reader's own message.
 */
export function refuseSpecialFile(path: string, what: string): void {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return;
  }
  if (stat.isFile() || stat.isDirectory()) return;
  const kind = stat.isFIFO() ? 'a FIFO' : stat.isSocket() ? 'a socket' : stat.isCharacterDevice() || stat.isBlockDevice() ? 'a device' : 'not a regular file';
  throw new TlcError(`${path} is ${kind}: give ${what} (a regular file)`);
}

const WRITE_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device', EPIPE: 'the reader has gone', EBADF: 'the output is closed', EIO: 'an input/output error',
  EDQUOT: 'the disk quota is used up', EFBIG: 'the file is too large',
};

/** Why the standard output could not be written, in words: "no space left on the device (ENOSPC)". */
export function outputProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code ? `${WRITE_ERRORS[code] ?? 'the system refused it'} (${code})` : (e as Error).message;
}
