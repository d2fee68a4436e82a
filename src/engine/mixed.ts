// Mixed precision: bf16 copies of f32 master weights for the matrix products.
//
// In bf16 mode the training loop installs a Bf16Weights for the model's weight matrices.
// While it is installed, `linear` multiplies in bf16 with f32 accumulation (kernels:
// native/src/mixed_linear.cc) whenever its weight is one of them: the weight's bf16 copy
// is made on its first use after the weights last changed and then reused by every
// micro-batch, by backward and by evaluation until they change again (`invalidate`, which
// the loop calls after each optimizer step). Master weights, gradients and AdamW's moments
// stay f32; so do layer norm, softmax, log-sum-exp and the loss.
import { native } from './native.js';
import { TlcError } from './errors.js';
import { empty, outsideScopes, type Tensor } from './tensor.js';

/** The precision a training run computes its matrix products in. */
export type Precision = 'f32' | 'bf16';
export const PRECISIONS = ['f32', 'bf16', 'auto'] as const;
export type PrecisionChoice = (typeof PRECISIONS)[number];

export interface CpuFeatures {
  /** cpuid: AVX512-BF16 dot products. */
  avx512Bf16: boolean;
  /** cpuid: AMX tiles with bf16. */
  amxBf16: boolean;
  /** The instruction set oneDNN dispatches to, e.g. avx512_core_amx. */
  onednnIsa: string;
  /** oneDNN runs bf16 products on native bf16 dot products (AVX512-BF16 or AMX). */
  nativeBf16: boolean;
}

let features: CpuFeatures | null = null;
export function cpuFeatures(): CpuFeatures {
  features ??= native.cpuFeatures();
  return features;
}

/** `auto` is bf16 where the CPU has native bf16 dot products, f32 elsewhere. */
export function resolvePrecision(p: PrecisionChoice): Precision {
  if (p === 'auto') return cpuFeatures().nativeBf16 ? 'bf16' : 'f32';
  return p;
}

/** The bf16 copies of a set of f32 weights, refreshed once per change of the weights. */
export class Bf16Weights {
  private readonly managed: Set<Tensor>;
  private readonly copies = new Map<Tensor, { copy: Tensor; version: number }>();
  private version = 0;
  private disposed = false;
  /** How many casts were made (tests check there is one per weight per step). */
  casts = 0;

  constructor(weights: Iterable<Tensor>) {
    this.managed = new Set(weights);
    for (const w of this.managed) {
      if (w.dtype !== 'f32') throw new TlcError(`bf16 weights: ${w.describe()} is not an f32 tensor`);
    }
  }

  /** The weights changed (an optimizer step, a restore, a mask): the next use re-casts. */
  invalidate(): void {
    this.version++;
  }

  /** Whether `w` is multiplied in bf16. */
  has(w: Tensor): boolean {
    return !this.disposed && this.managed.has(w);
  }

  /** The bf16 copy of `w` for the current weights (null for a weight this set does not hold). */
  get(w: Tensor): Tensor | null {
    if (!this.has(w)) return null;
    let entry = this.copies.get(w);
    if (!entry) {
      entry = { copy: outsideScopes(() => empty(w.shape, 'bf16')), version: -1 };
      this.copies.set(w, entry);
    }
    if (entry.version !== this.version) {
      native.castBf16({ src: w.handle, dst: entry.copy.handle, n: w.size });
      entry.version = this.version;
      this.casts++;
    }
    return entry.copy;
  }

  /** How many weights have a bf16 copy (those used by a linear so far). */
  get copied(): number {
    return this.copies.size;
  }

  /** Bytes held by the bf16 copies. */
  bytes(): number {
    let n = 0;
    for (const { copy } of this.copies.values()) n += copy.size * 2;
    return n;
  }

  dispose(): void {
    for (const { copy } of this.copies.values()) copy.dispose();
    this.copies.clear();
    this.disposed = true;
  }
}

let active: Bf16Weights | null = null;

/** Installs the bf16 weights `linear` uses (null: f32 products); returns the previous ones. */
export function setBf16Weights(w: Bf16Weights | null): Bf16Weights | null {
  const prev = active;
  active = w;
  return prev;
}

/** The installed bf16 weights, if any. */
export function activeBf16Weights(): Bf16Weights | null {
  return active;
}
