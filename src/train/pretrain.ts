// `tlc pretrain`: train a Transformer LM from token shards under a budget.
//
// The loop is plain: draw a batch, forward/backward over micro-batches, one AdamW step
// with the learning rate given by the budget progress. Only the step itself is charged
// to a time budget; evaluation and checkpoints are timed and logged separately.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../engine/errors.js';
import { backward, noGrad, zeroGrad } from '../engine/autograd.js';
import { tidy } from '../engine/tensor.js';
import { AdamW } from '../engine/optim.js';
import { getThreads } from '../engine/threads.js';
import { TransformerLM, type LMBatch } from '../nn/transformer.js';
import { countParams, parseModelConfig, trainingFlopsPerToken, type ModelConfig } from '../nn/config.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { openShards } from '../data/shards.js';
import { type Budget, type BudgetUsage, budgetProgress, budgetSpent, describeBudget } from './budget.js';
import { learningRate, validateSchedule, type ScheduleConfig } from './schedule.js';
import { LMBatcher, evaluationBatches } from './lm-batches.js';
import { MetricsLog } from './metrics.js';
import { checkpointName, pruneCheckpoints, restoreCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';

/** A trigger every `value` steps, every `value` seconds of training, or at budget fractions. */
export type Interval = { kind: 'steps' | 'seconds' | 'fraction'; value: number };

export interface PretrainArgs {
  dataDir: string;
  model: ModelConfig;
  budget: Budget;
  batchSize: number;
  microBatchSize: number;
  seqLen: number;
  schedule: ScheduleConfig;
  weightDecay: number;
  betas: [number, number];
  eps: number;
  maxGradNorm: number | null;
  seed: number;
  evalEvery: Interval;
  evalTokens: number;
  saveEvery: Interval;
  saveAt: number[];
  keep: number;
}

export interface PretrainEvents {
  onStart?(info: { resumed: boolean; params: number; budget: string; step: number }): void;
  onStep?(info: { step: number; loss: number; lr: number; progress: number; tokensPerS: number; usage: BudgetUsage }): void;
  onEval?(info: { step: number; validLoss: number; progress: number }): void;
  onCheckpoint?(info: { step: number; path: string }): void;
}

export interface PretrainResult {
  runDir: string;
  steps: number;
  usage: BudgetUsage;
  finalValidLoss: number;
  interrupted: boolean;
}

const RUN_ARGS = 'run.json';

/** Starts a new run in `runDir` (which must not already hold one). */
export async function pretrain(runDir: string, args: PretrainArgs, events: PretrainEvents = {}, signal?: AbortSignal): Promise<PretrainResult> {
  if (existsSync(join(runDir, 'state.json')) || existsSync(join(runDir, RUN_ARGS))) {
    throw new TlcError(`${runDir} already holds a run; pass --resume to continue it, or choose another --out`);
  }
  validateArgs(args);
  mkdirSync(runDir, { recursive: true });
  writeJsonAtomic(join(runDir, RUN_ARGS), args);
  writeJsonAtomic(join(runDir, 'config.json'), args.model);
  return run(runDir, args, false, events, signal);
}

/** Continues the run in `runDir` from its last checkpoint, with its own arguments. */
export async function resumePretrain(runDir: string, events: PretrainEvents = {}, signal?: AbortSignal): Promise<PretrainResult> {
  const path = join(runDir, RUN_ARGS);
  if (!existsSync(path)) throw new TlcError(`${runDir}: nothing to resume (no ${RUN_ARGS}); start the run without --resume`);
  let args: PretrainArgs;
  try {
    args = JSON.parse(readFileSync(path, 'utf8')) as PretrainArgs;
  } catch (e) {
    throw new TlcError(`${path}: corrupted run arguments (${(e as Error).message})`);
  }
  args.model = parseModelConfig(args.model, path);
  validateArgs(args);
  return run(runDir, args, existsSync(join(runDir, 'state.json')), events, signal);
}

function validateArgs(a: PretrainArgs): void {
  validateSchedule(a.schedule);
  if (!(Number.isInteger(a.batchSize) && a.batchSize >= 1)) throw new TlcError(`batch size must be a positive integer, got ${a.batchSize}`);
  if (!(Number.isInteger(a.microBatchSize) && a.microBatchSize >= 1 && a.batchSize % a.microBatchSize === 0)) {
    throw new TlcError(`micro-batch size ${a.microBatchSize} must divide the batch size ${a.batchSize}`);
  }
  if (!(Number.isInteger(a.seqLen) && a.seqLen >= 2)) throw new TlcError(`sequence length must be an integer >= 2, got ${a.seqLen}`);
  if (a.seqLen > a.model.max_len) throw new TlcError(`sequence length ${a.seqLen} exceeds the model's max_len ${a.model.max_len}`);
  for (const f of a.saveAt) if (!(f > 0 && f <= 1)) throw new TlcError(`--save-at fractions must be in (0, 1], got ${f}`);
  if (!(Number.isInteger(a.keep) && a.keep >= 1)) throw new TlcError(`--keep must be a positive integer, got ${a.keep}`);
}

async function run(runDir: string, args: PretrainArgs, resumed: boolean, events: PretrainEvents, signal?: AbortSignal): Promise<PretrainResult> {
  const shards = openShards(args.dataDir);
  if (shards.meta.vocab_size > args.model.vocab_size) {
    throw new TlcError(`${args.dataDir}: the data's vocabulary (${shards.meta.vocab_size}) is larger than the model's vocab_size (${args.model.vocab_size})`);
  }
  copyFileSync(join(args.dataDir, 'tokenizer.json'), join(runDir, 'tokenizer.json'));
  const cfg = args.model;
  const model = new TransformerLM(cfg, { seed: args.seed });
  const params = model.parameters();
  const optimizer = new AdamW(params, {
    lr: args.schedule.peakLr, betas: args.betas, eps: args.eps, weightDecay: args.weightDecay,
    maxGradNorm: args.maxGradNorm, noDecay: (p) => p.shape.length < 2,
  });
  const batchOpts = { objective: cfg.objective, seqLen: args.seqLen, vocabSize: cfg.vocab_size, seed: args.seed };
  const batcher = new LMBatcher(shards.train, batchOpts);
  const evalSet = evaluationBatches(shards.valid, batchOpts, args.evalTokens, args.microBatchSize);
  const metrics = new MetricsLog(join(runDir, 'metrics.jsonl'));

  let state: TrainerState = {
    format_version: 1, step: 0, usage: { trainSeconds: 0, tokens: 0, steps: 0, flops: 0 },
    eval_seconds: 0, checkpoint_seconds: 0, batcher: batcher.position, dropout_rng: model.dropoutRng.getState(),
    triggers: {}, last_lr: 0, done: false,
  };
  if (resumed) {
    const restored = restoreCheckpoint(runDir, model, optimizer);
    const { checkpoint: _ptr, ...rest } = restored;
    state = rest;
    batcher.position = state.batcher;
    model.dropoutRng.setState(state.dropout_rng as never);
    metrics.truncateAfter(state.step);
  }
  const counts = countParams(cfg);
  const flopsPerToken = trainingFlopsPerToken(cfg, args.seqLen);
  events.onStart?.({ resumed, params: counts.total, budget: describeBudget(args.budget), step: state.step });
  metrics.append({
    event: resumed ? 'resume' : 'start', step: state.step, params: counts.total, non_embedding_params: counts.nonEmbedding,
    flops_per_token: flopsPerToken, budget: args.budget, threads: getThreads(), train_seconds: state.usage.trainSeconds,
  });

  const evaluate = (): number => {
    const t0 = performance.now();
    let sum = 0, count = 0;
    noGrad(() => {
      for (const b of evalSet) {
        tidy(() => {
          const { loss, tokens } = model.loss(b, { training: false });
          sum += loss.item() * tokens;
          count += tokens;
        });
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    state.eval_seconds += seconds;
    const validLoss = count > 0 ? sum / count : NaN;
    metrics.append({
      event: 'eval', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens, flops: state.usage.flops,
      valid_loss: validLoss, valid_ppl: Math.exp(validLoss), valid_tokens: count, eval_seconds: seconds,
    });
    events.onEval?.({ step: state.step, validLoss, progress: budgetProgress(args.budget, state.usage) });
    return validLoss;
  };

  let lastCheckpointStep = resumed ? state.step : -1;
  const checkpoint = (tag?: string): void => {
    if (!tag && lastCheckpointStep === state.step) return;
    if (!tag) lastCheckpointStep = state.step;
    const t0 = performance.now();
    state.batcher = batcher.position;
    state.dropout_rng = model.dropoutRng.getState();
    const name = checkpointName(state.step, tag);
    const path = saveCheckpoint(runDir, name, model, optimizer, state);
    if (!tag) pruneCheckpoints(runDir, args.keep, `checkpoints/${name}`);
    const seconds = (performance.now() - t0) / 1000;
    state.checkpoint_seconds += seconds;
    metrics.append({ event: 'checkpoint', step: state.step, path: `checkpoints/${name}`, checkpoint_seconds: seconds });
    events.onCheckpoint?.({ step: state.step, path });
  };

  // Triggers fire when their counter crosses a new multiple of the interval.
  const crossed = (key: string, iv: Interval): boolean => {
    const value = iv.kind === 'steps' ? state.usage.steps : iv.kind === 'seconds' ? state.usage.trainSeconds : budgetProgress(args.budget, state.usage);
    const mark = Math.floor(value / iv.value + 1e-9);
    if (mark > (state.triggers[key] ?? 0)) {
      state.triggers[key] = mark;
      return true;
    }
    return false;
  };

  if (!resumed) {
    evaluate();
    checkpoint();
  }
  let lastValid = NaN, interrupted = false;
  const micro = args.batchSize / args.microBatchSize;
  while (!state.done && !budgetSpent(args.budget, state.usage)) {
    await yieldToEventLoop(); // lets SIGINT/SIGTERM handlers run between steps
    if (signal?.aborted) {
      interrupted = true;
      break;
    }
    const t0 = performance.now();
    const lr = learningRate(args.schedule, budgetProgress(args.budget, state.usage));
    const batches: LMBatch[] = [];
    for (let i = 0; i < micro; i++) batches.push(batcher.next(args.microBatchSize));
    const targets = batches.map((b) => countTargets(b));
    const totalTargets = targets.reduce((a, b) => a + b, 0);
    zeroGrad(params);
    let lossSum = 0;
    batches.forEach((b, i) => tidy(() => {
      const { loss } = model.loss(b, { training: true });
      lossSum += loss.item() * targets[i];
      // token-weighted mean over the whole batch, whatever the micro-batch split
      backward(loss, totalTargets > 0 ? targets[i] / totalTargets : 0);
    }));
    const { gradNorm } = optimizer.step(lr);
    const seconds = (performance.now() - t0) / 1000;
    const tokens = args.batchSize * args.seqLen;
    state.step++;
    state.last_lr = lr;
    state.usage = {
      trainSeconds: state.usage.trainSeconds + seconds, tokens: state.usage.tokens + tokens,
      steps: state.usage.steps + 1, flops: state.usage.flops + tokens * flopsPerToken,
    };
    const loss = totalTargets > 0 ? lossSum / totalTargets : NaN;
    if (!Number.isFinite(loss)) {
      throw new TlcError(`training diverged at step ${state.step}: loss is ${loss} (try a lower --lr or more warmup)`);
    }
    const progress = budgetProgress(args.budget, state.usage);
    metrics.append({
      event: 'train', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens, flops: state.usage.flops,
      lr, loss, grad_norm: gradNorm, step_seconds: seconds, tokens_per_s: tokens / seconds,
      gflops: (tokens * flopsPerToken) / seconds / 1e9, progress,
    });
    events.onStep?.({ step: state.step, loss, lr, progress, tokensPerS: tokens / seconds, usage: state.usage });

    const finished = budgetSpent(args.budget, state.usage);
    if (finished) state.done = true;
    if (!finished && crossed('eval', args.evalEvery)) lastValid = evaluate();
    const tagged = args.saveAt.filter((f) => progress >= f - 1e-9 && !(state.triggers[`save-at-${f}`] ?? 0));
    for (const f of tagged) state.triggers[`save-at-${f}`] = 1;
    if (finished) {
      lastValid = evaluate();
    }
    if (finished || crossed('save', args.saveEvery)) checkpoint();
    for (const f of tagged) checkpoint(`budget-${f.toFixed(2)}`);
  }
  if (interrupted) checkpoint();
  if (state.done && Number.isNaN(lastValid)) lastValid = evaluate();
  metrics.append({
    event: interrupted ? 'interrupted' : 'end', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens,
    flops: state.usage.flops, eval_seconds: state.eval_seconds, checkpoint_seconds: state.checkpoint_seconds, valid_loss: lastValid,
  });
  model.dispose();
  optimizer.dispose();
  return { runDir, steps: state.step, usage: state.usage, finalValidLoss: lastValid, interrupted };
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function countTargets(b: LMBatch): number {
  let n = 0;
  for (const t of b.targets!) if (t !== -100) n++;
  return n;
}
