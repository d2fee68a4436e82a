// Learning rate as a function of budget progress p ∈ [0, 1] (not of steps): linear
// warmup over the first `warmup` fraction, then linear or cosine decay that reaches
// zero exactly when the budget ends (Izsak et al. 2021). A schedule tied to the budget
// is what makes runs of different sizes comparable at equal cost (Hoffmann et al. 2022).
import { TlcError } from '../engine/errors.js';

export interface ScheduleConfig {
  peakLr: number;
  /** Warmup as a fraction of the budget (default 0.06). */
  warmup: number;
  decay: 'linear' | 'cosine' | 'constant';
}

export function validateSchedule(s: ScheduleConfig): void {
  if (!(s.peakLr > 0)) throw new TlcError(`learning rate must be positive, got ${s.peakLr}`);
  if (!(s.warmup >= 0 && s.warmup < 1)) throw new TlcError(`warmup fraction must be in [0, 1), got ${s.warmup}`);
}

export function learningRate(s: ScheduleConfig, progress: number): number {
  const p = Math.min(1, Math.max(0, progress));
  if (s.warmup > 0 && p < s.warmup) return s.peakLr * (p / s.warmup);
  if (s.decay === 'constant') return s.peakLr;
  const q = s.warmup >= 1 ? 1 : (p - s.warmup) / (1 - s.warmup);
  if (s.decay === 'linear') return s.peakLr * (1 - q);
  return s.peakLr * 0.5 * (1 + Math.cos(Math.PI * q));
}
