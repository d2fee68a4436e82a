// The training loop: pretraining, finetuning, translation and compression finetuning all
// run here.
//
// Plain by design: draw a batch, forward/backward over micro-batches, one AdamW step
// with the learning rate given by the budget progress. Compression plugs in through
// hooks (a weight transform around the forward passes for QAT, gradient masks after
// backward, mask updates after the step). Only the step is charged to a
// time budget; evaluation and checkpoints are timed and logged separately. Every
// piece of state that shapes the future (weights, moments, data position, dropout
// stream, counters) is checkpointed, so a resumed run continues exactly.
//
// Under MPI (src/train/data-parallel.ts) each rank computes its slice of a step's
// micro-batches and the gradients are summed before the step; every decision (the step's
// time, evaluations, stopping) is agreed, so all ranks take the same path.
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { backward, gradOf, zeroGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import { gradNormsSquared } from '../engine/optim.js';
import { getThreads } from '../engine/threads.js';
import { mix } from '../engine/random.js';
import { Bf16Weights, autoPrecision, resolvePrecision, setBf16Weights, type PrecisionChoice } from '../engine/mixed.js';
import type { TransformerBody } from '../nn/transformer.js';
import { MetricsLog, type NewEvent } from '../run/metrics.js';
import { RUN_FILES, runFile } from '../run/layout.js';
import { writesRuns } from '../run/rank.js';
import { agreed, dataParallel } from './data-parallel.js';
import { type Budget, type BudgetUsage, budgetProgress, budgetSpent, describeBudget } from './budget.js';
import { learningRate, validateSchedule, type ScheduleConfig } from './schedule.js';
import { budgetCheckpointName, checkpointName, pruneCheckpoints, removeStaleTemporaries, restoreCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { initialNoiseScale, updateNoiseScale } from './noise-scale.js';
import { buildOptimizer } from './optimizer.js';
import { EPOCH_PROJECTION_PROGRESS, baselineWarning, epochWarning } from './warnings.js';
import type { Interval, OptimizerArgs } from './args.js';

export type { Interval, OptimizerArgs, RunArgs } from './args.js';

/** Where compression (and anything else that reshapes a step) plugs into the loop. */
export interface LoopHooks {
  /**
   * Before a step's forward passes: may replace the weights the step computes with
   * (quantization-aware training swaps in quantized weights) and returns how to undo
   * that, which runs after backward and before the optimizer step, so the gradient of
   * the replaced weights updates the originals (a straight-through estimator).
   */
  beforeForward?(): (() => void) | void;
  /** After backward, before the optimizer step: e.g. zero the gradients of pruned weights. */
  afterBackward?(): void;
  /** After the optimizer step, with the budget progress reached: e.g. re-apply a mask, tighten it. */
  afterStep?(progress: number): void;
}

export interface LoopArgs extends OptimizerArgs {
  budget: Budget;
  /** Micro-batches per optimizer step (gradient accumulation). */
  microBatches: number;
  evalEvery: Interval;
  saveEvery: Interval;
  saveAt: number[];
  keep: number;
  /** Copy each checkpoint's weights to <run>/model.safetensors (default true). */
  publishLatest?: boolean;
  /** Stop when this many evaluations in a row did not beat the best (needs task.isBetter). */
  patience?: number;
  /** Matrix products in f32 (default) or bf16 with f32 accumulation; `auto` resolves by the CPU. A resumed run keeps its own. */
  precision?: PrecisionChoice;
}

/** What the loop trains: the model, its data and its evaluation. */
export interface LoopTask<B> {
  model: TransformerBody;
  /** The next micro-batch. */
  nextBatch(): B;
  /** Mean loss of a micro-batch. */
  loss(batch: B): Tensor;
  /**
   * Tokens (for throughput and token budgets), FLOPs, and weight of one micro-batch: the
   * number of items its mean loss averages over (targets, examples).
   */
  cost(batch: B): { tokens: number; flops: number; weight: number };
  /** Evaluation metrics; must include `valid_loss`. Runs without gradients. */
  evaluate(): Record<string, number>;
  /** Data position for checkpoints. */
  dataPosition: unknown;
  /** Whether evaluation `m` beats the best so far (enables best-model keeping and early stopping). */
  isBetter?(m: Record<string, number>, best: Record<string, number>): boolean;
  /** Called when an evaluation is the best so far: save what should be kept. */
  saveBest?(): void;
  /** Writes task files that belong in a checkpoint (e.g. the best weights) into its directory. */
  saveExtras?(checkpointDir: string): void;
  /** Restores them on resume from the checkpoint directory. */
  restoreExtras?(checkpointDir: string): void;
  /** Extra fields for the start event. */
  describe?(): Record<string, unknown>;
  /** Training tokens of the corpus, for the warning when the budget buys more than a few epochs of it. */
  corpusTokens?: number;
  /** The loss every model must beat (a unigram table's), for the warning when the final one does not. */
  baseline?: { name: string; loss: number };
  hooks?: LoopHooks;
}

export interface LoopEvents {
  onStart?(info: { resumed: boolean; params: number; budget: string; step: number }): void;
  onStep?(info: { step: number; loss: number; lr: number; progress: number; tokensPerS: number; usage: BudgetUsage }): void;
  onEval?(info: { step: number; metrics: Record<string, number>; progress: number }): void;
  onCheckpoint?(info: { step: number; path: string }): void;
}

export interface LoopResult {
  steps: number;
  usage: BudgetUsage;
  /** Metrics of the last evaluation. */
  lastEval: Record<string, number>;
  /** The best evaluation (when the task ranks evaluations). */
  best: ({ step: number } & Record<string, number>) | null;
  interrupted: boolean;
  stoppedEarly: boolean;
}

/** Checks the schedule and that micro-batches divide the batch (pretraining and finetuning alike). */
export function validateBatching(a: { schedule: ScheduleConfig; batchSize: number; microBatchSize: number }): void {
  validateSchedule(a.schedule);
  if (!(Number.isInteger(a.batchSize) && a.batchSize >= 1)) throw new TlcError(`batch size must be a positive integer, got ${a.batchSize}`);
  if (!(Number.isInteger(a.microBatchSize) && a.microBatchSize >= 1 && a.batchSize % a.microBatchSize === 0)) {
    throw new TlcError(`micro-batch size ${a.microBatchSize} must divide the batch size ${a.batchSize}`);
  }
}

/** How `auto` chose (rank 0's measurement, the one every rank follows). */
function autoPrecisionFields(): { precision_why: string; bf16_speedup?: number } {
  const a = autoPrecision();
  return { precision_why: a.why, ...(a.bf16_speedup !== undefined ? { bf16_speedup: a.bf16_speedup } : {}) };
}

export async function trainLoop<B>(runDir: string, args: LoopArgs, task: LoopTask<B>, resumed: boolean,
  events: LoopEvents = {}, signal?: AbortSignal): Promise<LoopResult> {
  const model = task.model;
  const params = model.parameters();
  const optimizer = buildOptimizer(params, args);
  const hooks = task.hooks ?? {};
  const metrics = new MetricsLog(runFile(runDir, 'metrics'));
  const dp = dataParallel();
  const [firstMine, endMine] = dp ? dp.slice(args.microBatches) : [0, args.microBatches];
  const writes = writesRuns();
  // each micro-batch's dropout draws its own stream, keyed by step and index, so a rank
  // computing only some of a step's micro-batches draws what one process would
  const dropoutSeed = model.dropoutRng.getState().seed;
  // bf16: the weight matrices' bf16 copies, re-cast once after each change of the weights
  let bf16: Bf16Weights | null = null;
  const previousBf16 = setBf16Weights(null);
  // every rank trains in rank 0's precision: `auto` measures, and only rank 0 does, alone
  const rankZero = !dp || dp.rank === 0;
  let state: TrainerState = {
    format_version: 1, step: 0, usage: { trainSeconds: 0, tokens: 0, steps: 0, flops: 0 },
    eval_seconds: 0, checkpoint_seconds: 0, batcher: task.dataPosition, dropout_rng: model.dropoutRng.getState(),
    triggers: {}, last_lr: 0, done: false, stopped_early: false, best: null, evals_since_best: 0,
    noise: initialNoiseScale(), precision: agreed(rankZero ? resolvePrecision(args.precision ?? 'f32') : 'f32'),
  };
  let fallback: Record<string, unknown> = {};
  try {
    // what a writer killed mid-write left behind (the caller holds the run's lock)
    if (writes) removeStaleTemporaries(runDir);
    if (resumed) {
      const { state: { checkpoint: pointer, ...restored }, skipped } = restoreCheckpoint(runDir, model, optimizer, task.restoreExtras?.bind(task));
      if (skipped.length > 0) {
        warn(`${runDir}: ${skipped.map((s) => `${s.checkpoint} cannot be restored (${s.reason})`).join('; ')}; ` +
          `resuming from ${pointer} at step ${restored.step} instead`);
        fallback = { restored_from: pointer, skipped_checkpoints: skipped.map((s) => s.checkpoint) };
      }
      state = { ...state, ...restored };
      // a run whose budget was extended (src/train/extend.ts) goes on past its old end, its
      // fraction triggers counted in the budget it has now
      if (state.done && !state.stopped_early && !budgetSpent(args.budget, state.usage)) state.done = false;
      const progress = budgetProgress(args.budget, state.usage);
      for (const [key, iv] of [['eval', args.evalEvery], ['save', args.saveEvery]] as const) {
        if (iv.kind === 'fraction') state.triggers[key] = Math.floor(progress / iv.value + 1e-9);
      }
      // tagged checkpoints at fractions the extended budget has not reached yet are written (again) when it does
      for (const f of args.saveAt) state.triggers[`save-at-${f}`] = progress >= f - 1e-9 ? 1 : 0;
      task.dataPosition = state.batcher;
      model.dropoutRng.setState(state.dropout_rng as never);
      metrics.truncateAfter(state.step);
    }
    if (state.precision === 'bf16') {
      bf16 = new Bf16Weights(params.filter((p) => p.shape.length === 2));
      setBf16Weights(bf16);
    }
    const paramCount = params.reduce((n, p) => n + p.size, 0);
    events.onStart?.({ resumed, params: paramCount, budget: describeBudget(args.budget), step: state.step });
    metrics.append({
      event: resumed ? 'resume' : 'start', step: state.step, params: paramCount, budget: args.budget, threads: getThreads(),
      precision: state.precision, ...(args.precision === 'auto' && !resumed && rankZero ? autoPrecisionFields() : {}),
      ...(dp ? { ranks: dp.size } : {}),
      train_seconds: state.usage.trainSeconds, ...(task.describe?.() ?? {}), ...fallback,
    } as NewEvent);

    let lastEval: Record<string, number> = {};
    const evaluate = (): boolean => {
      const t0 = performance.now();
      // rank 0 evaluates; the others take its numbers, so early stopping agrees everywhere
      const m = dp ? dp.fromRankZero(dp.rank === 0 ? task.evaluate() : undefined) : task.evaluate();
      const seconds = (performance.now() - t0) / 1000;
      state.eval_seconds += seconds;
      lastEval = m;
      metrics.append({
        event: 'eval', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens,
        flops: state.usage.flops, ...m, eval_seconds: seconds,
      });
      events.onEval?.({ step: state.step, metrics: m, progress: budgetProgress(args.budget, state.usage) });
      if (!task.isBetter) return false;
      if (state.best === null || task.isBetter(m, state.best)) {
        state.best = { step: state.step, ...m };
        state.evals_since_best = 0;
        task.saveBest?.();
        return false;
      }
      state.evals_since_best++;
      return args.patience !== undefined && state.evals_since_best >= args.patience;
    };

    let lastCheckpointStep = resumed ? state.step : -1;
    const checkpoint = (tag?: string): void => {
      if (!tag && lastCheckpointStep === state.step) return;
      if (!tag) lastCheckpointStep = state.step;
      if (!writes) return;
      const t0 = performance.now();
      state.batcher = task.dataPosition;
      state.dropout_rng = model.dropoutRng.getState();
      const name = checkpointName(state.step, tag);
      const path = saveCheckpoint(runDir, name, model, optimizer, state, args.publishLatest ?? true, task.saveExtras?.bind(task));
      if (!tag) pruneCheckpoints(runDir, args.keep, `${RUN_FILES.checkpoints}/${name}`);
      const seconds = (performance.now() - t0) / 1000;
      state.checkpoint_seconds += seconds;
      metrics.append({ event: 'checkpoint', step: state.step, path: `${RUN_FILES.checkpoints}/${name}`, checkpoint_seconds: seconds });
      events.onCheckpoint?.({ step: state.step, path });
    };

    // A trigger fires when its counter crosses a new multiple of its interval.
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
    const warnOnce = (kind: string, message: string | null): void => {
      if (message === null || state.triggers[`warned-${kind}`]) return;
      state.triggers[`warned-${kind}`] = 1;
      if (writes) warn(message);
      metrics.append({ event: 'warning', step: state.step, kind, message });
    };
    // the tokens the whole budget buys: exact for token, step and FLOP budgets, the pace so far for a time budget
    const checkEpochs = (): void => {
      if (!task.corpusTokens || state.usage.tokens === 0) return;
      const progress = budgetProgress(args.budget, state.usage);
      if (args.budget.kind === 'time' && progress < EPOCH_PROJECTION_PROGRESS) return;
      warnOnce('epochs', epochWarning(state.usage.tokens / Math.max(progress, 1e-12), task.corpusTokens));
    };
    let interrupted = false;
    // data-parallel: an interrupt seen by any rank, agreed at the end of the last step
    let stopAgreed = false;
    const recentLosses: number[] = [], recentNorms: number[] = [];
    while (!state.done && !budgetSpent(args.budget, state.usage)) {
      await new Promise((resolve) => setImmediate(resolve)); // lets SIGINT/SIGTERM handlers run between steps
      if (dp ? stopAgreed : signal?.aborted) {
        interrupted = true;
        break;
      }
      const t0 = performance.now();
      const lr = learningRate(args.schedule, budgetProgress(args.budget, state.usage));
      const batches: B[] = [];
      for (let i = 0; i < args.microBatches; i++) batches.push(task.nextBatch());
      zeroGrad(params);
      const undo = hooks.beforeForward?.();
      bf16?.invalidate(); // the hook may have replaced the weights
      const costs = batches.map((b) => task.cost(b));
      const tokens = costs.reduce((a, c) => a + c.tokens, 0), flops = costs.reduce((a, c) => a + c.flops, 0);
      const weightSum = costs.reduce((a, c) => a + c.weight, 0);
      let lossSum = 0;
      let firstSq = NaN;
      batches.forEach((b, i) => tidy(() => {
        if (i < firstMine || i >= endMine) return;
        model.dropoutRng.setState({ seed: mix(dropoutSeed, state.step, i), counter: 0 });
        const loss = task.loss(b);
        lossSum += loss.item() * costs[i].weight;
        // the step's loss is the weighted mean over all micro-batches, whatever the split
        backward(loss, weightSum > 0 ? costs[i].weight / weightSum : 0);
        if (i === 0 && batches.length > 1) firstSq = gradSquaredNorm(params);
      }));
      if (undo) undo();
      dp?.reduceGradients(params);
      hooks.afterBackward?.();
      const { gradNorm } = optimizer.step(lr);
      bf16?.invalidate();
      let seconds = (performance.now() - t0) / 1000;
      if (dp) {
        // the step took as long as its slowest rank; the loss sums every rank's share, in rank order
        const rows = dp.gather([seconds, lossSum, firstSq, signal?.aborted ? 1 : 0]);
        seconds = Math.max(...rows.map((r) => r[0]));
        lossSum = rows.reduce((a, r) => a + r[1], 0);
        firstSq = rows[0][2];
        stopAgreed = rows.some((r) => r[3] > 0);
      }
      // the first micro-batch's mean gradient, unscaled from its share of the step
      const w0 = costs[0].weight;
      const noiseScale = batches.length > 1 && w0 > 0
        ? updateNoiseScale(state.noise, w0, firstSq * (weightSum / w0) ** 2, weightSum, gradNorm * gradNorm)
        : null;
      state.step++;
      state.last_lr = lr;
      state.usage = {
        trainSeconds: state.usage.trainSeconds + seconds, tokens: state.usage.tokens + tokens,
        steps: state.usage.steps + 1, flops: state.usage.flops + flops,
      };
      const loss = weightSum > 0 ? lossSum / weightSum : NaN;
      if (!Number.isFinite(loss)) {
        throw new TlcError(`training diverged at step ${state.step}: loss is ${loss} (try a lower --lr or more warmup)`);
      }
      const diverging = divergence(recentLosses, loss) ?? (Number.isFinite(gradNorm) ? gradNormDivergence(recentNorms, gradNorm) : null);
      if (diverging) throw new TlcError(`training is diverging at step ${state.step}: ${diverging} (try a lower --lr or more warmup)`);
      const progress = budgetProgress(args.budget, state.usage);
      hooks.afterStep?.(progress);
      bf16?.invalidate(); // masks may have changed the weights
      metrics.append({
        event: 'train', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens, flops: state.usage.flops,
        lr, loss, grad_norm: gradNorm, noise_scale: noiseScale, step_seconds: seconds, tokens_per_s: tokens / seconds, gflops: flops / seconds / 1e9, progress,
      });
      events.onStep?.({ step: state.step, loss, lr, progress, tokensPerS: tokens / seconds, usage: state.usage });
      checkEpochs();

      let finished = budgetSpent(args.budget, state.usage);
      if (finished || crossed('eval', args.evalEvery)) {
        if (evaluate() && !finished) {
          state.stopped_early = true;
          finished = true;
        }
      }
      if (finished) state.done = true;
      const tagged = args.saveAt.filter((f) => progress >= f - 1e-9 && !(state.triggers[`save-at-${f}`] ?? 0));
      // tagged checkpoints first: each records its own trigger, so a crash before one is
      // written leaves it to be written after resume
      for (const f of tagged) {
        state.triggers[`save-at-${f}`] = 1;
        checkpoint(budgetCheckpointName(f));
      }
      if (finished || crossed('save', args.saveEvery)) checkpoint();
    }
    if (interrupted) checkpoint();
    if (state.done && Object.keys(lastEval).length === 0) evaluate();
    if (state.done && task.baseline && typeof lastEval.valid_loss === 'number') warnOnce('baseline', baselineWarning(lastEval.valid_loss, task.baseline));
    metrics.append({
      event: interrupted ? 'interrupted' : 'end', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens,
      flops: state.usage.flops, eval_seconds: state.eval_seconds, checkpoint_seconds: state.checkpoint_seconds,
      stopped_early: state.stopped_early, ...lastEval,
    });
    dp?.barrier(); // the other ranks read what rank 0 has just written (the end, the last checkpoint)
    return { steps: state.step, usage: state.usage, lastEval, best: state.best, interrupted, stoppedEarly: state.stopped_early };
  } finally {
    setBf16Weights(previousBf16);
    bf16?.dispose();
    optimizer.dispose();
  }
}

/** Steps of loss history a divergence is judged against. */
const DIVERGENCE_WINDOW = 50;
/** A loss this many times the recent median (and at least 1 nat above it) is divergence, not noise. */
const DIVERGENCE_FACTOR = 4;

/**
 * Judges `value` against the median of the last DIVERGENCE_WINDOW values (once that many are
 * in) with `verdict`, then records it: the window both divergence checks slide.
 */
function againstRecentMedian(recent: number[], value: number, verdict: (median: number) => string | null): string | null {
  let problem: string | null = null;
  if (recent.length === DIVERGENCE_WINDOW) {
    const sorted = [...recent].sort((a, b) => a - b);
    problem = verdict((sorted[DIVERGENCE_WINDOW / 2 - 1] + sorted[DIVERGENCE_WINDOW / 2]) / 2);
    recent.shift();
  }
  recent.push(value);
  return problem;
}

/** Whether `loss` shows the run blowing up before it reaches NaN: far above the recent median; records the loss. */
export function divergence(recent: number[], loss: number): string | null {
  return againstRecentMedian(recent, loss, (median) => (loss > DIVERGENCE_FACTOR * median && loss > median + 1
    ? `loss ${loss.toFixed(3)} is more than ${DIVERGENCE_FACTOR}× the median ${median.toFixed(3)} of the last ${DIVERGENCE_WINDOW} steps` : null));
}

/**
 * A gradient norm this many times the recent median is a run blowing up, usually steps before
 * its loss does; a finetuning batch the model gets badly wrong can spike a hundredfold and be fine.
 */
const GRAD_NORM_FACTOR = 1000;
/**
 * Steps in a row the norm must stay that high: one batch far from a model that fits its data
 * almost perfectly (median norms near zero) spikes a thousandfold once, an explosion keeps growing.
 */
const GRAD_NORM_STREAK = 3;

/**
 * Whether the gradient norm (before clipping) has grown far past the recent median for
 * GRAD_NORM_STREAK steps — clipping hides such steps from the weights, but not from Adam's
 * moments, and a run whose gradients explode is about to diverge; records the norm.
 */
export function gradNormDivergence(recent: number[], norm: number): string | null {
  const before = recent.slice(-(GRAD_NORM_STREAK - 1));
  return againstRecentMedian(recent, norm, (median) => {
    const high = (x: number) => x > GRAD_NORM_FACTOR * median;
    if (Number.isFinite(norm) && !(high(norm) && before.length === GRAD_NORM_STREAK - 1 && before.every(high))) return null;
    return `the gradient norm ${norm.toPrecision(3)} is more than ${GRAD_NORM_FACTOR}× the median ${median.toPrecision(3)} of the last ` +
      `${DIVERGENCE_WINDOW} steps${Number.isFinite(norm) ? `, ${GRAD_NORM_STREAK} steps in a row` : ''}`;
  });
}

/** Squared global norm of the current gradients (deterministic, fixed order). */
function gradSquaredNorm(params: Tensor[]): number {
  const grads = params.map((p) => gradOf(p)).filter((g): g is Tensor => g !== null);
  return gradNormsSquared(grads).reduce((a, b) => a + b, 0);
}
