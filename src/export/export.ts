// `tlc export`: a run (or a compressed setting) as a Hugging Face folder, and with
// --format onnx also as ONNX graphs next to it, laid out as transformers.js loads them:
//
//   config.json  tokenizer.json  tokenizer_config.json  model.safetensors
//   onnx/model.onnx            float32
//   onnx/model_quantized.onnx  int8 weights, dynamically quantized activations (dtype "q8")
//   onnx/model_q4.onnx         4-bit block-quantized linear layers (dtype "q4")
//
// A model is written in a format only if that format computes exactly what tlc computes
// (architecture.ts); otherwise export fails naming what does not map, and writes nothing.
import { runFile } from '../run/layout.js';
import { checkOutputDir, markOutputDir } from '../run/ownership.js';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../data/tokenizer-json.js';
import { writeFileAtomic } from '../util/atomic.js';
import { mapArchitecture, type HfArchitecture } from './architecture.js';
import { HF_CONFIG_FILE, HF_WEIGHTS_FILE, writeHfFolder } from './hf-folder.js';
import { encoderOnnxBytes } from './onnx-encoder.js';
import { decoderFromGpt2, decoderOnnxBytes } from './onnx-decoder.js';
import type { OnnxPrecision } from './onnx-weights.js';
import { encoderFromRoberta, robertaConfig, robertaStateDict } from './roberta.js';
import { gpt2Config, gpt2StateDict } from './gpt2.js';
import { readExportSource } from './source.js';
import type { ModelConfig } from '../nn/config.js';
import type { StateDict } from '../nn/state-dict.js';
import { makeDirs } from '../util/make-dirs.js';

export type ExportFormat = 'hf' | 'onnx';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['hf', 'onnx'];

/** ONNX file of each precision, under onnx/, named as transformers.js looks for its dtypes. */
export const ONNX_FILES: Record<OnnxPrecision, string> = {
  fp32: 'onnx/model.onnx',
  int8: 'onnx/model_quantized.onnx',
  q4: 'onnx/model_q4.onnx',
};

/** Every file export may write: those a new export does not write are removed, so none is left stale. */
const MANAGED_FILES = [HF_CONFIG_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, HF_WEIGHTS_FILE, ...Object.values(ONNX_FILES)];

export interface ExportOptions {
  format: ExportFormat;
  out: string;
  /** Write into a directory that holds something other than an export of this run. */
  force?: boolean;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  /** The Hugging Face architecture written to model.safetensors, or null when there is none. */
  architecture: HfArchitecture | null;
  /** Whether the source was a tlc-compressed file (its decoded weights were exported). */
  compressed: boolean;
  /** Files written, relative to `out`. */
  files: string[];
}

export function exportRun(runDir: string, options: ExportOptions, log: (line: string) => void = () => {}): ExportResult {
  const { format, out } = options;
  if (!EXPORT_FORMATS.includes(format)) throw new TlcError(`invalid --format "${format}": use ${EXPORT_FORMATS.join(' or ')}`);
  if (resolve(out) === resolve(runDir)) throw new TlcError(`--out ${out} is the run directory itself; export into another directory`);
  checkOutputDir(out, 'export', { source: runDir, force: options.force });
  const src = readExportSource(runDir);
  const c = src.config;
  const mapping = mapArchitecture(c);
  const configPath = runFile(runDir, 'config');
  if (format === 'hf' && !mapping.hf) {
    const hint = mapping.onnxProblems.length === 0 ? ' (--format onnx exports this model exactly)' : '';
    throw new TlcError(`${configPath}: cannot export to Hugging Face format: ${mapping.hfProblems.join('; ')}${hint}`);
  }
  if (format === 'onnx' && mapping.onnxProblems.length > 0) {
    const hint = mapping.hf ? ` (--format hf writes it as ${mapping.hf})` : '';
    throw new TlcError(`${configPath}: cannot export to ONNX: ${mapping.onnxProblems.join('; ')}${hint}`);
  }
  if (src.compressed) log(`${src.weightsPath}: tlc-compressed; exporting its decoded weights`);

  // Everything is computed before the first file is written.
  const hfWeights = c.objective === 'mlm' ? robertaStateDict(src.weights, c, src.weightsPath) : gpt2StateDict(src.weights, c, src.weightsPath);
  let config: Record<string, unknown>;
  if (c.objective === 'clm') {
    config = gpt2Config(c);
    if (!mapping.hf) config.tlc_onnx_only = mapping.hfProblems;
  } else {
    config = robertaConfig(c, mapping.hf ?? (c.labels ? 'RobertaForSequenceClassification' : 'RobertaForMaskedLM'));
    // transformers.js picks its runtime by model_type and runs the ONNX graph, which is exact;
    // no model.safetensors is written, and this says why
    if (!mapping.hf) config.tlc_onnx_only = mapping.hfProblems;
  }
  const onnx = new Map<string, Uint8Array>();
  if (format === 'onnx') {
    const graph = onnxGraphOf(c, hfWeights, src.weightsPath);
    for (const [precision, file] of Object.entries(ONNX_FILES) as [OnnxPrecision, string][]) onnx.set(file, graph(precision));
  }

  markOutputDir(out, 'export', runDir);
  const files = writeHfFolder(out, {
    config, tokenizerPath: src.tokenizerPath, modelMaxLength: c.max_len, weights: mapping.hf ? hfWeights : null,
  });
  if (onnx.size > 0) makeDirs(join(out, 'onnx'));
  for (const [file, bytes] of onnx) {
    writeFileAtomic(join(out, file), bytes);
    files.push(file);
  }
  for (const file of MANAGED_FILES) {
    if (!files.includes(file) && existsSync(join(out, file))) {
      rmSync(join(out, file));
      log(`removed ${join(out, file)}, left by an earlier export`);
    }
  }
  return { out, format, architecture: mapping.hf, compressed: src.compressed, files };
}

/** The ONNX graph of each precision, from weights in the Hugging Face layout (`source` names them in errors). */
function onnxGraphOf(c: ModelConfig, hfWeights: StateDict, source: string): (p: OnnxPrecision) => Uint8Array {
  if (c.objective === 'clm') {
    const m = decoderFromGpt2(hfWeights, c, source);
    return (p) => decoderOnnxBytes(m, p);
  }
  const m = encoderFromRoberta(hfWeights, c, source);
  return (p) => encoderOnnxBytes(m, p);
}

/**
 * The ONNX graph of a model held in memory (float32 weights by tlc name), in one precision: what
 * `tlc export --format onnx` writes for it. For benchmarks against onnxruntime.
 */
export function onnxGraphOfModel(c: ModelConfig, weights: StateDict, precision: OnnxPrecision): Uint8Array {
  const problems = mapArchitecture(c).onnxProblems;
  if (problems.length > 0) throw new TlcError(`cannot export to ONNX: ${problems.join('; ')}`);
  const hf = c.objective === 'mlm' ? robertaStateDict(weights, c, 'the model') : gpt2StateDict(weights, c, 'the model');
  return onnxGraphOf(c, hf, 'the model')(precision);
}
