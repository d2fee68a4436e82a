// Progress of long commands, on stderr: a live bar on a terminal, an occasional plain
// line otherwise (logs, pipes, CI). Either way a final line says what was done and how fast.
//
//   const p = progress({ label: 'encoding', total: bytes, unit: 'B' });
//   p.update(done, { docs: 12 });
//   p.done();
import cliProgress from 'cli-progress';
import { formatBytes } from './format.js';

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
  /**
   * On a terminal narrower than the line, what goes first: these fields, in this order, then
   * the bar, then the rate. Fields not named here are never dropped (default: drop none).
   */
  dropFirst?: string[];
}

/** The bar's width in characters, with its brackets and the space after. */
const BAR_WIDTH = 30;

/** Live bars drawn on a terminal now: other output must first clear their line. */
let liveBars = 0;

/** Clears the line a live bar is drawn on, so that a message written next starts on a clean line (the bar redraws below it). */
export function clearLiveLine(stream: NodeJS.WriteStream = process.stderr): void {
  if (liveBars > 0 && stream.isTTY) stream.write('\x1b[1G\x1b[2K');
}

export type ProgressFields = Record<string, string | number>;

export interface Progress {
  update(value: number, fields?: ProgressFields): void;
  increment(delta?: number, fields?: ProgressFields): void;
  /** Ends the bar and prints the final line. */
  done(fields?: ProgressFields): void;
}

export function progress(options: ProgressOptions): Progress {
  const { label, total, unit = '', enabled = true, stream = process.stderr, intervalMs = 10_000, rate = true, describe, dropFirst = [] } = options;
  const start = performance.now();
  let value = 0;
  let fields: ProgressFields = {};
  let finished = false;
  const count = (v: number) => Math.round(v).toLocaleString('en-US');
  const amount = (v: number) => (unit === 'B' ? formatBytes(v) : `${count(v)}${unit ? ' ' + unit : ''}`);
  const elapsed = () => (performance.now() - start) / 1000;
  /** "label: <head> | <rate>/s | key value, ..." without the fields in `dropped` (and the rate, if `withRate` is false). */
  const render = (head: string, dropped: ReadonlySet<string> = new Set(), withRate = rate) => {
    const seconds = elapsed();
    const extra = Object.entries(fields).filter(([k]) => !dropped.has(k)).map(([k, v]) => `${k} ${typeof v === 'number' ? count(v) : v}`).join(', ');
    return [`${label}: ${head}`, withRate && seconds > 0 ? `${amount(value / seconds)}/s` : '', extra].filter((s) => s !== '').join(' | ');
  };
  /** The bar and line that fit `columns`: fields in `dropFirst` order go first, then the bar, then the rate. */
  const fitted = (bar: string, head: string, columns: number) => {
    const dropped = new Set<string>();
    let withBar = bar !== '', withRate = rate;
    const text = () => (withBar ? `[${bar}] ` : '') + render(head, dropped, withRate);
    for (const k of dropFirst) {
      if (text().length <= columns) break;
      dropped.add(k);
    }
    if (text().length > columns) withBar = false;
    if (text().length > columns) withRate = false;
    return text();
  };
  const head = () => (describe ? describe(value) : total === undefined
    ? amount(value)
    : `${unit === 'B' ? amount(value) : count(value)} of ${amount(total)} (${total > 0 ? Math.floor((100 * value) / total) : 100}%)`);
  const line = () => render(head());

  let bar: cliProgress.SingleBar | null = null;
  let lastPrint = start;
  if (enabled && stream.isTTY) {
    bar = new cliProgress.SingleBar({
      stream,
      clearOnComplete: true,
      hideCursor: true,
      barsize: BAR_WIDTH,
      // the line is cut to the terminal's width by dropping fields, never mid-field; one column spare for the cursor
      format: (opts, params) => fitted(total !== undefined ? cliProgress.Format.BarFormat(params.progress, opts) : '', head(), (stream.columns || 80) - 1),
    });
    bar.start(total ?? 0, 0);
    liveBars++;
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
      if (bar) {
        bar.stop();
        liveBars--;
      }
      if (!enabled) return;
      stream.write(render(`${describe ? describe(value) : amount(value)} in ${elapsed().toFixed(1)} s`) + '\n');
    },
  };
}

export { formatBytes };
