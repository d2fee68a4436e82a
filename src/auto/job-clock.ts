// How much of `tlc auto`'s training is left (from auto.json's stages and the options), and the
// whole job's progress: the share of its training done and the wall-clock time left, shown
// beside every run's own bar. A time budget says how much training is left at each stage's
// start; the training loops report what they trained since. The wall clock runs longer than the
// training (evaluations, checkpoints, probes, exports), by a ratio measured on this process once
// a minute of training is done, assumed before that.
import { formatSeconds, parseDuration } from '../train/budget.js';
import type { AutoOptions } from './options.js';
import type { AutoRecord } from './record.js';
import { AUTO_BITS, AUTO_SPARSITIES, AUTO_STRUCTURED, finetuneBudgetOf } from './task.js';

/** Wall seconds per training second assumed before any is measured (evaluation and checkpoints). */
export const ASSUMED_OVERHEAD = 1.3;
const MIN_MEASURED_TRAINING_S = 60;
const MAX_OVERHEAD = 3;

export class JobClock {
  private readonly began: number;
  private trainedHere = 0;
  private stageTrainingLeft: number;
  private trainedInStage = 0;
  private shownPercent = 0;

  /**
   * `totalTraining`: the job's training seconds (pretraining budget, finetuning, compression);
   * `trainingLeft`: what is left of it as this process starts (a resumed job has done some).
   */
  constructor(private readonly totalTraining: number, trainingLeft: number, now = Date.now()) {
    this.began = now;
    this.stageTrainingLeft = trainingLeft;
  }

  /** A stage begins with `trainingLeft` seconds of the job's training still to do (the record's count, which corrects the loops'). */
  stageStarted(trainingLeft: number): void {
    this.stageTrainingLeft = trainingLeft;
    this.trainedInStage = 0;
  }

  /** A training loop trained this many more seconds. */
  trained(seconds: number): void {
    if (!(seconds > 0)) return;
    this.trainedHere += seconds;
    this.trainedInStage += seconds;
  }

  trainingLeft(): number {
    return Math.max(0, this.stageTrainingLeft - this.trainedInStage);
  }

  /** Wall seconds per training second: measured here once there is enough training to tell. */
  overhead(now = Date.now()): number {
    if (this.trainedHere < MIN_MEASURED_TRAINING_S) return ASSUMED_OVERHEAD;
    return Math.min(MAX_OVERHEAD, Math.max(1, (now - this.began) / 1000 / this.trainedHere));
  }

  /** Wall seconds the job is expected still to take. */
  wallLeft(now = Date.now()): number {
    return this.trainingLeft() * this.overhead(now);
  }

  /** "41%, about 14m02s left": the share of the job's training done (never shown going back), and the wall-clock time left. */
  status(now = Date.now()): string {
    const done = this.totalTraining > 0 ? 1 - this.trainingLeft() / this.totalTraining : 1;
    this.shownPercent = Math.max(this.shownPercent, Math.min(100, Math.floor(100 * done + 1e-9)));
    const left = this.wallLeft(now);
    return left > 0 ? `${this.shownPercent}%, about ${formatSeconds(left)} left` : `${this.shownPercent}%, finishing`;
  }

  /** The clock time the job is expected to end, e.g. "7:42:45 AM". */
  finishing(now = Date.now()): string {
    return new Date(now + this.wallLeft(now) * 1000).toLocaleTimeString();
  }
}

/**
 * The training the stages not done yet will take, for a time budget (null otherwise, or before
 * the plan): what is left of the pretraining budget, and the task's finetuning and compression.
 */
export function trainingLeft(record: AutoRecord, o: AutoOptions): number | null {
  if (record.budget.kind !== 'time' || !record.split) return null;
  const done = (s: string) => record.stages[s]?.done === true;
  let left = (done('explore') ? 0 : record.split.explore) + (done('final') ? 0 : record.budget.value - record.split.explore);
  if (o.task && !done('task')) left += taskTrainingSeconds(o, record.task_step_seconds ?? null);
  return left;
}

/** Compression settings per model: the unstructured grid, and the structured one under a latency budget. */
export function settingsPerModel(o: AutoOptions): number {
  return AUTO_SPARSITIES.length * AUTO_BITS.length + (o.maxLatencyMs !== undefined ? AUTO_STRUCTURED.length * AUTO_BITS.length : 0);
}

/**
 * Finetuning and compression finetuning of up to two models. A step-count budget costs its steps
 * at `stepSeconds`, each model's estimated seconds per finetuning step (the chosen size and a
 * larger one; auto.json's `task_step_seconds`), or nothing before they are estimated.
 */
export function taskTrainingSeconds(o: AutoOptions, stepSeconds: readonly number[] | null): number {
  const seconds = (text: string, perStep: number) => {
    const b = finetuneBudgetOf(text);
    return 'budget' in b ? parseDuration(b.budget) : b.steps * perStep;
  };
  return (stepSeconds ?? [0, 0]).reduce((sum, perStep) => sum + seconds(o.finetuneBudget, perStep) + settingsPerModel(o) * seconds(o.compressBudget, perStep), 0);
}
