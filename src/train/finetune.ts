// `tlc finetune`: a classifier on a pretrained body, trained on a labelled task under a
// budget, with validation-based model selection and early stopping, then scored on the
// held-out test split.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../engine/errors.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { loadTask, type Example, type Task } from '../data/tasks.js';
import { classificationBatches, encodeExamples, type ClassificationBatch, type EncodedExamples } from '../data/task-batches.js';
import { readModelConfig, trainingFlopsPerToken, type ModelConfig } from '../nn/config.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { loadPretrainedBody, loadWeights, saveWeights } from '../nn/weights.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { BudgetUsage } from './budget.js';
import { evaluateClassifier, type ClassifierEvaluation } from './classify.js';
import { validateBatching, trainLoop, type LoopEvents, type RunArgs } from './loop.js';
import { createRun, readRunArgs, readRunArgsIfAny } from './run-dir.js';

export interface FinetuneArgs extends RunArgs {
  /** The pretrained run (config.json, tokenizer.json, model.safetensors). */
  from: string;
  task: string;
  /** Seed of the task's train/valid/test split (fixed, so every model sees the same test set). */
  taskSeed: number;
  maxExamples?: number;
  /** Tokens per example, including <s> and </s> (longer texts are truncated). */
  maxLen: number;
  dropout?: number;
  /** Evaluations without a better validation accuracy before stopping early. */
  patience: number;
}

export interface FinetuneResult {
  runDir: string;
  steps: number;
  usage: BudgetUsage;
  interrupted: boolean;
  stoppedEarly: boolean;
  /** Scores of the selected (best-on-validation) model. */
  valid: ClassifierEvaluation | null;
  test: ClassifierEvaluation | null;
  labels: readonly string[];
}

export const RESULTS_FILE = 'results.json';

export async function finetune(runDir: string, args: FinetuneArgs, events: LoopEvents = {}, signal?: AbortSignal): Promise<FinetuneResult> {
  validateArgs(args);
  createRun(runDir, 'finetune', args);
  return run(runDir, args, false, events, signal);
}

export async function resumeFinetune(runDir: string, events: LoopEvents = {}, signal?: AbortSignal): Promise<FinetuneResult> {
  const args = readRunArgs<FinetuneArgs>(runDir, 'finetune');
  validateArgs(args);
  return run(runDir, args, existsSync(join(runDir, 'state.json')), events, signal);
}

function validateArgs(a: FinetuneArgs): void {
  validateBatching(a);
  if (!(Number.isInteger(a.patience) && a.patience >= 1)) throw new TlcError(`--patience must be a positive integer, got ${a.patience}`);
  if (a.dropout !== undefined && !(a.dropout >= 0 && a.dropout < 1)) throw new TlcError(`--dropout must be in [0, 1), got ${a.dropout}`);
}

/** The pretrained run's pieces, checked against each other. */
export function readPretrained(dir: string): { config: ModelConfig; tokenizerPath: string; weightsPath: string } {
  const configPath = join(dir, 'config.json'), tokenizerPath = join(dir, 'tokenizer.json'), weightsPath = join(dir, 'model.safetensors');
  for (const p of [configPath, tokenizerPath, weightsPath]) {
    if (!existsSync(p)) throw new TlcError(`${dir}: not a tlc run directory (${p} is missing)`);
  }
  const config = readModelConfig(configPath);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new TlcError(`${tokenizerPath} has ${tokenizer.vocabSize} tokens but ${configPath} has vocab_size ${config.vocab_size}: ` +
      'the tokenizer does not belong to this model');
  }
  return { config, tokenizerPath, weightsPath };
}

