// `tlc compress`: a finetuned classifier (or a language model) compressed at every
// combination of sparsity × bits, each written as a real compressed file, loaded back and
// scored on the task's test split, on the inference kernels it would ship with. Modes:
//   oneshot   prune and quantize the trained weights
//   finetune  prune once, then finetune with the mask fixed (and, with --qat, computing
//             with quantized weights), then quantize
//   gradual   finetune while the sparsity rises on a cubic schedule, then quantize
// Structured settings (--structured f) remove f of every block's heads and FFN neurons
// instead of unstructured sparsity: chosen once (oneshot, finetune) or on the same cubic
// schedule (gradual), then physically removed, so the setting ships a smaller dense model
// (its config.json has the per-block widths) that every kernel runs faster.
// Finetuning is an ordinary finetuning run (src/train/finetune.ts) in the setting's
// folder, with budgets, metrics, checkpoints and resume; compression plugs in as hooks.
import { formatBytes } from '../util/format.js';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { parseWith } from '../util/validation.js';
import { copyFileAtomic, writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { tensor, tidy, type Tensor } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { distillationLoss, type DistillationOptions } from '../engine/ops/distillation.js';
import { TransformerClassifier, type ClassificationBatch } from '../nn/classifier.js';
import { countParams, type ModelConfig } from '../nn/config.js';
import type { TransformerBody } from '../nn/transformer.js';
import { loadWeights } from '../nn/weights.js';
import { COMPRESS_FILES, runFile } from '../run/layout.js';
import { readRunConfig } from '../run/pretrained.js';
import { finetunedTask, splitForRun, taskForRun, type EncodedTask } from '../run/task.js';
import { readRunArgsIfAny } from '../run/run-args.js';
import { hasFinetuneResults } from '../run/results.js';
import {
  readSettingResult, writeCompressSummary, writeSettingResult, type CompressMode, type CompressRow,
} from '../run/compress-summary.js';
import { evaluateClassifier } from '../train/classify.js';
import { finetune, finetunePlan, resumeFinetune, type FinetuneExtension } from '../train/finetune.js';
import type { LoopEvents } from '../train/loop.js';
import { finetuneOptionsSchema, type FinetuneOptions } from '../train/args.js';
import { compressModel } from '../compress/compress.js';
import { loadCompressedInto, writeCompressed } from '../compress/format.js';
import { checkSparsity, type PruningMode } from '../compress/pruning.js';
import { selectTensors } from '../compress/selection.js';
import { Linear } from '../nn/layers.js';
import { compressionHooks, type StructuredTraining } from '../compress/training.js';
import {
  checkStructurable, selectUnits, silentUnits, type StructuredCriterion, type Units,
} from '../compress/structured.js';
import { unitScores } from '../train/unit-importance.js';
import { buildModel, withoutUnits } from '../infer/load.js';
import { density, kernelForCompressed, type KernelSpec } from '../infer/pack.js';
import { kernelName } from '../infer/kernel-spec.js';
import { InferenceModel } from '../infer/inference-model.js';
import { medianForwardSeconds, syntheticBatch } from '../infer/latency.js';

export type { CompressMode, CompressRow } from '../run/compress-summary.js';

export interface CompressSweepArgs {
  model: string;
  out: string;
  sparsities: number[];
  bits: number[];
  pruning: PruningMode;
  embeddingBits?: number;
  mode: CompressMode;
  /**
   * Finetuning options of the finetune and gradual modes, as `tlc finetune` takes them
   * (budget, lr, batch_size, ...); `from` and `task` are filled in.
   */
  finetune: Record<string, unknown>;
  qat: boolean;
  /** Finetune against the uncompressed model's soft predictions as well as the labels (src/engine/ops/distillation.ts). */
  distill?: DistillationOptions;
  task?: string;
  /** Seed of the task's split; default: the one the run was finetuned with. */
  taskSeed?: number;
  seed: number;
  /** Fractions of every block's heads and FFN neurons removed (structured pruning); each is a setting of its own at sparsity 0. */
  structured?: number[];
  /** How units are scored for removal (default: taylor for a classifier, magnitude for a language model). */
  structuredCriterion?: StructuredCriterion;
  /** Which units structured pruning removes (default both heads and FFN neurons). */
  structuredUnits?: StructuredUnits;
}

export const STRUCTURED_UNITS = ['both', 'heads', 'neurons'] as const;
export type StructuredUnits = (typeof STRUCTURED_UNITS)[number];

/** The fractions of heads and of FFN neurons a structured setting removes. */
function fractionsOf(f: number, units: StructuredUnits): { heads: number; neurons: number } {
  return { heads: units === 'neurons' ? 0 : f, neurons: units === 'heads' ? 0 : f };
}

/** One point of the sweep: unstructured sparsity, or a structured fraction (then sparsity 0), at a bit width. */
interface Setting {
  sparsity: number;
  structured: number;
  bits: number;
}

function settingDir(out: string, s: Setting, units: StructuredUnits): string {
  return join(out, s.structured > 0 ? `struct${s.structured}${units === 'both' ? '' : `-${units}`}-b${s.bits}` : `s${s.sparsity}-b${s.bits}`);
}

/** Every unstructured sparsity, then every structured fraction above 0, each at every bit width. */
export function sweepSettings(args: Pick<CompressSweepArgs, 'sparsities' | 'bits' | 'structured'>): Setting[] {
  const out: Setting[] = [];
  const once = (xs: number[]) => [...new Set(xs)];
  for (const sparsity of once(args.sparsities)) for (const bits of once(args.bits)) out.push({ sparsity, structured: 0, bits });
  for (const structured of once(args.structured ?? [])) for (const bits of once(args.bits)) out.push({ sparsity: 0, structured, bits });
  return out;
}

/** Latency is measured on one sequence of this many tokens (or the model's max_len if shorter). */
export const LATENCY_SEQ_LEN = 128;
const LATENCY_RUNS = 31;

export function checkBitsList(bits: number[]): void {
  for (const b of bits) {
    if (!(b === 32 || (Number.isInteger(b) && b >= 2 && b <= 8))) throw new TlcError(`bits must be 2…8 or 32 (no quantization), got ${b}`);
  }
}

/** Runs every setting; a setting whose result already exists is reused, an unfinished finetuning resumed. */
export async function compressSweep(args: CompressSweepArgs, log: (line: string) => void = () => {},
  events: (setting: string) => LoopEvents = () => ({}), signal?: AbortSignal): Promise<{ rows: CompressRow[]; interrupted: boolean }> {
  checkSweepArgs(args);
  const config = readRunConfig(args.model);
  const criterion = checkAgainstModel(args, config, log);
  const units = args.structuredUnits ?? 'both';
  const weightsPath = runFile(args.model, 'weights');
  const { data, scoredOn, taskSpec } = await sweepTask(args, config);
  // the finetuning options are checked once, before any setting starts
  const finetuneRaw = args.mode === 'oneshot' ? null : {
    ...args.finetune, from: args.model, task: taskSpec!, seed: args.seed,
    ...(args.taskSeed !== undefined ? { task_seed: args.taskSeed } : { task_seed: finetunedTask(args.model).taskSeed ?? 0 }),
  };
  const finetuneOptions = finetuneRaw ? finetunePlan(parseWith(finetuneOptionsSchema, finetuneRaw, 'compression finetuning', 'options')).options : null;
  mkdirSync(args.out, { recursive: true });
  const rows: CompressRow[] = [];
  // the units a structured fraction keeps, scored on the trained weights once for every bit width
  // and mode that chooses them before any finetuning (oneshot, finetune)
  const chosen = new Map<number, Units>();
  const unitsBefore = (f: number): Units => {
    if (!chosen.has(f)) chosen.set(f, chooseUnits(config, weightsPath, fractionsOf(f, units), criterion, data, args.seed));
    return chosen.get(f)!;
  };
  const ctx = { args, config, criterion, units, weightsPath, unitsBefore, log, events, signal };
  for (const setting of sweepSettings(args)) {
    const dir = settingDir(args.out, setting, units);
    const settings = settingsOf(args, setting, criterion, finetuneOptions);
    const previous = readSettingResult(dir);
    if (previous && JSON.stringify(previous.settings) === JSON.stringify(settings)) {
      rows.push(previous.row);
      log(`${dir}: done before with the same settings, reused`);
      continue;
    }
    mkdirSync(dir, { recursive: true });
    const weights = finetuneOptions ? await finetunedWeights({ ...ctx, finetuneOptions }, setting, dir) : weightsPath;
    if (weights === null) return { rows, interrupted: true };
    const row: CompressRow = { ...compressOne(args, config, weights, data, setting, criterion, dir, unitsBefore), ...(scoredOn ? { scored_on: scoredOn } : {}) };
    writeSettingResult(dir, { settings, row });
    rows.push(row);
    log(`${setting.structured > 0 ? `structured ${setting.structured}` : `sparsity ${setting.sparsity}`}, ${setting.bits} bits: ${formatBytes(row.bytes)}` +
      (row.accuracy !== null ? `, test accuracy ${(100 * row.accuracy).toFixed(1)}%` : ''));
  }
  writeCompressSummary(args.out, { model: args.model, mode: args.mode, rows });
  return { rows, interrupted: false };
}

/** The settings on their own: fractions, bit widths, and the flags that need a finetuning mode. */
function checkSweepArgs(args: CompressSweepArgs): void {
  for (const s of args.sparsities) checkSparsity('--sparsity', s);
  for (const f of args.structured ?? []) {
    if (f === 0) throw new TlcError('--structured 0 removes nothing: the dense model is --sparsity 0');
    if (!(f > 0 && f < 1)) throw new TlcError(`--structured: the fraction of heads and FFN neurons removed must be in (0, 1), got ${f}`);
  }
  const units = args.structuredUnits ?? 'both';
  if (!STRUCTURED_UNITS.includes(units)) throw new TlcError(`--structured-units must be one of ${STRUCTURED_UNITS.join(', ')}, got ${JSON.stringify(units)}`);
  checkBitsList(args.bits);
  if (sweepSettings(args).length === 0) {
    throw new TlcError('nothing to compress: give --sparsity or --structured fractions');
  }
  if ((args.structuredCriterion !== undefined || args.structuredUnits !== undefined) && !(args.structured ?? []).some((f) => f > 0)) {
    throw new TlcError('--structured-criterion and --structured-units are for structured pruning: add --structured fractions');
  }
  if (args.distill && args.mode === 'oneshot') {
    throw new TlcError('--distill trains the compressed model on its teacher\'s predictions, so it needs a finetuning mode: add --mode finetune or --mode gradual');
  }
  if (args.qat && args.mode === 'oneshot') {
    throw new TlcError('--qat trains with the quantized weights, so it needs a finetuning mode: add --mode finetune or --mode gradual');
  }
}

/** The settings against the model they compress; returns the structured criterion it gets. */
function checkAgainstModel(args: CompressSweepArgs, config: ModelConfig, log: (line: string) => void): StructuredCriterion {
  if (args.distill && !config.labels) throw new TlcError(`${args.model}: distillation is for classifiers (a finetuned run)`);
  const anyStructured = (args.structured ?? []).some((f) => f > 0);
  if (anyStructured) checkStructurable(config, args.model);
  const criterion: StructuredCriterion = args.structuredCriterion ?? (config.labels ? 'taylor' : 'magnitude');
  if (anyStructured && (args.structuredUnits ?? 'both') !== 'neurons') {
    for (const f of args.structured ?? []) {
      if (Math.min(config.n_heads - 1, Math.round(f * config.n_heads)) === 0) {
        log(`${args.model}: with ${config.n_heads} head${config.n_heads === 1 ? '' : 's'} per block, --structured ${f} removes no heads ` +
          '(at least one stays in every block): only FFN neurons go');
      }
    }
  }
  if (anyStructured && criterion === 'taylor' && !config.labels) {
    throw new TlcError(`${args.model}: Taylor importance is measured on a classifier's task; use --structured-criterion magnitude for a language model`);
  }
  return criterion;
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
  return { data: null, scoredOn: undefined, taskSpec };
}

/** What every setting of one sweep shares. */
interface SweepContext {
  args: CompressSweepArgs;
  config: ModelConfig;
  criterion: StructuredCriterion;
  units: StructuredUnits;
  weightsPath: string;
  finetuneOptions: FinetuneOptions;
  unitsBefore: (f: number) => Units;
  log: (line: string) => void;
  events: (setting: string) => LoopEvents;
  signal?: AbortSignal;
}

/**
 * The weights a finetuning setting compresses: its own finetuning run's (trained, resumed or
 * reused from a twin setting), or null when a signal interrupted the training.
 */
async function finetunedWeights(ctx: SweepContext, setting: Setting, dir: string): Promise<string | null> {
  const { args, config, criterion, units, weightsPath, log, events, signal } = ctx;
  const finetuneOptions = ctx.finetuneOptions;
  const ftDir = join(dir, COMPRESS_FILES.finetuneRun);
  // a finetuning run (finished or not) made for other settings — another --qat, --distill,
  // mode or schedule — is not this setting's: it is trained again. Outputs from before the
  // settings were recorded keep their run, checked against its run.json below.
  const settingsPath = join(dir, COMPRESS_FILES.finetuneSettings);
  const madeFor = existsSync(settingsPath) ? readFileSync(settingsPath, 'utf8') : null;
  const key = JSON.stringify(finetuneKey(args, setting, criterion, finetuneOptions));
  // outputs written before bit widths were left out of the key keep their runs
  const legacyKey = JSON.stringify(finetuneKey(args, setting, criterion, finetuneOptions, true));
  // without QAT the bit width does not enter finetuning: settings that differ only in bits share one run
  const twin = hasFinetuneResults(ftDir) && madeFor === key ? null : finishedTwin(args.out, dir, key);
  if (twin) {
    log(`${dir}: finetuned as ${twin} was (the bit width does not enter finetuning without --qat); its weights are reused`);
    return runFile(join(twin, COMPRESS_FILES.finetuneRun), 'weights');
  }
  if (existsSync(ftDir) && madeFor !== null && madeFor !== key && madeFor !== legacyKey) {
    log(`${ftDir}: made for other settings; finetuning again`);
    rmSync(ftDir, { recursive: true, force: true });
  }
  writeFileAtomic(settingsPath, key);
  if (!hasFinetuneResults(ftDir)) {
    const started = readRunArgsIfAny(ftDir);
    // run.json records the micro-batch size the run resolved; the options here leave it to the default
    const comparable = (o: object) => JSON.stringify({ ...o, micro_batch_size: undefined });
    if (started && comparable(started.options) !== comparable(finetuneOptions)) {
      throw new TlcError(`${ftDir} holds a finetuning run with other settings; compress into another --out`);
    }
    const teacher = args.distill ? loadTeacher(config, weightsPath) : null;
    const mode = args.mode as 'finetune' | 'gradual';
    const structured: StructuredTraining | undefined = setting.structured > 0 ? {
      ...fractionsOf(setting.structured, units), criterion, config,
      // finetune: the units are chosen once, on the trained weights, before finetuning
      ...(mode === 'finetune' ? { units: ctx.unitsBefore(setting.structured) } : {}),
    } : undefined;
    const extension: FinetuneExtension = {
      keep: 'last',
      hooks: (model) => compressionHooks(model, { mode, sparsity: setting.sparsity, bits: setting.bits, qat: args.qat, pruning: args.pruning, structured }),
      ...(teacher && args.distill ? { loss: distillingLoss(teacher, args.distill) } : {}),
    };
    try {
      const r = started
        ? await resumeFinetune(ftDir, events(dir), signal, extension)
        : await finetune(ftDir, finetuneOptions, events(dir), signal, extension);
      if (r.interrupted) return null;
    } finally {
      teacher?.dispose();
    }
  }
  return runFile(ftDir, 'weights');
}

/**
 * What a setting's finetuning run depends on (its key: a run made for another is trained again);
 * the bit width only with QAT, since otherwise the weights are quantized after finetuning.
 */
function finetuneKey(a: CompressSweepArgs, s: Setting, criterion: StructuredCriterion, finetuneOptions: object,
  alwaysBits = false): Record<string, unknown> {
  return {
    sparsity: s.sparsity, ...(a.qat || alwaysBits ? { bits: s.bits } : {}), pruning: a.pruning, mode: a.mode, qat: a.qat, distill: a.distill ?? null, finetune: finetuneOptions, seed: a.seed,
    ...structuredKey(s, criterion, a.structuredUnits ?? 'both'),
  };
}

/** Another setting of this output whose finished finetuning run was made for exactly `key`, or null. */
function finishedTwin(out: string, self: string, key: string): string | null {
  for (const name of readdirSync(out).sort()) {
    const dir = join(out, name);
    if (dir === self) continue;
    const settingsPath = join(dir, COMPRESS_FILES.finetuneSettings);
    if (existsSync(settingsPath) && readFileSync(settingsPath, 'utf8') === key && hasFinetuneResults(join(dir, COMPRESS_FILES.finetuneRun))) return dir;
  }
  return null;
}

/** Structured settings' part of a key (absent for unstructured ones, so older outputs keep theirs). */
function structuredKey(s: Setting, criterion: StructuredCriterion, units: StructuredUnits): Record<string, unknown> {
  if (s.structured === 0) return {};
  return { structured: s.structured, structured_criterion: criterion, ...(units === 'both' ? {} : { structured_units: units }) };
}

/** Everything that determines a setting's result; a saved result is reused only on an exact match. */
function settingsOf(a: CompressSweepArgs, s: Setting, criterion: StructuredCriterion, finetuneOptions: object | null): Record<string, unknown> {
  return {
    model: a.model, sparsity: s.sparsity, bits: s.bits, pruning: a.pruning, embeddingBits: a.embeddingBits ?? null, mode: a.mode,
    finetune: finetuneOptions, qat: a.qat, distill: a.distill ?? null,
    task: a.task ?? null, taskSeed: a.taskSeed ?? null, seed: a.seed,
    ...structuredKey(s, criterion, a.structuredUnits ?? 'both'),
    scoredOn: 'inference kernels',
  };
}

/** The units kept when `fraction` of every block's heads and neurons go, scored on the trained weights. */
function chooseUnits(config: ModelConfig, weightsPath: string, fraction: { heads: number; neurons: number }, criterion: StructuredCriterion,
  data: EncodedTask | null, seed: number): Units {
  const model = buildModel(config, seed);
  try {
    loadWeights(model, weightsPath);
    return selectUnits(unitScores(model, criterion, data?.train ?? null, seed), fraction);
  } finally {
    model.dispose();
  }
}

/** The uncompressed classifier, the teacher of distillation: its weights as the sweep reads them. */
function loadTeacher(config: ModelConfig, weightsPath: string): TransformerClassifier {
  const teacher = new TransformerClassifier(config);
  loadWeights(teacher, weightsPath);
  return teacher;
}

/** The training loss of a compressed student: distillation against the teacher's logits on the same batch. */
function distillingLoss(teacher: TransformerClassifier, opts: DistillationOptions): (student: TransformerClassifier, b: ClassificationBatch) => Tensor {
  return (student, b) => {
    const t = noGrad(() => tidy(() => teacher.logits(b, { training: false }).toFloat32Array()));
    return distillationLoss(student.logits(b, { training: true }), tensor(b.labels!, [b.batchSize], 'i32'), t, opts);
  };
}

function compressOne(args: CompressSweepArgs, sourceConfig: ModelConfig, weightsPath: string, data: EncodedTask | null,
  setting: Setting, criterion: StructuredCriterion, dir: string, unitsBefore: (fraction: number) => Units): CompressRow {
  const { sparsity, bits } = setting;
  let model: TransformerBody = buildModel(sourceConfig, args.seed);
  let config = sourceConfig;
  try {
    loadWeights(model, weightsPath);
    if (setting.structured > 0) {
      // oneshot: score and choose now; finetuned: the units the finetuning zeroed
      const units = args.mode === 'oneshot'
        ? unitsBefore(setting.structured)
        : silentUnits(sourceConfig, (name) => model.namedParameters().find(([n]) => n === name)![1].toFloat32Array());
      const smaller = withoutUnits(model, units, args.seed);
      model.dispose();
      model = smaller;
      config = smaller.config;
    }
    const file = join(dir, COMPRESS_FILES.model);
    // the kernel each linear weight runs on: the fastest on this CPU for its bits and density,
    // recorded in the file so that every later load runs the same ones
    const linearWeights = new Set(model.namedModules().flatMap(([name, m]) => (m instanceof Linear ? [`${name}.weight`] : [])));
    const kernels = new Map<string, KernelSpec>();
    tidy(() => {
      const c = compressModel(model.namedParameters(), { sparsity, bits, pruning: args.pruning, embeddingBits: args.embeddingBits });
      const selected = new Set(selectTensors(model.namedParameters().map(([n, t]) => [n, t.shape]), {}));
      for (const name of linearWeights) {
        if (selected.has(name)) kernels.set(name, kernelForCompressed(bits, density(c.params.get(name)!.toFloat32Array())));
      }
      const structured = setting.structured > 0
        ? { structured: setting.structured, structured_criterion: criterion, structured_units: args.structuredUnits ?? 'both', pruned_from: { n_heads: sourceConfig.n_heads, d_ff: sourceConfig.d_ff } }
        : {};
      const recorded = { kernels: Object.fromEntries([...kernels].map(([n, k]) => [n, kernelName(k)])) };
      writeCompressed(file, c.params, { ...c.plan, settings: { ...(c.plan.settings ?? {}), mode: args.mode, source: args.model, ...structured, ...recorded } });
    });
    copyFileAtomic(runFile(args.model, 'tokenizer'), runFile(dir, 'tokenizer'));
    if (setting.structured > 0) writeJsonAtomic(runFile(dir, 'config'), config);
    else copyFileAtomic(runFile(args.model, 'config'), runFile(dir, 'config'));
    // what is scored and measured is the file, loaded back
    loadCompressedInto(model, file);
    const selectedSet = new Set(selectTensors(model.namedParameters().map(([n, t]) => [n, t.shape]), {}));
    const measured = measuredSparsity(model, selectedSet);
    // scored and timed on the kernels the compressed model ships with
    const served = InferenceModel.pack(model, (name) => kernels.get(`${name}.weight`) ?? { kind: 'f32' });
    try {
      const seqLen = Math.min(LATENCY_SEQ_LEN, config.max_len);
      const latency = medianForwardSeconds(served.model, syntheticBatch(served.model, 1, seqLen), LATENCY_RUNS, 2);
      let accuracy: number | null = null, macroF1: number | null = null;
      if (data) {
        const e = evaluateClassifier(served.classifier, data.test);
        accuracy = e.accuracy;
        macroF1 = e.macroF1;
      }
      return {
        model: args.model, params: countParams(sourceConfig).total, sparsity, bits, mode: args.mode, qat: args.qat, bytes: statSync(file).size,
        ...(setting.structured > 0 ? {
          structured: setting.structured, structured_criterion: criterion, params_kept: countParams(config).total,
          ...(args.structuredUnits && args.structuredUnits !== 'both' ? { structured_units: args.structuredUnits } : {}),
          layer_heads: config.layer_heads, layer_d_ff: config.layer_d_ff,
        } : {}),
        file, accuracy, macro_f1: macroF1, measured_sparsity: measured,
        kernels: served.kernels,
        latency_ms: 1e3 * latency, latency_seq_len: seqLen,
      };
    } finally {
      served.dispose();
    }
  } finally {
    model.dispose();
  }
}

function measuredSparsity(model: TransformerBody, selected: Set<string>): number {
  let zeros = 0, total = 0;
  for (const [n, p] of model.namedParameters()) {
    if (!selected.has(n)) continue;
    const v = p.toFloat32Array();
    for (const x of v) if (x === 0) zeros++;
    total += v.length;
  }
  return total > 0 ? zeros / total : 0;
}

