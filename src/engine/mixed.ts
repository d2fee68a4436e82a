// Mixed precision: bf16 copies of f32 master weights for the matrix products.
//
// In bf16 mode the training loop installs a Bf16Weights for the model's weight matrices.
// While it is installed, `linear` multiplies in bf16 with f32 accumulation (kernels:
// native/src/mixed_linear.cc) whenever its weight is one of them: the weight's bf16 copy
// is made on its first use after the weights last changed and then reused by every
// micro-batch, by backward and by evaluation until they change again (`invalidate`, which
// the loop calls after each optimizer step). Master weights, gradients and AdamW's moments
// stay f32; so do layer norm, softmax, log-sum-exp and the loss. A layer norm or GELU whose
// only consumer is such a product writes its output in bf16 (`preferredInputDtypeFor`): the
// values the product would have cast, so the f32 activation is never stored.
import { isa, native } from './native.js';
import { tierRank } from './cpu.js';
import { TlcError } from '../util/errors.js';
import { empty, outsideScopes, type Tensor } from './tensor.js';

/** The dtype a producer (layer norm, GELU) writes its output in: bf16 for a consumer multiplying in bf16. */
export type ActivationDtype = 'f32' | 'bf16';

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
  /** oneDNN can build a bf16 product here (natively or emulated on AVX-512). */
  bf16Matmul: boolean;
  /** oneDNN runs bf16 products on native bf16 dot products (AVX512-BF16 or AMX). */
  nativeBf16: boolean;
}

let features: CpuFeatures | null = null;
export function cpuFeatures(): CpuFeatures {
  if (!features) {
    const o = native.onednnInfo();
    features = {
      avx512Bf16: isa.probe.features.avx512_bf16 === true,
      amxBf16: isa.probe.features.amx_bf16 === true,
      onednnIsa: o.isa,
      bf16Matmul: o.bf16Matmul,
      nativeBf16: o.bf16Native,
    };
  }
  return features;
}

/**
 * Why bf16 products cannot run on this CPU (null where they can): oneDNN 2.6 multiplies in
 * bf16 on AVX-512 and above only.
 */
export function bf16Missing(): string | null {
  const f = cpuFeatures();
  if (f.bf16Matmul) return null;
  const cpu = isa.probe.brand || isa.probe.vendor || 'this CPU';
  const capped = isa.cap !== undefined && tierRank(isa.cap) < tierRank(isa.host) ? ` (capped by TLC_MAX_ISA=${isa.cap})` : '';
  return `this CPU cannot multiply in bf16: ${cpu} runs tlc at the ${isa.tier} tier${capped} and oneDNN ` +
    `(${f.onednnIsa}) has bf16 products on x86-64 AVX-512 and above only`;
}

/** bf16Missing as a refusal of `what` (a flag, a kernel), with the alternative; null where bf16 runs. */
export function bf16Unavailable(what = 'bf16'): string | null {
  const why = bf16Missing();
  return why === null ? null : `${what}: ${why}; use f32 (--precision f32 or auto)`;
}

/** What `auto` resolved to on this machine, and why. */
export interface AutoPrecision {
  precision: Precision;
  why: string;
  /** oneDNN's bf16 matmul throughput over its f32 throughput, measured (absent without native bf16). */
  bf16_speedup?: number;
}

/** bf16 must multiply this much faster than f32 for `auto` to train in it. */
export const AUTO_BF16_MIN_SPEEDUP = 1.2;

/**
 * The rule of `auto`, given what was measured: bf16 where the CPU has native bf16 dot products
 * and a bf16 product took at most 1/AUTO_BF16_MIN_SPEEDUP of an f32 one's time.
 */
