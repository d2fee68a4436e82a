// Loads the compiled addon and describes its functions. Every other module reaches
// native code through `native`; nothing else knows where the binary lives.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle to a block of native memory (slot and generation, as a number). */
export type NativeHandle = number & { readonly __nativeHandle: unique symbol };
type H = NativeHandle;
type OptH = NativeHandle | null;
/** A packed inference-only linear layer (native memory freed when it is garbage-collected). */
export type PackedLinearHandle = object & { readonly __packedLinear: unique symbol };

export interface NativeAddon {
  alloc(bytes: number, dtypeCode: number, zero: boolean): H;
  free(h: H): void;
  write(h: H, src: ArrayBufferView, offsetElems: number): void;
  read(h: H, dst: ArrayBufferView, offsetElems: number): void;
  copy(dst: H, src: H, bytes: number): void;
  fill(h: H, value: number): void;
  firstNonFinite(h: H, count: number): number;
  stats(): { liveBytes: number; cachedBytes: number; peakLiveBytes: number; systemAllocs: number };
  trimCache(): void;
  setThreads(n: number): void;
  getThreads(): number;

  matmul(a: H, b: H, c: H, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean, accumulate: boolean): void;
  linearForward(x: H, w: H, b: OptH, y: H, m: number, k: number, n: number): void;
  linearBackward(dy: H, x: H, w: H, dx: OptH, dw: OptH, db: OptH, m: number, k: number, n: number,
    accDx: boolean, accDw: boolean, accDb: boolean): void;
  benchMatmul(m: number, k: number, n: number, transA: boolean, transB: boolean, iterations: number): number;

  add(a: H, b: H, out: H, n: number): void;
  accumulate(dst: H, src: H, n: number, accumulate: boolean, alpha?: number): void;

  embeddingForward(ids: H, table: H, out: H, n: number, vocab: number, channels: number): void;
  embeddingBackward(ids: H, dout: H, dtable: H, n: number, vocab: number, channels: number, accumulate: boolean): void;
  gatherRowsForward(index: H, x: H, out: H, m: number, rows: number, channels: number): void;
  gatherRowsBackward(index: H, dout: H, dx: H, m: number, rows: number, channels: number, accumulate: boolean): void;

  /** Returns the number of targets that are not the ignore index. */
  crossEntropyForward(logits: H, targets: H, lse: H, loss: H, n: number, vocab: number, ignoreIndex: number,
    labelSmoothing: number): number;
  crossEntropyBackward(dloss: H, logits: H, targets: H, lse: H, dlogits: H, n: number, vocab: number,
    ignoreIndex: number, labelSmoothing: number, count: number, accumulate: boolean): void;
  crossEntropyCount(targets: H, n: number, ignoreIndex: number): number;

  /** Σ g² of each gradient, in double. */
  gradNormSquared(grads: H[], sizes: number[]): number[];
  adamwStep(params: H[], grads: H[], m: H[], v: H[], sizes: number[], weightDecays: number[], lr: number,
    beta1: number, beta2: number, eps: number, step: number, clipScale: number): void;
  layerNormForward(x: H, gamma: H, beta: H, y: H, mean: OptH, rstd: OptH, rows: number, c: number, eps: number): void;
  layerNormBackward(dy: H, x: H, gamma: H, mean: H, rstd: H, dx: OptH, dgamma: OptH, dbeta: OptH, rows: number, c: number,
    accDx: boolean, accDgamma: boolean, accDbeta: boolean): void;

  geluForward(x: H, y: H, n: number, approximate: boolean): void;
  geluBackward(dy: H, x: H, dx: H, n: number, approximate: boolean, accumulate: boolean): void;
  tanhForward(x: H, y: H, n: number): void;
  tanhBackward(dy: H, y: H, dx: H, n: number, accumulate: boolean): void;

  dropoutForward(x: H, y: H, n: number, p: number, seed: number, offset: number): void;
  dropoutBackward(dy: H, dx: H, n: number, p: number, seed: number, offset: number, accumulate: boolean): void;
  attentionForward(q: H, k: H, v: H, out: H, lse: H, keyMask: OptH, b: number, tq: number, tk: number, heads: number,
    headSize: number, qOffset: number, qStride: number, kOffset: number, kStride: number, vOffset: number, vStride: number,
    causal: boolean, scale: number): void;
  attentionBackward(dOut: H, q: H, k: H, v: H, out: H, lse: H, keyMask: OptH, dq: OptH, dk: OptH, dv: OptH,
    b: number, tq: number, tk: number, heads: number, headSize: number, qOffset: number, qStride: number,
    kOffset: number, kStride: number, vOffset: number, vStride: number, causal: boolean, scale: number,
    accDq: boolean, accDk: boolean, accDv: boolean): void;

  fakeQuantizeForward(x: H, y: H, scales: OptH, rows: number, cols: number, bits: number): void;

  packLinear(kind: string, weights: Float32Array | Int8Array, scales: Float32Array | null, bias: Float32Array | null,
    n: number, k: number, bits: number): PackedLinearHandle;
  packedLinearForward(p: PackedLinearHandle, x: H, y: H, m: number, activation: number, accumulate: boolean): void;
  packedLinearInfo(p: PackedLinearHandle): { kind: string; rows: number; cols: number; bytes: number };
  packedMlpForward(fc1: PackedLinearHandle, fc2: PackedLinearHandle, x: H, y: H, m: number, activation: number, accumulate: boolean): void;

  // further op families add their functions here
  [name: string]: unknown;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('tlc: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

function load(): NativeAddon {
  const path = join(packageRoot(), 'build', 'Release', 'tlc_native.node');
  if (!existsSync(path)) {
    throw new Error(`tlc: the native addon is not built (${path} is missing); run "npm run build:native"`);
  }
  return createRequire(import.meta.url)(path) as NativeAddon;
}

export const native: NativeAddon = load();
