// A labelled task encoded for a model: the task's splits through the model's tokenizer,
// with its label ids — and, for a finetuned run, the task as that run was finetuned on it.
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import type { ModelConfig } from '../nn/config.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { loadTask, type Example, type Task } from '../data/tasks.js';
import { encodeExamples, type EncodedExamples } from '../data/task-batches.js';
import { readSettingResult } from './compress-summary.js';
import { readRunArgsIfAny } from './run-args.js';
import { runFile } from './layout.js';

export interface EncodedTask {
  train: EncodedExamples;
  valid: EncodedExamples;
  test: EncodedExamples;
}

/** Encodes a task's splits with a tokenizer; labels must have been seen in training. */
export function encodeTask(task: Task, tokenizerPath: string, labels: readonly string[], maxLen: number): EncodedTask {
  const tokenizer = loadTokenizer(tokenizerPath);
  const known = new Set(labels);
  for (const [split, examples] of Object.entries(task.splits) as [string, Example[]][]) {
    const unseen = examples.find((e) => !known.has(e.label));
    if (unseen) {
      throw new TlcError(`${task.source}: label "${unseen.label}" in the ${split} split was not seen at training time ` +
        `(the model knows ${labels.map((l) => `"${l}"`).join(', ')})`);
    }
  }
  const enc = (examples: Example[]): EncodedExamples => encodeExamples(examples, tokenizer, labels, { maxLen });
  return { train: enc(task.splits.train), valid: enc(task.splits.valid), test: enc(task.splits.test) };
}

/**
 * What a finetuned run recorded about its task (run.json), or nothing for other directories.
 * A setting of `tlc compress` answers with the split it was scored on, so that evaluating it
 * again scores the same examples.
 */
export function finetunedTask(run: string): { task?: string; taskSeed?: number; maxExamples?: number; maxLen?: number } {
  const trained = readRunArgsIfAny(run);
  if (!trained) {
    const scored = readSettingResult(run)?.row.scored_on;
    return scored
      ? { task: scored.task, taskSeed: scored.task_seed, maxExamples: scored.max_examples ?? undefined, maxLen: scored.max_len }
      : {};
  }
  if (trained.command !== 'finetune') return {};
  const o = trained.options;
  const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
  return {
    task: typeof o.task === 'string' ? o.task : undefined, taskSeed: num(o.task_seed), maxExamples: num(o.max_examples), maxLen: num(o.max_len),
  };
}

/** The split `taskForRun` encodes for `run`: what compress records as a setting's `scored_on`. */
export function splitForRun(run: string, config: ModelConfig, taskSpec: string, overrides: { taskSeed?: number; maxLen?: number } = {}) {
  if (overrides.maxLen !== undefined && overrides.maxLen > config.max_len) {
    throw new TlcError(`--max-len ${overrides.maxLen} is beyond the ${config.max_len} positions of ${run}'s model: give at most ${config.max_len}`);
  }
  const trained = finetunedTask(run);
  return {
    task: taskSpec,
    task_seed: overrides.taskSeed ?? trained.taskSeed ?? 0,
    max_examples: trained.task === taskSpec ? trained.maxExamples ?? null : null,
    max_len: Math.min(overrides.maxLen ?? trained.maxLen ?? config.max_len, config.max_len),
  };
}

/**
 * A task encoded for a finetuned run as it was finetuned: the split seed, example cap and
 * truncation recorded in its run.json (unless overridden), so the test split holds no
 * training example and scores match those of finetuning.
 */
export async function taskForRun(run: string, config: ModelConfig, taskSpec: string,
  overrides: { taskSeed?: number; maxLen?: number } = {}): Promise<{ task: Task; data: EncodedTask }> {
  if (!config.labels) throw new TlcError(`${run}: not a classifier (no "labels" in config.json); finetune it first with \`tlc finetune\``);
  const split = splitForRun(run, config, taskSpec, overrides);
  const trained = finetunedTask(run);
  if (overrides.taskSeed !== undefined && trained.task === taskSpec && trained.taskSeed !== undefined && overrides.taskSeed !== trained.taskSeed) {
    warn(`--task-seed ${overrides.taskSeed} is not the seed ${run} was finetuned with (${trained.taskSeed}): ` +
      'its splits differ, so the scored split may hold examples the model was trained on');
  }
  const task = await loadTask(taskSpec, { seed: split.task_seed, maxExamples: split.max_examples ?? undefined });
  return { task, data: encodeTask(task, runFile(run, 'tokenizer'), config.labels, split.max_len) };
}
