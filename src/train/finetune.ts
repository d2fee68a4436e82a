// `tlc finetune`: a classifier on a pretrained body (or a finetuned classifier, finetuned
// further), trained on a labelled task under a budget, with validation-based model
// selection and early stopping, then scored on the held-out test split. Compression
// finetunes through here too, with its hooks and keeping the last weights.
import type { Tensor } from '../engine/tensor.js';
import { hfModelDir } from '../import/import.js';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { checkLabels, loadTask, type Task } from '../data/tasks.js';
import { classificationBatches, type ClassificationBatch, type EncodedExamples } from '../data/task-batches.js';
import { trainingFlopsPerToken, type ModelConfig } from '../nn/config.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { loadPretrainedBody, loadWeights, saveWeights } from '../nn/weights.js';
import { abandonIfUnstarted, createRun, readRunOptions } from '../run/run-args.js';
import { withRunLock } from '../run/lock.js';
import { writesRuns } from '../run/rank.js';
import { checkTrainingFits } from './memory-check.js';
import { resumeRun, type BudgetFlags } from './extend.js';
import { mayTrainInBf16 } from '../engine/mixed.js';
import { CHECKPOINT_FILES, runFile } from '../run/layout.js';
import { readPretrained, type PretrainedFiles } from '../run/pretrained.js';
import { encodeTask, type EncodedTask } from '../run/task.js';
import { writeFinetuneResults, type Scores } from '../run/results.js';
import type { BudgetUsage } from './budget.js';
import { evaluateClassifier, evaluateClassifierSteps, type ClassifierEvaluation } from './classify.js';
import { trainLoop, type LoopEvents, type LoopHooks, type LoopResult } from './loop.js';
import { validateBatching } from './schedule.js';
import { finetuneArgsOf, finetuneOptionsSchema, type FinetuneArgs, type FinetuneOptions } from './args.js';

export interface FinetuneResult {
  runDir: string;
  steps: number;
  usage: BudgetUsage;
  interrupted: boolean;
  stoppedEarly: boolean;
  /** Scores of the selected model. */
  valid: ClassifierEvaluation | null;
  test: ClassifierEvaluation | null;
  labels: readonly string[];
}

/** What compression adds to a finetuning run. */
export interface FinetuneExtension {
  /** Hooks on the model being trained, with state that travels in its checkpoints. */
  hooks(model: TransformerClassifier): LoopHooks & { save?(checkpointDir: string): void; restore?(checkpointDir: string): void };
  /** Which weights are the result: 'best' on validation (the default), or the 'last' ones. */
  keep: 'best' | 'last';
  /** The training loss of a batch in place of the cross-entropy (distillation from a teacher). */
  loss?(model: TransformerClassifier, batch: ClassificationBatch): Tensor;
}

/** Checks parsed options (flags, the demo, compression) without touching any run directory. */
export function finetunePlan(options: FinetuneOptions): { options: FinetuneOptions; args: FinetuneArgs } {
  const args = finetuneArgsOf(options);
  validateArgs(args);
  return { options, args };
}

export async function finetune(runDir: string, options: FinetuneOptions, events: LoopEvents = {}, signal?: AbortSignal,
  extension?: FinetuneExtension): Promise<FinetuneResult> {
  const args = finetuneArgsOf(options);
  validateArgs(args);
  const inputs = await loadInputs(args);
  const labelled = { ...inputs.pre.config, labels: [...inputs.task.labels] };
  checkTrainingFits(labelled, args.microBatchSize, Math.min(args.maxLen, labelled.max_len), mayTrainInBf16(args.precision));
  // a data-parallel rank other than 0 trains beside rank 0, which writes the run
  if (!writesRuns()) return runLocked(runDir, args, false, events, signal, extension, inputs);
  // the micro-batch size is recorded, so that a resume on another number of ranks keeps the step's micro-batches
  createRun(runDir, 'finetune', { ...options, micro_batch_size: args.microBatchSize });
  return abandonIfUnstarted(runDir, () => run(runDir, args, false, events, signal, extension, inputs));
}

