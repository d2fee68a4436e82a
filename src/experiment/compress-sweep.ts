// `tlc compress`: a finetuned classifier (or a language model) compressed at every point of
// its settings' grid — each pruning setting (magnitude sparsity, or a structured fraction)
// at every bit width — each written as a real compressed file, loaded back and scored on the
// task's test split, on the inference kernels it would ship with. Modes:
//   oneshot   compress the trained weights
//   finetune  prune once, then finetune with the pruning fixed, then quantize
//   gradual   finetune while the pruning rises on a cubic schedule, then quantize
// What each method does is its own module (src/experiment/compression/, listed in registry.ts);
// this file runs the grid: it checks the settings, derives each setting's folder and keys from
// the methods, reuses what was done with the same settings, and finetunes where the mode asks.
// Finetuning is an ordinary finetuning run (src/train/finetune.ts) in the setting's folder,
// with budgets, metrics, checkpoints and resume; the methods plug in as hooks.
import { formatBytes } from '../util/format.js';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { ModelConfig } from '../nn/config.js';
import { FLOAT_BITS } from '../compress/quantize.js';
import { composeHooks } from '../compress/training.js';
import { COMPRESS_FILES, runFile } from '../run/layout.js';
import { readRunConfig } from '../run/pretrained.js';
import { finetunedTask, splitForRun, taskForRun, type EncodedTask } from '../run/task.js';
import { readRunArgsIfAny } from '../run/run-args.js';
import { hasFinetuneResults } from '../run/results.js';
import {
  compressRowSchema, readSettingResult, writeCompressSummary, writeSettingResult, type CompressMode, type CompressRow,
} from '../run/compress-summary.js';
import { finetune, finetunePlan, resumeFinetune, type FinetuneExtension } from '../train/finetune.js';
import type { LoopEvents } from '../train/loop.js';
import { finetuneOptionsSchema, type FinetuneOptions } from '../train/args.js';
import type { CompressionMethod, Json, MethodRun, ModelContext, PointView, Settings, SweepContext, SweepPoint } from './compression/method.js';
import { METHODS, PRUNING_METHODS, type MethodArgs } from './compression/registry.js';
import { finetuneKey, keysMatch, resultKey, sameSubject, type KeyPart, type SharedKey } from './compression/keys.js';
import { finetuneKeyOf, resultKeyOf } from './compression/older-outputs.js';
import { writeSetting } from './compression/write-setting.js';
import { makeDirs } from '../util/make-dirs.js';
import { jsonDifference } from '../util/json-difference.js';

export type { CompressMode, CompressRow } from '../run/compress-summary.js';

/** What a sweep takes beyond the methods' own arguments (compression/registry.ts). */
export interface SweepBasics {
  model: string;
  out: string;
  mode: CompressMode;
  /**
   * Finetuning options of the finetune and gradual modes, as `tlc finetune` takes them
   * (budget, lr, batch_size, ...); `from` and `task` are filled in.
   */
  finetune: Record<string, unknown>;
  task?: string;
  /** Seed of the task's split; default: the one the run was finetuned with. */
  taskSeed?: number;
  seed: number;
}

export type CompressSweepArgs = SweepBasics & MethodArgs;

/** A method the sweep uses, with its settings. */
interface Used {
  method: CompressionMethod;
  settings: Settings;
}

/** A used method as one setting sees it. */
interface Part extends Used {
  view: PointView;
}

/** One setting of the grid: its folder, the methods it uses and its keys. */
export interface PlannedSetting {
  dir: string;
  parts: Part[];
  /** A saved result is reused only under the same key. */
  resultKey: string;
  /** And a finetuning run only under the same finetuning key. */
  finetuneKey: string;
}

