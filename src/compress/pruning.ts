// Unstructured magnitude pruning: the weights of smallest |w| are set to zero.
//
// Exactly round(s·n) weights are pruned (per tensor in 'layer' mode, over all selected
// tensors together in 'global' mode), so the sparsity is exact. Ties at the threshold are
// broken by position (tensors in parameter order, then flat index): lower positions are
// pruned first, so the result is deterministic.
//
// The k-th smallest magnitude is found by a two-pass radix select on the float bit
// patterns (for non-negative floats, the bit pattern as an unsigned integer has the same
// order as the value): O(n) time, no sorting, no copy of the weights.
import { TlcError, fmtShape } from '../util/errors.js';
import type { Tensor } from '../engine/tensor.js';
import { gradOf } from '../engine/autograd.js';
import { selectTensors, type SelectionOptions } from './selection.js';

export type PruningMode = 'layer' | 'global';

/** Parameters by name: a Map, or the [name, tensor] pairs of Module.namedParameters(). */
export type NamedTensors = Map<string, Tensor> | Iterable<readonly [string, Tensor]>;

export interface PruneOptions extends SelectionOptions {
  /** Fraction of the selected weights to set to zero, in [0, 1). */
  sparsity: number;
  /** 'layer' (default): every tensor pruned to `sparsity`; 'global': one threshold over all selected tensors. */
  mode?: PruningMode;
  /** An earlier mask: the weights it pruned stay pruned and count towards the target (gradual pruning). */
  previous?: PruningMask;
}

export interface TensorPruningStats {
  name: string;
  size: number;
  pruned: number;
  sparsity: number;
}

export interface PruningStats {
  tensors: TensorPruningStats[];
  size: number;
  pruned: number;
  sparsity: number;
}

export function toTensorMap(params: NamedTensors): Map<string, Tensor> {
  return params instanceof Map ? params : new Map(params as Iterable<[string, Tensor]>);
}

export function checkSparsity(what: string, s: unknown): number {
  if (typeof s !== 'number' || !(s >= 0 && s < 1)) {
    throw new TlcError(`${what}: sparsity must be a number in [0, 1), got ${typeof s === 'number' ? s : JSON.stringify(s)}`);
  }
  return s;
}

/** Which weights are kept: per tensor, one byte per element, 1 = kept, 0 = pruned. */
export class PruningMask {
  constructor(
    readonly masks: Map<string, Uint8Array>,
    readonly shapes: Map<string, readonly number[]>,
    readonly mode: PruningMode,
  ) {}

  /** Sets every pruned weight to zero, in place. */
  apply(params: NamedTensors): void {
    this.forEachMasked(params, 'PruningMask.apply', (t) => t);
  }

  /**
   * Sets the gradients of pruned weights to zero (call between backward and the optimizer
   * step, when fine-tuning with a fixed mask). Parameters without a gradient are skipped.
   */
  maskGradients(params: NamedTensors): void {
    this.forEachMasked(params, 'PruningMask.maskGradients', (t) => gradOf(t));
  }

  private forEachMasked(params: NamedTensors, what: string, target: (t: Tensor) => Tensor | null): void {
    const map = toTensorMap(params);
    for (const [name, mask] of this.masks) {
      const p = map.get(name);
      if (!p) throw new TlcError(`${what}: the mask covers '${name}', which is not among the parameters`);
      if (p.size !== mask.length) {
        throw new TlcError(`${what}: the mask of '${name}' has ${mask.length} elements, the tensor ${fmtShape(p.shape)} has ${p.size}`);
      }
      const t = target(p);
      if (!t) continue;
      const values = t.toFloat32Array();
      let changed = false;
      for (let i = 0; i < values.length; i++) {
        if (mask[i] === 0 && values[i] !== 0) {
          values[i] = 0;
          changed = true;
        }
      }
      if (changed) t.write(values);
    }
  }

