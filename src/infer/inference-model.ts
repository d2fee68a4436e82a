// A model for inference, separate from the model it is made from: a copy of it whose linear
// layers run packed inference kernels (int8, k-bit, sparse, bf16 or packed f32). The
// trained model is never changed, so it can go on training, be saved or packed another way;
// the inference model owns its kernels and frees them (and its copy) on dispose().
import { TlcError } from '../util/errors.js';
import { TransformerClassifier } from '../nn/classifier.js';
import type { TransformerBody } from '../nn/transformer.js';
import { buildModel } from './load.js';
import { describePacking, packByChoice, packLinears, type KernelSpec, type PackSummary } from './pack.js';
import type { Linear } from '../nn/layers.js';

export class InferenceModel {
  private disposed = false;

  private constructor(readonly model: TransformerBody, readonly packing: PackSummary | null) {}

  /** Packs a copy of `source` with the kernel `choose` names for each linear layer (null: the training path). */
  static pack(source: TransformerBody, choose: (name: string, weights: Float32Array, layer: Linear) => KernelSpec | null): InferenceModel {
    const copy = copyOf(source);
    try {
      return new InferenceModel(copy, packLinears(copy, choose));
    } catch (e) {
      copy.dispose();
      throw e;
    }
  }

  /** Packs a copy of `source` as `--kernel` says (src/infer/pack.ts packByChoice). */
  static byChoice(source: TransformerBody, choice: string, tensorBits: Map<string, number>, kernels?: Map<string, KernelSpec>): InferenceModel {
    const copy = copyOf(source);
    try {
      return new InferenceModel(copy, packByChoice(copy, choice, tensorBits, kernels));
    } catch (e) {
      copy.dispose();
      throw e;
    }
  }

  /** The kernels, e.g. "int8×10", or "reference (training path)". */
  get kernels(): string {
    return this.packing ? describePacking(this.packing) : 'reference (training path)';
  }

  /** The model as a classifier (an error naming the source otherwise). */
  get classifier(): TransformerClassifier {
    if (!(this.model instanceof TransformerClassifier)) throw new TlcError('not a classifier: the model has no labels');
    return this.model;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

function copyOf(source: TransformerBody): TransformerBody {
  const copy = buildModel(source.config);
  const from = new Map(source.namedParameters());
  for (const [name, p] of copy.namedParameters()) p.copyFrom(from.get(name)!);
  return copy;
}
