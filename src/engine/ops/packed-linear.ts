// Inference-only linear layers with weights packed once for a fast kernel: f32 and bf16
// (oneDNN), int8 (oneDNN u8×s8 with dynamically quantized activations), k-bit weight-only
// (packed codes expanded per call into the matmul's weight layout) and unstructured sparse
// (CSR). See docs/inference.md.
// A PackedLinear owns native memory until dispose(): like tensors, it is never freed by the
// garbage collector.
// Kernels: native/src/packed_linear.cc, kbit_linear.cc, sparse_linear.cc.
import { native, type PackedLinearHandle } from '../native.js';
import { isGradEnabled } from '../autograd.js';
import { empty, type Tensor } from '../tensor.js';
import { TlcError } from '../../util/errors.js';
import { bf16Unavailable } from '../mixed.js';
import { expect, expectDtype, expectRank, fmtShape, lastDim } from './check.js';

export type PackedKind = 'f32' | 'bf16' | 'int8' | 'kbit' | 'sparse';
/** Applied to the output inside the kernel (fused): GELU in its erf or tanh form. */
export type FusedActivation = 'none' | 'gelu' | 'gelu_tanh';

const ACTIVATION_CODE: Record<FusedActivation, number> = { none: 0, gelu: 1, gelu_tanh: 2 };

/** Weights [N, K] as float32 values, or as integer codes with one scale per row. */
export type PackedWeights =
  | { kind: 'f32' | 'bf16' | 'sparse'; values: Float32Array }
  | { kind: 'int8' | 'kbit'; codes: Int8Array; scales: Float32Array; bits: number };

export class PackedLinear {
  private handle: PackedLinearHandle | null;

  private constructor(handle: PackedLinearHandle, readonly kind: PackedKind,
    readonly outFeatures: number, readonly inFeatures: number, readonly bytes: number) {
    this.handle = handle;
  }

  /**
   * Packs weights [outFeatures, inFeatures] (and an optional bias) for their kernel. The
   * packed layer holds native memory until dispose().
   */
  static pack(weights: PackedWeights, bias: Float32Array | null, outFeatures: number, inFeatures: number): PackedLinear {
    const dims = { n: outFeatures, k: inFeatures, bias };
    const noBf16 = weights.kind === 'bf16' ? bf16Unavailable('the bf16 kernel') : null;
    if (noBf16) throw new TlcError(noBf16);
    const handle = 'codes' in weights
      ? native.packLinear({ kind: weights.kind, codes: weights.codes, scales: weights.scales, bits: weights.bits, ...dims })
      : native.packLinear({ kind: weights.kind, weights: weights.values, ...dims });
    try {
      return new PackedLinear(handle, weights.kind, outFeatures, inFeatures, native.packedLinearInfo(handle).bytes);
    } catch (e) {
      native.freePackedLinear(handle);
      throw e;
    }
  }

  get disposed(): boolean {
    return this.handle === null;
  }

  /** Frees the packed weights and the kernel's primitives now. Idempotent. */
  dispose(): void {
    if (this.handle === null) return;
    native.freePackedLinear(this.handle);
    this.handle = null;
  }

  /** The native handle, or a TlcError naming `op` once the layer was disposed. */
  private live(op: string): PackedLinearHandle {
    if (this.handle === null) {
      throw new TlcError(`${op}: the ${this.kind} packed layer [${this.outFeatures}, ${this.inFeatures}] was used after it was disposed`);
    }
    return this.handle;
  }

  /**
   * A Transformer MLP on two int8 layers in one call: fc2(act(fc1(x))), added into `into`
   * when given. The hidden activations never leave the cache in f32 (native/src/packed_linear.cc).
   */
  static mlp(fc1: PackedLinear, fc2: PackedLinear, x: Tensor, activation: FusedActivation, into: Tensor | null = null): Tensor {
    const op = 'int8 MLP';
    const [h1, h2] = [fc1.live(op), fc2.live(op)];
    expect(!isGradEnabled(), op, 'packed layers are inference-only; run the forward pass under noGrad()');
    expect(fc1.kind === 'int8' && fc2.kind === 'int8', op, `both layers must be int8, got ${fc1.kind} and ${fc2.kind}`);
    expect(fc1.outFeatures === fc2.inFeatures, op, `fc1 has ${fc1.outFeatures} outputs, fc2 takes ${fc2.inFeatures}`);
    expectDtype(op, 'input', x, 'f32');
    const K = fc1.inFeatures, N = fc2.outFeatures;
    expect(lastDim(x) === K, op, `input ${fmtShape(x.shape)} does not match the layer's ${K} input features`);
    const M = x.size / K;
    const outShape = [...x.shape.slice(0, -1), N];
    // `into` may be x itself: every row is read before it is written
    const y = into ? checkAccumulator(op, into, outShape) : empty(outShape);
    native.packedMlpForward({ fc1: h1, fc2: h2, x: x.handle, y: y.handle, m: M, activation: ACTIVATION_CODE[activation],
      accumulate: into !== null });
    return y;
  }

  /**
   * y[..., N] = act(x[..., K] · Wᵀ + b). With `into`, adds x·Wᵀ + b to it in place and
   * returns it (a residual connection without a separate add). Inference only: call it
   * under noGrad().
   */
  forward(x: Tensor, activation: FusedActivation = 'none', into: Tensor | null = null): Tensor {
    const op = `${this.kind} packed linear`;
    const layer = this.live(op);
    expect(!isGradEnabled(), op, 'packed layers are inference-only; run the forward pass under noGrad()');
    expectDtype(op, 'input', x, 'f32');
    expectRank(op, 'input', x, [1, 8]);
    const K = this.inFeatures;
    expect(lastDim(x) === K, op, `input ${fmtShape(x.shape)} does not match the layer's ${K} input features`);
    const M = x.size / K;
    expect(M > 0, op, `input ${fmtShape(x.shape)} is empty`);
    const outShape = [...x.shape.slice(0, -1), this.outFeatures];
    if (into) {
      checkAccumulator(op, into, outShape);
      expect(activation === 'none', op, 'an activation cannot be fused into an accumulating call');
      expect(into.handle !== x.handle, op, 'the accumulator must not be the input');
    }
    const y = into ?? empty(outShape);
    native.packedLinearForward({ layer, x: x.handle, y: y.handle, m: M, activation: ACTIVATION_CODE[activation],
      accumulate: into !== null });
    return y;
  }
}

/** An f32 tensor with as many elements as the output [..., N] and N as its last dim; returned. */
function checkAccumulator(op: string, into: Tensor, outShape: number[]): Tensor {
  expectDtype(op, 'accumulator', into, 'f32');
  const N = outShape[outShape.length - 1];
  expect(into.size === outShape.reduce((a, d) => a * d, 1) && lastDim(into) === N, op,
    `accumulator ${fmtShape(into.shape)} does not match the output [${outShape.join(', ')}]`);
  return into;
}