/** Runs every setting; a setting whose result already exists is reused, an unfinished finetuning resumed. */
export async function compressSweep(args: CompressSweepArgs, log: (line: string) => void = () => {},
  events: (setting: string) => LoopEvents = () => ({}), signal?: AbortSignal): Promise<{ rows: CompressRow[]; interrupted: boolean }> {
  const checked = checkSweepArgs(args);
  const config = readRunConfig(args.model);
  if (config.objective === 'seq2seq') {
    throw new TlcError(`${args.model} is an encoder–decoder (seq2seq) run: tlc compress prunes and quantizes language models and classifiers`);
  }
  if (readSettingResult(args.model)) {
    throw new TlcError(`${args.model} is a setting tlc compress wrote: compress the run it came from (--from), with the settings you want`);
  }
  const model: ModelContext = { dir: args.model, config, mode: args.mode, log };
  const used = resolved(checked, model);
  const { data, scoredOn, taskSpec } = await sweepTask(args, config);
  const finetuneOptions = args.mode === 'oneshot' ? null : compressionFinetuneOptions(args, config, taskSpec!, scoredOn!);
  makeDirs(args.out);
  const sweep: SweepContext = { ...model, weightsPath: runFile(args.model, 'weights'), data, seed: args.seed };
  const runs = new Map(used.map((u) => {
    const run = u.method.start(u.settings, sweep, u.method.axis?.values(args) ?? []);
    // what trains must be in the finetuning key, and only that
    if ((run.training !== undefined) !== u.method.shapesTraining) throw new Error(`compression method ${u.method.name}: shapesTraining does not say whether it trains`);
    return [u.method.name, run];
  }));
  const planned = plannedSettings(args, used, finetuneOptions);
  refuseReplacing(args.out, planned);
  const rows: CompressRow[] = [];
  for (const setting of planned) {
    // a signal stops the sweep between settings (a finetuning run stops at its next step): what is done stays reusable
    await new Promise((resolve) => setImmediate(resolve)); // lets SIGINT/SIGTERM handlers run
    if (signal?.aborted) return { rows, interrupted: true };
    const { dir } = setting;
    const previous = readSettingResult(dir);
    if (previous && keysMatch(resultKeyOf(previous.settings), setting.resultKey)) {
      rows.push(previous.row);
      log(`${dir}: done before with the same settings, reused`);
      continue;
    }
    if (previous) log(`${dir}: computed by an earlier version of tlc; computed again`);
    makeDirs(dir);
    const parts = setting.parts.map((p) => ({ run: runs.get(p.method.name)!, view: p.view }));
    const weights = finetuneOptions
      ? await finetunedWeights({ args, log, events, signal }, finetuneOptions, setting.finetuneKey, parts, dir)
      : sweep.weightsPath;
    if (weights === null) return { rows, interrupted: true };
    const unused = METHODS.filter((m) => !setting.parts.some((p) => p.method === m));
    // checked, and in the schema's order, whatever the methods added
    const row = compressRowSchema.parse({
      ...writeSetting({ source: args.model, config, weightsPath: weights, finetuned: finetuneOptions !== null, mode: args.mode, seed: args.seed, data, dir, parts }),
      ...Object.assign({}, ...unused.map((m) => m.unusedRow ?? {})) as Partial<CompressRow>,
      ...(scoredOn ? { scored_on: scoredOn } : {}),
    });
    writeSettingResult(dir, { settings: JSON.parse(setting.resultKey) as Record<string, unknown>, row });
    rows.push(row);
    log(`${setting.parts.flatMap((p) => p.method.describe?.(p.view) ?? []).join(', ')}: ${formatBytes(row.bytes)}` +
      (row.accuracy !== null ? `, test accuracy ${(100 * row.accuracy).toFixed(1)}%` : ''));
  }
  // the summary describes every setting the folder holds, earlier sweeps' included
  const others = otherSettings(args.out, new Set(planned.map((p) => p.dir)));
  writeCompressSummary(args.out, { model: args.model, mode: args.mode, rows: [...rows, ...others] });
  return { rows, interrupted: false };
}

/**
 * A rerun into the same --out adds settings; it never replaces one made with other settings (a
 * result, or a finetuning run in progress), nor mixes in settings of another model, task or task
 * split: it refuses, naming the difference. What an earlier version of tlc made, in a form this
 * one cannot compare, is made again.
 */
