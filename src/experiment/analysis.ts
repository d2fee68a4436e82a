// Reading a sweep's runs and answering its questions: which size is best at each amount
// of training time, how long each run took to reach a target loss, and which of its
// losses are valid scaling-law points.
import { eventsOf, readMetrics } from '../run/metrics.js';
import { runFile } from '../run/layout.js';
import { readRunArgsIfAny } from '../run/run-args.js';
import { readSweepSummary, type SweepRow } from '../run/sweep-summary.js';
import { listBranches, runEnded } from '../train/branches.js';

export interface CurvePoint {
  trainSeconds: number;
  tokens: number;
  flops: number;
  validLoss: number;
}

/**
 * A loss at the end of a learning-rate schedule: the end of a run whose rate decays to zero
 * with its budget, or of a wsd run's cooldown branch. Only these are losses that a run of
 * that length reaches (Hoffmann et al. 2022; Hägele et al. 2024); a mid-schedule evaluation
 * of a decaying run is not.
 */
export interface EndPoint extends CurvePoint {
  /** 'run': the end of a decaying schedule; 'branch': a cooldown branch at `fraction` of the trunk. */
  kind: 'run' | 'branch';
  fraction: number;
}

export interface SweepRun extends SweepRow {
  curve: CurvePoint[];
  /** The run's valid scaling-law points (none for a constant-rate run without branches). */
  points: EndPoint[];
  /** Median of the logged gradient noise scale over the second half of training, if any. */
  noiseScale: number | null;
  /** The precision the run trained in (its start event; null for runs that did not log it). */
  precision: string | null;
  /** The validation loss of a unigram table (its start event; null for runs that did not log it). */
  unigramLoss: number | null;
}

export function loadSweep(dir: string): SweepRun[] {
  return readSweepSummary(dir).rows.map((row) => {
    const events = readMetrics(runFile(row.run, 'metrics'));
    const curve = eventsOf(events, 'eval').filter((e) => e.valid_loss !== null).map((e) => ({
      trainSeconds: e.train_seconds, tokens: e.tokens, flops: e.flops, validLoss: e.valid_loss as number,
    }));
    const noise = eventsOf(events, 'train').map((e) => e.noise_scale).filter((v): v is number => typeof v === 'number');
    const late = noise.slice(Math.floor(noise.length / 2)).sort((a, b) => a - b);
    const start = eventsOf(events, 'start')[0];
    const precision = start?.precision ?? null;
    const unigramLoss = typeof start?.unigram_valid_loss === 'number' ? start.unigram_valid_loss : null;
    return { ...row, curve, points: endPoints(row.run), noiseScale: late.length ? late[Math.floor(late.length / 2)] : null, precision, unigramLoss };
  });
}

/** The end-of-schedule losses of a run directory (see EndPoint). */
export function endPoints(runDir: string): EndPoint[] {
  const branches = listBranches(runDir).filter((b) => runEnded(b.dir));
  if (branches.length > 0) {
    return branches.map((b) => ({ ...endOf(b.dir)!, kind: 'branch' as const, fraction: b.info.fraction })).filter((p) => p.validLoss > 0);
  }
  const schedule = readRunArgsIfAny(runDir)?.options.schedule ?? 'linear';
  if (schedule !== 'linear' && schedule !== 'cosine') return [];
  const end = endOf(runDir);
  return end ? [{ ...end, kind: 'run', fraction: 1 }] : [];
}

function endOf(dir: string): CurvePoint | null {
  const end = eventsOf(readMetrics(runFile(dir, 'metrics')), 'end').pop();
  // a run stopped early by its patience ended before its schedule did
  if (!end || end.stopped_early || typeof end.valid_loss !== 'number') return null;
  return { trainSeconds: end.train_seconds, tokens: end.tokens, flops: end.flops, validLoss: end.valid_loss };
}

/** Training time at which each run first reached `target` validation loss (null: never). */
export function timeToTarget(runs: SweepRun[], target: number): { name: string; batchSize: number; seconds: number | null }[] {
  return runs.map((r) => ({
    name: r.name, batchSize: r.batch_size,
    seconds: r.curve.find((p) => p.validLoss <= target)?.trainSeconds ?? null,
  }));
}
