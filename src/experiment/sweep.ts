// `tlc sweep`: a grid of model shapes (and optionally batch sizes) pretrained on the same
// data under the same budget. One process runs the runs one after another; several workers
// (MPI ranks, Slurm array tasks, or `--worker i/n`) split them, run i going to worker
// i mod n, all writing into one sweep directory. Running it again skips finished runs and
// resumes an interrupted one. A sweep file takes the options of `tlc pretrain` (the same
// schema, the same defaults) plus the grid.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { countParams, presetConfig, type ModelConfig } from '../nn/config.js';
import { readMetrics, eventsOf } from '../run/metrics.js';
import { SWEEP_FILES, runFile } from '../run/layout.js';
import { writeSweepSummary, type SweepRow } from '../run/sweep-summary.js';
import { PRESET_PRETRAIN_DROPOUT, pretrainShape, type PretrainOptions } from '../train/args.js';
import { dataVocabSize, pretrain, pretrainPlan, resumePretrain } from '../train/pretrain.js';
import type { LoopEvents } from '../train/loop.js';
import { parseDuration } from '../train/budget.js';
import { lockRun } from '../run/lock.js';
import { readRunArgsIfAny } from '../run/run-args.js';
import { branchDir, runEnded } from '../train/branches.js';
import type { WorkerSlot } from '../util/launch.js';
import { readProblem } from '../util/read-error.js';
import { makeDirs } from '../util/make-dirs.js';
import { jsonDifference } from '../util/json-difference.js';

const { model: _model, batch_size: _batchSize, ...sweptOptions } = pretrainShape;

const sweepSchema = z.object({
  ...sweptOptions,
  /** `translation` is shorthand for objective seq2seq on a prepared translation directory. */
  task: z.enum(['language-model', 'translation']).optional(),
  /** Presets like L4-D256; or give `layers` × `widths`. */
  sizes: z.array(z.string()).optional(),
  layers: z.array(z.number().int().min(1)).optional(),
  widths: z.array(z.number().int().min(1)).optional(),
  batch_sizes: z.array(z.number().int().min(1)).default([32]),
  /**
   * A learning-rate probe: every size trains at each of these peak rates, and the fit takes
   * each size's best, so no size loses for a rate that does not suit it (instead of `lr`).
   */
  lrs: z.array(z.number().positive()).min(1).optional(),
  /**
   * A peak learning rate per size (e.g. each size's best from an earlier probe): sizes not
   * named train at `lr`. Cannot be combined with `lrs`.
   */
  size_lrs: z.record(z.string(), z.number().positive()).optional(),
  /**
   * A time budget (`budget: 30m`) is turned into each size's token budget: the tokens a short
   * throughput probe of that size (run before it, in probes/) trains in that time. A busy
   * machine then cannot change what the runs train, and `tlc plan` converts tokens back to
   * seconds with each run's measured throughput.
   */
  time_in_tokens: z.boolean().default(false),
  /** How long each throughput probe of a time_in_tokens sweep trains. */
  probe: z.string().default('30s').refine((v) => {
    try {
      return parseDuration(v) > 0;
    } catch {
      return false;
    }
  }, 'a duration such as 30s'),
}).strict();

/** A sweep as a file or the demo writes it. */
export type SweepInput = z.input<typeof sweepSchema>;
/** A checked sweep, defaults filled in and the objective decided. */
export type SweepSpec = z.infer<typeof sweepSchema> & { objective: 'mlm' | 'clm' | 'seq2seq' };
type ParsedSpec = SweepSpec;

export function readSweepSpec(path: string): SweepSpec {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : yamlParser()(text);
  } catch (e) {
    throw new TlcError(readProblem(path, e, 'the sweep'));
  }
  return parseSpec(raw as SweepInput, path);
}

