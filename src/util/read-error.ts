// What went wrong reading a file, said in words: the path a user gave, never a temporary name
// or an errno alone, and on one line.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

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
