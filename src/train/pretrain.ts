// `tlc pretrain`: a Transformer LM trained from token shards under a budget (or, for
// objective seq2seq, an encoder–decoder on translation pairs: src/train/translation.ts).
import { warn } from '../util/warn.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { writeJsonAtomic, copyFileAtomic } from '../util/atomic.js';
import { TransformerLM, IGNORE_INDEX, type LMBatch } from '../nn/transformer.js';
import { countParams, parseModelConfig, presetConfig, readModelConfig, trainingFlopsPerToken, type ModelConfig } from '../nn/config.js';
import { openShards, readDataMeta } from '../data/shards.js';
import { TOKENIZER_FILE } from '../data/tokenizer-json.js';
import { readPreparedTranslation } from '../data/prepare-translation.js';
import { abandonIfUnstarted, createRun, readRunOptions } from '../run/run-args.js';
import { withRunLock } from '../run/lock.js';
import { runFile } from '../run/layout.js';
import { validationLossSteps } from './validation.js';
import { LMBatcher, evaluationBatches, type BatcherPosition } from './lm-batches.js';
import { unigramLoss } from './baselines.js';
import { trainLoop } from './loop.js';
import { validateBatching } from './schedule.js';
import { trainTranslation } from './translation.js';
import { DEFAULT_EVAL_TOKENS, PRESET_PRETRAIN_DROPOUT, pretrainArgsOf, pretrainOptionsSchema, type PretrainArgs, type PretrainOptions, type ResolvedPretrainOptions } from './args.js';
import type { BranchResult, PretrainEvents, PretrainResult } from './outcome.js';
import { branchArgs, branchDir, forkBranch, readBranchInfo, runEnded, type BranchInfo } from './branches.js';
import { writesRuns } from '../run/rank.js';
import { checkTrainingFits } from './memory-check.js';
import { resumeRun, type BudgetFlags } from './extend.js';
import { mayTrainInBf16 } from '../engine/mixed.js';
import { agreed, dataParallel } from './data-parallel.js';
import { eventsOf, readMetrics } from '../run/metrics.js';

export type { PretrainEvents, PretrainResult } from './outcome.js';

/** The vocabulary size of prepared data: token shards, or for seq2seq a translation directory. */
export function dataVocabSize(dataDir: string, objective: ModelConfig['objective']): number {
  return objective === 'seq2seq' ? readPreparedTranslation(dataDir).tokenizer.vocabSize : readDataMeta(dataDir).vocab_size;
}

/**
 * The model of the options as a config: a preset sized to the data's vocabulary, or a
 * config.json, with the objective, norm and dropout options applied. Reads the data
 * directory, so bad data fails before a run directory is made.
 */
export function resolveModel(o: PretrainOptions): ModelConfig {
  const overrides: Partial<ModelConfig> = {};
  if (o.objective) overrides.objective = o.objective;
  if (o.norm) overrides.norm = o.norm;
  if (o.dropout !== undefined) overrides.dropout = o.dropout;
  if (typeof o.model !== 'string') return parseModelConfig({ ...o.model, ...overrides });
  const spec = o.model;
  if (spec.endsWith('.json') || existsSync(spec)) {
    const config = parseModelConfig({ ...readModelConfig(spec), ...overrides }, spec);
    if (config.labels !== undefined) {
      throw new TlcError(`--model ${spec} is a classifier's config (it lists the labels ${config.labels.map((l) => `"${l}"`).join(', ')}): ` +
        'pretrain takes a language model\'s config.json or a preset; to train a classifier further, use tlc finetune');
    }
    dataVocabSize(o.data, config.objective);
    return config;
  }
  const objective = overrides.objective ?? 'mlm';
  const activation = objective === 'clm' ? 'gelu_tanh' : 'gelu';
  const shape = /^L\d+-D(\d+)$/.exec(spec);
  // below 64 the one head is plain; above, a width off the multiples of 64 gets a rounded count
  if (shape && Number(shape[1]) > 64 && Number(shape[1]) % 64 !== 0) {
    const width = Number(shape[1]), heads = Math.max(1, Math.round(width / 64));
    warn(`${spec}: ${heads} attention head${heads === 1 ? '' : 's'} of width ${width / heads} (the rule: heads = round(width / 64)); ` +
      `name them with -H<n>, e.g. ${spec}-H${Math.max(1, heads * 2)}`);
  }
  return presetConfig(spec, {
    vocab_size: dataVocabSize(o.data, objective), max_len: Math.max(o.seq_len, 128), activation, dropout: PRESET_PRETRAIN_DROPOUT, ...overrides,
  });
}