/** Checks a sweep (from a file or the demo); `source` names it in errors. */
function parseSpec(spec: SweepInput, source: string): ParsedSpec {
  const { task, ...rest } = parseWith(sweepSchema, spec, source, 'sweep');
  const objective = rest.objective;
  if (task === 'translation' && objective !== undefined && objective !== 'seq2seq') {
    throw new TlcError(`${source}: task translation trains encoder–decoders (objective seq2seq), not objective ${objective}`);
  }
  if (task === 'language-model' && objective === 'seq2seq') throw new TlcError(`${source}: task language-model takes objective mlm or clm, not seq2seq`);
  const parsed: ParsedSpec = { ...rest, task, objective: objective ?? (task === 'translation' ? 'seq2seq' : 'mlm') };
  if (!parsed.sizes && !(parsed.layers && parsed.widths)) throw new TlcError(`${source}: give "sizes" (e.g. [L2-D128, L4-D256]) or "layers" and "widths"`);
  if (presetsOf(parsed).length === 0) throw new TlcError(`${source}: the sweep names no size ("sizes", or "layers" × "widths", is empty)`);
  if (parsed.sizes && (parsed.layers || parsed.widths)) throw new TlcError(`${source}: give "sizes" or "layers" and "widths", not both`);
  const twice = presetsOf(parsed).filter((p, i, all) => all.indexOf(p) !== i);
  if (twice.length > 0) throw new TlcError(`${source}: the sweep names ${[...new Set(twice)].join(', ')} more than once`);
  for (const preset of presetsOf(parsed)) {
    try {
      presetConfig(preset, { vocab_size: 8192 });
    } catch (e) {
      throw new TlcError(`${source}: ${(e as Error).message}`);
    }
  }
  if (parsed.size_lrs) checkSizeLrs(parsed, source);
  return parsed;
}

function checkSizeLrs(spec: ParsedSpec, source: string): void {
  if (spec.lrs) throw new TlcError(`${source}: give "lrs" (a probe of every size at every rate) or "size_lrs" (one rate per size), not both`);
  const presets = new Set(presetsOf(spec));
  const unknown = Object.keys(spec.size_lrs ?? {}).filter((size) => !presets.has(size));
  if (unknown.length > 0) throw new TlcError(`${source}: size_lrs names ${unknown.join(', ')}, not among the sweep's sizes (${[...presets].join(', ')})`);
}

function presetsOf(s: ParsedSpec): string[] {
  return s.sizes ?? s.layers!.flatMap((l) => s.widths!.map((w) => `L${l}-D${w}`));
}

export interface SweepPoint {
  name: string;
  preset: string;
  batchSize: number;
  /** The peak learning rate (the sweep's `lr`, or one of its `lrs`). */
  lr: number;
}

export function sweepPoints(spec: SweepInput): SweepPoint[] {
  const s = parseSpec(spec, 'sweep');
  const lrsOf = (preset: string): number[] => s.lrs ?? [s.size_lrs?.[preset] ?? s.lr];
  return presetsOf(s).flatMap((preset) => s.batch_sizes.flatMap((b) => lrsOf(preset).map((lr) => ({
    preset, batchSize: b, lr,
    name: preset + (s.batch_sizes.length > 1 ? `-B${b}` : '') + ((s.lrs?.length ?? 1) > 1 ? `-lr${lr}` : ''),
  }))));
}
export type { SweepRow } from '../run/sweep-summary.js';

export interface SweepRunOptions {
  events?: (point: SweepPoint) => LoopEvents;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** This process's share of the runs (null: all of them). */
  worker?: WorkerSlot | null;
}

export interface SweepResult {
  /** Every finished run of the sweep, this worker's and the others'. */
  rows: SweepRow[];
  interrupted: boolean;
  /** Runs not finished yet (another worker's, still running or not started). */
  pending: string[];
}

/** The first steps of a throughput probe, which it does not count (allocation, caches). */
const PROBE_SKIPPED = 3;

