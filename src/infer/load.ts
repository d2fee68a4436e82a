// Loading a model to run: a run directory (config.json + model.safetensors) or a directory
// written by `tlc compress` (config.json + model.tlcz.safetensors), as a classifier when
// the config names labels, else as a language model.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { readModelConfig, type ModelConfig } from '../nn/config.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { TransformerLM, type TransformerBody } from '../nn/transformer.js';
import { loadWeights } from '../nn/weights.js';
import { loadCompressedInto } from '../compress/format.js';
import { kernelOfName, type KernelSpec } from './kernel-spec.js';
import { removeUnits, type Units } from '../compress/structured.js';
import { COMPRESS_FILES, runFile } from '../run/layout.js';

export interface LoadedModel {
  model: TransformerBody;
  config: ModelConfig;
  /** The weights file read (plain or compressed). */
  weightsFile: string;
  compressed: boolean;
  /** Bits of each tensor of a compressed model (32: float32); empty for a plain run. */
  tensorBits: Map<string, number>;
  /** The kernels `tlc compress` chose for the linear weights, by tensor name (empty: none recorded). */
  tensorKernels: Map<string, KernelSpec>;
}

export function buildModel(config: ModelConfig, seed = 0): TransformerBody {
  return config.labels ? new TransformerClassifier(config, { seed }) : new TransformerLM(config, { seed });
}

/**
 * A new model without the removed `units` (structured pruning, src/compress/structured.ts): the
 * smaller config and `model`'s weights, cut; `model` is left as it is.
 */
export function withoutUnits(model: TransformerBody, units: Units, seed = 0): TransformerBody {
  const dict = new Map(model.namedParameters().map(([n, t]) => [n, { shape: [...t.shape], data: t.toFloat32Array() }]));
  const smaller = removeUnits(model.config, dict, units);
  const pruned = buildModel(smaller.config, seed);
  for (const [name, t] of pruned.namedParameters()) t.write(smaller.params.get(name)!.data);
  return pruned;
}

export function loadModelDir(dir: string): LoadedModel {
  const configPath = runFile(dir, 'config');
  if (!existsSync(configPath)) throw new TlcError(`${dir}: not a model directory (config.json is missing)`);
  const config = readModelConfig(configPath);
  const plain = runFile(dir, 'weights'), packed = join(dir, COMPRESS_FILES.model);
  const compressed = !existsSync(plain) && existsSync(packed);
  if (!compressed && !existsSync(plain)) throw new TlcError(`${dir}: no weights (${runFile(dir, 'weights')} or ${packed})`);
  const model = buildModel(config);
  let tensorBits = new Map<string, number>();
  let tensorKernels = new Map<string, KernelSpec>();
  try {
    if (compressed) {
      const loaded = loadCompressedInto(model, packed);
      tensorBits = loaded.bits;
      tensorKernels = recordedKernels(loaded.settings, packed, tensorBits);
    } else {
      loadWeights(model, plain);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config, weightsFile: compressed ? packed : plain, compressed, tensorBits, tensorKernels };
}

/**
 * The kernels `tlc compress` chose for a file's linear weights (settings.kernels: tensor → kernel
 * name). A name this version does not know, or an integer kernel whose bits are not the tensor's,
 * is left out with a warning: that tensor gets the fastest kernel here instead.
 */
export function recordedKernels(settings: Record<string, unknown> | null, path: string, tensorBits: Map<string, number>): Map<string, KernelSpec> {
  const out = new Map<string, KernelSpec>();
  const recorded = settings?.kernels;
  if (recorded === undefined) return out;
  if (typeof recorded !== 'object' || recorded === null || Array.isArray(recorded)) {
    warn(`${path}: the compression settings' "kernels" is not an object of tensor names to kernel names; choosing kernels here`);
    return out;
  }
  const ignored: string[] = [];
  for (const [tensor, name] of Object.entries(recorded)) {
    const spec = typeof name === 'string' ? kernelOfName(name) : null;
    const bits = tensorBits.get(tensor);
    const fits = spec !== null && bits !== undefined && (spec.kind !== 'int8' || (spec.bits ?? 8) === bits) && (spec.kind !== 'kbit' || spec.bits === bits);
    if (fits) out.set(tensor, spec);
    else ignored.push(`${tensor} (${JSON.stringify(name)})`);
  }
  if (ignored.length > 0) warn(`${path}: recorded kernels that do not fit their tensors, chosen here instead: ${ignored.join(', ')}`);
  return out;
}
