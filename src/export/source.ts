// What is exported: a run directory (config.json, tokenizer.json, model.safetensors) or a
// setting of `tlc compress` (config.json, tokenizer.json, model.tlcz.safetensors), read into
// float32 weights by tlc parameter name and checked against the model the config describes.
// A compressed file is decoded: export writes the weights the compressed model computes with.
import { runFile } from '../run/layout.js';
import { existsSync, statSync } from 'node:fs';

import { TlcError, fmtShape } from '../util/errors.js';
import { readSafetensorsRaw } from '../engine/safetensors.js';
import { readModelConfig, type ModelConfig } from '../nn/config.js';
import { TransformerLM, type TransformerBody } from '../nn/transformer.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { PAD_ID, type Tokenizer } from '../data/tokenizer.js';
import { isCompressedFile, readCompressedArrays } from '../compress/format.js';
import { resolveModelFile } from '../compress/inspect.js';
import type { StateDict } from '../nn/state-dict.js';

export interface ExportSource {
  dir: string;
  config: ModelConfig;
  tokenizer: Tokenizer;
  tokenizerPath: string;
  /** The weights file read (plain or tlc-compressed). */
  weightsPath: string;
  compressed: boolean;
  /** Every parameter of the model, float32, by tlc name. */
  weights: StateDict;
}

/** Reads and checks everything export needs from `dir`; every problem is a TlcError naming the file. */
export function readExportSource(dir: string): ExportSource {
  if (!existsSync(dir)) throw new TlcError(`${dir}: no such run directory`);
  if (!statSync(dir).isDirectory()) throw new TlcError(`${dir}: not a directory (expected a run directory holding config.json, tokenizer.json and model.safetensors)`);
  const configPath = runFile(dir, 'config'), tokenizerPath = runFile(dir, 'tokenizer');
  for (const p of [configPath, tokenizerPath]) {
    if (!existsSync(p)) throw new TlcError(`${dir}: not a tlc run directory (${p} is missing)`);
  }
  const config = readModelConfig(configPath);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new TlcError(`${tokenizerPath} has ${tokenizer.vocabSize} tokens but ${configPath} has vocab_size ${config.vocab_size}: the tokenizer does not belong to this model`);
  }
  if (config.pad_id !== PAD_ID) {
    throw new TlcError(`${configPath}: pad_id ${config.pad_id} is not the id of the tokenizer's <pad> token (${PAD_ID}), which padded batches use`);
  }
  const weightsPath = resolveModelFile(dir);
  const compressed = isCompressedFile(weightsPath);
  const weights = compressed ? readCompressedWeights(weightsPath) : readPlainWeights(weightsPath);
  checkAgainstConfig(weights, config, weightsPath, configPath);
  return { dir, config, tokenizer, tokenizerPath, weightsPath, compressed, weights };
}

function readPlainWeights(path: string): StateDict {
  const { tensors } = readSafetensorsRaw(path);
  const out: StateDict = new Map();
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32') throw new TlcError(`${path}: tensor ${name} is ${t.dtype}; tlc models are float32`);
    const data = t.data as Float32Array;
    // as every load refuses them: an exported NaN would only surface in someone else's runtime
    const at = data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) throw new TlcError(`${path}: tensor ${name} holds a non-finite value (${data[at]}) at flat index ${at}; model weights must be finite`);
    out.set(name, { shape: t.shape, data });
  }
  return out;
}

function readCompressedWeights(path: string): StateDict {
  const { arrays } = readCompressedArrays(path);
  const out: StateDict = new Map();
  for (const [name, { shape, values }] of arrays) out.set(name, { shape, data: values });
  return out;
}

/** The file must hold exactly the parameters of the model the config describes, with their shapes. */
function checkAgainstConfig(weights: StateDict, config: ModelConfig, weightsPath: string, configPath: string): void {
  const model: TransformerBody = config.labels ? new TransformerClassifier(config) : new TransformerLM(config);
  const expected = new Map(model.namedParameters().map(([name, t]) => [name, [...t.shape]]));
  model.dispose();
  const missing = [...expected.keys()].filter((n) => !weights.has(n));
  const unexpected = [...weights.keys()].filter((n) => !expected.has(n));
  if (missing.length || unexpected.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(', ')}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.join(', ')}`);
    throw new TlcError(`${weightsPath}: weights do not match the model of ${configPath}: ${parts.join('; ')}`);
  }
  for (const [name, shape] of expected) {
    const got = weights.get(name)!.shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new TlcError(`${weightsPath}: tensor ${name} is ${fmtShape(got)}, the model of ${configPath} expects ${fmtShape(shape)}`);
    }
  }
}
