// Loads the compiled addon and describes its functions. Every other module reaches
// native code through `native`; nothing else knows where the binary lives.
import { createRequire } from 'node:module';
import { availableParallelism, loadavg } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseIsa, type IsaChoice } from './cpu.js';

/** An opaque handle to a block of native memory (slot and generation, as a number). */
export type NativeHandle = number & { readonly __nativeHandle: unique symbol };
type H = NativeHandle;
type OptH = NativeHandle | null;
/**
 * An opaque handle to a packed inference-only linear layer. Its native memory is freed by
 * `freePackedLinear`, never by the garbage collector; a freed handle is refused.
 */
export type PackedLinearHandle = number & { readonly __packedLinear: unique symbol };

// Every op with more than a few arguments takes one object of named fields: the native side
// reads each field by name, refuses a missing or unknown one and names the op and the field
// in its errors (native/src/args.h). Shapes are in the fields' comments; a `| null` tensor is
// optional but must still be given.

/** C[batch, m, n] (+)= op(A)[batch, m, k] · op(B)[batch, k, n], op = optional transpose. */
export interface MatmulArgs {
  /** [batch, m, k], stored [batch, k, m] when transA */ a: H;
  /** [batch, k, n], stored [batch, n, k] when transB */ b: H;
  /** [batch, m, n] */ c: H;
  batch: number; m: number; k: number; n: number;
  transA: boolean; transB: boolean; accumulate: boolean;
}
/** y[m, n] = x[m, k] · w[n, k]ᵀ + b[n] */
export interface LinearForwardArgs {
  x: H; w: H; b: OptH; y: H;
  m: number; k: number; n: number;
}
/** dx[m, k] (+)= dy · w, dw[n, k] (+)= dyᵀ · x, db[n] (+)= Σ_m dy */
export interface LinearBackwardArgs {
  /** [m, n] */ dy: H; /** [m, k] */ x: H; /** [n, k] */ w: H;
  dx: OptH; dw: OptH; db: OptH;
  m: number; k: number; n: number;
  accumulateDx: boolean; accumulateDw: boolean; accumulateDb: boolean;
}
/** bf16 path: y[m, n] = bf16(x)[m, k] · w[n, k]ᵀ + b[n] (f32 accumulation); xBf16 receives bf16(x) when given */
export interface LinearBf16ForwardArgs {
  /** [m, k] f32 */ x: H; /** [n, k] bf16 */ w: H; /** [n] f32 */ b: OptH; /** [m, n] f32 */ y: H; /** [m, k] bf16 */ xBf16: OptH;
  m: number; k: number; n: number;
}
/** bf16 path: dx[m, k] (+)= bf16(dy) · w, dw[n, k] (+)= bf16(dy)ᵀ · x, db[n] (+)= Σ_m dy (all f32 outputs) */
export interface LinearBf16BackwardArgs {
  /** [m, n] f32 */ dy: H; /** [m, k] bf16 (the forward's xBf16) */ x: H; /** [n, k] bf16 */ w: H;
  dx: OptH; dw: OptH; db: OptH;
  m: number; k: number; n: number;
  accumulateDx: boolean; accumulateDw: boolean; accumulateDb: boolean;
}
/** dst[n] bf16 = src[n] f32, rounded to nearest even */
export interface CastBf16Args { src: H; dst: H; n: number }
/** A raw oneDNN matmul [m, k] · [k, n] on buffers it owns, timed `iterations` times. */
export interface BenchMatmulArgs { m: number; k: number; n: number; transA: boolean; transB: boolean; iterations: number }
/** out[n] = a[n] + b[n] */
export interface AddArgs { a: H; b: H; out: H; n: number }
/** dst[n] = alpha·src[n], or += when accumulate; alpha defaults to 1. */
export interface AccumulateArgs { dst: H; src: H; n: number; accumulate: boolean; alpha?: number }
/** out[n, channels] = table[ids[n], :] */
export interface EmbeddingForwardArgs {
  /** [n] i32 */ ids: H; /** [vocab, channels] */ table: H; /** [n, channels] */ out: H;
  n: number; vocab: number; channels: number;
}
/** dTable[vocab, channels] (+)= scatter-add of dOut[n, channels] rows by id */
export interface EmbeddingBackwardArgs {
  ids: H; dOut: H; dTable: H;
  n: number; vocab: number; channels: number; accumulate: boolean;
}
/** out[m, channels] = x[index[m], :], x: [rows, channels] */
export interface GatherRowsForwardArgs {
  /** [m] i32 */ index: H; /** [rows, channels] */ x: H; /** [m, channels] */ out: H;
  m: number; rows: number; channels: number;
}
/** dx[rows, channels] (+)= scatter-add of dOut[m, channels] rows by index */
export interface GatherRowsBackwardArgs {
  index: H; dOut: H; dx: H;
  m: number; rows: number; channels: number; accumulate: boolean;
}
/** logits: [n, vocab], targets: [n] i32 -> lse: [n], loss: [1] */
export interface CrossEntropyForwardArgs {
  logits: H; targets: H; lse: H; loss: H;
  n: number; vocab: number; ignoreIndex: number; labelSmoothing: number;
}
/** dLoss: [1] -> dLogits: [n, vocab]; count is the forward pass's result */
export interface CrossEntropyBackwardArgs {
  dLoss: H; logits: H; targets: H; lse: H; dLogits: H;
  n: number; vocab: number; ignoreIndex: number; labelSmoothing: number; count: number; accumulate: boolean;
}
export interface CrossEntropyCountArgs { /** [n] i32 */ targets: H; n: number; ignoreIndex: number }
/** grads[k]: [sizes[k]] */
export interface GradNormSquaredArgs { grads: H[]; sizes: number[] }
/** params[k], grads[k], m[k], v[k]: [sizes[k]]; one weight decay per parameter */
export interface AdamwStepArgs {
  params: H[]; grads: H[]; m: H[]; v: H[]; sizes: number[]; weightDecays: number[];
  lr: number; beta1: number; beta2: number; eps: number; step: number; clipScale: number;
}
/** x: [rows, channels], gamma, beta: [channels] -> y: [rows, channels], mean, rstd: [rows] */
export interface LayerNormForwardArgs {
  x: H; gamma: H; beta: H; y: H; mean: OptH; rstd: OptH;
  rows: number; channels: number; eps: number;
}
/** dy, x: [rows, channels], mean, rstd: [rows] -> dx: [rows, channels], dGamma, dBeta: [channels] */
export interface LayerNormBackwardArgs {
  dy: H; x: H; gamma: H; mean: H; rstd: H; dx: OptH; dGamma: OptH; dBeta: OptH;
  rows: number; channels: number;
  accumulateDx: boolean; accumulateDgamma: boolean; accumulateDbeta: boolean;
}
/** x: [n] -> y: [n] */
export interface GeluForwardArgs { x: H; y: H; n: number; approximate: boolean }
export interface GeluBackwardArgs { dy: H; x: H; dx: H; n: number; approximate: boolean; accumulate: boolean }
export interface TanhForwardArgs { x: H; y: H; n: number }
/** y is the forward output */
export interface TanhBackwardArgs { dy: H; y: H; dx: H; n: number; accumulate: boolean }
/** x: [n] -> y: [n]; the mask is a function of (seed, offset + i) */
export interface DropoutForwardArgs { x: H; y: H; n: number; p: number; seed: number; offset: number }
export interface DropoutBackwardArgs { dy: H; dx: H; n: number; p: number; seed: number; offset: number; accumulate: boolean }
/**
 * The layout of attention's operands: q: [batch, tq, heads·headSize] and k, v: [batch, tk,
 * heads·headSize] as token rows, element (b, t, c) at offset + (b·T + t)·stride + c.
 */
