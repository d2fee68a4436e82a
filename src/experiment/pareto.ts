// Choosing a compressed model: the accuracy-versus-bytes Pareto frontier over the results
// of one or more `tlc compress` runs, and the most accurate model within a size budget.
import { formatBytes } from '../util/format.js';
import { TlcError } from '../util/errors.js';
import { join, relative, resolve } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { CompressRow } from '../run/compress-summary.js';
import { PARETO_FILES } from '../run/layout.js';

export interface ParetoRow extends CompressRow {
  on_frontier: boolean;
}

/** What a row costs at test time: its file size, or its measured latency. */
export type Cost = 'bytes' | 'latency';

function costOf(r: CompressRow, cost: Cost): number | null {
  return cost === 'bytes' ? r.bytes : r.latency_ms ?? null;
}

/**
 * Marks the rows no other row dominates: nothing else is at most as costly (bytes, or
 * latency) and strictly more accurate, or strictly cheaper and at least as accurate.
 */
export function paretoFrontier(rows: CompressRow[], cost: Cost = 'bytes'): ParetoRow[] {
  const scored = rows.filter((r) => r.accuracy !== null && costOf(r, cost) !== null);
  return rows.map((r) => {
    const c = costOf(r, cost);
    return {
      ...r,
      on_frontier: r.accuracy !== null && c !== null && !scored.some((o) => {
        const oc = costOf(o, cost)!;
        return o !== r && ((oc <= c && o.accuracy! > r.accuracy!) || (oc < c && o.accuracy! >= r.accuracy!));
      }),
    };
  });
}

export interface Choice {
  row: ParetoRow | null;
  reason: string;
}

/** The most accurate model within the budgets (ties: the smaller file), and why. */
export function chooseWithin(rows: ParetoRow[], budget: { maxBytes?: number; maxLatencyMs?: number }): Choice {
  const fits = rows.filter((r) => r.accuracy !== null &&
    (budget.maxBytes === undefined || r.bytes <= budget.maxBytes) &&
    (budget.maxLatencyMs === undefined || (r.latency_ms ?? Infinity) <= budget.maxLatencyMs));
  const limits = [
    budget.maxBytes !== undefined ? `${formatBytes(budget.maxBytes)}` : null,
    budget.maxLatencyMs !== undefined ? `${budget.maxLatencyMs} ms` : null,
  ].filter(Boolean).join(' and ');
  if (fits.length === 0) {
    // what comes nearest, on each budget given
    const smallest = rows.reduce<ParetoRow | null>((a, r) => (a === null || r.bytes < a.bytes ? r : a), null);
    const timed = rows.filter((r) => typeof r.latency_ms === 'number');
    const fastest = timed.reduce<ParetoRow | null>((a, r) => (a === null || r.latency_ms! < a.latency_ms! ? r : a), null);
    const nearest = [
      budget.maxBytes !== undefined && smallest ? `the smallest is ${formatBytes(smallest.bytes)}` : null,
      budget.maxLatencyMs === undefined ? null
        : fastest ? `the fastest takes ${fastest.latency_ms!.toFixed(2)} ms` : 'no model has a measured latency (tlc bench latency <dirs> --write)',
    ].filter(Boolean).join(', ');
    return { row: null, reason: `no model fits within ${limits}${nearest ? `; ${nearest}` : ''}` };
  }
  const best = fits.reduce((a, r) => (r.accuracy! > a.accuracy! || (r.accuracy === a.accuracy && r.bytes < a.bytes) ? r : a));
  const runnerUp = fits.filter((r) => r !== best).reduce<ParetoRow | null>((a, r) => (a === null || r.accuracy! > a.accuracy! ? r : a), null);
  const larger = rows.filter((r) => r.accuracy !== null && r.accuracy > best.accuracy! && !fits.includes(r));
  const parts = [`${describe(best)} is the most accurate of the ${fits.length} model(s)${limits ? ` within ${limits}` : ''}: ` +
    `${pct(best.accuracy!)} test accuracy in ${cost(best)}`];
  if (runnerUp) parts.push(`next best${limits ? ' within the budget' : ''}: ${describe(runnerUp)}, ${pct(runnerUp.accuracy!)} in ${cost(runnerUp)}`);
  if (larger.length) {
    const top = larger.reduce((a, r) => (r.accuracy! > a.accuracy! ? r : a));
    parts.push(`more accuracy needs more ${budget.maxLatencyMs !== undefined ? 'time' : 'room'}: ${describe(top)} reaches ${pct(top.accuracy!)} in ${cost(top)}`);
  }
  return { row: best, reason: parts.join('; ') };
}