export async function runSweep(spec: SweepInput, out: string, o: SweepRunOptions = {}): Promise<SweepResult> {
  const { events = () => ({}), signal, log = () => {}, worker = null } = o;
  const parsed = parseSpec(spec, 'sweep');
  const vocabSize = dataVocabSize(parsed.data, parsed.objective);
  const { task: _task, sizes: _sizes, layers: _layers, widths: _widths, batch_sizes: _batchSizes, lrs: _lrs, size_lrs: _sizeLrs, time_in_tokens: timeInTokens, probe, ...options } = parsed;
  if (timeInTokens && (options.budget === undefined || options.tokens !== undefined || options.steps !== undefined || options.flops !== undefined)) {
    throw new TlcError('sweep: time_in_tokens turns a time budget into tokens: give `budget` (e.g. 30m) and no tokens, steps or flops');
  }
  const points = sweepPoints(spec);
  const mine = worker ? points.filter((_, i) => i % worker.count === worker.index) : points;
  if (worker) log(`worker ${worker.index + 1} of ${worker.count} (${worker.source}): ${mine.length} of ${points.length} runs (${mine.map((p) => p.name).join(', ') || 'none'})`);
  const modelOf = (point: SweepPoint) => presetConfig(point.preset, {
    vocab_size: vocabSize, max_len: Math.max(parsed.seq_len, 128), objective: parsed.objective,
    activation: parsed.objective === 'clm' ? 'gelu_tanh' : 'gelu', dropout: parsed.dropout ?? PRESET_PRETRAIN_DROPOUT,
  });
  const optionsOf = (point: SweepPoint): PretrainOptions => {
    // a micro-batch size that does not divide a point's batch size means no accumulation there
    const micro = parsed.micro_batch_size && point.batchSize % parsed.micro_batch_size === 0 ? parsed.micro_batch_size : undefined;
    return { ...options, model: modelOf(point), batch_size: point.batchSize, micro_batch_size: micro, lr: point.lr };
  };
  // every run's options (its size, budget and memory) are checked before anything is written
  for (const point of points) {
    try {
      pretrainPlan(optionsOf(point));
    } catch (e) {
      if (e instanceof TlcError) throw new TlcError(`sweep: run ${point.name}: ${e.message}`);
      throw e;
    }
  }
  checkRerun(out, spec, points);
  makeDirs(out);
  writeJsonAtomic(join(out, SWEEP_FILES.spec), spec);
  // every probe first, so that they all measure the machine as the runs will share it
  const probed = new Map<string, number>();
  if (timeInTokens) {
    for (const point of mine) {
      const runDir = join(out, SWEEP_FILES.runs, point.name);
      if (finishedRun(runDir) || existsSync(runFile(runDir, 'args'))) continue;
      const rate = await probeThroughput(join(out, SWEEP_FILES.probes, point.name), optionsOf(point), probe, signal);
      if (rate === null) return finish(true);
      probed.set(point.name, rate);
    }
  }
  for (const point of mine) {
    const runDir = join(out, SWEEP_FILES.runs, point.name);
    const model = modelOf(point);
    let pointOptions = optionsOf(point);
    if (!finishedRun(runDir)) {
      const started = existsSync(runFile(runDir, 'args'));
      const rate = probed.get(point.name);
      if (!started && rate !== undefined) {
        const tokens = Math.round(parseDuration(String(options.budget)) * rate);
        log(`${point.name}: ${Math.round(rate).toLocaleString()} tokens/s measured, so ${String(options.budget)} is ${tokens.toLocaleString()} tokens`);
        pointOptions = { ...pointOptions, budget: undefined, tokens };
      }
      log(`${point.name}: ${started ? 'resuming' : 'starting'} (${(countParams(model).total / 1e6).toFixed(2)}M parameters)`);
      const r = started
        ? await resumePretrain(runDir, events(point), signal)
        : await pretrain(runDir, pretrainPlan(pointOptions).options, events(point), signal);
      if (r.interrupted) return finish(true);
    } else {
      log(`${point.name}: finished before, skipped`);
    }
    updateSummary(out, spec, points, modelOf);
  }
  return finish(false);

  function finish(interrupted: boolean): SweepResult {
    const rows = updateSummary(out, spec, points, modelOf);
    const done = new Set(rows.map((r) => r.name));
    return { rows, interrupted, pending: points.filter((p) => !done.has(p.name)).map((p) => p.name) };
  }
}

/**
 * A sweep rerun into its own folder may add runs (sizes, rates, batch sizes), never change the
 * settings the folder's runs were made with nor drop one: sweep.json would describe runs the
 * folder does not hold, or mix runs made two ways.
 */
function checkRerun(out: string, spec: SweepInput, points: SweepPoint[]): void {
  const path = join(out, SWEEP_FILES.spec);
  if (!existsSync(path)) return;
  let before: SweepInput;
  try {
    before = JSON.parse(readFileSync(path, 'utf8')) as SweepInput;
    parseSpec(before, path);
  } catch {
    return; // unreadable: the runs themselves still refuse options that differ on resume
  }
  const shared = (s: SweepInput) => {
    const { sizes: _s, layers: _l, widths: _w, batch_sizes: _b, lrs: _r, size_lrs: _z, ...rest } = parseSpec(s, path);
    return rest;
  };
  const changed = jsonDifference(shared(before), shared(spec));
  if (changed) {
    throw new TlcError(`${out} holds a sweep made with other settings (${changed}): rerun it with the same ones (adding sizes, ` +
      'rates or batch sizes), or choose another --out');
  }
  const now = new Map(points.map((p) => [p.name, p]));
  for (const p of sweepPoints(before)) {
    const q = now.get(p.name);
    if (!q) {
      throw new TlcError(`${out} holds run ${p.name}, which this sweep no longer names: keep it in the sweep (runs can be added, not dropped; ` +
        'a second rate or batch size renames every run), or choose another --out');
    }
    const differs = jsonDifference({ size: p.preset, batch_size: p.batchSize, lr: p.lr }, { size: q.preset, batch_size: q.batchSize, lr: q.lr });
    if (differs) throw new TlcError(`${out} holds run ${p.name} made with other settings (${differs}): rerun it with the same ones, or choose another --out`);
  }
}