function refuseReplacing(out: string, planned: readonly PlannedSetting[]): void {
  const refuse = (dir: string, what: string, was: string, now: string): never => {
    throw new TlcError(`${dir} holds ${what} made with other settings (${keyDifference(was, now)}): compress into another --out, or remove ${dir} to redo it`);
  };
  for (const s of planned) {
    const previous = readSettingResult(s.dir);
    const settingsPath = join(s.dir, COMPRESS_FILES.finetuneSettings);
    if (previous) {
      const was = resultKeyOf(previous.settings);
      if (was !== null && !keysMatch(was, s.resultKey)) refuse(s.dir, 'a result', was, s.resultKey);
    } else if (existsSync(join(s.dir, COMPRESS_FILES.finetuneRun)) && existsSync(settingsPath)) {
      const was = finetuneKeyOf(readFileSync(settingsPath, 'utf8'));
      if (was !== null && !keysMatch(was, s.finetuneKey)) refuse(s.dir, 'a finetuning run', was, s.finetuneKey);
    }
  }
  const mine = new Set(planned.map((p) => p.dir));
  const subject = planned[0].resultKey;
  for (const { dir, key } of settingsIn(out)) {
    if (!mine.has(dir) && !sameSubject(key, subject)) refuse(dir, 'a result of another model, task or task split', subjectOf(key), subjectOf(subject));
  }
}

/** What a result key scores: the model, the task and its split. */
function subjectOf(key: string): string {
  const k = JSON.parse(key) as Record<string, unknown>;
  return JSON.stringify({ model: k.model, task: k.task, task_seed: k.task_seed });
}

/** The settings `out` holds with a result this version can compare, in folder order. */
function settingsIn(out: string): { dir: string; key: string; row: CompressRow }[] {
  return readdirSync(out).sort().flatMap((name) => {
    const dir = join(out, name);
    if (!statSync(dir).isDirectory()) return [];
    const r = readSettingResult(dir);
    const key = r ? resultKeyOf(r.settings) : null;
    return r && key !== null ? [{ dir, key, row: r.row }] : [];
  });
}

/** What differs between two keys, briefly: up to three fields, old → new. */
function keyDifference(was: string | null, now: string): string {
  let old: unknown;
  try {
    old = was === null ? null : JSON.parse(was);
  } catch {
    old = null;
  }
  if (old === null) return 'written by an earlier version of tlc';
  return jsonDifference(old, JSON.parse(now));
}

/** The rows of the settings in `out` that this sweep does not run (an earlier sweep's, of the same model and task), in folder order. */
function otherSettings(out: string, mine: Set<string>): CompressRow[] {
  return settingsIn(out).filter((s) => !mine.has(s.dir)).map((s) => s.row);
}

/**
 * The settings a sweep of `args` runs on a model of `config`, each with its folder and keys,
 * without reading or writing anything (`finetuneOptions`: as the sweep resolves them; null in oneshot mode).
 */
export function planCompression(args: CompressSweepArgs, config: ModelConfig, finetuneOptions: FinetuneOptions | null): PlannedSetting[] {
  return plannedSettings(args, resolved(checkSweepArgs(args), { dir: args.model, config, mode: args.mode, log: () => {} }), finetuneOptions);
}

function resolved(checked: readonly Used[], model: ModelContext): Used[] {
  return checked.map((u) => ({ ...u, settings: u.method.resolve ? u.method.resolve(u.settings, model) : u.settings }));
}

function plannedSettings(args: CompressSweepArgs, used: readonly Used[], finetuneOptions: FinetuneOptions | null): PlannedSetting[] {
  const shared: SharedKey = {
    model: args.model, mode: args.mode, task: args.task ?? null, taskSeed: args.taskSeed ?? null, seed: args.seed, finetune: (finetuneOptions ?? null) as Json,
  };
  return sweepPoints(used, args).map((point) => {
    const parts = partsAt(used, point);
    const keyParts = parts.map((p): KeyPart => ({ name: p.method.name, settings: p.settings, view: p.view, shapesTraining: p.method.shapesTraining }));
    return {
      dir: join(args.out, parts.flatMap((p) => p.method.dirPart?.(p.settings, p.view) ?? []).join('-')),
      parts, resultKey: resultKey(shared, keyParts), finetuneKey: finetuneKey(shared, keyParts),
    };
  });
}

