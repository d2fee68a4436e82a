// run.json: the command and the options a run was started with (defaults filled in), so
// `--resume` continues it exactly, whatever flags are given later and whatever the
// defaults become. The options are re-read through the command's own schema.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { readJsonFile } from '../util/json-file.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { OUTPUT_MARKER, RUN_FILES, runFile } from './layout.js';
import { checkOutputDir } from './ownership.js';
import { makeDirs } from '../util/make-dirs.js';

export const RUN_ARGS_VERSION = 2;

export type RunCommand = 'pretrain' | 'finetune';

interface RunArgsFile {
  command: RunCommand;
  format_version: number;
  options: Record<string, unknown>;
}

/**
 * Creates `runDir` for a new run; refuses a directory that already holds one, or anything a
 * new run of `command` did not write (src/run/ownership.ts).
 */
export function createRun(runDir: string, command: RunCommand, options: object): void {
  if (existsSync(runFile(runDir, 'state')) || existsSync(runFile(runDir, 'args'))) {
    throw new TlcError(`${runDir} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  checkOutputDir(runDir, command);
  makeDirs(runDir);
  const file: RunArgsFile = { command, format_version: RUN_ARGS_VERSION, options: options as Record<string, unknown> };
  writeJsonAtomic(runFile(runDir, 'args'), file);
}

/** Replaces the options of the run in `runDir` (a budget extension), keeping its command. */
export function rewriteRunOptions(runDir: string, options: object): void {
  const file = readFile(runDir);
  writeJsonAtomic(runFile(runDir, 'args'), { ...file, options: JSON.parse(JSON.stringify(options)) as Record<string, unknown> });
}

function readFile(runDir: string): RunArgsFile {
  const path = runFile(runDir, 'args');
  const raw = readJsonFile(path, 'start the run without --resume') as Partial<RunArgsFile> | null;
  if (!raw || typeof raw !== 'object' || typeof raw.command !== 'string') throw new TlcError(`${path}: not a tlc run.json (no "command")`);
  if (raw.format_version !== RUN_ARGS_VERSION || typeof raw.options !== 'object' || raw.options === null) {
    throw new TlcError(`${path}: written by an older tlc (format ${raw.format_version ?? 1}); start the run again`);
  }
  return raw as RunArgsFile;
}

/** The options a run was started with, checked against `schema` and that `command` started it. */
export function readRunOptions<S extends z.ZodType>(runDir: string, command: RunCommand, schema: S): z.infer<S> {
  if (!existsSync(runFile(runDir, 'args'))) {
    throw new TlcError(`${runDir}: nothing to resume (no ${runFile(runDir, 'args')}); start the run without --resume`);
  }
  const file = readFile(runDir);
  if (file.command !== command) {
    throw new TlcError(`${runDir} holds a ${file.command} run; resume it with \`tlc ${file.command} --resume\``);
  }
  return parseWith(schema, file.options, runFile(runDir, 'args'), `${command} options`);
}

/** The command and raw options of a run, or null when the directory holds none. */
export function readRunArgsIfAny(runDir: string): { command: RunCommand; options: Record<string, unknown> } | null {
  if (!existsSync(runFile(runDir, 'args'))) return null;
  const file = readFile(runDir);
  return { command: file.command, options: file.options };
}

/** What a new run writes before its first step is checkpointed. */
const STARTING_FILES = [RUN_FILES.args, RUN_FILES.config, RUN_FILES.tokenizer, RUN_FILES.metrics, RUN_FILES.weights, RUN_FILES.checkpoints, RUN_FILES.state];

/**
 * Runs `fn`, the start of a run just created in `runDir`. Should it fail before a trained step
 * was checkpointed, with at most one step logged (bad data, a model that cannot be built, a
 * second step that diverges), what the start wrote is removed, so the corrected command can be
 * run again as it was; the directory too when nothing else is left.
 */
export async function abandonIfUnstarted<T>(runDir: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (checkpointedStep(runDir) === 0 && trainedSteps(runDir) <= 1) {
      for (const f of STARTING_FILES) rmSync(`${runDir}/${f}`, { recursive: true, force: true });
      try {
        if (readdirSync(runDir).every((n) => n === OUTPUT_MARKER)) rmSync(runDir, { recursive: true, force: true });
      } catch { /* already gone */ }
    }
    throw e;
  }
}

/** Steps logged in the run's metrics: a run that failed after many keeps its loss curve, the evidence for a new try. */
function trainedSteps(runDir: string): number {
  try {
    return readFileSync(runFile(runDir, 'metrics'), 'utf8').split('\n').filter((l) => l.includes('"event":"train"')).length;
  } catch {
    return 0;
  }
}

/** The step of the run's last checkpoint: 0 with none, or with only the one written before training. */
function checkpointedStep(runDir: string): number {
  try {
    const step = (JSON.parse(readFileSync(runFile(runDir, 'state'), 'utf8')) as { step?: unknown }).step;
    return typeof step === 'number' ? step : 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    return NaN; // unreadable: left as it is
  }
}
