// `tlc pretrain`: a Transformer LM trained from token shards under a budget.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../engine/errors.js';
import { validationLoss } from './validation.js';
import { TransformerLM, IGNORE_INDEX, type LMBatch } from '../nn/transformer.js';
import { countParams, parseModelConfig, trainingFlopsPerToken, type ModelConfig } from '../nn/config.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { openShards } from '../data/shards.js';
import type { BudgetUsage } from './budget.js';
import { LMBatcher, evaluationBatches, type BatcherPosition } from './lm-batches.js';
import { unigramLoss } from './baselines.js';
import { RUN_ARGS, createRun, readRunArgs } from './run-dir.js';
import { validateBatching, trainLoop, type LoopEvents, type RunArgs } from './loop.js';
import { trainTranslation } from './translation.js';
import { readPreparedTranslation } from '../data/prepare-translation.js';

export type { Interval } from './loop.js';
export { RUN_ARGS } from './run-dir.js';

export interface PretrainArgs extends RunArgs {
  dataDir: string;
  model: ModelConfig;
  seqLen: number;
  evalTokens: number;
  saveAt: number[];
  /** seq2seq only: ε of the label-smoothed training loss (default 0.1). */
  labelSmoothing?: number;
  /** seq2seq only: validation pairs translated for BLEU at each evaluation (default 200). */
  bleuPairs?: number;
}

export type PretrainEvents = LoopEvents;

export interface PretrainResult {
  runDir: string;
  steps: number;
  usage: BudgetUsage;
  finalValidLoss: number;
  /** seq2seq only: BLEU of the last evaluation. */
  finalValidBleu?: number;
  interrupted: boolean;
}

/** Starts a new run in `runDir` (which must not already hold one). */
export async function pretrain(runDir: string, args: PretrainArgs, events: PretrainEvents = {}, signal?: AbortSignal): Promise<PretrainResult> {
  validateArgs(args);
  createRun(runDir, 'pretrain', args);
  writeJsonAtomic(join(runDir, 'config.json'), args.model);
  return run(runDir, args, false, events, signal);
}

/** Continues the run in `runDir` from its last checkpoint, with its own arguments. */
export async function resumePretrain(runDir: string, events: PretrainEvents = {}, signal?: AbortSignal): Promise<PretrainResult> {
  const args = readRunArgs<PretrainArgs>(runDir, 'pretrain');
  args.model = parseModelConfig(args.model, join(runDir, RUN_ARGS));
  validateArgs(args);
  return run(runDir, args, existsSync(join(runDir, 'state.json')), events, signal);
}

/** The vocabulary size of prepared data: token shards, or for seq2seq a translation directory. */
export function dataVocabSize(dataDir: string, objective: ModelConfig['objective']): number {
  return objective === 'seq2seq' ? readPreparedTranslation(dataDir).tokenizer.vocabSize : openShards(dataDir).meta.vocab_size;
}

function validateArgs(a: PretrainArgs): void {
  validateBatching(a);
  if (!(Number.isInteger(a.seqLen) && a.seqLen >= 2)) throw new TlcError(`sequence length must be an integer >= 2, got ${a.seqLen}`);
  if (a.seqLen > a.model.max_len) throw new TlcError(`sequence length ${a.seqLen} exceeds the model's max_len ${a.model.max_len}`);
  for (const f of a.saveAt) if (!(f > 0 && f <= 1)) throw new TlcError(`--save-at fractions must be in (0, 1], got ${f}`);
  if (!(Number.isInteger(a.keep) && a.keep >= 1)) throw new TlcError(`--keep must be a positive integer, got ${a.keep}`);
  if (a.labelSmoothing !== undefined && !(a.labelSmoothing >= 0 && a.labelSmoothing < 1)) {
    throw new TlcError(`--label-smoothing must be in [0, 1), got ${a.labelSmoothing}`);
  }
  if (a.bleuPairs !== undefined && !(Number.isInteger(a.bleuPairs) && a.bleuPairs >= 0)) {
    throw new TlcError(`--bleu-pairs must be a non-negative integer, got ${a.bleuPairs}`);
  }
}

async function run(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents, signal?: AbortSignal): Promise<PretrainResult> {
  if (args.model.objective === 'seq2seq') return trainTranslation(runDir, args, resumed, events, signal);
  const objective = args.model.objective; // a language model's, from here on
  const shards = openShards(args.dataDir);
  if (shards.meta.vocab_size > args.model.vocab_size) {
    throw new TlcError(`${args.dataDir}: the data's vocabulary (${shards.meta.vocab_size}) is larger than the model's vocab_size (${args.model.vocab_size})`);
  }
  copyFileAtomic(join(args.dataDir, 'tokenizer.json'), join(runDir, 'tokenizer.json'));
  const cfg = args.model;
  const model = new TransformerLM(cfg, { seed: args.seed });
  const batchOpts = { objective, seqLen: args.seqLen, vocabSize: cfg.vocab_size, seed: args.seed };
  const batcher = new LMBatcher(shards.train, batchOpts);
  const evalSet = evaluationBatches(shards.valid, batchOpts, args.evalTokens, args.microBatchSize);
  const flopsPerToken = trainingFlopsPerToken(cfg, args.seqLen);
  const counts = countParams(cfg);
  try {
    const result = await trainLoop<LMBatch>(runDir, { ...args, microBatches: args.batchSize / args.microBatchSize }, {
      model,
      nextBatch: () => batcher.next(args.microBatchSize),
      loss: (b) => model.loss(b, { training: true }).loss,
      cost: (b) => ({ tokens: b.batchSize * b.seqLen, flops: b.batchSize * b.seqLen * flopsPerToken, weight: countTargets(b) }),
      evaluate: () => validationLoss(evalSet, (b) => model.loss(b, { training: false })),
      get dataPosition(): unknown {
        return batcher.position;
      },
      set dataPosition(p: unknown) {
        batcher.position = p as BatcherPosition;
      },
      describe: () => ({
        objective: cfg.objective, non_embedding_params: counts.nonEmbedding, flops_per_token: flopsPerToken,
        unigram_valid_loss: unigramLoss(shards.train, evalSet, cfg.vocab_size),
      }),
    }, resumed, events, signal);
    return { runDir, steps: result.steps, usage: result.usage, finalValidLoss: result.lastEval.valid_loss ?? NaN, interrupted: result.interrupted };
  } finally {
    model.dispose();
  }
}

function countTargets(b: LMBatch): number {
  let n = 0;
  for (const t of b.targets!) if (t !== IGNORE_INDEX) n++;
  return n;
}
