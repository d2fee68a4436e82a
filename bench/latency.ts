// Batch-1 latency of finished models — `tlc compress` settings on the kernels they ship with,
// or runs on the f32 kernel — measured in interleaved rounds of one process, so that a change
// in machine load shifts every model alike. `tlc compress` times each setting as it writes
// it, on whatever the machine is doing then; this re-times a whole output on a quiet machine
// and can write the numbers back (result.json and compress.json), where `tlc pareto
// --max-latency` reads them.
import { existsSync, statSync } from 'node:fs';
import { dirname, normalize, resolve } from 'node:path';
import { TlcError } from '../src/util/errors.js';
import { waitPolicy } from '../src/engine/native.js';
import { loadModelDir } from '../src/infer/load.js';
import { describePacking, packByChoice, packLinears, unpackLinears } from '../src/infer/pack.js';
import { forwardOnce, syntheticBatch } from '../src/infer/latency.js';
import type { TransformerBody } from '../src/nn/transformer.js';
import {
  compressSummaryPath, readCompressSummary, readSettingResult, writeCompressSummary, writeSettingResult,
} from '../src/run/compress-summary.js';

export interface LatencyRow {
  dir: string;
  kernels: string;
  seq_len: number;
  latency_ms: number;
  /** The latency the setting's result.json held before (from `tlc compress`, or an earlier --write), if any. */
  recorded_ms: number | null;
  recorded_seq_len: number | null;
}

/**
 * The model directories named: a `tlc compress` output stands for all its settings; files
 * (what a shell glob over an output also matches) are skipped; each directory once.
 */
export function modelDirs(given: string[]): string[] {
  const out: string[] = [];
  for (const g of given) {
    if (!existsSync(g)) throw new TlcError(`${g}: no such directory`);
    if (!statSync(g).isDirectory()) continue;
    const dir = normalize(g).replace(/\/+$/, '');
    if (existsSync(compressSummaryPath(dir))) out.push(...readCompressSummary(dir).rows.map((r) => dirname(r.file)));
    else out.push(dir);
  }
  return [...new Set(out)];
}

export function benchLatency(given: string[], opts: { rounds?: number; seqLen?: number; write?: boolean; log?: (l: string) => void } = {}): LatencyRow[] {
  const rounds = opts.rounds ?? 7, log = opts.log ?? (() => {});
  const dirs = modelDirs(given);
  if (dirs.length === 0) throw new TlcError('bench latency: name one or more model directories (or `tlc compress` outputs)');
  if (opts.write) {
    // every directory is checked before anything is timed or written
    for (const dir of dirs) {
      if (!readSettingResult(dir)) throw new TlcError(`${dir}: not a setting of \`tlc compress\` (no result.json); --write updates compression outputs`);
    }
  }
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new TlcError(`--rounds must be a positive integer, got ${rounds}`);
  const models: { dir: string; model: TransformerBody; kernels: string; seqLen: number }[] = [];
  try {
    for (const dir of dirs) {
      const loaded = loadModelDir(dir);
      const summary = loaded.compressed ? packByChoice(loaded.model, 'auto', loaded.tensorBits, loaded.tensorKernels) : packLinears(loaded.model, () => ({ kind: 'f32' }));
      const seqLen = Math.min(opts.seqLen ?? 128, loaded.config.max_len);
      if (opts.seqLen !== undefined && seqLen < opts.seqLen) log(`${dir}: timed at its max_len, ${seqLen} tokens, not ${opts.seqLen}`);
      models.push({ dir, model: loaded.model, kernels: summary ? describePacking(summary) : 'reference (training path)', seqLen });
    }
    log(`OpenMP wait policy ${waitPolicy.policy}: ${waitPolicy.why}`);
    const times = models.map(() => [] as number[]);
    const batches = models.map((m) => syntheticBatch(m.model, 1, m.seqLen));
    models.forEach((m, i) => forwardOnce(m.model, batches[i])); // warm-up
    for (let r = 0; r < rounds; r++) {
      models.forEach((m, i) => {
        for (let k = 0; k < 5; k++) {
          const t0 = process.hrtime.bigint();
          forwardOnce(m.model, batches[i]);
          times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      });
      log(`round ${r + 1}/${rounds}`);
    }
    const rows = models.map((m, i): LatencyRow => {
      const sorted = [...times[i]].sort((a, b) => a - b);
      const recorded = readSettingResult(m.dir)?.row;
      return {
        dir: m.dir, kernels: m.kernels, seq_len: m.seqLen, latency_ms: sorted[Math.floor(sorted.length / 2)],
        recorded_ms: recorded?.latency_ms ?? null, recorded_seq_len: recorded?.latency_seq_len ?? null,
      };
    });
    if (opts.write) writeBack(rows);
    return rows;
  } finally {
    for (const m of models) {
      unpackLinears(m.model);
      m.model.dispose();
    }
  }
}

/** The new latencies into each setting's result.json and its output's compress.json. */
function writeBack(rows: LatencyRow[]): void {
  for (const r of rows) {
    const result = readSettingResult(r.dir);
    if (!result) throw new TlcError(`${r.dir}: not a setting of \`tlc compress\` (no result.json); --write updates compression outputs`);
    const row = { ...result.row, latency_ms: r.latency_ms, latency_seq_len: r.seq_len };
    writeSettingResult(r.dir, { ...result, row });
    const out = dirname(r.dir);
    if (!existsSync(compressSummaryPath(out))) continue;
    const summary = readCompressSummary(out);
    const { path: _path, ...rest } = summary;
    writeCompressSummary(out, {
      ...rest, rows: summary.rows.map((x) => (resolve(x.file) === resolve(row.file) ? { ...x, latency_ms: r.latency_ms, latency_seq_len: r.seq_len } : x)),
    });
  }
}