export interface AttentionShape {
  batch: number; tq: number; tk: number; heads: number; headSize: number;
  qOffset: number; qStride: number; kOffset: number; kStride: number; vOffset: number; vStride: number;
  causal: boolean; scale: number;
}
/** -> out: [batch, tq, heads·headSize], lse: [batch, heads, tq]; keyMask: [batch, tk] u8 */
export interface AttentionForwardArgs extends AttentionShape {
  q: H; k: H; v: H; out: H; lse: H; keyMask: OptH;
}
/** dq, dk, dv in their inputs' row layouts */
export interface AttentionBackwardArgs extends AttentionShape {
  dOut: H; q: H; k: H; v: H; out: H; lse: H; keyMask: OptH; dq: OptH; dk: OptH; dv: OptH;
  accumulateDq: boolean; accumulateDk: boolean; accumulateDv: boolean;
}
/** x: [rows, cols] -> y: [rows, cols], scales: [rows] (written when given) */
export interface FakeQuantizeForwardArgs { x: H; y: H; scales: OptH; rows: number; cols: number; bits: number }
/** Weights [n, k] row-major, as float32 values or as integer codes with one scale per row. */
export type PackLinearArgs = { n: number; k: number; bias: Float32Array | null } & (
  | { kind: 'f32' | 'bf16' | 'sparse'; weights: Float32Array }
  | { kind: 'int8' | 'kbit'; codes: Int8Array; scales: Float32Array; bits: number });