/** Encodes a task's splits with a tokenizer; labels must have been seen in training. */
export function encodeTask(task: Task, tokenizerPath: string, labels: readonly string[], maxLen: number) {
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
 * A task encoded for a finetuned run as it was finetuned: the split seed, example cap and
 * truncation recorded in its run.json (unless overridden), so the test split holds no
 * training example and scores match those of finetuning.
 */
export async function taskForRun(run: string, config: ModelConfig, taskSpec: string, overrides: { taskSeed?: number; maxLen?: number } = {}) {
  if (!config.labels) throw new TlcError(`${run}: not a classifier (no "labels" in config.json); finetune it first with \`tlc finetune\``);
  const trained = readRunArgsIfAny(run);
  const task = await loadTask(taskSpec, {
    seed: overrides.taskSeed ?? (trained?.taskSeed as number | undefined) ?? 0,
    maxExamples: trained?.task === taskSpec ? trained?.maxExamples as number | undefined : undefined,
  });
  const maxLen = overrides.maxLen ?? (trained?.maxLen as number | undefined) ?? config.max_len;
  return { task, data: encodeTask(task, join(run, 'tokenizer.json'), config.labels, Math.min(maxLen, config.max_len)) };
}

async function run(runDir: string, args: FinetuneArgs, resumed: boolean, events: LoopEvents, signal?: AbortSignal): Promise<FinetuneResult> {
  const pre = readPretrained(args.from);
  const task = await loadTask(args.task, { seed: args.taskSeed, maxExamples: args.maxExamples });
  const maxLen = Math.min(args.maxLen, pre.config.max_len);
  const config: ModelConfig = { ...pre.config, labels: [...task.labels], dropout: args.dropout ?? pre.config.dropout };
  writeJsonAtomic(join(runDir, 'config.json'), config);
  copyFileAtomic(pre.tokenizerPath, join(runDir, 'tokenizer.json'));
  const data = encodeTask(task, pre.tokenizerPath, task.labels, maxLen);

  const model = new TransformerClassifier(config, { seed: args.seed });
  if (!resumed) loadPretrainedBody(model, pre.weightsPath);
  const flopsPerToken = trainingFlopsPerToken(config, maxLen);
  let position = { epoch: 0, batch: 0 };
  let batches: Generator<ClassificationBatch> | null = null;
  const nextBatch = (): ClassificationBatch => {
    for (;;) {
      batches ??= classificationBatches(data.train, {
        batchSize: args.microBatchSize, shuffle: true, seed: args.seed, epoch: position.epoch, startBatch: position.batch,
      });
      const r = batches.next();
      if (!r.done) {
        position = { epoch: position.epoch, batch: position.batch + 1 };
        return r.value;
      }
      position = { epoch: position.epoch + 1, batch: 0 };
      batches = null;
    }
  };
  const bestPath = join(runDir, 'model.safetensors');
  try {
    const result = await trainLoop<ClassificationBatch>(runDir, {
      ...args, microBatches: args.batchSize / args.microBatchSize, saveAt: [], publishLatest: false,
    }, {
      model,
      nextBatch,
      loss: (b) => model.loss(b, { training: true }).loss,
      cost: (b) => {
        let tokens = 0;
        for (const m of b.attentionMask) tokens += m;
        return { tokens, flops: tokens * flopsPerToken, weight: b.batchSize };
      },
      evaluate: () => {
        const e = evaluateClassifier(model, data.valid);
        return { valid_loss: e.loss, valid_accuracy: e.accuracy, valid_macro_f1: e.macroF1 };
      },
      isBetter: (m, best) => m.valid_accuracy > best.valid_accuracy ||
        (m.valid_accuracy === best.valid_accuracy && m.valid_loss < best.valid_loss),
      saveBest: () => saveWeights(model, bestPath, { labels: JSON.stringify(config.labels) }),
      // the best weights travel with each checkpoint, so a resumed run keeps the best of its own timeline
      saveExtras: (dir) => {
        if (existsSync(bestPath)) copyFileAtomic(bestPath, join(dir, 'best.safetensors'));
      },
      restoreExtras: (dir) => {
        const saved = join(dir, 'best.safetensors');
        if (existsSync(saved)) copyFileAtomic(saved, bestPath);
        else rmSync(bestPath, { force: true });
      },
      get dataPosition(): unknown {
        return position;
      },
      set dataPosition(p: unknown) {
        position = p as typeof position;
        batches = null;
      },
      describe: () => ({
        task: task.name, labels: task.labels, train_examples: data.train.labelIds.length,
        valid_examples: data.valid.labelIds.length, test_examples: data.test.labelIds.length, from: args.from,
      }),
    }, resumed, events, signal);

    let valid: ClassifierEvaluation | null = null, test: ClassifierEvaluation | null = null;
    if (!result.interrupted) {
      loadWeights(model, bestPath);
      valid = evaluateClassifier(model, data.valid);
      test = evaluateClassifier(model, data.test);
      writeJsonAtomic(join(runDir, RESULTS_FILE), {
        task: task.name, labels: task.labels, best_step: result.best?.step ?? null, steps: result.steps,
        stopped_early: result.stoppedEarly, train_seconds: result.usage.trainSeconds,
        valid: summary(valid), test: summary(test), notes: task.notes,
      });
    }
    return {
      runDir, steps: result.steps, usage: result.usage, interrupted: result.interrupted, stoppedEarly: result.stoppedEarly,
      valid, test, labels: task.labels,
    };
  } finally {
    model.dispose();
  }
}

export function summary(e: ClassifierEvaluation): Record<string, unknown> {
  return { examples: e.examples, loss: e.loss, accuracy: e.accuracy, macro_f1: e.macroF1, per_label: e.perLabel, confusion: e.confusion };
}