export async function resumeFinetune(runDir: string, events: LoopEvents = {}, signal?: AbortSignal,
  extension?: FinetuneExtension, extend?: BudgetFlags): Promise<FinetuneResult> {
  return resumeRun(runDir, () => readRunOptions(runDir, 'finetune', finetuneOptionsSchema), extend, async (options, resumed) => {
    const args = finetuneArgsOf(options);
    validateArgs(args);
    return run(runDir, args, resumed, events, signal, extension, await loadInputs(args));
  });
}

function validateArgs(a: FinetuneArgs): void {
  validateBatching(a);
}

interface Inputs {
  pre: PretrainedFiles;
  task: Task;
}

/** The pretrained model and the task, read and checked against each other before any run directory is made. */
async function loadInputs(args: FinetuneArgs): Promise<Inputs> {
  // a Hugging Face folder is imported on the fly
  const pre = readPretrained(hfModelDir(args.from));
  const task = await loadTask(args.task, { seed: args.taskSeed, maxExamples: args.maxExamples });
  checkLabels(task);
  if (pre.config.labels !== undefined && pre.config.labels.join('\n') !== task.labels.join('\n')) {
    throw new TlcError(`${args.from} is a classifier for labels ${pre.config.labels.map((l) => `"${l}"`).join(', ')}; ` +
      `${args.task} has ${task.labels.map((l) => `"${l}"`).join(', ')}: finetune from its pretrained run instead`);
  }
  return { pre, task };
}

async function run(runDir: string, args: FinetuneArgs, resumed: boolean, events: LoopEvents, signal: AbortSignal | undefined,
  extension: FinetuneExtension | undefined, inputs: Inputs): Promise<FinetuneResult> {
  if (!writesRuns()) return runLocked(runDir, args, resumed, events, signal, extension, inputs);
  return withRunLock(runDir, () => runLocked(runDir, args, resumed, events, signal, extension, inputs));
}

async function runLocked(runDir: string, args: FinetuneArgs, resumed: boolean, events: LoopEvents, signal: AbortSignal | undefined,
  extension: FinetuneExtension | undefined, { pre, task }: Inputs): Promise<FinetuneResult> {
  const continuing = pre.config.labels !== undefined;
  const maxLen = Math.min(args.maxLen, pre.config.max_len);
  const config: ModelConfig = { ...pre.config, labels: [...task.labels], dropout: args.dropout ?? pre.config.dropout };
  const writes = writesRuns();
  if (writes) {
    writeJsonAtomic(runFile(runDir, 'config'), config);
    copyFileAtomic(pre.tokenizerPath, runFile(runDir, 'tokenizer'));
  }
  const data = encodeTask(task, pre.tokenizerPath, task.labels, maxLen);

  const model = new TransformerClassifier(config, { seed: args.seed });
  if (!resumed) {
    if (continuing) loadWeights(model, pre.weightsPath);
    else loadPretrainedBody(model, pre.weightsPath);
  }
  const flopsPerToken = trainingFlopsPerToken(config, maxLen);
  const batches = new EpochBatches(data.train, args.microBatchSize, args.seed);
  const keepBest = (extension?.keep ?? 'best') === 'best';
  const hooks = extension?.hooks(model);
  const resultPath = runFile(runDir, 'weights');
  const bestChoice = keepBest ? {
    isBetter: (m: Record<string, number>, best: Record<string, number>) => m.valid_accuracy > best.valid_accuracy ||
      (m.valid_accuracy === best.valid_accuracy && m.valid_loss < best.valid_loss),
    saveBest: () => {
      if (writes) saveWeights(model, resultPath, { labels: JSON.stringify(config.labels) });
    },
  } : {};
  try {
    const result = await trainLoop<ClassificationBatch>(runDir, {
      ...args, microBatches: args.batchSize / args.microBatchSize, saveAt: [], publishLatest: !keepBest,
      patience: keepBest ? args.patience : undefined,
    }, {
      model,
      nextBatch: () => batches.next(),
      loss: (b) => (extension?.loss ? extension.loss(model, b) : model.loss(b, { training: true }).loss),
      cost: (b) => {
        let tokens = 0;
        for (const m of b.attentionMask) tokens += m;
        return { tokens, flops: tokens * flopsPerToken, weight: b.batchSize };
      },
      evaluate: function* () {
        const e = yield* evaluateClassifierSteps(model, data.valid);
        return { valid_loss: e.loss, valid_accuracy: e.accuracy, valid_macro_f1: e.macroF1 };
      },
      ...bestChoice,
      // the best weights (and the hooks' state) travel with each checkpoint, so a resumed
      // run keeps the best of its own timeline
      saveExtras: (dir) => {
        if (keepBest && existsSync(resultPath)) copyFileAtomic(resultPath, join(dir, CHECKPOINT_FILES.best));
        hooks?.save?.(dir);
      },
      restoreExtras: (dir) => {
        // every rank restores the hooks' state (a pruning mask must be the same on all of them);
        // only the writer puts the best weights back in the run directory
        hooks?.restore?.(dir);
        if (!writes || !keepBest) return;
        const saved = join(dir, CHECKPOINT_FILES.best);
        if (existsSync(saved)) copyFileAtomic(saved, resultPath);
        else rmSync(resultPath, { force: true });
      },
      get dataPosition(): unknown {
        return batches.position;
      },
      set dataPosition(p: unknown) {
        batches.position = p as EpochPosition;
      },
      describe: () => ({
        task: task.name, labels: task.labels, train_examples: data.train.labelIds.length,
        valid_examples: data.valid.labelIds.length, test_examples: data.test.labelIds.length, from: args.from,
      }),
      hooks,
    }, resumed, events, signal);

    const scored = !result.interrupted && writes ? writeResults(runDir, model, resultPath, data, task, keepBest, result) : null;
    return {
      runDir, steps: result.steps, usage: result.usage, interrupted: result.interrupted, stoppedEarly: result.stoppedEarly,
      valid: scored?.valid ?? null, test: scored?.test ?? null, labels: task.labels,
    };
  } finally {
    model.dispose();
  }
}

