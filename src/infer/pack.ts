// Switching a model's linear layers to inference kernels. Each Linear gets a PackedLinear
// built from its current weights (int8 and k-bit codes come from the same per-row
// quantizer as `tlc compress`, so a compressed model's codes are recovered exactly); the
// rest of the model (embeddings, layer norms, attention) runs unchanged.
import { TlcError } from '../util/errors.js';
import { PackedLinear, type PackedWeights } from '../engine/ops/packed-linear.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { FLOAT_BITS, MAX_BITS, MIN_BITS, quantizeRows } from '../compress/quantize.js';
import { describeKernel, kernelOfName, type KernelSpec } from './kernel-spec.js';
import { fastestKernel, kernelSpeeds } from './kernel-speed.js';

export type { KernelSpec } from './kernel-spec.js';
export { describeKernel } from './kernel-spec.js';

/**
 * The kernel a tensor compressed to `bits` (32 = float) with this fraction of nonzeros runs on:
 * the fastest on this CPU, as measured once per process (src/infer/kernel-speed.ts).
 */
export function kernelForCompressed(bits: number, density: number): KernelSpec {
  if (!(bits === FLOAT_BITS || (bits >= MIN_BITS && bits <= MAX_BITS))) throw new TlcError(`no inference kernel for ${bits}-bit weights`);
  return fastestKernel(bits, density, kernelSpeeds(), FLOAT_BITS);
}

export function density(values: Float32Array): number {
  let nnz = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nnz++;
  return values.length ? nnz / values.length : 1;
}

/** The packed form of weights [N, K] for one kernel. */
export function packedWeights(values: Float32Array, N: number, K: number, spec: KernelSpec): PackedWeights {
  switch (spec.kind) {
    case 'f32':
    case 'bf16':
    case 'sparse':
      return { kind: spec.kind, values };
    case 'int8': {
      // k-bit codes (the compressor's, recovered exactly from its dequantized weights) in the int8 kernel's layout
      const { codes, scales } = quantizeRows(values, N, K, spec.bits ?? 8);
      return { kind: 'int8', codes, scales, bits: 8 };
    }
    case 'kbit': {
      const { codes, scales } = quantizeRows(values, N, K, spec.bits);
      return { kind: 'kbit', codes, scales, bits: spec.bits };
    }
  }
}

/** One Linear packed for one kernel, from `values` (default: its current weights) and its bias. */
export function packLayer(layer: Linear, spec: KernelSpec, values = layer.weight.toArray() as Float32Array): PackedLinear {
  const bias = layer.bias ? (layer.bias.toArray() as Float32Array) : null;
  return PackedLinear.pack(packedWeights(values, layer.outFeatures, layer.inFeatures, spec), bias, layer.outFeatures, layer.inFeatures);
}

export interface PackSummary {
  layers: number;
  /** Bytes of the packed weights in memory. */
  bytes: number;
  /** Layers per kernel, by describeKernel's name (int8, w4a8, 4-bit, sparse, ...). */
  kinds: Record<string, number>;
}

/**
 * Packs every Linear of `model` for the kernel `choose` names (null leaves a layer on the
 * training path). Replaces (and frees) earlier packing; the packed layers are freed by
 * unpackLinears or model.dispose().
 */
export function packLinears(model: Module, choose: (name: string, weights: Float32Array, layer: Linear) => KernelSpec | null): PackSummary {
  const summary: PackSummary = { layers: 0, bytes: 0, kinds: {} };
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear)) continue;
    m.unpack();
    const values = m.weight.toArray() as Float32Array;
    const spec = choose(name, values, m);
    if (!spec) continue;
    m.packed = packLayer(m, spec, values);
    summary.layers++;
    summary.bytes += m.packed.bytes;
    summary.kinds[describeKernel(spec)] = (summary.kinds[describeKernel(spec)] ?? 0) + 1;
  }
  return summary;
}

/** The kernels of a packing, e.g. "int8×10" or "sparse×8, f32×2". */
export function describePacking(summary: PackSummary): string {
  return Object.entries(summary.kinds).map(([k, n]) => `${k}×${n}`).join(', ');
}

/** Puts every Linear back on the training path, freeing its packed kernel. */
export function unpackLinears(model: Module): void {
  for (const [, m] of model.namedModules()) if (m instanceof Linear) m.unpack();
}

/** What `--kernel` accepts: a kernel for every linear layer, or a policy. */
export const KERNEL_CHOICES = 'auto, reference, f32, bf16, int8, w2 … w8 (weight-only), w2a8 … w7a8 (integer kernel), sparse';

/**
 * Packs a model's linear layers as `--kernel` says: `auto` runs a compressed model on the
 * kernels its compression chose (`kernels`, recorded in its file by `tlc compress`; for files
 * without that record, the fastest here for its bits and density) and a plain model on the
 * training path, like `reference`; a kernel name runs every linear layer on that kernel
 * (w<k>: weights quantized to k bits).
 */
export function packByChoice(model: Module, choice: string, tensorBits: Map<string, number>,
  kernels: Map<string, KernelSpec> = new Map()): PackSummary | null {
  if (choice === 'reference' || (choice === 'auto' && tensorBits.size === 0)) {
    unpackLinears(model);
    return null;
  }
  if (choice === 'auto') {
    return packLinears(model, (name, values) =>
      kernels.get(`${name}.weight`) ?? kernelForCompressed(tensorBits.get(`${name}.weight`) ?? FLOAT_BITS, density(values)));
  }
  const spec = kernelOfName(choice);
  if (!spec) throw new TlcError(`--kernel: unknown kernel "${choice}" (${KERNEL_CHOICES})`);
  return packLinears(model, () => spec);
}