/**
 * Checks parsed options (from flags, a sweep, the demo) and resolves the model, without
 * touching any run directory.
 */
export function pretrainPlan(parsed: PretrainOptions): { options: ResolvedPretrainOptions; args: PretrainArgs } {
  const options: ResolvedPretrainOptions = { ...parsed, model: resolveModel(parsed) };
  const args = pretrainArgsOf(options);
  validateArgs(args);
  return { options, args };
}

/** Starts a new run in `runDir` (which must not already hold one) from checked options. */
export async function pretrain(runDir: string, options: ResolvedPretrainOptions, events: PretrainEvents = {}, signal?: AbortSignal): Promise<PretrainResult> {
  const args = pretrainArgsOf(options);
  validateArgs(args);
  checkData(args);
  // a data-parallel rank other than 0 trains beside rank 0, which writes the run
  if (!writesRuns()) return run(runDir, args, false, events, signal);
  // the micro-batch size is recorded, so that a resume on another number of ranks keeps
  // the step's micro-batches (and so its data and dropout streams)
  createRun(runDir, 'pretrain', { ...options, micro_batch_size: args.microBatchSize });
  return abandonIfUnstarted(runDir, () => {
    writeJsonAtomic(runFile(runDir, 'config'), args.model);
    return run(runDir, args, false, events, signal);
  });
}

/** The data directory opens and its vocabulary fits the model (before any run directory is made). */
function checkData(a: PretrainArgs): void {
  const vocab = dataVocabSize(a.dataDir, a.model.objective);
  if (vocab > a.model.vocab_size) {
    throw new TlcError(`${a.dataDir}: the data's vocabulary (${vocab}) is larger than the model's vocab_size (${a.model.vocab_size})`);
  }
}

/** The options a pretraining run was started with. */
export function readPretrainOptions(runDir: string): ResolvedPretrainOptions {
  const o = readRunOptions(runDir, 'pretrain', pretrainOptionsSchema);
  if (typeof o.model === 'string') throw new TlcError(`${runFile(runDir, 'args')}: the model is not resolved to a config`);
  return { ...o, model: o.model };
}

/** Continues the run in `runDir` from its last checkpoint, with its own options. */
export async function resumePretrain(runDir: string, events: PretrainEvents = {}, signal?: AbortSignal, extend?: BudgetFlags): Promise<PretrainResult> {
  return resumeRun(runDir, () => readPretrainOptions(runDir), extend, (options, resumed) => {
    const args = pretrainArgsOf(options);
    validateArgs(args);
    return run(runDir, args, resumed, events, signal);
  });
}

function validateArgs(a: PretrainArgs): void {
  validateBatching(a);
  for (const f of [...a.saveAt, ...a.branches]) if (!(f > 0 && f <= 1)) throw new TlcError(`budget fractions must be in (0, 1], got ${f}`);
  checkTrainingFits(a.model, a.microBatchSize, a.seqLen, mayTrainInBf16(a.precision));
}

/**
 * Trains the run: the whole schedule, or for wsd the trunk and then each cooldown branch
 * (src/train/branches.ts). Whatever already ended is not trained again.
 */
async function run(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents, signal?: AbortSignal): Promise<PretrainResult> {
  if (!writesRuns()) return runLocked(runDir, args, resumed, events, signal);
  return withRunLock(runDir, () => runLocked(runDir, args, resumed, events, signal));
}

async function runLocked(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents, signal?: AbortSignal): Promise<PretrainResult> {
  const train = args.model.objective === 'seq2seq' ? trainTranslation : trainLanguageModel;
  // the trunk keeps a checkpoint at every fraction a branch forks from
  const trunkArgs = { ...args, saveAt: [...new Set([...args.saveAt, ...args.branches])].sort((a, b) => a - b) };
  const trunk = resumed && agreed(runEnded(runDir)) ? endedResult(runDir) : await train(runDir, trunkArgs, resumed, events, signal);
  if (trunk.interrupted) return trunk;
  const branches: BranchResult[] = [];
  for (const fraction of args.branches) {
    const dir = branchDir(runDir, fraction);
    if (!agreed(runEnded(dir))) {
      const info = forkOrReadBranch(runDir, args, fraction);
      events.onBranch?.({ fraction, dir });
      const r = await train(dir, branchArgs(args, info), true, events, signal);
      if (r.interrupted) return { ...trunk, interrupted: true, branches };
    }
    branches.push(branchResult(dir));
  }
  return { ...trunk, branches };
}

