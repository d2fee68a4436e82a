// Progress of long commands, on stderr: a live bar on a terminal, an occasional plain
// line otherwise (logs, pipes, CI). Either way a final line says what was done and how fast.
//
//   const p = progress({ label: 'encoding', total: bytes, unit: 'B' });
//   p.update(done, { docs: 12 });
//   p.done();
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  label: string;
  /** Unknown totals show a count without bar or percentage. */
  total?: number;
  /** 'B' prints byte counts as KB/MB/GB; any other unit is printed after the count. */
  unit?: string;
  /** false: print nothing (default true). */
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
  /** Without a terminal, at most one line per this many milliseconds (default 10 s). */
  intervalMs?: number;
  /** Show the rate (value per second); default true. */
  rate?: boolean;
  /** Custom text for the value, e.g. "42.0% of budget" (replaces "value of total (pct)"). */
  describe?: (value: number) => string;
}

export type ProgressFields = Record<string, string | number>;

export interface Progress {
  update(value: number, fields?: ProgressFields): void;
  increment(delta?: number, fields?: ProgressFields): void;
  /** Ends the bar and prints the final line. */
  done(fields?: ProgressFields): void;
}

export function progress(options: ProgressOptions): Progress {
  const { label, total, unit = '', enabled = true, stream = process.stderr, intervalMs = 10_000, rate = true, describe } = options;
  const start = performance.now();
  let value = 0;
  let fields: ProgressFields = {};
  let finished = false;
  const count = (v: number) => Math.round(v).toLocaleString('en-US');
  const amount = (v: number) => (unit === 'B' ? formatBytes(v) : `${count(v)}${unit ? ' ' + unit : ''}`);
  const elapsed = () => (performance.now() - start) / 1000;
  /** "label: <head> | <rate>/s | key value, ..." */
  const render = (head: string) => {
    const seconds = elapsed();
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${typeof v === 'number' ? count(v) : v}`).join(', ');
    return [`${label}: ${head}`, rate && seconds > 0 ? `${amount(value / seconds)}/s` : '', extra].filter((s) => s !== '').join(' | ');
  };
  const line = () => render(describe ? describe(value) : total === undefined
    ? amount(value)
    : `${unit === 'B' ? amount(value) : count(value)} of ${amount(total)} (${total > 0 ? Math.floor((100 * value) / total) : 100}%)`);

  let bar: cliProgress.SingleBar | null = null;
  let lastPrint = start;
  if (enabled && stream.isTTY) {
    bar = new cliProgress.SingleBar({
      stream,
      clearOnComplete: true,
      hideCursor: true,
      barsize: 30,
      format: (opts, params) => (total !== undefined ? `[${cliProgress.Format.BarFormat(params.progress, opts)}] ${line()}` : line()),
    });
    bar.start(total ?? 0, 0);
  }

  const update = (v: number, f?: ProgressFields) => {
    if (finished) return;
    value = v;
    if (f) fields = { ...fields, ...f };
    if (bar) {
      bar.update(Math.min(v, total ?? v));
    } else if (enabled && performance.now() - lastPrint >= intervalMs) {
      lastPrint = performance.now();
      stream.write(line() + '\n');
    }
  };

  return {
    update,
    increment: (delta = 1, f) => update(value + delta, f),
    done(f) {
      if (finished) return;
      if (f) fields = { ...fields, ...f };
      finished = true;
      bar?.stop();
      if (!enabled) return;
      stream.write(render(`${describe ? describe(value) : amount(value)} in ${elapsed().toFixed(1)} s`) + '\n');
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} KB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
