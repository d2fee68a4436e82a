// What a report is made of: the training runs (folders holding metrics.jsonl) and the
// compression results (folders holding compress.json) found under one directory.
import { BUDGET_KINDS } from '../run/budget-kinds.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { TlcError } from '../util/errors.js';
import type { Budget } from '../train/budget.js';
import { readMetrics, type MetricEvent } from '../run/metrics.js';
import { AUTO_FILES, COMPRESS_FILES, RUN_FILES, SWEEP_FILES } from '../run/layout.js';
import { readCompressSummary, type CompressRow } from '../run/compress-summary.js';

/** One validation measurement, with the training spent to reach it. */
export interface EvalPoint {
  step: number;
  seconds: number;
  tokens: number;
  flops: number;
  validLoss: number;
  /** Corpus BLEU on the held-out pairs (translation runs). */
  validBleu?: number;
  /** Accuracy on the validation split (finetuning runs). */
  validAccuracy?: number;
}

export interface RunSummary {
  /** Path relative to the scanned directory, with '/' separators; the folder's name when the directory is the run. */
  name: string;
  dir: string;
  /** Runs whose losses are comparable share a group: the pretraining objective, or the finetuning task. */
  group: string;
  groupTitle: string;
  params: number | null;
  nonEmbeddingParams: number | null;
  budget: Budget | null;
  unigramValidLoss: number | null;
  steps: number;
  tokens: number;
  flops: number;
  trainSeconds: number;
  finalValidLoss: number | null;
  evals: EvalPoint[];
  /** The run wrote its 'end' event. */
  finished: boolean;
}

export interface CompressResult {
  /** The compress.json file. */
  path: string;
  rows: CompressRow[];
}

/** Folders under `root` (itself included) that contain `file`, in tree order with siblings sorted by name. */
/** `skip` holds absolute paths. */
export function findDirsWith(root: string, file: string, skip: Set<string> = new Set()): string[] {
  const found: string[] = [];
  const visit = (dir: string): void => {
    if (skip.has(resolve(dir))) return;
    if (existsSync(join(dir, file))) found.push(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      throw new TlcError(`${dir}: cannot read the directory (${(e as Error).message})`);
    }
    // symbolic links are not followed (no cycles); checkpoints and hidden folders hold no runs
    const subdirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== RUN_FILES.checkpoints && e.name !== 'node_modules')
      .map((e) => e.name).filter((name) => !isThroughputProbe(dir, name)).sort();
    for (const name of subdirs) visit(join(dir, name));
  };
  visit(root);
  return found;
}

/** Throughput probes measure the machine, not a model: a sweep's probes/, `tlc auto`'s prior-probe/. */
function isThroughputProbe(parent: string, name: string): boolean {
  return (name === SWEEP_FILES.probes && existsSync(join(parent, SWEEP_FILES.spec))) || (name === AUTO_FILES.prior && existsSync(join(parent, AUTO_FILES.record)));
}

/** A run's name in the report: its path under `root`. */
export function runName(root: string, dir: string): string {
  const rel = relative(root, dir);
  return rel === '' ? basename(resolve(dir)) || dir : rel.split(sep).join('/');
}

export function readRun(root: string, dir: string): RunSummary {
  const events = readMetrics(join(dir, RUN_FILES.metrics));
  const start = events.find((e) => e.event === 'start') ?? events.find((e) => e.event === 'resume');
  const byStep = new Map<number, EvalPoint>();
  for (const e of events) {
    if (e.event !== 'eval' || !isNum(e.valid_loss) || !isNum(e.train_seconds)) continue;
    byStep.set(e.step, {
      step: e.step, seconds: e.train_seconds, tokens: numOr(e.tokens, 0), flops: numOr(e.flops, 0), validLoss: e.valid_loss,
      ...(isNum(e.valid_bleu) ? { validBleu: e.valid_bleu } : {}),
      ...(isNum(e.valid_accuracy) ? { validAccuracy: e.valid_accuracy } : {}),
    });
  }
  const evals = [...byStep.values()].sort((a, b) => a.step - b.step);
  const last = (key: string): number => events.reduce((m, e) => (isNum(e[key]) ? Math.max(m, e[key] as number) : m), 0);
  const { group, groupTitle } = groupOf(start);
  return {
    name: runName(root, dir), dir, group, groupTitle,
    params: start && isNum(start.params) ? start.params : null,
    nonEmbeddingParams: start && isNum(start.non_embedding_params) ? start.non_embedding_params : null,
    budget: start && isBudget(start.budget) ? start.budget : null,
    unigramValidLoss: start && isNum(start.unigram_valid_loss) ? start.unigram_valid_loss : null,
    steps: events.reduce((m, e) => (isNum(e.step) ? Math.max(m, e.step) : m), 0),
    tokens: last('tokens'), flops: last('flops'), trainSeconds: last('train_seconds'),
    finalValidLoss: evals.length ? evals[evals.length - 1].validLoss : null,
    evals,
    finished: events.some((e) => e.event === 'end'),
  };
}

function groupOf(start: MetricEvent | undefined): { group: string; groupTitle: string } {
  if (start && typeof start.task === 'string') return { group: `finetune-${slug(start.task)}`, groupTitle: `Finetuning on ${start.task}` };
  if (start?.objective === 'mlm') return { group: 'mlm', groupTitle: 'Masked-LM pretraining' };
  if (start?.objective === 'clm') return { group: 'clm', groupTitle: 'Causal-LM pretraining' };
  if (start?.objective === 'seq2seq') return { group: 'seq2seq', groupTitle: 'Translation (encoder–decoder) training' };
  return { group: 'runs', groupTitle: 'Training runs' };
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'x';
}

export function readCompressResult(dir: string): CompressResult {
  const { path, rows } = readCompressSummary(dir);
  return { path, rows };
}

/** Every run and compression result under `root`, leaving out the folder the report is written to. */
export function scan(root: string, reportDir: string): { runs: RunSummary[]; compress: CompressResult[] } {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new TlcError(`${root}: no such directory`);
  const skip = new Set([resolve(reportDir)]);
  return {
    runs: findDirsWith(root, RUN_FILES.metrics, skip).map((d) => readRun(root, d)),
    compress: findDirsWith(root, COMPRESS_FILES.summary, skip).map(readCompressResult),
  };
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function numOr(v: unknown, fallback: number): number {
  return isNum(v) ? v : fallback;
}

function isBudget(v: unknown): v is Budget {
  const b = v as Budget | null;
  return !!b && typeof b === 'object' && (BUDGET_KINDS as readonly string[]).includes(b.kind) && isNum(b.limit);
}
