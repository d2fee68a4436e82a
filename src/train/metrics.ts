// metrics.jsonl: one JSON object per line per event (train, eval, checkpoint, start,
// resume, end). Appends are line-sized; a reader ignores a torn last line.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';

export type MetricEvent = { event: string; step: number; [key: string]: unknown };

export class MetricsLog {
  constructor(readonly path: string) {}

  append(e: MetricEvent): void {
    appendFileSync(this.path, JSON.stringify({ ...e, wall_time: new Date().toISOString() }) + '\n');
  }

  /** Keeps only events up to `step` (used on resume: later events will be replayed). */
  truncateAfter(step: number): void {
    const kept = readMetrics(this.path).filter((e) => e.step <= step);
    writeFileAtomic(this.path, kept.map((e) => JSON.stringify(e) + '\n').join(''));
  }
}

export function readMetrics(path: string): MetricEvent[] {
  if (!existsSync(path)) return [];
  const out: MetricEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as MetricEvent);
    } catch {
      // a line torn by a crash mid-append
    }
  }
  return out;
}
