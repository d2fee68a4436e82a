// Quantization-aware training: each finetuning step computes with the weights quantized as they
// will ship (at the setting's bit width); the gradient with respect to the quantized weights
// updates the float ones (the straight-through estimator), since the float weights are put back
// before the optimizer step.
import { fakeQuantize } from '../../engine/ops/quantize.js';
import { noGrad } from '../../engine/autograd.js';
import { tidy, type Tensor } from '../../engine/tensor.js';
import type { Module } from '../../nn/module.js';
import { FLOAT_BITS } from '../../compress/quantize.js';
import { selectTensors } from '../../compress/selection.js';
import type { CompressionHooks } from '../../compress/training.js';
import type { CompressionMethod } from './method.js';

export interface QatArgs {
  qat?: boolean;
}

export const qat: CompressionMethod<QatArgs, Record<string, never>> = {
  name: 'qat',
  flags: [{ spec: '--qat', value: 'switch', help: 'quantization-aware finetuning (each step computes with the quantized weights; straight-through gradient)' }],
  fromFlags: (read) => ({ qat: read('--qat') === true }),
  readsBits: true,
  shapesTraining: true,
  needsFinetuning: { flag: '--qat', why: 'trains with the quantized weights' },
  settings: (a) => (a.qat ? {} : null),
  unusedRow: { qat: false },
  start: () => ({
    training: (v) => ({ hooks: (model) => qatHooks(model, v.bits!) }),
    row: () => ({ qat: true }),
  }),
};

/** Hooks that swap the selected weights for their quantized values around each step's passes (none at 32 bits). */
function qatHooks(model: Module, bits: number): CompressionHooks {
  if (bits >= FLOAT_BITS) return {};
  const named = model.namedParameters();
  const selected = new Set(selectTensors(named.map(([n, t]) => [n, t.shape]), {}));
  const weights = new Map(named.filter(([n]) => selected.has(n)));
  return { beforeForward: () => swapInQuantized(weights, bits) };
}

/** Replaces each weight by its fake-quantized value; returns how to put the float values back. */
function swapInQuantized(weights: Map<string, Tensor>, bits: number): () => void {
  const saved = new Map<string, Float32Array>();
  noGrad(() => tidy(() => {
    for (const [name, w] of weights) {
      saved.set(name, w.toFloat32Array());
      w.copyFrom(fakeQuantize(w, bits));
    }
  }));
  return () => {
    for (const [name, w] of weights) w.write(saved.get(name)!);
  };
}