/** x: [m, k] -> y: [m, n]; activation 0 none, 1 gelu, 2 gelu_tanh; accumulate: y += (no activation) */
export interface PackedLinearForwardArgs {
  layer: PackedLinearHandle; x: H; y: H; m: number; activation: number; accumulate: boolean;
}
/** x: [m, C] -> y: [m, C] (+)= fc2(act(fc1(x))), both layers int8; y may be x */
export interface PackedMlpForwardArgs {
  fc1: PackedLinearHandle; fc2: PackedLinearHandle; x: H; y: H; m: number; activation: number; accumulate: boolean;
}

export interface NativeStats {
  liveBytes: number; cachedBytes: number; peakLiveBytes: number; systemAllocs: number;
  /** Packed linear layers not yet freed, and the bytes they hold. */
  packedLinears: number; packedLinearBytes: number;
}

export interface NativeAddon {
  alloc(bytes: number, dtypeCode: number, zero: boolean): H;
  free(h: H): void;
  write(h: H, src: ArrayBufferView, offsetElems: number): void;
  read(h: H, dst: ArrayBufferView, offsetElems: number): void;
  copy(dst: H, src: H, bytes: number): void;
  fill(h: H, value: number): void;
  firstNonFinite(h: H, count: number): number;
  stats(): NativeStats;
  trimCache(): void;
  resetPeak(): void;
  setThreads(n: number): void;
  getThreads(): number;

  matmul(args: MatmulArgs): void;
  linearForward(args: LinearForwardArgs): void;
  linearBackward(args: LinearBackwardArgs): void;
  /** Median seconds per call. */
  benchMatmul(args: BenchMatmulArgs): number;
  castBf16(args: CastBf16Args): void;
  linearBf16Forward(args: LinearBf16ForwardArgs): void;
  linearBf16Backward(args: LinearBf16BackwardArgs): void;
  /** Median seconds per call of a bf16 × bf16 → f32 matmul. */
  benchMatmulBf16(args: BenchMatmulArgs): number;
  /** What oneDNN dispatches to and whether it can build (and natively run) bf16 products here. */
  onednnInfo(): { isa: string; version: string; bf16Matmul: boolean; bf16Native: boolean; int8Vnni: boolean };
  /** How 8-bit codes multiply here: oneDNN exactly (VNNI, AMX), else tlc's 16-bit kernel (wide) or split codes. */
  int8Kernel(): { vnni: boolean; wide: boolean };
  /** Which per-ISA build this is (binding.gyp), the compiler and OpenMP version. */
  buildInfo(): { level: string; compiler: string; openmp: number };

  add(args: AddArgs): void;
  accumulate(args: AccumulateArgs): void;

  embeddingForward(args: EmbeddingForwardArgs): void;
  embeddingBackward(args: EmbeddingBackwardArgs): void;
  gatherRowsForward(args: GatherRowsForwardArgs): void;
  gatherRowsBackward(args: GatherRowsBackwardArgs): void;

  /** Returns the number of targets that are not the ignore index. */
  crossEntropyForward(args: CrossEntropyForwardArgs): number;
  crossEntropyBackward(args: CrossEntropyBackwardArgs): void;
  crossEntropyCount(args: CrossEntropyCountArgs): number;