/** The methods the arguments use, their settings checked on their own, and what the mode allows. */
function checkSweepArgs(args: CompressSweepArgs): Used[] {
  const used = METHODS.flatMap((method) => {
    const settings = method.settings(args);
    return settings ? [{ method, settings }] : [];
  });
  if (sweepPoints(used, args).length === 0) {
    throw new TlcError(`nothing to compress: give ${PRUNING_METHODS.map((m) => m.axis!.flag).join(' or ')} fractions`);
  }
  for (const { method } of used) {
    if (method.needsFinetuning && args.mode === 'oneshot') {
      throw new TlcError(`${method.needsFinetuning.flag} ${method.needsFinetuning.why}, so it needs a finetuning mode: add --mode finetune or --mode gradual`);
    }
  }
  return used;
}

/** Every pruning method's values (in registry order), each at every bit width. */
function sweepPoints(used: readonly Used[], args: CompressSweepArgs): SweepPoint[] {
  const once = (xs: number[]) => [...new Set(xs)];
  const bitsAxis = used.find((u) => u.method.axis?.group === 'bits')?.method.axis;
  const bits = once(bitsAxis ? bitsAxis.values(args) : [FLOAT_BITS]);
  return used.filter((u) => u.method.axis?.group === 'pruning').flatMap((u) =>
    once(u.method.axis!.values(args)).flatMap((amount) => bits.map((b) => ({ pruning: { method: u.method.name, amount }, bits: b }))));
}

/** The methods a point uses (its pruning method and every method off the pruning axis), each with what it sees of the point. */
function partsAt(used: readonly Used[], point: SweepPoint): Part[] {
  return used.flatMap((u) => {
    const axis = u.method.axis?.group;
    if (axis === 'pruning' && u.method.name !== point.pruning.method) return [];
    const view: PointView = {
      ...(axis === 'pruning' ? { amount: point.pruning.amount } : {}),
      ...(axis === 'bits' || u.method.readsBits ? { bits: point.bits } : {}),
    };
    return [{ ...u, view }];
  });
}

/**
 * The finetuning options of every setting, checked once before any starts. A setting finetunes
 * on the split it is scored on: the run's task seed, example cap and truncation (unless the
 * options name their own truncation).
 */
function compressionFinetuneOptions(args: CompressSweepArgs, config: ModelConfig, taskSpec: string, scoredOn: NonNullable<CompressRow['scored_on']>) {
  const raw: Record<string, unknown> = {
    ...args.finetune, from: args.model, task: taskSpec, seed: args.seed, task_seed: scoredOn.task_seed,
    ...(scoredOn.max_examples !== null && { max_examples: scoredOn.max_examples }),
  };
  const parse = () => finetunePlan(parseWith(finetuneOptionsSchema, raw, 'compression finetuning', 'options')).options;
  // named only where the default truncation would differ: a run finetuned at the default keeps
  // the finetuning key it had before settings followed their run's split
  if (args.finetune.max_len === undefined && Math.min(parse().max_len, config.max_len) !== scoredOn.max_len) raw.max_len = scoredOn.max_len;
  return parse();
}

/** The task a classifier's settings are scored (and finetuned) on, and the split it records. */
async function sweepTask(args: CompressSweepArgs, config: ModelConfig):
  Promise<{ data: EncodedTask | null; scoredOn: CompressRow['scored_on']; taskSpec: string | undefined }> {
  const taskSpec = args.task ?? finetunedTask(args.model).task;
  if (config.labels) {
    if (!taskSpec) throw new TlcError(`${args.model}: no --task given and the run does not record one`);
    const data = (await taskForRun(args.model, config, taskSpec, { taskSeed: args.taskSeed })).data;
    return { data, scoredOn: splitForRun(args.model, config, taskSpec, { taskSeed: args.taskSeed }), taskSpec };
  }
  if (args.mode !== 'oneshot') throw new TlcError(`${args.model}: the ${args.mode} mode finetunes on a labelled task, so it needs a classifier run`);
  const unused = [args.task !== undefined ? '--task' : '', args.taskSeed !== undefined ? '--task-seed' : ''].filter(Boolean);
  if (unused.length > 0) {
    throw new TlcError(`${args.model} is a language model (no labels): compress only sizes it, so ${unused.join(' and ')} would do nothing; ` +
      'finetune it into a classifier first (tlc finetune) to score it on a task, or leave them out');
  }
  return { data: null, scoredOn: undefined, taskSpec };
}