export function decidePrecision(f: Pick<CpuFeatures, 'nativeBf16' | 'onednnIsa'>, f32Seconds: number, bf16Seconds: number): AutoPrecision {
  if (!f.nativeBf16) return { precision: 'f32', why: `no native bf16 dot products (oneDNN ISA ${f.onednnIsa})` };
  const speedup = f32Seconds / bf16Seconds;
  const precision = speedup >= AUTO_BF16_MIN_SPEEDUP ? 'bf16' : 'f32';
  return {
    precision, bf16_speedup: speedup,
    why: `oneDNN (${f.onednnIsa}) multiplies in bf16 at ${speedup.toFixed(2)}× its f32 rate here` +
      (precision === 'bf16' ? '' : ` (bf16 needs ≥ ${AUTO_BF16_MIN_SPEEDUP}×)`),
  };
}

const autoChoices = new Map<number, AutoPrecision>();

/**
 * `auto`: bf16 where the CPU has native bf16 dot products *and* oneDNN's bf16 products run
 * at least AUTO_BF16_MIN_SPEEDUP× its f32 products here (`decidePrecision`), f32 elsewhere.
 * Native bf16 alone does not make bf16 faster: a CPU with AVX512-BF16 and no AMX was measured
 * multiplying in bf16 at 0.6× its f32 rate, another at 1.84×. The check times a
 * 512 × 512 × 1024 product in each precision three times, alternating, and compares the
 * fastest of each (about 0.1 s), once per process and thread count. Where the bf16 product
 * cannot run, the answer is f32 and says why.
 */
export function autoPrecision(): AutoPrecision {
  const threads = native.getThreads();
  const known = autoChoices.get(threads);
  if (known) return known;
  const f = cpuFeatures();
  let choice: AutoPrecision;
  if (!f.nativeBf16) {
    choice = decidePrecision(f, 1, 1);
  } else {
    try {
      const shape = { m: 512, k: 512, n: 1024, transA: false, transB: true, iterations: 1 };
      let f32 = Infinity, bf16 = Infinity;
      for (let i = 0; i < 3; i++) {
        f32 = Math.min(f32, native.benchMatmul(shape));
        bf16 = Math.min(bf16, native.benchMatmulBf16(shape));
      }
      choice = decidePrecision(f, f32, bf16);
    } catch (e) {
      choice = { precision: 'f32', why: `the bf16 product could not be timed (${(e as Error).message})` };
    }
  }
  autoChoices.set(threads, choice);
  return choice;
}

/** The precision a choice trains in: `auto` as `autoPrecision()` decides. */
export function resolvePrecision(p: PrecisionChoice): Precision {
  const why = p === 'bf16' ? bf16Unavailable('bf16 training') : null;
  if (why) throw new TlcError(why);
  return p === 'auto' ? autoPrecision().precision : p;
}

/** Whether a choice may train in bf16 (for estimates made before `auto` is measured: memory). */
export function mayTrainInBf16(p: PrecisionChoice): boolean {
  return p === 'bf16' || (p === 'auto' && cpuFeatures().nativeBf16);
}

/** The bf16 copies of a set of f32 weights, refreshed once per change of the weights. */
export class Bf16Weights {
  private readonly managed: Set<Tensor>;
  private readonly copies = new Map<Tensor, { copy: Tensor; version: number }>();
  private version = 0;
  private disposed = false;
  /** How many casts were made (tests check there is one per weight per step). */
  casts = 0;
  /**
   * Whether the producers of these products' inputs (layer norm, GELU) write bf16 directly
   * (`preferredInputDtypeFor`). The numbers are the same either way; false keeps those
   * activations in f32 as well, which costs memory and a pass over them (the benchmark's
   * comparison).
   */
  readonly bf16Activations: boolean;

  constructor(weights: Iterable<Tensor>, opts: { bf16Activations?: boolean } = {}) {
    this.bf16Activations = opts.bf16Activations ?? true;
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

/**
 * The dtype a producer (layer norm, GELU) should write for a `linear` by `w` that is its
 * only consumer: bf16 where w is multiplied in bf16, so that the product reads the bf16
 * values it would have cast itself (identical numbers) and the f32 activation is never
 * stored; f32 otherwise.
 */
export function preferredInputDtypeFor(w: Tensor): ActivationDtype {
  return active?.bf16Activations && active.has(w) ? 'bf16' : 'f32';
}
