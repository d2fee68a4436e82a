// One line of a JSONL file as an object, with errors that name the file and line.
import { TlcError } from '../util/errors.js';

/** Parses `line` as a JSON object; `expected` says what the object should hold, for the error. */
export function parseJsonObjectLine(line: string, where: string, expected: string): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (e) {
    throw new TlcError(`${where}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new TlcError(`${where}: expected a JSON object with ${expected}`);
  }
  return record as Record<string, unknown>;
}