interface FinetuneIo {
  args: CompressSweepArgs;
  log: (line: string) => void;
  events: (setting: string) => LoopEvents;
  signal?: AbortSignal;
}

/**
 * The weights a finetuning setting compresses: its own finetuning run's (trained, resumed or
 * reused from a twin setting), or null when a signal interrupted the training.
 */
async function finetunedWeights(io: FinetuneIo, options: FinetuneOptions, key: string, parts: readonly { run: MethodRun; view: PointView }[], dir: string): Promise<string | null> {
  const { args, log, events, signal } = io;
  const ftDir = join(dir, COMPRESS_FILES.finetuneRun);
  // a finetuning run made for other settings was refused before the sweep started (refuseReplacing);
  // outputs from before the settings were recorded keep their run, checked against its run.json below
  const settingsPath = join(dir, COMPRESS_FILES.finetuneSettings);
  const recorded = existsSync(settingsPath) ? readFileSync(settingsPath, 'utf8') : null;
  const madeFor = recorded === null ? null : finetuneKeyOf(recorded);
  if (recorded !== null && madeFor === null && existsSync(ftDir)) {
    log(`${ftDir}: made by an earlier version of tlc; finetuning again`);
    rmSync(ftDir, { recursive: true, force: true });
  }
  // a setting whose methods do not shape finetuning differently (the bit width without QAT) shares its twin's run
  const twin = hasFinetuneResults(ftDir) && keysMatch(madeFor, key) ? null : finishedTwin(args.out, dir, key);
  if (twin) {
    log(`${dir}: finetuned as ${twin} was (what differs, such as the bit width without --qat, does not enter finetuning); its weights are reused`);
    return runFile(join(twin, COMPRESS_FILES.finetuneRun), 'weights');
  }
  writeFileAtomic(settingsPath, key);
  if (!hasFinetuneResults(ftDir)) {
    const started = readRunArgsIfAny(ftDir);
    // run.json records the micro-batch size the run resolved; the options here leave it to the default
    const comparable = (o: object) => JSON.stringify({ ...o, micro_batch_size: undefined });
    if (started && comparable(started.options) !== comparable(options)) {
      throw new TlcError(`${ftDir} holds a finetuning run with other settings; compress into another --out`);
    }
    const training = parts.flatMap((p) => (p.run.training ? [p.run.training(p.view)] : []));
    try {
      const losses = training.flatMap((t) => (t.loss ? [t.loss] : []));
      if (losses.length > 1) throw new TlcError('two compression methods each replace the training loss; use one of them');
      const extension: FinetuneExtension = {
        keep: 'last',
        hooks: (model) => composeHooks(training.flatMap((t) => (t.hooks ? [t.hooks(model)] : []))),
        ...(losses.length === 1 ? { loss: losses[0] } : {}),
      };
      const r = started
        ? await resumeFinetune(ftDir, events(dir), signal, extension)
        : await finetune(ftDir, options, events(dir), signal, extension);
      if (r.interrupted) return null;
    } finally {
      for (const t of training) t.dispose?.();
    }
  }
  return runFile(ftDir, 'weights');
}

/** Another setting of this output whose finished finetuning run was made for exactly `key`, or null. */
function finishedTwin(out: string, self: string, key: string): string | null {
  for (const name of readdirSync(out).sort()) {
    const dir = join(out, name);
    if (dir === self) continue;
    const settingsPath = join(dir, COMPRESS_FILES.finetuneSettings);
    if (existsSync(settingsPath) && keysMatch(finetuneKeyOf(readFileSync(settingsPath, 'utf8')), key) && hasFinetuneResults(join(dir, COMPRESS_FILES.finetuneRun))) return dir;
  }
  return null;
}
