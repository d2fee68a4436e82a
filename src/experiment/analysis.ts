// Reading a sweep's runs and answering its questions: which size is best at each amount
// of training time, and how long each run took to reach a target loss.
import { eventsOf, readMetrics } from '../run/metrics.js';
import { runFile } from '../run/layout.js';
import { readSweepSummary, type SweepRow } from '../run/sweep-summary.js';

export interface CurvePoint {
  trainSeconds: number;
  tokens: number;
  flops: number;
  validLoss: number;
}

export interface SweepRun extends SweepRow {
  curve: CurvePoint[];
  /** Median of the logged gradient noise scale over the second half of training, if any. */
  noiseScale: number | null;
}

export function loadSweep(dir: string): SweepRun[] {
  return readSweepSummary(dir).rows.map((row) => {
    const events = readMetrics(runFile(row.run, 'metrics'));
    const curve = eventsOf(events, 'eval').filter((e) => e.valid_loss !== null).map((e) => ({
      trainSeconds: e.train_seconds, tokens: e.tokens, flops: e.flops, validLoss: e.valid_loss as number,
    }));
    const noise = eventsOf(events, 'train').map((e) => e.noise_scale).filter((v): v is number => typeof v === 'number');
    const late = noise.slice(Math.floor(noise.length / 2)).sort((a, b) => a - b);
    return { ...row, curve, noiseScale: late.length ? late[Math.floor(late.length / 2)] : null };
  });
}

/** A run's validation loss at time t: its last evaluation at or before t. */
export function lossAt(run: SweepRun, t: number): number | null {
  let v: number | null = null;
  for (const p of run.curve) if (p.trainSeconds <= t + 1e-9) v = p.validLoss;
  return v;
}

/**
 * For every evaluation time in the sweep, the run with the lowest validation loss so far
 * — the best size as a function of the training budget (the central question of "Train
 * Large, Then Compress"). Runs' schedules end with their own budgets, so a point before
 * the end of a run is a lower bound on what that run would reach with that budget.
 */
export function bestOverTime(runs: SweepRun[]): { trainSeconds: number; best: string; validLoss: number }[] {
  const times = [...new Set(runs.flatMap((r) => r.curve.map((p) => p.trainSeconds)))].filter((t) => t > 0).sort((a, b) => a - b);
  const out: { trainSeconds: number; best: string; validLoss: number }[] = [];
  for (const t of times) {
    let best: { name: string; loss: number } | null = null;
    for (const r of runs) {
      const l = lossAt(r, t);
      if (l !== null && (best === null || l < best.loss)) best = { name: r.name, loss: l };
    }
    if (best) out.push({ trainSeconds: t, best: best.name, validLoss: best.loss });
  }
  return out;
}

/** Training time at which each run first reached `target` validation loss (null: never). */
export function timeToTarget(runs: SweepRun[], target: number): { name: string; batchSize: number; seconds: number | null }[] {
  return runs.map((r) => ({
    name: r.name, batchSize: r.batch_size,
    seconds: r.curve.find((p) => p.validLoss <= target)?.trainSeconds ?? null,
  }));
}
