// What compression changes in a finetuning step, as hooks for the training loop
// (src/train/loop.ts, which this module does not need to know):
//   pruning  weights outside the mask are zero after every step and get no gradient;
//            in 'gradual' mode the mask tightens on the cubic schedule of Zhu & Gupta
//            (2017) over the first 3/4 of the budget, so the last quarter recovers at the
//            final sparsity
//   QAT      each step computes with the weights quantized as they will ship; the
//            gradient with respect to the quantized weights updates the float ones (the
//            straight-through estimator), since the float weights are put back before
//            the optimizer step
// The mask travels with every checkpoint, so a resumed run continues exactly.
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../engine/safetensors.js';
import { fakeQuantize } from '../engine/ops/quantize.js';
import { noGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { cubicSparsity, magnitudePrune, PruningMask, recomputeMask, type PruningMode } from './pruning.js';
import { selectTensors } from './selection.js';
import { CHECKPOINT_FILES } from '../run/layout.js';

export interface CompressionTraining {
  mode: 'finetune' | 'gradual';
  sparsity: number;
  /** Bits the weights will ship with (32: float); QAT needs 2…8. */
  bits: number;
  qat: boolean;
  pruning: PruningMode;
}

/** The gradual schedule reaches its final sparsity at this fraction of the budget. */
export const GRADUAL_END = 0.75;

export interface CompressionHooks {
  beforeForward?(): () => void;
  afterBackward(): void;
  afterStep(progress: number): void;
  save(checkpointDir: string): void;
  restore(checkpointDir: string): void;
}

/** Hooks that prune (and, with QAT, fake-quantize) `model` while it trains; prunes it once now. */
export function compressionHooks(model: Module, c: CompressionTraining): CompressionHooks {
  const named = () => model.namedParameters();
  const gradual = c.mode === 'gradual';
  let mask = magnitudePrune(named(), { sparsity: gradual ? 0 : c.sparsity, mode: c.pruning });
  mask.apply(named());
  const selected = selectTensors(named().map(([n, t]) => [n, t.shape]), {});
  const quantized = c.qat && c.bits < 32 ? new Map(named().filter(([n]) => selected.includes(n))) : null;
  return {
    beforeForward: quantized ? () => swapInQuantized(quantized, c.bits) : undefined,
    afterBackward: () => mask.maskGradients(named()),
    afterStep: (progress) => {
      if (gradual) {
        const target = cubicSparsity(progress, { initial: 0, final: c.sparsity, startStep: 0, endStep: GRADUAL_END });
        mask = recomputeMask(named(), mask, target);
      }
      mask.apply(named());
    },
    save: (dir) => writeSafetensorsRaw(join(dir, CHECKPOINT_FILES.mask), new Map([...mask.masks].map(([name, m]): [string, SafetensorsRawTensor] =>
      [name, { dtype: 'U8', shape: [...mask.shapes.get(name)!], data: m }])), { mode: mask.mode }),
    restore: (dir) => {
      const path = join(dir, CHECKPOINT_FILES.mask);
      const { tensors } = readSafetensorsRaw(path);
      const masks = new Map<string, Uint8Array>(), shapes = new Map<string, readonly number[]>();
      for (const name of mask.masks.keys()) {
        const t = tensors.get(name);
        if (!t || t.dtype !== 'U8') throw new TlcError(`${path}: no U8 mask for ${name}`);
        masks.set(name, t.data as Uint8Array);
        shapes.set(name, t.shape);
      }
      mask = new PruningMask(masks, shapes, mask.mode);
    },
  };
}

/** Replaces each weight by its fake-quantized value; returns how to put the float values back. */
function swapInQuantized(weights: Map<string, Tensor>, bits: number): () => void {
  const saved = new Map<string, Float32Array>();
  noGrad(() => tidy(() => {
    for (const [name, w] of weights) {
      saved.set(name, w.toFloat32Array());
      const q = fakeQuantize(w, bits);
      w.copyFrom(q);
    }
  }));
  return () => {
    for (const [name, w] of weights) w.write(saved.get(name)!);
  };
}
