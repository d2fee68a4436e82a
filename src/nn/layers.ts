// The building blocks: Linear, LayerNorm, Embedding.
import type { Tensor } from '../engine/tensor.js';
import type { Rng } from '../engine/random.js';
import { linear } from '../engine/ops/linear.js';
import { gelu } from '../engine/ops/activation.js';
import { preferredInputDtypeFor, type ActivationDtype } from '../engine/mixed.js';
import { add } from '../engine/ops/elementwise.js';
import type { PackedLinear } from '../engine/ops/packed-linear.js';
import { layerNorm } from '../engine/ops/layernorm.js';
import { embedding } from '../engine/ops/embedding.js';
import { Module, normalParam, constantParam } from './module.js';

/** The dropout function of a forward pass without dropout (evaluation, inference). */
export const NO_DROPOUT = (t: Tensor): Tensor => t;

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /**
   * When set, forward passes run this inference kernel (int8, bf16, k-bit, sparse, or
   * packed f32) instead of the trainable weight: see src/infer/pack.ts. The layer owns it:
   * unpack() and dispose() free it.
   */
  packed: PackedLinear | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Rng, opts: { std?: number; bias?: boolean } = {}) {
    super();
    this.weight = this.addParam('weight', normalParam([outFeatures, inFeatures], opts.std ?? 0.02, rng));
    this.bias = opts.bias === false ? null : this.addParam('bias', constantParam([outFeatures], 0));
  }

  /** Back to the trainable weight; frees the packed kernel, if any. */
  unpack(): void {
    this.packed?.dispose();
    this.packed = null;
  }

  protected override disposeResources(): void {
    this.unpack();
  }

  forward(x: Tensor): Tensor {
    if (this.packed) return this.packed.forward(x);
    return linear(x, this.weight, this.bias);
  }

  /** The dtype a producer whose only consumer is this layer should write: bf16 where it multiplies in bf16. */
  preferredInputDtype(): ActivationDtype {
    return this.packed ? 'f32' : preferredInputDtypeFor(this.weight);
  }

  /**
   * residual + drop(forward(x)). With a packed kernel and no dropout, the kernel adds its
   * output into `residual` in place (returned), sparing the separate add and its memory pass.
   */
  forwardResidual(x: Tensor, residual: Tensor, drop: (t: Tensor) => Tensor = NO_DROPOUT): Tensor {
    if (this.packed && drop === NO_DROPOUT) return this.packed.forward(x, 'none', residual);
    return add(residual, drop(this.forward(x)));
  }

  /**
   * gelu(forward(x)); a packed kernel applies the GELU to its output in the same pass (and
   * writes f32). `out`: the dtype of the result otherwise (the consumer's `preferredInputDtype()`).
   */
  forwardGelu(x: Tensor, approximate: 'none' | 'tanh', out: ActivationDtype = 'f32'): Tensor {
    if (this.packed) return this.packed.forward(x, approximate === 'tanh' ? 'gelu_tanh' : 'gelu');
    return gelu(this.forward(x), approximate, out);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.addParam('weight', constantParam([dim], 1));
    this.bias = this.addParam('bias', constantParam([dim], 0));
  }

  /** `out`: the dtype of the result (bf16 for a consumer multiplying in bf16: `Linear.preferredInputDtype()`). */
  forward(x: Tensor, out: ActivationDtype = 'f32'): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps, out);
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly count: number, readonly dim: number, rng: Rng, std = 0.02) {
    super();
    this.weight = this.addParam('weight', normalParam([count, dim], std, rng));
  }

  forward(ids: Tensor): Tensor {
    return embedding(ids, this.weight);
  }
}