  stats(): PruningStats {
    const tensors: TensorPruningStats[] = [];
    let size = 0, pruned = 0;
    for (const [name, mask] of this.masks) {
      let p = 0;
      for (let i = 0; i < mask.length; i++) p += 1 - mask[i];
      tensors.push({ name, size: mask.length, pruned: p, sparsity: mask.length ? p / mask.length : 0 });
      size += mask.length;
      pruned += p;
    }
    return { tensors, size, pruned, sparsity: size ? pruned / size : 0 };
  }
}

/** One tensor taking part in a pruning decision. */
export interface PruneInput {
  name: string;
  values: Float32Array;
  /** Earlier mask (0 = already pruned, stays pruned), or null. */
  previous: Uint8Array | null;
}

const BUCKETS = 1 << 16;
const NAN_KEY = 0x7f800000; // keys above this are NaN

function checkFinite(inputs: PruneInput[]): void {
  for (const { name, values } of inputs) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) {
      if ((bits[i] & 0x7fffffff) > NAN_KEY) throw new TlcError(`pruning: tensor '${name}' holds NaN at flat index ${i}`);
    }
  }
}

/**
 * The k-th smallest (1-based) magnitude key among the weights not already pruned, and
 * how many eligible keys are strictly smaller. Requires 1 ≤ k ≤ number of eligible weights.
 */
function selectKth(inputs: PruneInput[], k: number): { threshold: number; below: number } {
  const histogram = new Float64Array(BUCKETS);
  const pick = (): number => {
    let cum = 0, b = 0;
    for (; b < BUCKETS; b++) {
      if (cum + histogram[b] >= k) break;
      cum += histogram[b];
    }
    k -= cum;
    return b;
  };
  let below = 0;
  // Pass 1: high 16 bits.
  for (const { values, previous } of inputs) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) {
      if (previous && previous[i] === 0) continue;
      histogram[(bits[i] & 0x7fffffff) >>> 16]++;
    }
  }
  const kBefore = k;
  const high = pick();
  below += kBefore - k;
  // Pass 2: low 16 bits of the keys in that bucket.
  histogram.fill(0);
  for (const { values, previous } of inputs) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) {
      if (previous && previous[i] === 0) continue;
      const key = bits[i] & 0x7fffffff;
      if (key >>> 16 === high) histogram[key & 0xffff]++;
    }
  }
  const kMid = k;
  const low = pick();
  below += kMid - k;
  return { threshold: (high << 16) | low, below };
}

/** Prunes `k` more eligible weights (smallest magnitudes, ties by position) on top of the earlier masks. */
function pruneSmallest(inputs: PruneInput[], k: number): Uint8Array[] {
  const masks = inputs.map(({ values, previous }) => (previous ? Uint8Array.from(previous) : new Uint8Array(values.length).fill(1)));
  if (k <= 0) return masks;
  const { threshold, below } = selectKth(inputs, k);
  let ties = k - below;
  inputs.forEach(({ values, previous }, t) => {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    const mask = masks[t];
    for (let i = 0; i < bits.length; i++) {
      if (previous && previous[i] === 0) continue;
      const key = bits[i] & 0x7fffffff;
      if (key < threshold) mask[i] = 0;
      else if (key === threshold && ties > 0) {
        mask[i] = 0;
        ties--;
      }
    }
  });
  return masks;
}

function countPruned(mask: Uint8Array | null): number {
  if (!mask) return 0;
  let p = 0;
  for (let i = 0; i < mask.length; i++) p += 1 - mask[i];
  return p;
}

