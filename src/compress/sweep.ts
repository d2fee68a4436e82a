// `tlc compress`: a finetuned classifier (or a language model) compressed at every
// combination of sparsity × bits, each written as a real compressed file, loaded back and
// scored on the task's test split. Modes:
//   oneshot   prune and quantize the trained weights
//   finetune  prune once, then finetune briefly with the mask fixed (and, with --qat,
//             with fake-quantized weights), then quantize
//   gradual   finetune while the sparsity rises on the cubic schedule of Zhu & Gupta
//             (2017), then quantize
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../engine/errors.js';
import { backward, zeroGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import { AdamW } from '../engine/optim.js';
import { fakeQuantize } from '../engine/ops/quantize.js';
import { classificationBatches, type ClassificationBatch, type EncodedExamples } from '../data/task-batches.js';
import { readModelConfig, countParams, type ModelConfig } from '../nn/config.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { TransformerLM, type TransformerBody } from '../nn/transformer.js';
import { Linear } from '../nn/layers.js';
import { loadWeights } from '../nn/weights.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { evaluateClassifier } from '../train/classify.js';
import { taskForRun } from '../train/finetune.js';
import { readRunArgsIfAny } from '../train/run-dir.js';
import { compressModel } from './compress.js';
import { loadCompressedInto, writeCompressed } from './format.js';
import { checkSparsity, cubicSparsity, magnitudePrune, recomputeMask, type PruningMode } from './pruning.js';
import { selectTensors } from './selection.js';
import { density, describePacking, kernelForCompressed, packLinears } from '../infer/pack.js';
import { medianForwardSeconds, syntheticBatch } from '../infer/latency.js';

export type CompressMode = 'oneshot' | 'finetune' | 'gradual';

export interface CompressSweepArgs {
  model: string;
  out: string;
  sparsities: number[];
  bits: number[];
  pruning: PruningMode;
  embeddingBits?: number;
  mode: CompressMode;
  /** Finetuning steps per setting in the finetune and gradual modes. */
  steps: number;
  lr: number;
  batchSize: number;
  qat: boolean;
  task?: string;
  /** Seed of the task's split; default: the one the run was finetuned with. */
  taskSeed?: number;
  seed: number;
}

export interface CompressRow {
  model: string;
  params: number;
  sparsity: number;
  bits: number;
  mode: CompressMode;
  /** Byte length of the compressed file. */
  bytes: number;
  file: string;
  accuracy: number | null;
  macro_f1: number | null;
  /** Measured fraction of zeros in the selected weights. */
  measured_sparsity: number;
  /** Inference kernels the linear layers ran on when scored and timed, e.g. "int8×10". */
  kernels?: string;
  /** Median forward latency of one sequence (batch 1) on those kernels, in milliseconds. */
  latency_ms?: number | null;
  /** The sequence length latency_ms was measured at. */
  latency_seq_len?: number;
}

type TaskData = Awaited<ReturnType<typeof taskForRun>>['data'];

export const COMPRESSED_FILE = 'model.tlcz.safetensors';
/** Latency is measured on one sequence of this many tokens (or the model's max_len if shorter). */
export const LATENCY_SEQ_LEN = 128;
const LATENCY_RUNS = 31;
export const SUMMARY_FILE = 'compress.json';

export function checkBitsList(bits: number[]): void {
  for (const b of bits) {
    if (!(b === 32 || (Number.isInteger(b) && b >= 2 && b <= 8))) throw new TlcError(`bits must be 2…8 or 32 (no quantization), got ${b}`);
  }
}

/** Runs every setting; a setting whose result already exists is reused (resumable). */
export async function compressSweep(args: CompressSweepArgs, log: (line: string) => void = () => {}): Promise<CompressRow[]> {
  for (const s of args.sparsities) checkSparsity('--sparsity', s);
  checkBitsList(args.bits);
  const configPath = join(args.model, 'config.json');
  if (!existsSync(configPath)) throw new TlcError(`${args.model}: not a tlc run directory (config.json is missing)`);
  const config = readModelConfig(configPath);
  const weightsPath = join(args.model, 'model.safetensors');
  const trained = readRunArgsIfAny(args.model);
  const taskSpec = args.task ?? (trained?.task as string | undefined);
  let data: TaskData | null = null;
  if (config.labels) {
    if (!taskSpec) throw new TlcError(`${args.model}: no --task given and the run does not record one`);
    data = (await taskForRun(args.model, config, taskSpec, { taskSeed: args.taskSeed })).data;
  } else if (args.mode !== 'oneshot') {
    throw new TlcError(`${args.model}: the ${args.mode} mode finetunes on a labelled task, so it needs a classifier run`);
  }
  mkdirSync(args.out, { recursive: true });
  const rows: CompressRow[] = [];
  for (const sparsity of args.sparsities) {
    for (const bits of args.bits) {
      const dir = join(args.out, `s${sparsity}-b${bits}`);
      const resultPath = join(dir, 'result.json');
      const settings = settingsOf(args, sparsity, bits);
      const previous = readPrevious(resultPath);
      if (previous && JSON.stringify(previous.settings) === JSON.stringify(settings)) {
        rows.push(previous.row);
        log(`${dir}: done before with the same settings, reused`);
        continue;
      }
      mkdirSync(dir, { recursive: true });
      const row = compressOne(args, config, weightsPath, data, sparsity, bits, dir);
      writeJsonAtomic(resultPath, { settings, row });
      rows.push(row);
      log(`sparsity ${sparsity}, ${bits} bits: ${(row.bytes / 1e6).toFixed(2)} MB` +
        (row.accuracy !== null ? `, test accuracy ${(100 * row.accuracy).toFixed(1)}%` : ''));
    }
  }
  writeJsonAtomic(join(args.out, SUMMARY_FILE), { model: args.model, mode: args.mode, rows });
  return rows;
}

/** Everything that determines a setting's result; a saved result is reused only on an exact match. */
function settingsOf(a: CompressSweepArgs, sparsity: number, bits: number): Record<string, unknown> {
  return {
    model: a.model, sparsity, bits, pruning: a.pruning, embeddingBits: a.embeddingBits ?? null, mode: a.mode,
    steps: a.mode === 'oneshot' ? null : a.steps, lr: a.mode === 'oneshot' ? null : a.lr,
    batchSize: a.mode === 'oneshot' ? null : a.batchSize, qat: a.mode === 'finetune' && a.qat,
    task: a.task ?? null, taskSeed: a.taskSeed ?? null, seed: a.seed,
    scoredOn: 'inference kernels',
  };
}

function readPrevious(path: string): { settings: Record<string, unknown>; row: CompressRow } | null {
  if (!existsSync(path)) return null;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    return v && v.settings && v.row ? v : null;
  } catch {
    return null; // a result torn by a crash is simply redone
  }
}

