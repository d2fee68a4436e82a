// Timing helpers for benchmarks: warm up, then take the median of repeated runs.
export interface Timing {
  medianS: number;
  minS: number;
  runs: number;
}

export function timeIt(fn: () => void, opts: { warmup?: number; minRuns?: number; minTimeS?: number } = {}): Timing {
  const warmup = opts.warmup ?? 2, minRuns = opts.minRuns ?? 5, minTime = opts.minTimeS ?? 0.5;
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = process.hrtime.bigint();
  while (times.length < minRuns || Number(process.hrtime.bigint() - start) / 1e9 < minTime) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { medianS: times[Math.floor(times.length / 2)], minS: times[0], runs: times.length };
}
