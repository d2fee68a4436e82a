// Learning rate as a function of budget progress p ∈ [0, 1] (not of steps): linear
// warmup over the first `warmup` fraction, then
//   linear, cosine  decay that reaches zero exactly when the budget ends (Izsak et al.
//                   2021): a schedule tied to the budget is what makes runs of different
//                   sizes comparable at equal cost (Hoffmann et al. 2022);
//   constant        no decay (finetuning experiments);
//   wsd             warmup–stable–decay (Hägele et al. 2024; MiniCPM 2024): constant to the
//                   end of the trunk; its end-of-schedule losses come from cooldown branches
//                   that fork from it and decay to zero (see `cooldown`).
import { TlcError } from '../util/errors.js';

export const SCHEDULES = ['linear', 'cosine', 'constant', 'wsd'] as const;
export type ScheduleKind = (typeof SCHEDULES)[number];
export const COOLDOWN_SHAPES = ['linear', '1-sqrt'] as const;
export type CooldownShape = (typeof COOLDOWN_SHAPES)[number];

export interface ScheduleConfig {
  peakLr: number;
  /** Warmup as a fraction of the budget (default 0.06). */
  warmup: number;
  decay: ScheduleKind;
  /**
   * A cooldown branch of a wsd run: the rate stays at its peak until progress `start`
   * (where the branch forked), then falls to zero at the end of the branch's budget —
   * linearly, or as 1 − √t (Hägele et al.'s best shape).
   */
  cooldown?: { start: number; shape: CooldownShape };
  /**
   * Where an extended run's earlier budgets ended, as fractions of its budget now (increasing,
   * in (0, 1)). The first budget keeps its own schedule over [0, first]; each extension is a
   * schedule of its own over its share: a decaying one re-warms (over `warmup` of the share)
   * and decays to zero again at its end, a constant or wsd one stays at the peak.
   */
  segments?: number[];
}

export function validateSchedule(s: ScheduleConfig): void {
  if (!(s.peakLr > 0)) throw new TlcError(`learning rate must be positive, got ${s.peakLr}`);
  if (!(s.warmup >= 0 && s.warmup < 1)) throw new TlcError(`warmup fraction must be in [0, 1), got ${s.warmup}`);
  if (s.cooldown && !(s.cooldown.start > 0 && s.cooldown.start < 1)) {
    throw new TlcError(`a cooldown must start inside the budget, got progress ${s.cooldown.start}`);
  }
}

export function learningRate(s: ScheduleConfig, progress: number): number {
  const p = Math.min(1, Math.max(0, progress));
  if (s.segments && s.segments.length > 0) {
    const bounds = [0, ...s.segments, 1];
    let k = 0;
    while (k + 1 < bounds.length - 1 && p >= bounds[k + 1]) k++;
    const q = (p - bounds[k]) / (bounds[k + 1] - bounds[k]);
    // an extension of a constant or wsd run has nothing to re-warm from
    if (k > 0 && (s.decay === 'constant' || s.decay === 'wsd')) return s.peakLr;
    return learningRate({ ...s, segments: undefined }, q);
  }
  if (s.cooldown) {
    const { start, shape } = s.cooldown;
    if (p <= start) return s.peakLr; // a branch starts at its fork, after the trunk's warmup
    const t = (p - start) / (1 - start);
    return s.peakLr * (shape === 'linear' ? 1 - t : 1 - Math.sqrt(t));
  }
  if (s.warmup > 0 && p < s.warmup) return s.peakLr * (p / s.warmup);
  if (s.decay === 'constant' || s.decay === 'wsd') return s.peakLr;
  const q = (p - s.warmup) / (1 - s.warmup);
  if (s.decay === 'linear') return s.peakLr * (1 - q);
  return s.peakLr * 0.5 * (1 + Math.cos(Math.PI * q));
}

/** Checks the schedule and that micro-batches divide the batch (pretraining and finetuning alike). */
export function validateBatching(a: { schedule: ScheduleConfig; batchSize: number; microBatchSize: number }): void {
  validateSchedule(a.schedule);
  if (!(Number.isInteger(a.batchSize) && a.batchSize >= 1)) throw new TlcError(`batch size must be a positive integer, got ${a.batchSize}`);
  if (!(Number.isInteger(a.microBatchSize) && a.microBatchSize >= 1 && a.batchSize % a.microBatchSize === 0)) {
    throw new TlcError(`micro-batch size ${a.microBatchSize} must divide the batch size ${a.batchSize}`);
  }
}
