// A run that other commands read before it has finished: its weights are those of its last
// checkpoint, not of the end of its budget. Reading it is allowed; the user is told.
import { existsSync } from 'node:fs';
import { warn } from '../util/warn.js';
import { runFile } from './layout.js';
import { readMetrics } from './metrics.js';
import { readRunArgsIfAny } from './run-args.js';

/** Why `dir` counts as unfinished (a training run whose metrics.jsonl has no end event), or null. */
export function unfinishedRun(dir: string): string | null {
  const path = runFile(dir, 'metrics');
  if (!existsSync(path)) return null;
  let events;
  try {
    events = readMetrics(path);
  } catch {
    return null; // a damaged log is reported by the commands that need it
  }
  if (events.some((e) => e.event === 'end')) return null;
  const last = events.reduce((m, e) => Math.max(m, e.step), 0);
  let command = 'pretrain';
  try {
    command = readRunArgsIfAny(dir)?.command ?? command;
  } catch { /* the suggestion below keeps the default command */ }
  return `${dir} has not finished training (its ${runFile(dir, 'metrics')} has no end event; it stopped at step ${last}), ` +
    `so its weights are those of its last checkpoint; finish it first with \`tlc ${command} --resume ${dir}\``;
}

/** Prints a warning when `dir` is an unfinished run. */
export function warnIfUnfinished(dir: string): void {
  const why = unfinishedRun(dir);
  if (why) warn(why);
}