function compressOne(args: CompressSweepArgs, config: ModelConfig, weightsPath: string, data: TaskData | null,
  sparsity: number, bits: number, dir: string): CompressRow {
  const model: TransformerBody = config.labels ? new TransformerClassifier(config, { seed: args.seed }) : new TransformerLM(config);
  try {
    loadWeights(model, weightsPath);
    if (args.mode !== 'oneshot' && data) finetuneCompressed(model as TransformerClassifier, data.train, args, sparsity, bits);
    const file = join(dir, COMPRESSED_FILE);
    tidy(() => {
      const c = compressModel(model.namedParameters(), { sparsity, bits, pruning: args.pruning, embeddingBits: args.embeddingBits });
      writeCompressed(file, c.params, { ...c.plan, settings: { ...(c.plan.settings ?? {}), mode: args.mode, source: args.model } });
    });
    for (const f of ['config.json', 'tokenizer.json']) copyFileAtomic(join(args.model, f), join(dir, f));
    // what is scored and measured is the file, loaded back
    loadCompressedInto(model, file);
    // scored and timed on the kernels the compressed model ships with
    const selected = selectTensors(model.namedParameters().map(([n, t]) => [n, t.shape]), {});
    const selectedSet = new Set(selected);
    const packing = packLinears(model, (name, values) =>
      selectedSet.has(`${name}.weight`) ? kernelForCompressed(bits, density(values)) : { kind: 'f32' });
    const seqLen = Math.min(LATENCY_SEQ_LEN, config.max_len);
    const latency = medianForwardSeconds(model, syntheticBatch(model, 1, seqLen), LATENCY_RUNS, 2);
    let accuracy: number | null = null, macroF1: number | null = null;
    if (data) {
      const e = evaluateClassifier(model as TransformerClassifier, data.test);
      accuracy = e.accuracy;
      macroF1 = e.macroF1;
    }
    const measured = measuredSparsity(model, selectedSet);
    return {
      model: args.model, params: countParams(config).total, sparsity, bits, mode: args.mode, bytes: statSync(file).size,
      file, accuracy, macro_f1: macroF1, measured_sparsity: measured,
      kernels: describePacking(packing),
      latency_ms: 1e3 * latency, latency_seq_len: seqLen,
    };
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

/**
 * Short finetuning under a pruning mask. In 'finetune' mode the mask is fixed from the
 * start; in 'gradual' mode it tightens on the cubic schedule, reaching the target at
 * 3/4 of the steps so the last quarter recovers at the final sparsity.
 */
function finetuneCompressed(model: TransformerClassifier, train: EncodedExamples, args: CompressSweepArgs, sparsity: number, bits: number): void {
  const named = () => model.namedParameters();
  const params = model.parameters();
  const gradual = args.mode === 'gradual';
  let mask = magnitudePrune(named(), { sparsity: gradual ? 0 : sparsity, mode: args.pruning });
  mask.apply(named());
  if (args.qat && bits < 32) {
    const selected = new Set(selectTensors(named().map(([n, t]) => [n, t.shape]), {}));
    for (const [path, m] of model.namedModules()) {
      if (m instanceof Linear && selected.has(`${path}.weight`)) m.weightTransform = (w: Tensor) => fakeQuantize(w, bits);
    }
  }
  const opt = new AdamW(params, { lr: args.lr, weightDecay: 0.01, maxGradNorm: 1, noDecay: (p) => p.shape.length < 2 });
  const endStep = Math.max(1, Math.round(args.steps * 0.75));
  let epoch = 0;
  let batches: Generator<ClassificationBatch> = classificationBatches(train, { batchSize: args.batchSize, shuffle: true, seed: args.seed, epoch });
  try {
    for (let step = 0; step < args.steps; step++) {
      if (gradual) {
        const s = cubicSparsity(step, { initial: 0, final: sparsity, startStep: 0, endStep });
        mask = recomputeMask(named(), mask, s);
        mask.apply(named());
      }
      let r = batches.next();
      if (r.done) {
        batches = classificationBatches(train, { batchSize: args.batchSize, shuffle: true, seed: args.seed, epoch: ++epoch });
        r = batches.next();
      }
      zeroGrad(params);
      tidy(() => backward(model.loss(r.value as ClassificationBatch, { training: true }).loss));
      mask.maskGradients(named());
      opt.step(args.lr * (1 - step / args.steps));
      mask.apply(named());
    }
  } finally {
    opt.dispose();
    for (const [, m] of model.namedModules()) if (m instanceof Linear) m.weightTransform = null;
  }
}