/** The finished run's weights scored on the validation and test splits, written to results.json. */
function writeResults(runDir: string, model: TransformerClassifier, weights: string, data: EncodedTask, task: Task, keepBest: boolean,
  result: LoopResult): { valid: ClassifierEvaluation; test: ClassifierEvaluation } {
  loadWeights(model, weights);
  const valid = evaluateClassifier(model, data.valid), test = evaluateClassifier(model, data.test);
  writeFinetuneResults(runDir, {
    task: task.name, labels: task.labels, best_step: keepBest ? result.best?.step ?? null : result.steps, steps: result.steps,
    stopped_early: result.stoppedEarly, train_seconds: result.usage.trainSeconds,
    valid: scoresOf(valid), test: scoresOf(test), notes: task.notes,
  });
  return { valid, test };
}

/** Where shuffled training batches are: the epoch, and the batches of it already drawn. */
interface EpochPosition {
  epoch: number;
  batch: number;
}

/** Shuffled micro-batches, epoch after epoch; its position is checkpointed, and setting it resumes there. */
class EpochBatches {
  private at: EpochPosition = { epoch: 0, batch: 0 };
  private batches: Generator<ClassificationBatch> | null = null;

  constructor(private readonly examples: EncodedExamples, private readonly batchSize: number, private readonly seed: number) {}

  get position(): EpochPosition {
    return this.at;
  }

  set position(p: EpochPosition) {
    this.at = p;
    this.batches = null;
  }

  next(): ClassificationBatch {
    for (;;) {
      this.batches ??= classificationBatches(this.examples, {
        batchSize: this.batchSize, shuffle: true, seed: this.seed, epoch: this.at.epoch, startBatch: this.at.batch,
      });
      const r = this.batches.next();
      if (!r.done) {
        this.at = { epoch: this.at.epoch, batch: this.at.batch + 1 };
        return r.value;
      }
      this.at = { epoch: this.at.epoch + 1, batch: 0 };
      this.batches = null;
    }
  }
}

/** The scores of an evaluation as results.json and `tlc evaluate --json` write them. */
export function scoresOf(e: ClassifierEvaluation): Scores {
  return { examples: e.examples, loss: e.loss, accuracy: e.accuracy, macro_f1: e.macroF1, per_label: e.perLabel, confusion: e.confusion };
}