/** Size, and the measured latency when there is one. */
function cost(r: CompressRow): string {
  return r.latency_ms != null ? `${formatBytes(r.bytes)} and ${r.latency_ms.toFixed(2)} ms` : formatBytes(r.bytes);
}

export function describe(r: CompressRow): string {
  const name = r.model.replace(/\/+$/, '').split('/').pop();
  const pruned = r.structured ? `${structuredText(r)} (${((r.params_kept ?? r.params) / 1e6).toFixed(2)}M kept)` : `${Math.round(r.sparsity * 100)}% sparse`;
  const method = r.mode === 'oneshot' ? '' : `, ${r.mode} finetuning${r.qat ? ' with QAT' : ''}`;
  return `${name} (${(r.params / 1e6).toFixed(1)}M params, ${pruned}, ${r.bits === 32 ? 'float32' : `${r.bits}-bit`}${method})`;
}

/** What a structured setting removed: the heads only where some went (a model with one head per block keeps it). */
export function structuredText(r: CompressRow): string {
  const units = r.structured_units ?? 'both';
  const headsWent = r.layer_heads !== undefined;
  if (units === 'heads' && !headsWent) return 'nothing removed (every block keeps its one head)';
  const what = units === 'neurons' || !headsWent ? 'FFN neurons' : units === 'heads' ? 'heads' : 'heads and FFN neurons';
  return `${Math.round(r.structured! * 100)}% of ${what} removed`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

export { formatBytes };

/** "20MB", "1.5 GB", "512kB", "3MiB", "1000" (bytes). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|KiB|MB|MiB|GB|GiB)?\s*$/i.exec(text);
  if (!m) throw new TlcError(`invalid size "${text}": use e.g. 20MB, 512kB or 1.5GB`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 2 ** 20, gb: 1e9, gib: 2 ** 30 };
  const bytes = Math.round(Number(m[1]) * mult[unit]);
  if (bytes < 1) throw new TlcError(`invalid size "${text}": a size must be at least one byte`);
  return bytes;
}

export function toCsv(rows: ParetoRow[]): string {
  const cols = ['model', 'params', 'sparsity', 'bits', 'structured', 'params_kept', 'qat', 'mode', 'bytes', 'accuracy', 'macro_f1', 'kernels', 'latency_ms', 'on_frontier', 'file'] as const;
  const cell = (v: unknown): string => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell((r as unknown as Record<string, unknown>)[c])).join(','))].join('\n') + '\n';
}

/**
 * Writes pareto.json (the table, the choice and the budget) and pareto.csv into `dir`, every
 * row's file relative to `dir`, so that the folder can be moved with what it chose from.
 */
export function writePareto(dir: string, table: ParetoRow[], choice: Choice | null, budget: { max_bytes?: number; max_latency_ms?: number }): void {
  const here = (r: ParetoRow): ParetoRow => ({ ...r, file: relative(resolve(dir), resolve(r.file)) });
  const rows = table.map(here);
  writeJsonAtomic(join(dir, PARETO_FILES.json), { rows, choice: choice && { ...choice, row: choice.row && here(choice.row) }, budget });
  writeFileAtomic(join(dir, PARETO_FILES.csv), toCsv(rows));
}
