// `--resume`: a resumed run keeps the options in its run.json. Rerunning the command that started
// it with --resume added (what fairseq, the Hugging Face Trainer, nanoGPT and requeue scripts do)
// is accepted: each flag given is compared with what the run recorded, and only those that
// differ are refused, old and new value named. A larger budget extends the run.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { presetConfig, readModelConfig, type ModelConfig } from '../nn/config.js';
import { readRunArgsIfAny } from '../run/run-args.js';
import { BUDGET_FLAGS } from '../train/budget.js';
import type { BudgetFlags } from '../train/extend.js';
import { flagName } from '../train/args.js';
import { optionsFromFlags } from './common.js';

/** Options naming files or directories: the same place, however it is written. */
const PATH_OPTIONS = new Set(['data', 'from', 'task']);

/** JSON with sorted keys, to compare values. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}

/** The shape (layers, width, heads, FFN width) `--model` names: a preset, or a config.json. */
function shapeOf(c: Pick<ModelConfig, 'n_layers' | 'd_model' | 'n_heads' | 'd_ff'>): string {
  return `${c.n_layers} layers, d_model ${c.d_model}, ${c.n_heads} heads, d_ff ${c.d_ff}`;
}

function givenModelShape(given: string, recorded: ModelConfig): string | null {
  try {
    return shapeOf(existsSync(given) ? readModelConfig(given) : presetConfig(given, { vocab_size: recorded.vocab_size, max_len: recorded.max_len }));
  } catch {
    return null;
  }
}

/** How a given flag differs from the run's recorded option, or null when it is the same. */
function difference(key: string, given: unknown, recorded: unknown, shape: Record<string, z.ZodType>): string | null {
  const flag = `${flagName(key)} ${String(given)}`;
  if (key === 'model' && typeof given === 'string' && recorded !== null && typeof recorded === 'object') {
    const was = shapeOf(recorded as ModelConfig);
    return givenModelShape(given, recorded as ModelConfig) === was ? null : `${flag} (the run's model: ${was})`;
  }
  const field = shape[key];
  const parsed = field?.safeParse(given);
  const value: unknown = parsed?.success ? parsed.data : given;
  const same = PATH_OPTIONS.has(key) && typeof value === 'string' && typeof recorded === 'string'
    ? resolve(value) === resolve(recorded)
    // an interval or budget kept as typed ("0.2") where another writer recorded the number
    : canonical(value) === canonical(recorded) || (typeof recorded === 'number' && typeof value === 'string' && Number(value) === recorded);
  return same ? null : `${flag} (the run has ${recorded === undefined ? 'none' : JSON.stringify(recorded)})`;
}

/**
 * The run directory to resume, when --resume was given, and the budget it is extended to (a
 * budget flag that differs from the run's). Flags that differ from the run's options are
 * refused rather than silently dropped; `shape` is the command's option schema.
 */
export function resumeDir(flags: { resume?: string | boolean; out?: string } & Record<string, unknown>, shape: Record<string, z.ZodType>,
  command: 'pretrain' | 'finetune'): { dir: string; extend?: BudgetFlags } | null {
  if (flags.resume === undefined) return null;
  const dir = typeof flags.resume === 'string' ? flags.resume : flags.out;
  if (!dir) throw new TlcError('--resume needs a run directory: --resume <run> or --out <run>');
  if (typeof flags.resume === 'string' && flags.out !== undefined && resolve(flags.out) !== resolve(flags.resume)) {
    throw new TlcError(`--resume ${flags.resume} and --out ${flags.out} name different directories: a resumed run stays where it is ` +
      '(to train a copy further, copy the run directory and resume the copy)');
  }
  const given = optionsFromFlags(flags);
  const run = readRunArgsIfAny(dir);
  const budgetKeys: readonly string[] = BUDGET_FLAGS;
  const extend = Object.fromEntries(budgetKeys.filter((k) => given[k] !== undefined).map((k) => [k, String(given[k])])) as BudgetFlags;
  const resumed = Object.keys(extend).length > 0 ? { dir, extend } : { dir };
  // nothing to compare with (no run, or another command's): resuming says so
  if (run === null || run.command !== command) return resumed;
  const recorded = run.options;
  // an extension rescales the fractions a wsd run forks and saves at: the ones typed at its start no longer compare
  const rescaled = Array.isArray(recorded.extended_from) ? ['branches', 'save_at'] : [];
  const differing = Object.keys(given).filter((k) => !budgetKeys.includes(k) && !rescaled.includes(k))
    .flatMap((k) => difference(k, given[k], recorded[k], shape) ?? []);
  if (differing.length > 0) {
    throw new TlcError(`--resume continues ${dir} with the options it was started with (its run.json); these differ: ` +
      `${differing.join(', ')}: drop them, or start a new run with another --out (a budget flag alone extends the run)`);
  }
  // a budget flag extends the run (src/train/extend.ts); the run's own budget, or one it was extended from, leaves it as it is
  return resumed;
}
