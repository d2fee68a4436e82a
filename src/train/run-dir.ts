// A run directory's identity: run.json records the command and arguments a run was
// started with, so `--resume` continues it exactly, whatever flags are given later.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../engine/errors.js';
import { writeJsonAtomic } from '../util/atomic.js';

export const RUN_ARGS = 'run.json';

/** Creates `runDir` for a new run; refuses a directory that already holds one. */
export function createRun(runDir: string, command: string, args: object): void {
  if (existsSync(join(runDir, 'state.json')) || existsSync(join(runDir, RUN_ARGS))) {
    throw new TlcError(`${runDir} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  mkdirSync(runDir, { recursive: true });
  writeJsonAtomic(join(runDir, RUN_ARGS), { command, ...args });
}

/** The arguments a run was started with, checking it was started by `command`. */
export function readRunArgs<T>(runDir: string, command: string): T {
  const path = join(runDir, RUN_ARGS);
  if (!existsSync(path)) throw new TlcError(`${runDir}: nothing to resume (no ${RUN_ARGS}); start the run without --resume`);
  let args: T & { command?: string };
  try {
    args = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TlcError(`${path}: corrupted run arguments (${(e as Error).message})`);
  }
  if ((args.command ?? 'pretrain') !== command) {
    throw new TlcError(`${runDir} holds a ${args.command} run; resume it with \`tlc ${args.command} --resume\``);
  }
  return args;
}

/** run.json of a finished or running run, or null when the directory has none. */
export function readRunArgsIfAny(runDir: string): Record<string, unknown> | null {
  const path = join(runDir, RUN_ARGS);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new TlcError(`${path}: corrupted run arguments (${(e as Error).message})`);
  }
}