  /** Σ g² of each gradient, in double. */
  gradNormSquared(args: GradNormSquaredArgs): number[];
  adamwStep(args: AdamwStepArgs): void;
  layerNormForward(args: LayerNormForwardArgs): void;
  layerNormBackward(args: LayerNormBackwardArgs): void;

  geluForward(args: GeluForwardArgs): void;
  geluBackward(args: GeluBackwardArgs): void;
  tanhForward(args: TanhForwardArgs): void;
  tanhBackward(args: TanhBackwardArgs): void;

  dropoutForward(args: DropoutForwardArgs): void;
  dropoutBackward(args: DropoutBackwardArgs): void;
  attentionForward(args: AttentionForwardArgs): void;
  attentionBackward(args: AttentionBackwardArgs): void;

  fakeQuantizeForward(args: FakeQuantizeForwardArgs): void;

  /** A packed layer, alive until freePackedLinear. */
  packLinear(args: PackLinearArgs): PackedLinearHandle;
  /** Frees the packed weights and primitives; idempotent. */
  freePackedLinear(p: PackedLinearHandle): void;
  packedLinearForward(args: PackedLinearForwardArgs): void;
  packedLinearInfo(p: PackedLinearHandle): { kind: string; rows: number; cols: number; bytes: number };
  packedMlpForward(args: PackedMlpForwardArgs): void;

  // further op families add their functions here
  [name: string]: unknown;
}

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('tlc: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The kernels' build this process loaded, the CPU's tier and the cap (src/engine/cpu.ts). */
export let isa: IsaChoice;

function load(): NativeAddon {
  const choice = chooseIsa(packageRoot());
  isa = choice;
  return createRequire(import.meta.url)(choice.path) as NativeAddon;
}

/**
 * OpenMP's wait policy, which its runtime reads once, when it loads with the addon. Unless
 * OMP_WAIT_POLICY is set, TLC_OMP_WAIT_POLICY picks one for a run: default (OpenMP's own:
 * spin, then sleep), passive, active, or bounded (spin BOUNDED_SPINCOUNT times, then sleep;
 * libgomp's GOMP_SPINCOUNT, unless that is set). Without either, tlc chooses by measurement
 * (`tlc bench contention`, README): next to a busy process only passive waiting keeps a
 * proportional share of the cores (0.68 of its rate alone against 0.57 for OpenMP's default and
 * 0.62 spinning 10,000 times), while on an idle machine it costs 5–9%: so tlc waits passively
 * when the machine is busy as it starts (a 1-minute load average of half its cores or more)
 * and leaves OpenMP's default otherwise.
 */
export const BOUNDED_SPINCOUNT = 10_000;

/** The policy this process runs with, and why (for benchmarks to print). */
export let waitPolicy: { policy: 'default' | 'passive' | 'active' | 'bounded'; why: string } = { policy: 'default', why: '' };

function setWaitPolicy(): void {
  if (process.env.OMP_WAIT_POLICY !== undefined) {
    waitPolicy = { policy: process.env.OMP_WAIT_POLICY.toLowerCase() === 'passive' ? 'passive' : 'active', why: 'OMP_WAIT_POLICY' };
    return;
  }
  const asked = process.env.TLC_OMP_WAIT_POLICY;
  if (asked === 'default' || asked === 'passive' || asked === 'active' || asked === 'bounded') {
    waitPolicy = { policy: asked, why: 'TLC_OMP_WAIT_POLICY' };
  } else {
    const load = loadavg()[0], cores = availableParallelism();
    waitPolicy = load >= cores / 2
      ? { policy: 'passive', why: `the machine is busy (load average ${load.toFixed(2)} on ${cores} cores)` }
      : { policy: 'default', why: `the machine is idle (load average ${load.toFixed(2)} on ${cores} cores)` };
  }
  if (waitPolicy.policy === 'bounded') process.env.GOMP_SPINCOUNT ??= String(BOUNDED_SPINCOUNT);
  else if (waitPolicy.policy !== 'default') process.env.OMP_WAIT_POLICY = waitPolicy.policy.toUpperCase();
}

setWaitPolicy();
export const native: NativeAddon = load();
