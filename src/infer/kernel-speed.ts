// Which inference kernel is fastest on this CPU, measured rather than assumed: int8 runs at
// 3× the f32 rate on a CPU with VNNI or AMX, at 1.3× on AVX2 (tlc's 16-bit kernel) and below f32
// under SSE4 (split codes); the sparse kernel's time falls with the density, and where it
// overtakes the dense kernels depends on the CPU too. Once per process and thread count, one
// reference layer (an FFN matrix of the L4-D512 shape, one 128-token sequence: the batch-1 latency
// `tlc compress` reports) is timed on each kernel (about 0.1 s); `fastestKernel` chooses by those
// times. `tlc compress` records what it chose in the compressed file, so that every later load
// runs the same kernels whatever machine or run measured them.
import { noGrad, tidy, tensor } from '../engine/index.js';
import { getThreads } from '../engine/threads.js';
import { PackedLinear, type PackedWeights } from '../engine/ops/packed-linear.js';
import { Rng } from '../engine/random.js';
import { quantizeRows } from '../compress/quantize.js';
import type { KernelSpec } from './kernel-spec.js';

/** Seconds per call of the reference layer on each kernel. */
export interface KernelSpeeds {
  f32: number;
  /** int8 with 8-bit codes (which need tlc's 16-bit kernel or split codes without VNNI) */
  int8: number;
  /** int8 with codes within [−64, 64] (7 bits or fewer: oneDNN's kernel on every CPU) */
  int8Small: number;
  /** sparse: seconds = sparseFixed + sparsePerDensity · density */
  sparseFixed: number;
  sparsePerDensity: number;
}

const REF = { rows: 128, out: 2048, in: 512 } as const;
/** A kernel other than the usual one for its bits must be at least this much faster to be chosen (noise). */
export const KERNEL_SWITCH_MARGIN = 1.1;

const measured = new Map<number, KernelSpeeds>();

function randomWeights(rng: Rng, density: number): Float32Array {
  const w = new Float32Array(REF.out * REF.in);
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform() < density ? rng.normal() * 0.05 : 0;
  return w;
}

function fastestSeconds(layers: PackedLinear[], rounds: number): number[] {
  const best = layers.map(() => Infinity);
  const x = tensor(Float32Array.from({ length: REF.rows * REF.in }, (_, i) => Math.sin(i)), [REF.rows, REF.in]);
  try {
    for (let r = -1; r < rounds; r++) { // round −1 warms up
      layers.forEach((layer, j) => {
        const t0 = process.hrtime.bigint();
        noGrad(() => tidy(() => layer.forward(x, 'none')));
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        if (r >= 0) best[j] = Math.min(best[j], s);
      });
    }
  } finally {
    x.dispose();
  }
  return best;
}

/** The speeds of this process's kernels at its thread count, measured on first use. */
export function kernelSpeeds(): KernelSpeeds {
  const threads = getThreads();
  const known = measured.get(threads);
  if (known) return known;
  const rng = new Rng(17);
  const dense = randomWeights(rng, 1), lo = 0.05, hi = 0.3;
  const q8 = quantizeRows(dense, REF.out, REF.in, 8), q4 = quantizeRows(dense, REF.out, REF.in, 4);
  const weights: PackedWeights[] = [
    { kind: 'f32', values: dense },
    { kind: 'int8', codes: q8.codes, scales: q8.scales, bits: 8 },
    { kind: 'int8', codes: q4.codes, scales: q4.scales, bits: 8 },
    { kind: 'sparse', values: randomWeights(rng, lo) },
    { kind: 'sparse', values: randomWeights(rng, hi) },
  ];
  const layers = weights.map((w) => PackedLinear.pack(w, null, REF.out, REF.in));
  try {
    const [f32, int8, int8Small, sparseLo, sparseHi] = fastestSeconds(layers, 5);
    const perDensity = Math.max(0, (sparseHi - sparseLo) / (hi - lo));
    const speeds = { f32, int8, int8Small, sparsePerDensity: perDensity, sparseFixed: Math.max(0, sparseLo - perDensity * lo) };
    measured.set(threads, speeds);
    return speeds;
  } finally {
    for (const l of layers) l.dispose();
  }
}

/**
 * The fastest kernel for a tensor compressed to `bits` (32 = float) with this fraction of
 * nonzeros, by `speeds`: the usual kernel for its bits (int8 on its codes, w<k>a8 for fewer
 * bits; f32 for float weights) unless f32 on the dequantized weights or the sparse kernel is
 * faster by KERNEL_SWITCH_MARGIN. The weight-only k-bit kernel, which expands its codes at every
 * call, is never the fastest (README, inference table) and is not a candidate.
 */
export function fastestKernel(bits: number, density: number, speeds: KernelSpeeds, floatBits = 32): KernelSpec {
  const usual: { spec: KernelSpec; seconds: number } = bits >= floatBits
    ? { spec: { kind: 'f32' }, seconds: speeds.f32 }
    : bits === 8 ? { spec: { kind: 'int8' }, seconds: speeds.int8 } : { spec: { kind: 'int8', bits }, seconds: speeds.int8Small };
  const others: { spec: KernelSpec; seconds: number }[] = [
    { spec: { kind: 'sparse' }, seconds: speeds.sparseFixed + speeds.sparsePerDensity * density },
    ...(bits < floatBits ? [{ spec: { kind: 'f32' } as KernelSpec, seconds: speeds.f32 }] : []),
  ];
  let best = usual;
  for (const o of others) if (o.seconds * KERNEL_SWITCH_MARGIN < best.seconds) best = o;
  return best.spec;
}
