// One setting of a compression sweep, made real: the methods reshape the model and say how its
// tensors are encoded, the compressed file is written with the kernel each linear layer runs on
// (the fastest on this CPU for its bits and density), then loaded back, scored on the task's
// test split and timed, on the kernels it ships with.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { copyFileAtomic, writeJsonAtomic } from '../../util/atomic.js';
import { tidy } from '../../engine/tensor.js';
import { countParams, type ModelConfig } from '../../nn/config.js';
import type { TransformerBody } from '../../nn/transformer.js';
import { Linear } from '../../nn/layers.js';
import { loadWeights } from '../../nn/weights.js';
import { compressModel, type CompressOptions } from '../../compress/compress.js';
import { loadCompressedInto, writeCompressed } from '../../compress/format.js';
import { FLOAT_BITS } from '../../compress/quantize.js';
import { selectTensors } from '../../compress/selection.js';
import { COMPRESS_FILES, runFile } from '../../run/layout.js';
import type { CompressMode, CompressRow } from '../../run/compress-summary.js';
import type { EncodedTask } from '../../run/task.js';
import { evaluateClassifier } from '../../train/classify.js';
import { buildModel } from '../../infer/load.js';
import { density, kernelForCompressed, type KernelSpec } from '../../infer/pack.js';
import { kernelName } from '../../infer/kernel-spec.js';
import { InferenceModel } from '../../infer/inference-model.js';
import { medianForwardSeconds, syntheticBatch } from '../../infer/latency.js';
import type { MethodRun, PointView } from './method.js';

/** Latency is measured on one sequence of this many tokens (or the model's max_len if shorter). */
const LATENCY_SEQ_LEN = 128;
const LATENCY_RUNS = 31;

export interface SettingToWrite {
  /** The run compressed, its config and the weights the setting starts from (its finetuning run's, or the run's own). */
  source: string;
  config: ModelConfig;
  weightsPath: string;
  finetuned: boolean;
  mode: CompressMode;
  seed: number;
  data: EncodedTask | null;
  dir: string;
  /** The methods the setting uses, in registry order, each with what it sees of the point. */
  parts: readonly { run: MethodRun; view: PointView }[];
}

export function writeSetting(s: SettingToWrite): CompressRow {
  let model: TransformerBody = buildModel(s.config, s.seed);
  try {
    loadWeights(model, s.weightsPath);
    let reshaped = false;
    for (const { run, view } of s.parts) {
      const other = run.reshape?.(model, view, s.finetuned);
      if (other) {
        model.dispose();
        model = other;
        reshaped = true;
      }
    }
    const encoding: CompressOptions = Object.assign({ sparsity: 0, bits: FLOAT_BITS }, ...s.parts.map(({ run, view }) => run.encoding?.(view) ?? {}));
    const file = join(s.dir, COMPRESS_FILES.model);
    const kernels = writeFile(model, encoding, file, {
      mode: s.mode, source: s.source, ...Object.assign({}, ...s.parts.map(({ run, view }) => run.recorded?.(view) ?? {})),
    });
    copyFileAtomic(runFile(s.source, 'tokenizer'), runFile(s.dir, 'tokenizer'));
    if (reshaped) writeJsonAtomic(runFile(s.dir, 'config'), model.config);
    else copyFileAtomic(runFile(s.source, 'config'), runFile(s.dir, 'config'));
    // what is scored and measured is the file, loaded back
    loadCompressedInto(model, file);
    const measured = measuredSparsity(model);
    const scored = scoreAndTime(model, kernels, s.data);
    return {
      model: s.source, params: countParams(s.config).total, sparsity: encoding.sparsity, bits: encoding.bits, mode: s.mode, bytes: statSync(file).size,
      ...Object.assign({}, ...s.parts.map(({ run, view }) => run.row?.(view, model.config) ?? {})),
      file, accuracy: scored.accuracy, macro_f1: scored.macroF1, measured_sparsity: measured,
      kernels: scored.kernels, latency_ms: scored.latencyMs, latency_seq_len: scored.seqLen,
    };
  } finally {
    model.dispose();
  }
}

/** Writes the compressed file, recording each linear weight's kernel; returns those kernels. */
function writeFile(model: TransformerBody, encoding: CompressOptions, file: string, recorded: Record<string, unknown>): Map<string, KernelSpec> {
  const linearWeights = new Set(model.namedModules().flatMap(([name, m]) => (m instanceof Linear ? [`${name}.weight`] : [])));
  const kernels = new Map<string, KernelSpec>();
  tidy(() => {
    const c = compressModel(model.namedParameters(), encoding);
    const selected = new Set(selectTensors(model.namedParameters().map(([n, t]) => [n, t.shape]), {}));
    for (const name of linearWeights) {
      if (selected.has(name)) kernels.set(name, kernelForCompressed(encoding.bits, density(c.params.get(name)!.toFloat32Array())));
    }
    const kernelNames = { kernels: Object.fromEntries([...kernels].map(([n, k]) => [n, kernelName(k)])) };
    writeCompressed(file, c.params, { ...c.plan, settings: { ...(c.plan.settings ?? {}), ...recorded, ...kernelNames } });
  });
  return kernels;
}

/** Test accuracy (classifiers) and the median latency of one sequence, on the kernels the model ships with. */
function scoreAndTime(model: TransformerBody, kernels: Map<string, KernelSpec>, data: EncodedTask | null):
  { accuracy: number | null; macroF1: number | null; kernels: string; latencyMs: number; seqLen: number } {
  const served = InferenceModel.pack(model, (name) => kernels.get(`${name}.weight`) ?? { kind: 'f32' });
  try {
    const seqLen = Math.min(LATENCY_SEQ_LEN, model.config.max_len);
    const latency = medianForwardSeconds(served.model, syntheticBatch(served.model, 1, seqLen), LATENCY_RUNS, 2);
    const e = data ? evaluateClassifier(served.classifier, data.test) : null;
    return { accuracy: e?.accuracy ?? null, macroF1: e?.macroF1 ?? null, kernels: served.kernels, latencyMs: 1e3 * latency, seqLen };
  } finally {
    served.dispose();
  }
}

/** The fraction of zeros in the selected weights. */
function measuredSparsity(model: TransformerBody): number {
  const selected = new Set(selectTensors(model.namedParameters().map(([n, t]) => [n, t.shape]), {}));
  let zeros = 0, total = 0;
  for (const [n, p] of model.namedParameters()) {
    if (!selected.has(n)) continue;
    const v = p.toFloat32Array();
    for (const x of v) if (x === 0) zeros++;
    total += v.length;
  }
  return total > 0 ? zeros / total : 0;
}
