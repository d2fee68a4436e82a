// Scaling-law points from any source for `tlc plan --points`: another tool's ladder, a paper's
// table. CSV with a header naming `params` (non-embedding parameters), `tokens` or `flops`
// (then tokens = flops / (6·params)), `loss` and optionally `group` (the run or size a point
// belongs to: the bootstrap resamples groups); or JSON, an array of such objects.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TlcError } from '../util/errors.js';
import type { ScalingPoint } from './fit-model.js';
import { readProblem } from '../util/read-error.js';

export interface FilePoint extends ScalingPoint {
  /** The size's label in tables: its group, or its parameter count. */
  label: string;
}

type Row = Record<string, unknown>;

export function readPointsFile(path: string): FilePoint[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TlcError(readProblem(path, e, 'the points'));
  }
  const rows = /\.json$/i.test(path) || /^\s*\[/.test(text) ? jsonRows(path, text) : csvRows(path, text);
  if (rows.length === 0) throw new TlcError(`${path}: no points`);
  const points = rows.map((row, i) => pointOf(path, row, i));
  // a group is one size: its rows must agree on it
  const sizeOf = new Map<string, number>();
  points.forEach((p, i) => {
    if (p.group === undefined) return;
    const seen = sizeOf.get(p.group);
    if (seen !== undefined && seen !== p.params) {
      throw new TlcError(`${path}: row ${i + 1}: group ${p.group} has params ${p.params}, but an earlier row of it has ${seen}; a group is one size`);
    }
    sizeOf.set(p.group, p.params);
  });
  return points;
}

function jsonRows(path: string, text: string): Row[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TlcError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(value) || value.some((r) => r === null || typeof r !== 'object' || Array.isArray(r))) {
    throw new TlcError(`${path}: expected a JSON array of objects with params, tokens (or flops) and loss`);
  }
  return value as Row[];
}

function csvRows(path: string, text: string): Row[] {
  // a binary file would otherwise be quoted back, bytes and all, in the parser's message
  if (text.includes('\u0000') || text.includes('\uFFFD')) throw new TlcError(`${path}: not a CSV file (it holds binary data or is not UTF-8 text)`);
  let rows: Row[];
  try {
    rows = csvParser()(text.replace(/^\uFEFF/, ''), { columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), skip_empty_lines: true, trim: true });
  } catch (e) {
    throw new TlcError(`${path}: not a valid CSV file (${(e as Error).message})`);
  }
  if (rows.length === 0) return rows;
  const columns = Object.keys(rows[0]);
  const missing = ['params', 'loss'].filter((c) => !columns.includes(c));
  if (!columns.includes('tokens') && !columns.includes('flops')) missing.push('tokens or flops');
  if (missing.length > 0) {
    throw new TlcError(`${path}: the header must name params, loss and tokens or flops (optional: group); missing ${missing.join(', ')} (found ${columns.join(', ') || 'none'})`);
  }
  return rows;
}

/** Row i (0-based; the file's line is i + 2 for a CSV with a header). */
function pointOf(path: string, row: Row, i: number): FilePoint {
  const where = `${path}: row ${i + 1}`;
  const num = (key: string): number | undefined => {
    const v = row[key];
    if (v === undefined || v === '' || v === null) return undefined;
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new TlcError(`${where}: ${key} must be a positive number, got ${JSON.stringify(v)}`);
    return n;
  };
  const params = num('params'), loss = num('loss'), tokens = num('tokens'), flops = num('flops');
  if (params === undefined) throw new TlcError(`${where}: no params (the non-embedding parameter count)`);
  if (loss === undefined) throw new TlcError(`${where}: no loss`);
  if (tokens !== undefined && flops !== undefined && Math.abs(tokens - flops / (6 * params)) > 0.01 * tokens) {
    throw new TlcError(`${where}: tokens ${tokens} and flops ${flops} disagree (flops / (6·params) = ${(flops / (6 * params)).toPrecision(4)}); give one`);
  }
  const d = tokens ?? (flops !== undefined ? flops / (6 * params) : undefined);
  if (d === undefined) throw new TlcError(`${where}: no tokens or flops`);
  const group = row.group === undefined || row.group === null || row.group === '' ? undefined : String(row.group);
  // without a group, a size is its exact parameter count
  return { params, tokens: d, loss, ...(group !== undefined && { group }), label: group ?? `N=${params}` };
}

/** The CSV parser, loaded when a points file is first read: other commands start without it. */
function csvParser(): typeof import('csv-parse/sync').parse {
  return (createRequire(import.meta.url)('csv-parse/sync') as typeof import('csv-parse/sync')).parse;
}