/**
 * Rewrites sweep.json from the run directories, in the sweep's order: every finished run,
 * whichever worker ran it. Held under the sweep directory's lock, so that two workers
 * finishing at once cannot write an older view over a newer one.
 */
function updateSummary(out: string, spec: SweepInput, points: SweepPoint[], modelOf: (p: SweepPoint) => ModelConfig): SweepRow[] {
  return withLockWaiting(out, () => {
    const rows = points
      .map((p) => ({ p, runDir: join(out, SWEEP_FILES.runs, p.name) }))
      .filter(({ runDir }) => finishedRun(runDir))
      .map(({ p, runDir }) => summarize(p, runDir, modelOf(p), out));
    if (rows.length > 0) writeSweepSummary(out, spec, rows);
    return rows;
  });
}

/** Runs `fn` under the lock of `dir`, waiting (up to a minute) while another worker holds it. */
function withLockWaiting<T>(dir: string, fn: () => T): T {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let release: () => void;
    try {
      release = lockRun(dir);
    } catch (e) {
      if (!(e instanceof TlcError) || Date.now() > deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      continue;
    }
    try {
      return fn();
    } finally {
      release();
    }
  }
}

/**
 * Tokens per second of a size's training step, from a short run of exactly its options
 * (the median step after the first few, so a busy moment does not move it); kept in `dir`
 * so a rerun reuses it. Null if interrupted (or it trained no step at all).
 */
export async function probeThroughput(dir: string, options: PretrainOptions, budget: string, signal?: AbortSignal): Promise<number | null> {
  if (!finishedRun(dir)) {
    rmSync(dir, { recursive: true, force: true });
    const probe: PretrainOptions = {
      ...options, budget, tokens: undefined, flops: undefined, steps: undefined, schedule: 'linear', branches: undefined, save_at: [],
      eval_every: 1, save_every: 1, eval_tokens: options.seq_len, keep: 1,
    };
    const r = await pretrain(dir, pretrainPlan(probe).options, {}, signal);
    if (r.interrupted) return null;
  }
  // a probe too short to skip its first steps still measured some
  const end = eventsOf(readMetrics(runFile(dir, 'metrics')), 'end').pop();
  return medianStepThroughput(dir, PROBE_SKIPPED) ?? medianStepThroughput(dir) ?? (end && end.train_seconds > 0 ? end.tokens / end.train_seconds : null);
}

/** The median over a run's steps of tokens per second (after `skip` steps), or null if it logged none. */
export function medianStepThroughput(runDir: string, skip = 0): number | null {
  const rates = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'train').slice(skip)
    .map((e) => e.tokens_per_s).filter((v): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0)
    .sort((a, b) => a - b);
  return rates.length ? rates[Math.floor(rates.length / 2)] : null;
}

/**
 * Whether a run has ended with all of its schedule: the trunk, and for a wsd run every cooldown
 * branch it is configured to fork (the trunk ends before its branches train, so a run stopped
 * in a branch has a trunk that ended and is not finished).
 */
export function finishedRun(runDir: string): boolean {
  if (!runEnded(runDir)) return false;
  const options = readRunArgsIfAny(runDir)?.options as { schedule?: string; branches?: number[] } | undefined;
  if (options?.schedule !== 'wsd') return true;
  return (options.branches ?? [1]).every((f) => runEnded(branchDir(runDir, f)));
}

function summarize(point: SweepPoint, runDir: string, model: ModelConfig, out: string): SweepRow {
  const end = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'end').pop()!;
  const counts = countParams(model);
  const validBleu = end.valid_bleu;
  const probeDir = join(out, SWEEP_FILES.probes, point.name);
  const probed = finishedRun(probeDir) ? medianStepThroughput(probeDir, PROBE_SKIPPED) : null;
  return {
    name: point.name, preset: point.preset, batch_size: point.batchSize, lr: point.lr, params: counts.total,
    non_embedding_params: counts.nonEmbedding, steps: end.step, tokens: end.tokens, train_seconds: end.train_seconds,
    valid_loss: end.valid_loss ?? NaN, ...(typeof validBleu === 'number' ? { valid_bleu: validBleu } : {}),
    // the median step, which a busy moment of the machine moves less than the mean does
    tokens_per_s: medianStepThroughput(runDir) ?? end.tokens / end.train_seconds, run: runDir,
    ...(probed !== null ? { probe_tokens_per_s: probed } : {}),
  };
}

/** The YAML parser, loaded when a spec is first read: other commands start without it. */
function yamlParser(): (text: string) => unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
}
