// Switching a model's linear layers to inference kernels. Each Linear gets a PackedLinear
// built from its current weights (int8 and k-bit codes come from the same per-row
// quantizer as `tlc compress`, so a compressed model's codes are recovered exactly); the
// rest of the model (embeddings, layer norms, attention) runs unchanged.
import { TlcError } from '../engine/errors.js';
import { PackedLinear, type PackedWeights } from '../engine/ops/packed-linear.js';
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { FLOAT_BITS, MAX_BITS, MIN_BITS, quantizeRows } from '../compress/quantize.js';

/**
 * int8 runs u8 activations × s8 weight codes on the integer kernel (VNNI); with `bits` < 8 the
 * codes are k-bit ones (|code| ≤ 2^(k−1) − 1), which fit int8: "w<k>a8", k-bit weights on the
 * integer kernel, unpacked once at load into its int8 layout (1 byte per weight resident,
 * against k/8 for the weight-only kbit kernel, which expands its codes per call).
 */
export type KernelSpec =
  | { kind: 'f32' | 'bf16' | 'sparse' }
  | { kind: 'int8'; bits?: number }
  | { kind: 'kbit'; bits: number };

/**
 * Densities at or below which the sparse kernel is faster, measured with `tlc bench infer`
 * on this project's reference CPU (2-core AVX-512): the CSR kernel's time grows linearly with
 * the density and overtakes the dense f32 (and k-bit) matmul between 50% and 70% sparsity,
 * but the int8 kernel only beyond about 90%.
 */
export const SPARSE_MAX_DENSITY = 0.4;
export const SPARSE_MAX_DENSITY_VS_INT8 = 0.08;

export function describeKernel(spec: KernelSpec): string {
  if (spec.kind === 'int8' && spec.bits !== undefined && spec.bits < 8) return `w${spec.bits}a8`;
  return spec.kind === 'kbit' ? `${spec.bits}-bit` : spec.kind;
}

/**
 * The fastest kernel for a tensor compressed to `bits` (32 = float) with this fraction of
 * nonzeros: k-bit weights run on the integer kernel (w<k>a8), measured faster than the
 * weight-only k-bit kernel at every batch size (README, inference table).
 */
export function kernelForCompressed(bits: number, density: number): KernelSpec {
  if (density <= (bits <= 8 ? SPARSE_MAX_DENSITY_VS_INT8 : SPARSE_MAX_DENSITY)) return { kind: 'sparse' };
  if (bits === 8) return { kind: 'int8' };
  if (bits >= MIN_BITS && bits < MAX_BITS) return { kind: 'int8', bits };
  if (bits === FLOAT_BITS) return { kind: 'f32' };
  throw new TlcError(`no inference kernel for ${bits}-bit weights`);
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
 * kernels its compression calls for (sparse when sparse enough, else int8 / k-bit / f32 by
 * its bits) and a plain model on the training path, like `reference`; a kernel name runs
 * every linear layer on that kernel (w<k>: weights quantized to k bits).
 */
export function packByChoice(model: Module, choice: string, tensorBits: Map<string, number>): PackSummary | null {
  if (choice === 'reference' || (choice === 'auto' && tensorBits.size === 0)) {
    unpackLinears(model);
    return null;
  }
  if (choice === 'auto') return packLinears(model, (name, values) => kernelForCompressed(tensorBits.get(`${name}.weight`) ?? FLOAT_BITS, density(values)));
  const w = /^w([2-8])$/.exec(choice);
  if (w) return packLinears(model, () => ({ kind: 'kbit', bits: Number(w[1]) }));
  const wa = /^w([2-7])a8$/.exec(choice);
  if (wa) return packLinears(model, () => ({ kind: 'int8', bits: Number(wa[1]) }));
  if (choice === 'f32' || choice === 'bf16' || choice === 'int8' || choice === 'sparse') return packLinears(model, () => ({ kind: choice }));
  throw new TlcError(`--kernel: unknown kernel "${choice}" (${KERNEL_CHOICES})`);
}
