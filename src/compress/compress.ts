// compressModel: prune and quantize a model's parameters in one call, returning the
// compressed values as ordinary float32 tensors (to evaluate in memory) and the plan
// that writeCompressed needs to store them (format.ts).
import { TlcError } from '../util/errors.js';
import { tensor, type Tensor } from '../engine/tensor.js';
import { quantRows } from '../engine/ops/quantize.js';
import { isEmbedding, selectTensors, type NamePattern } from './selection.js';
import { PruningMask, checkSparsity, pruneArrays, toTensorMap, type NamedTensors, type PruningMode } from './pruning.js';
import { FLOAT_BITS, checkBits, dequantizeRows, quantizeRows } from './quantize.js';
import type { CompressionPlan, TensorPlan } from './format.js';

/** Embeddings are not quantized below this many bits unless embeddingBits says so. */
export const DEFAULT_MIN_EMBEDDING_BITS = 4;

export interface CompressOptions {
  /** Fraction of the selected weights pruned, in [0, 1). */
  sparsity: number;
  /** 2…8: quantize the selected weights (and embeddings) to this many bits; 32: no quantization. */
  bits: number;
  /** 'layer' (default): each tensor pruned to `sparsity`; 'global': one magnitude threshold. */
  pruning?: PruningMode;
  /**
   * Bits for token/position embeddings that are not selected: 2…8, or 32 to keep them float32.
   * Default: 32 when bits is 32, else max(bits, 4). An embedding named by `include` is a
   * selected tensor like any other (pruned, quantized to `bits`).
   */
  embeddingBits?: number;
  /** Replace the default selection (linear weight matrices) by these name patterns. */
  include?: NamePattern[];
  /** Remove these from the selection. */
  exclude?: NamePattern[];
}

export interface CompressedModel {
  /** Every parameter, as a new float32 tensor holding its compressed value. */
  params: Map<string, Tensor>;
  /** What writeCompressed needs: per compressed tensor its bits and scales, plus the settings. */
  plan: CompressionPlan;
  /** The pruning mask of the selected tensors (all ones at sparsity 0). */
  mask: PruningMask;
}

function patternText(p: NamePattern): string {
  return p instanceof RegExp ? p.toString() : p;
}

/**
 * Prunes the selected weights (default: the linear weight matrices) to `sparsity` by
 * magnitude, then quantizes them, and the embeddings, per row. Pruned weights stay exact
 * zeros after quantization. The input tensors are not modified; the returned tensors join
 * the current tidy scope.
 */
export function compressModel(params: NamedTensors, opts: CompressOptions): CompressedModel {
  if (!opts || typeof opts !== 'object') throw new TlcError('compressModel: options { sparsity, bits } are required');
  const sparsity = checkSparsity('compressModel', opts.sparsity);
  const bits = checkBits('compressModel', opts.bits, true);
  const mode = opts.pruning ?? 'layer';
  if (mode !== 'layer' && mode !== 'global') throw new TlcError(`compressModel: pruning must be 'layer' or 'global', got ${JSON.stringify(mode)}`);
  const embeddingBits = opts.embeddingBits === undefined
    ? (bits === FLOAT_BITS ? FLOAT_BITS : Math.max(bits, DEFAULT_MIN_EMBEDDING_BITS))
    : checkBits('compressModel embeddingBits', opts.embeddingBits, true);

  const map = toTensorMap(params);
  for (const [name, t] of map) {
    if (t.dtype !== 'f32') throw new TlcError(`compressModel: tensor '${name}' ${t.describe()} is not f32`);
  }
  const selected = selectTensors([...map].map(([n, t]) => [n, t.shape]), opts);
  const selectedSet = new Set(selected);
  const values = new Map<string, Float32Array>();
  for (const [name, t] of map) values.set(name, t.toFloat32Array());

  const masks = pruneArrays(selected.map((name) => ({ name, values: values.get(name)!, previous: null })), sparsity, mode);
  const mask = new PruningMask(new Map(selected.map((n, i) => [n, masks[i]])), new Map(selected.map((n) => [n, map.get(n)!.shape])), mode);

  const planned = new Map<string, TensorPlan>();
  const out = new Map<string, Tensor>();
  for (const [name, t] of map) {
    let v = values.get(name)!;
    const isSelected = selectedSet.has(name);
    const tensorBits = isSelected ? bits : isEmbedding(name, t.shape) ? embeddingBits : null;
    if (isSelected) {
      const m = mask.masks.get(name)!;
      // Pruned weights and −0 become +0: zero is stored as "absent" in the sparse encodings.
      for (let i = 0; i < v.length; i++) if (m[i] === 0 || v[i] === 0) v[i] = 0;
    }
    if (tensorBits !== null && tensorBits !== FLOAT_BITS) {
      const { rows, cols } = quantRows(t.shape);
      const q = quantizeRows(v, rows, cols, tensorBits);
      v = dequantizeRows(q.codes, q.scales, rows, cols);
      planned.set(name, { bits: tensorBits, scales: q.scales });
    } else if (isSelected) {
      planned.set(name, { bits: FLOAT_BITS, scales: null });
    }
    const c = tensor(v, t.shape);
    c.name = name;
    out.set(name, c);
  }
  const settings: Record<string, unknown> = { sparsity, bits, pruning: mode, embedding_bits: embeddingBits };
  if (opts.include) settings.include = opts.include.map(patternText);
  if (opts.exclude) settings.exclude = opts.exclude.map(patternText);
  return { params: out, plan: { tensors: planned, settings }, mask };
}