async function trainLanguageModel(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents,
  signal?: AbortSignal): Promise<PretrainResult> {
  const objective = args.model.objective;
  if (objective === 'seq2seq') throw new TlcError('an encoder–decoder trains on translation pairs (src/train/translation.ts)');
  const shards = openShards(args.dataDir);
  if (shards.meta.vocab_size > args.model.vocab_size) {
    throw new TlcError(`${args.dataDir}: the data's vocabulary (${shards.meta.vocab_size}) is larger than the model's vocab_size (${args.model.vocab_size})`);
  }
  if (writesRuns()) copyFileAtomic(join(args.dataDir, TOKENIZER_FILE), runFile(runDir, 'tokenizer'));
  const cfg = args.model;
  const model = new TransformerLM(cfg, { seed: args.seed });
  const batchOpts = { objective, seqLen: args.seqLen, vocabSize: cfg.vocab_size, seed: args.seed };
  const batcher = new LMBatcher(shards.train, batchOpts);
  const evalSet = evaluationBatches(shards.valid, batchOpts, args.evalTokens, args.microBatchSize);
  const evaluated = evalSet.reduce((n, b) => n + b.batchSize * b.seqLen, 0);
  if (writesRuns() && !resumed && args.evalTokens !== DEFAULT_EVAL_TOKENS && args.evalTokens > evaluated + args.seqLen) {
    warn(`--eval-tokens ${args.evalTokens.toLocaleString('en-US')} is more than the validation split holds: each evaluation reads all of it, ` +
      `${evaluated.toLocaleString('en-US')} tokens`);
  }
  const flopsPerToken = trainingFlopsPerToken(cfg, args.seqLen);
  const counts = countParams(cfg);
  const unigram = unigramLoss(shards.train, evalSet, cfg.vocab_size);
  try {
    const result = await trainLoop<LMBatch>(runDir, { ...args, microBatches: args.batchSize / args.microBatchSize }, {
      model,
      nextBatch: () => batcher.next(args.microBatchSize),
      loss: (b) => model.loss(b, { training: true }).loss,
      cost: (b) => ({ tokens: b.batchSize * b.seqLen, flops: b.batchSize * b.seqLen * flopsPerToken, weight: countTargets(b) }),
      evaluate: () => validationLossSteps(evalSet, (b) => model.loss(b, { training: false })),
      get dataPosition(): unknown {
        return batcher.position;
      },
      set dataPosition(p: unknown) {
        batcher.position = p as BatcherPosition;
      },
      describe: () => ({
        objective: cfg.objective, non_embedding_params: counts.nonEmbedding, flops_per_token: flopsPerToken,
        unigram_valid_loss: unigram,
      }),
      corpusTokens: shards.train.length,
      baseline: { name: 'unigram', loss: unigram },
    }, resumed, events, signal);
    return { runDir, steps: result.steps, usage: result.usage, finalValidLoss: result.lastEval.valid_loss ?? NaN, interrupted: result.interrupted };
  } finally {
    model.dispose();
  }
}

/**
 * The branch at `fraction`: forked from the trunk's checkpoint unless it was before. In a
 * data-parallel job rank 0 forks it and the other ranks read it once it is there.
 */
function forkOrReadBranch(runDir: string, args: PretrainArgs, fraction: number): BranchInfo {
  const dir = branchDir(runDir, fraction);
  const dp = dataParallel();
  if (writesRuns()) {
    const info = existsSync(runFile(dir, 'state')) ? readBranchInfo(dir) : forkBranch(runDir, args, fraction);
    dp?.barrier();
    return info;
  }
  dp?.barrier();
  return readBranchInfo(dir);
}

/** What a run that has ended reports, read back from its metrics. */
function endedResult(runDir: string): PretrainResult {
  const end = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'end').pop()!;
  const usage = { trainSeconds: end.train_seconds, tokens: end.tokens, steps: end.step, flops: end.flops };
  return {
    runDir, steps: end.step, usage, finalValidLoss: end.valid_loss ?? NaN,
    ...(typeof end.valid_bleu === 'number' ? { finalValidBleu: end.valid_bleu } : {}), interrupted: false,
  };
}

function branchResult(dir: string): BranchResult {
  const info = readBranchInfo(dir);
  const end = endedResult(dir);
  const fork = info.fork_usage;
  return {
    fraction: info.fraction, dir, steps: end.steps, usage: end.usage, validLoss: end.finalValidLoss,
    cost: {
      trainSeconds: end.usage.trainSeconds - fork.trainSeconds, tokens: end.usage.tokens - fork.tokens,
      steps: end.usage.steps - fork.steps, flops: end.usage.flops - fork.flops,
    },
  };
}

function countTargets(b: LMBatch): number {
  let n = 0;
  for (const t of b.targets!) if (t !== IGNORE_INDEX) n++;
  return n;
}
