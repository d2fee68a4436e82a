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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { backward, zeroGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import { gradientSquaredNorm } from '../engine/optim.js';
import { getThreads } from '../engine/threads.js';
import { mix } from '../engine/random.js';
import { Bf16Weights, autoPrecision, bf16Missing, resolvePrecision, setBf16Weights } from '../engine/mixed.js';
import type { TransformerBody } from '../nn/transformer.js';
import { MetricsLog, type NewEvent } from '../run/metrics.js';
import { RUN_FILES, runFile } from '../run/layout.js';
import { writesRuns } from '../run/rank.js';
import { agreed, dataParallel } from './data-parallel.js';
import { budgetProgress, budgetSpent, describeBudget } from './budget.js';
import { learningRate } from './schedule.js';
import { budgetCheckpointName, checkpointName, pruneCheckpoints, removeStaleTemporaries, restoreCheckpoint, saveCheckpoint, type DueAfterStep, type TrainerState } from './checkpoint.js';
import { initialNoiseScale, updateNoiseScale } from './noise-scale.js';
import { buildOptimizer } from './optimizer.js';
import { EPOCH_PROJECTION_PROGRESS, baselineWarning, budgetBelowStepWarning, epochWarning } from './warnings.js';
import { divergence, gradNormDivergence } from './divergence.js';
import type { Interval } from './args.js';
import type { LoopArgs, LoopEvents, LoopHooks, LoopResult, LoopTask } from './loop-api.js';
import { runInterruptibly, WorkInterrupted } from '../util/pausable.js';

export type { Interval, OptimizerArgs, RunArgs } from './args.js';
export type { LoopArgs, LoopEvents, LoopHooks, LoopResult, LoopTask } from './loop-api.js';

/** How `auto` chose (rank 0's measurement, the one every rank follows). */
function autoPrecisionFields(): { precision_why: string; bf16_speedup?: number } {
  const a = autoPrecision();
  return { precision_why: a.why, ...(a.bf16_speedup !== undefined ? { bf16_speedup: a.bf16_speedup } : {}) };
}

export async function trainLoop<B>(runDir: string, args: LoopArgs, task: LoopTask<B>, resumed: boolean,
  events: LoopEvents = {}, signal?: AbortSignal): Promise<LoopResult> {
  const trainer = new Trainer(runDir, args, task, resumed, events, signal);
  try {
    return await trainer.run();
  } finally {
    trainer.dispose();
  }
}

/** What one optimizer step measured, agreed across ranks. */
interface StepResult {
  lr: number;
  seconds: number;
  tokens: number;
  flops: number;
  /** Σ of the micro-batches' weights, and of their losses times their weights. */
  weightSum: number;
  lossSum: number;
  /** Squared norm of the first micro-batch's gradient share (NaN with one micro-batch), and its weight. */
  firstSq: number;
  firstWeight: number;
  microBatches: number;
  gradNorm: number;
}

/**
 * One training run: `run()` restores or starts, then steps until the budget is spent, the task
 * stops early or a signal interrupts, evaluating and checkpointing on the way. Everything that
 * reshapes a step — data parallelism's gradient sum, compression, bf16 weight copies — attaches
 * through LoopHooks, called in order: [data parallel, the task's, bf16].
 */
class Trainer<B> {
  private readonly model: TransformerBody;
  private readonly params: Tensor[];
  private readonly optimizer: ReturnType<typeof buildOptimizer>;
  private readonly metrics: MetricsLog;
  private readonly dp = dataParallel();
  /** The micro-batches of each step this rank computes: [first, end). */
  private readonly mine: [number, number];
  private readonly writes = writesRuns();
  /** Each micro-batch's dropout draws its own stream, keyed by step and index, so a rank computing only some draws what one process would. */
  private readonly dropoutSeed: number;
  private readonly rankZero: boolean;
  private readonly previousBf16: Bf16Weights | null;
  private bf16: Bf16Weights | null = null;
  private hooks: LoopHooks[] = [];
  private state: TrainerState;
  private fallback: Record<string, unknown> = {};
  private lastEval: Record<string, number> = {};
  private lastCheckpointStep: number;
  private interrupted = false;
  /** Data parallel: an interrupt seen by any rank, agreed at the end of the last step. */
  private stopAgreed = false;
  private readonly recentLosses: number[] = [];
  private readonly recentNorms: number[] = [];

  constructor(private readonly runDir: string, private readonly args: LoopArgs, private readonly task: LoopTask<B>,
    private readonly resumed: boolean, private readonly events: LoopEvents, private readonly signal?: AbortSignal) {
    // every rank trains in rank 0's precision: `auto` measures, and only rank 0 does, alone;
    // resolved first, so that nothing is held when it refuses
    this.rankZero = !this.dp || this.dp.rank === 0;
    const precision = agreed(this.rankZero ? resolvePrecision(args.precision ?? 'f32') : 'f32');
    this.model = task.model;
    this.params = this.model.parameters();
    this.optimizer = buildOptimizer(this.params, args);
    this.metrics = new MetricsLog(runFile(runDir, 'metrics'));
    this.mine = this.dp ? this.dp.slice(args.microBatches) : [0, args.microBatches];
    this.dropoutSeed = this.model.dropoutRng.getState().seed;
    this.previousBf16 = setBf16Weights(null);
    this.state = {
      format_version: 1, step: 0, usage: { trainSeconds: 0, tokens: 0, steps: 0, flops: 0 },
      eval_seconds: 0, checkpoint_seconds: 0, batcher: task.dataPosition, dropout_rng: this.model.dropoutRng.getState(),
      triggers: {}, last_lr: 0, done: false, stopped_early: false, best: null, evals_since_best: 0,
      noise: initialNoiseScale(), precision,
    };
    this.lastCheckpointStep = resumed ? -2 : -1; // set to the restored step by restore()
  }

  async run(): Promise<LoopResult> {
    await this.begin();
    while (!this.interrupted && !this.state.done && !budgetSpent(this.args.budget, this.state.usage)) {
      await new Promise((resolve) => setImmediate(resolve)); // lets SIGINT/SIGTERM handlers run between steps
      if (this.dp ? this.stopAgreed : this.signal?.aborted) {
        this.interrupted = true;
        break;
      }
      const progress = this.record(this.step());
      await this.afterStep(this.dueAfterStep(progress));
    }
    return this.finish();
  }

  dispose(): void {
    setBf16Weights(this.previousBf16);
    this.bf16?.dispose();
    this.optimizer.dispose();
  }

  /** Restores a resumed run (or starts a new one), installs the hooks, logs the start and evaluates what is due. */
  private async begin(): Promise<void> {
    // what a writer killed mid-write left behind (the caller holds the run's lock)
    if (this.writes) removeStaleTemporaries(this.runDir);
    if (this.resumed) this.restore();
    // a run keeps the precision it started in (bit-identical resume): one that `auto` put in bf16
    // cannot go on where bf16 products do not run
    const noBf16 = this.state.precision === 'bf16' ? bf16Missing() : null;
    if (noBf16) throw new TlcError(`${this.runDir} trains in bf16, as it started, but ${noBf16}: resume it where bf16 runs, or start a new run`);
    if (this.state.precision === 'bf16') {
      this.bf16 = new Bf16Weights(this.params.filter((p) => p.shape.length === 2));
      setBf16Weights(this.bf16);
    }
    this.hooks = [
      ...(this.dp ? [{ afterBackward: () => this.dp!.reduceGradients(this.params) }] : []),
      ...(this.task.hooks ? [this.task.hooks] : []),
      ...(this.bf16 ? [bf16Hooks(this.bf16)] : []),
    ];
    const { args, state, resumed } = this;
    const paramCount = this.params.reduce((n, p) => n + p.size, 0);
    this.events.onStart?.({ resumed, params: paramCount, budget: describeBudget(args.budget), step: state.step });
    this.metrics.append({
      event: resumed ? 'resume' : 'start', step: state.step, params: paramCount, budget: args.budget, threads: getThreads(),
      precision: state.precision, ...(args.precision === 'auto' && !resumed && this.rankZero ? autoPrecisionFields() : {}),
      ...(this.dp ? { ranks: this.dp.size } : {}),
      train_seconds: state.usage.trainSeconds, ...(this.task.describe?.() ?? {}), ...this.fallback,
    } as NewEvent);
    if (!resumed) {
      await this.afterStep({ evaluate: true, finished: false, tagged: [], save: true });
    } else if (state.pending) {
      // a signal stopped the evaluation after the restored step: what was due then is done now,
      // under the budget the run has now (an extension moves its end and renames its fractions),
      // and the step's checkpoint rewritten without the mark
      const progress = budgetProgress(args.budget, state.usage);
      const due: DueAfterStep = {
        ...state.pending, finished: budgetSpent(args.budget, state.usage),
        tagged: args.saveAt.filter((f) => progress >= f - 1e-9 && !existsSync(join(this.runDir, RUN_FILES.checkpoints, budgetCheckpointName(f)))),
      };
      delete state.pending;
      this.lastCheckpointStep = -1;
      await this.afterStep(due);
      if (!this.interrupted) this.checkpoint();
    }
  }

  /** The state of the last good checkpoint, with the triggers recounted for the budget the run has now. */
  private restore(): void {
    const { args, model, task } = this;
    const { state: { checkpoint: pointer, ...restored }, skipped } = restoreCheckpoint(this.runDir, model, this.optimizer, task.restoreExtras?.bind(task));
    if (skipped.length > 0) {
      warn(`${this.runDir}: ${skipped.map((s) => `${s.checkpoint} cannot be restored (${s.reason})`).join('; ')}; ` +
        `resuming from ${pointer} at step ${restored.step} instead`);
      this.fallback = { restored_from: pointer, skipped_checkpoints: skipped.map((s) => s.checkpoint) };
    }
    const state = this.state = { ...this.state, ...restored };
    this.lastCheckpointStep = state.step;
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
    this.metrics.truncateAfter(state.step);
  }

  /** One optimizer step: forward and backward over this rank's micro-batches, the hooks, AdamW. */
  private step(): StepResult {
    const { args, task, params, state } = this;
    const t0 = performance.now();
    const lr = learningRate(args.schedule, budgetProgress(args.budget, state.usage));
    const batches: B[] = [];
    for (let i = 0; i < args.microBatches; i++) batches.push(task.nextBatch());
    zeroGrad(params);
    const undos = this.hooks.map((h) => h.beforeForward?.());
    const costs = batches.map((b) => task.cost(b));
    const weightSum = costs.reduce((a, c) => a + c.weight, 0);
    let lossSum = 0, firstSq = NaN;
    batches.forEach((b, i) => tidy(() => {
      if (i < this.mine[0] || i >= this.mine[1]) return;
      this.model.dropoutRng.setState({ seed: mix(this.dropoutSeed, state.step, i), counter: 0 });
      const loss = task.loss(b);
      lossSum += loss.item() * costs[i].weight;
      // the step's loss is the weighted mean over all micro-batches, whatever the split
      backward(loss, weightSum > 0 ? costs[i].weight / weightSum : 0);
      if (i === 0 && batches.length > 1) firstSq = gradientSquaredNorm(params);
    }));
    for (const undo of undos.reverse()) if (undo) undo();
    for (const h of this.hooks) h.afterBackward?.();
    const { gradNorm } = this.optimizerStep(lr);
    for (const h of this.hooks) h.afterOptimizerStep?.();
    return this.agree({
      lr, seconds: (performance.now() - t0) / 1000, tokens: costs.reduce((a, c) => a + c.tokens, 0),
      flops: costs.reduce((a, c) => a + c.flops, 0), weightSum, lossSum, firstSq, firstWeight: costs[0].weight,
      microBatches: batches.length, gradNorm,
    });
  }

  /** AdamW's step; a non-finite gradient is the run diverging, and said so. */
  private optimizerStep(lr: number): { gradNorm: number } {
    try {
      return this.optimizer.step(lr);
    } catch (e) {
      if (!(e instanceof TlcError) || !/non-finite|gradient norm is/.test(e.message)) throw e;
      throw new TlcError(`training diverged at step ${this.state.step + 1}: ${e.message.replace(/^AdamW: /, '')} (try a lower --lr or more warmup)`);
    }
  }

  /** Data parallel: the step took as long as its slowest rank; the loss sums every rank's share, in rank order. */
  private agree(s: StepResult): StepResult {
    if (!this.dp) return s;
    const rows = this.dp.gather([s.seconds, s.lossSum, s.firstSq, this.signal?.aborted ? 1 : 0]);
    this.stopAgreed = rows.some((r) => r[3] > 0);
    return { ...s, seconds: Math.max(...rows.map((r) => r[0])), lossSum: rows.reduce((a, r) => a + r[1], 0), firstSq: rows[0][2] };
  }

  /** Counts the step, checks it for divergence, runs the hooks' afterStep and logs it; returns the budget progress. */
  private record(s: StepResult): number {
    const { state, args } = this;
    // the first micro-batch's mean gradient, unscaled from its share of the step
    const noiseScale = s.microBatches > 1 && s.firstWeight > 0
      ? updateNoiseScale(state.noise, s.firstWeight, s.firstSq * (s.weightSum / s.firstWeight) ** 2, s.weightSum, s.gradNorm * s.gradNorm)
      : null;
    state.step++;
    state.last_lr = s.lr;
    state.usage = {
      trainSeconds: state.usage.trainSeconds + s.seconds, tokens: state.usage.tokens + s.tokens,
      steps: state.usage.steps + 1, flops: state.usage.flops + s.flops,
    };
    const loss = s.weightSum > 0 ? s.lossSum / s.weightSum : NaN;
    this.checkDivergence(loss, s.gradNorm);
    const progress = budgetProgress(args.budget, state.usage);
    for (const h of this.hooks) h.afterStep?.(progress);
    const u = state.usage;
    this.metrics.append({
      event: 'train', step: state.step, train_seconds: u.trainSeconds, tokens: u.tokens, flops: u.flops,
      lr: s.lr, loss, grad_norm: s.gradNorm, noise_scale: noiseScale, step_seconds: s.seconds, tokens_per_s: s.tokens / s.seconds,
      gflops: s.flops / s.seconds / 1e9, progress,
    });
    this.events.onStep?.({ step: state.step, loss, lr: s.lr, progress, tokensPerS: s.tokens / s.seconds, usage: u });
    this.checkEpochs();
    if (u.steps === 1) this.warnOnce('budget-below-one-step', budgetBelowStepWarning(args.budget, u));
    return progress;
  }

  private checkDivergence(loss: number, gradNorm: number): void {
    const step = this.state.step;
    if (!Number.isFinite(loss)) throw new TlcError(`training diverged at step ${step}: loss is ${loss} (try a lower --lr or more warmup)`);
    const diverging = divergence(this.recentLosses, loss) ?? (Number.isFinite(gradNorm) ? gradNormDivergence(this.recentNorms, gradNorm) : null);
    if (diverging) throw new TlcError(`training is diverging at step ${step}: ${diverging} (try a lower --lr or more warmup)`);
  }

  /** What is due after a step: an evaluation, the end of the budget, tagged and periodic checkpoints (their triggers marked). */
  private dueAfterStep(progress: number): DueAfterStep {
    const { state, args } = this;
    const finished = budgetSpent(args.budget, state.usage);
    const evaluate = finished || this.crossed('eval', args.evalEvery);
    const tagged = args.saveAt.filter((f) => progress >= f - 1e-9 && !(state.triggers[`save-at-${f}`] ?? 0));
    return { evaluate, finished, tagged, save: !finished && this.crossed('save', args.saveEvery) };
  }

  /**
   * Does what is due: the evaluation (and early stopping), then tagged and periodic checkpoints.
   * A signal during the evaluation checkpoints the step with what was due, done on resume.
   */
  private async afterStep(due: DueAfterStep): Promise<void> {
    const { state } = this;
    let finished = due.finished;
    if (due.evaluate) {
      const patienceRanOut = await this.evaluate();
      if (patienceRanOut === null) {
        state.pending = due;
        this.interrupted = true;
        return;
      }
      if (patienceRanOut && !finished) {
        state.stopped_early = true;
        finished = true;
      }
    }
    if (finished) state.done = true;
    // tagged checkpoints first: each records its own trigger, so a crash before one is
    // written leaves it to be written after resume
    for (const f of due.tagged) {
      state.triggers[`save-at-${f}`] = 1;
      this.checkpoint(budgetCheckpointName(f));
    }
    if (finished || due.save) this.checkpoint();
  }

  /** The last checkpoint and evaluation, the end event; the result. */
  private async finish(): Promise<LoopResult> {
    const { state, task } = this;
    if (this.interrupted) this.checkpoint();
    else if (state.done && Object.keys(this.lastEval).length === 0 && await this.evaluate() === null) this.interrupted = true;
    if (state.done && task.baseline && typeof this.lastEval.valid_loss === 'number') {
      this.warnOnce('baseline', baselineWarning(this.lastEval.valid_loss, task.baseline));
    }
    this.metrics.append({
      event: this.interrupted ? 'interrupted' : 'end', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens,
      flops: state.usage.flops, eval_seconds: state.eval_seconds, checkpoint_seconds: state.checkpoint_seconds,
      stopped_early: state.stopped_early, ...this.lastEval,
    });
    this.dp?.barrier(); // the other ranks read what rank 0 has just written (the end, the last checkpoint)
    return { steps: state.step, usage: state.usage, lastEval: this.lastEval, best: state.best, interrupted: this.interrupted, stoppedEarly: state.stopped_early };
  }

  /**
   * Evaluates (rank 0; the others take its numbers, so early stopping and an interrupt agree
   * everywhere); true when patience ran out, null when a signal stopped the evaluation.
   */
  private async evaluate(): Promise<boolean | null> {
    const { state, task, dp } = this;
    const t0 = performance.now();
    const m = dp ? dp.fromRankZero(dp.rank === 0 ? await this.metricsOrNull() : undefined) : await this.metricsOrNull();
    if (m === null) return null;
    const seconds = (performance.now() - t0) / 1000;
    state.eval_seconds += seconds;
    this.lastEval = m;
    this.metrics.append({
      event: 'eval', step: state.step, train_seconds: state.usage.trainSeconds, tokens: state.usage.tokens,
      flops: state.usage.flops, ...m, eval_seconds: seconds,
    });
    this.events.onEval?.({ step: state.step, metrics: m, progress: budgetProgress(this.args.budget, state.usage) });
    if (!task.isBetter) return false;
    if (state.best === null || task.isBetter(m, state.best)) {
      state.best = { step: state.step, ...m };
      state.evals_since_best = 0;
      task.saveBest?.();
      return false;
    }
    state.evals_since_best++;
    return this.args.patience !== undefined && state.evals_since_best >= this.args.patience;
  }

  /** The task's evaluation, or null when a signal stopped it. */
  private async metricsOrNull(): Promise<Record<string, number> | null> {
    try {
      return await runInterruptibly(this.task.evaluate(), this.signal);
    } catch (e) {
      if (e instanceof WorkInterrupted) return null;
      throw e;
    }
  }

  /** A checkpoint of everything that shapes the future; `tag` names a budget fraction's, kept apart from the rotation. */
  private checkpoint(tag?: string): void {
    const { state, task, model } = this;
    if (!tag && this.lastCheckpointStep === state.step) return;
    if (!tag) this.lastCheckpointStep = state.step;
    if (!this.writes) return;
    const t0 = performance.now();
    state.batcher = task.dataPosition;
    state.dropout_rng = model.dropoutRng.getState();
    const name = checkpointName(state.step, tag);
    const path = saveCheckpoint(this.runDir, name, model, this.optimizer, state, this.args.publishLatest ?? true, task.saveExtras?.bind(task));
    if (!tag) pruneCheckpoints(this.runDir, this.args.keep, `${RUN_FILES.checkpoints}/${name}`);
    const seconds = (performance.now() - t0) / 1000;
    state.checkpoint_seconds += seconds;
    this.metrics.append({ event: 'checkpoint', step: state.step, path: `${RUN_FILES.checkpoints}/${name}`, checkpoint_seconds: seconds });
    this.events.onCheckpoint?.({ step: state.step, path });
  }

  /** Whether the trigger `key` fires: its counter crossed a new multiple of its interval. */
  private crossed(key: string, iv: Interval): boolean {
    const { state } = this;
    const value = iv.kind === 'steps' ? state.usage.steps : iv.kind === 'seconds' ? state.usage.trainSeconds : budgetProgress(this.args.budget, state.usage);
    const mark = Math.floor(value / iv.value + 1e-9);
    if (mark <= (state.triggers[key] ?? 0)) return false;
    state.triggers[key] = mark;
    return true;
  }

  private warnOnce(kind: string, message: string | null): void {
    if (message === null || this.state.triggers[`warned-${kind}`]) return;
    this.state.triggers[`warned-${kind}`] = 1;
    if (this.writes) warn(message);
    this.metrics.append({ event: 'warning', step: this.state.step, kind, message });
  }

  /** Warns once when the budget buys more than a few epochs: exact for token, step and FLOP budgets, the pace so far for a time budget. */
  private checkEpochs(): void {
    const { task, state, args } = this;
    if (!task.corpusTokens || state.usage.tokens === 0) return;
    const progress = budgetProgress(args.budget, state.usage);
    if (args.budget.kind === 'time' && progress < EPOCH_PROJECTION_PROGRESS) return;
    this.warnOnce('epochs', epochWarning(state.usage.tokens / Math.max(progress, 1e-12), task.corpusTokens));
  }
}

/** bf16 weight copies, made stale whenever the weights change: a hook's swap, the optimizer, masks. */
function bf16Hooks(bf16: Bf16Weights): LoopHooks {
  const invalidate = (): void => bf16.invalidate();
  return { beforeForward: invalidate, afterOptimizerStep: invalidate, afterStep: invalidate };
}
