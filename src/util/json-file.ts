// Reading a JSON file that another stage wrote, with errors that say what went wrong.
import { readFileSync } from 'node:fs';
import { TlcError } from './errors.js';
import { readProblem } from './read-error.js';

/** Parses `path`; if it does not exist, the error ends with `missingHint` (what should have made it). */
export function readJsonFile(path: string, missingHint: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TlcError(missing ? `${path}: not found; ${missingHint}` : readProblem(path, e));
  }
}