/** Masks for tensors given as arrays (the core of magnitudePrune). */
export function pruneArrays(inputs: PruneInput[], sparsity: number, mode: PruningMode): Uint8Array[] {
  checkSparsity('pruning', sparsity);
  if (mode !== 'layer' && mode !== 'global') throw new TlcError(`pruning: mode must be 'layer' or 'global', got ${JSON.stringify(mode)}`);
  for (const inp of inputs) {
    if (inp.previous && inp.previous.length !== inp.values.length) {
      throw new TlcError(`pruning: the earlier mask of '${inp.name}' has ${inp.previous.length} elements, the tensor has ${inp.values.length}`);
    }
  }
  checkFinite(inputs);
  if (mode === 'layer') {
    return inputs.map((inp) => {
      const target = Math.round(sparsity * inp.values.length);
      return pruneSmallest([inp], target - countPruned(inp.previous))[0];
    });
  }
  const total = inputs.reduce((a, inp) => a + inp.values.length, 0);
  const already = inputs.reduce((a, inp) => a + countPruned(inp.previous), 0);
  return pruneSmallest(inputs, Math.round(sparsity * total) - already);
}

/**
 * Magnitude pruning of the selected tensors (default: the linear weight matrices) to the
 * target sparsity. Returns the mask; the parameters are not modified (call `mask.apply`).
 * With `previous`, pruning is monotone: weights pruned before stay pruned, and if they
 * already exceed the target the sparsity stays where it was.
 */
export function magnitudePrune(params: NamedTensors, opts: PruneOptions): PruningMask {
  const map = toTensorMap(params);
  checkSparsity('magnitudePrune', opts.sparsity);
  const names = selectTensors([...map].map(([n, t]) => [n, t.shape]), opts);
  const previous = opts.previous;
  if (previous) {
    for (const name of previous.masks.keys()) {
      if (!names.includes(name)) throw new TlcError(`magnitudePrune: the earlier mask covers '${name}', which the selection does not include`);
    }
  }
  return pruneNamed('magnitudePrune', map, names, opts.sparsity, opts.mode ?? 'layer', previous ?? null);
}

/**
 * Gradual pruning step: a new mask at `sparsity` over the same tensors and mode as `mask`,
 * keeping every weight `mask` pruned pruned. Apply it to the parameters afterwards.
 */
export function recomputeMask(params: NamedTensors, mask: PruningMask, sparsity: number): PruningMask {
  checkSparsity('recomputeMask', sparsity);
  return pruneNamed('recomputeMask', toTensorMap(params), [...mask.masks.keys()], sparsity, mask.mode, mask);
}

function pruneNamed(what: string, map: Map<string, Tensor>, names: string[], sparsity: number, mode: PruningMode,
  previous: PruningMask | null): PruningMask {
  const inputs: PruneInput[] = names.map((name) => {
    const t = map.get(name);
    if (!t) throw new TlcError(`${what}: '${name}' is not among the parameters`);
    if (t.dtype !== 'f32') throw new TlcError(`${what}: tensor '${name}' ${t.describe()} is not f32`);
    return { name, values: t.toFloat32Array(), previous: previous?.masks.get(name) ?? null };
  });
  const masks = pruneArrays(inputs, sparsity, mode);
  return new PruningMask(new Map(names.map((n, i) => [n, masks[i]])), new Map(names.map((n) => [n, map.get(n)!.shape])), mode);
}

/**
 * Zhu & Gupta (2017) gradual pruning schedule:
 *   s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(t1 − t0))³  for t0 ≤ t ≤ t1,
 * s_i before startStep (t0), s_f after endStep (t1 = t0 + n·Δt).
 */
export function cubicSparsity(step: number, opts: { initial: number; final: number; startStep: number; endStep: number }): number {
  const { initial, final, startStep, endStep } = opts;
  checkSparsity('cubicSparsity initial', initial);
  checkSparsity('cubicSparsity final', final);
  if (!Number.isFinite(step)) throw new TlcError(`cubicSparsity: step must be a finite number, got ${step}`);
  if (!Number.isFinite(startStep) || !Number.isFinite(endStep) || !(endStep > startStep)) {
    throw new TlcError(`cubicSparsity: endStep must be after startStep, got startStep ${startStep}, endStep ${endStep}`);
  }
  if (step <= startStep) return initial;
  if (step >= endStep) return final;
  const remaining = 1 - (step - startStep) / (endStep - startStep);
  return final + (initial - final) * remaining ** 3;
}
