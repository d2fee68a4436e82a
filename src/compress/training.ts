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
//   structured  whole heads and FFN neurons are zero and get no gradient (structured.ts);
//            fixed from the start (finetune) or removed on the same cubic schedule
//            (gradual), scored by magnitude or by Taylor importance accumulated over the
//            steps' gradients; the zeroed units are removed from the model afterwards
// The masks (and the Taylor sums) travel with every checkpoint, so a resumed run continues exactly.
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../engine/safetensors.js';
import { fakeQuantize } from '../engine/ops/quantize.js';
import { gradOf, noGrad } from '../engine/autograd.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import type { Module } from '../nn/module.js';
import { cubicSparsity, magnitudePrune, PruningMask, recomputeMask, type PruningMode } from './pruning.js';
import { selectTensors } from './selection.js';
import type { ModelConfig } from '../nn/config.js';
import {
  TaylorScores, allUnits, magnitudeScores, selectUnits, unitsMask, type StructuredCriterion, type Units,
} from './structured.js';
import { CHECKPOINT_FILES } from '../run/layout.js';

export interface CompressionTraining {
  mode: 'finetune' | 'gradual';
  sparsity: number;
  /** Bits the weights will ship with (32: float); QAT needs 2…8. */
  bits: number;
  qat: boolean;
  pruning: PruningMode;
  /** Structured pruning (with sparsity 0): the fraction of each block's heads and neurons removed. */
  structured?: StructuredTraining;
}

export interface StructuredTraining {
  heads: number;
  neurons: number;
  criterion: StructuredCriterion;
  config: ModelConfig;
  /** finetune mode: the units kept throughout, chosen before training (structured.ts). */
  units?: Units;
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
  if (c.structured) return structuredHooks(model, c, c.structured);
  const named = () => model.namedParameters();
  const gradual = c.mode === 'gradual';
  let mask = magnitudePrune(named(), { sparsity: gradual ? 0 : c.sparsity, mode: c.pruning });
  mask.apply(named());
  const quantized = qatWeights(model, c);
  return {
    beforeForward: quantized ? () => swapInQuantized(quantized, c.bits) : undefined,
    afterBackward: () => mask.maskGradients(named()),
    afterStep: (progress) => {
      if (gradual) {
        mask = recomputeMask(named(), mask, gradualTarget(progress, c.sparsity));
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

/** The weights QAT computes with quantized (the compressed ones), or null without QAT. */
function qatWeights(model: Module, c: CompressionTraining): Map<string, Tensor> | null {
  if (!c.qat || c.bits >= 32) return null;
  const named = model.namedParameters();
  const selected = new Set(selectTensors(named.map(([n, t]) => [n, t.shape]), {}));
  return new Map(named.filter(([n]) => selected.has(n)));
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

/** The gradual schedule's target at `progress`, for a final fraction. */
function gradualTarget(progress: number, final: number): number {
  return cubicSparsity(progress, { initial: 0, final, startStep: 0, endStep: GRADUAL_END });
}

/** Hooks of structured pruning: units zeroed (and their gradients), fixed or removed gradually. */
function structuredHooks(model: Module, c: CompressionTraining, s: StructuredTraining): CompressionHooks {
  if (c.sparsity !== 0) throw new TlcError('structured pruning is not combined with unstructured sparsity');
  const gradual = c.mode === 'gradual';
  if (!gradual && !s.units) throw new TlcError('structured finetuning needs the units to keep, chosen before training');
  const params = () => new Map(model.namedParameters());
  const valuesOf = (map: Map<string, Tensor>) => (name: string): Float32Array => {
    const t = map.get(name);
    if (!t) throw new TlcError(`structured pruning: the model has no parameter ${name}`);
    return t.toFloat32Array();
  };
  // each step's gradient is a minibatch's: Molchanov et al.'s squared gate derivative
  const taylor = gradual && s.criterion === 'taylor' ? new TaylorScores(s.config, 'squared') : null;
  let units: Units = s.units ?? allUnits(s.config);
  let mask = unitsMask(s.config, units);
  mask.apply(params());
  const quantized = qatWeights(model, c);
  return {
    beforeForward: quantized ? () => swapInQuantized(quantized, c.bits) : undefined,
    afterBackward: () => {
      const map = params();
      if (taylor) {
        taylor.add(valuesOf(map), (name) => {
          const g = gradOf(map.get(name)!);
          return g ? g.toFloat32Array() : null;
        });
      }
      mask.maskGradients(map);
    },
    afterStep: (progress) => {
      const map = params();
      if (gradual) {
        const scores = taylor ? taylor.scores() : magnitudeScores(s.config, valuesOf(map));
        units = selectUnits(scores, { heads: gradualTarget(progress, s.heads), neurons: gradualTarget(progress, s.neurons) }, units);
        mask = unitsMask(s.config, units);
      }
      mask.apply(map);
    },
    save: (dir) => {
      const tensors = new Map<string, SafetensorsRawTensor>();
      units.forEach((u, l) => {
        tensors.set(`${l}.heads`, { dtype: 'U8', shape: [u.heads.length], data: u.heads });
        tensors.set(`${l}.neurons`, { dtype: 'U8', shape: [u.neurons.length], data: u.neurons });
        if (taylor) {
          tensors.set(`${l}.heads.taylor`, { dtype: 'F64', shape: [u.heads.length], data: taylor.sums[l].heads });
          tensors.set(`${l}.neurons.taylor`, { dtype: 'F64', shape: [u.neurons.length], data: taylor.sums[l].neurons });
        }
      });
      writeSafetensorsRaw(join(dir, CHECKPOINT_FILES.units), tensors, { taylor_batches: String(taylor?.batches ?? 0) });
    },
    restore: (dir) => {
      const path = join(dir, CHECKPOINT_FILES.units);
      const { tensors, metadata } = readSafetensorsRaw(path);
      const read = (name: string, dtype: string, length: number) => {
        const t = tensors.get(name);
        if (!t || t.dtype !== dtype || t.shape[0] !== length) throw new TlcError(`${path}: no ${dtype} [${length}] tensor ${name}`);
        return t.data;
      };
      units = units.map((u, l) => ({
        heads: Uint8Array.from(read(`${l}.heads`, 'U8', u.heads.length) as Uint8Array),
        neurons: Uint8Array.from(read(`${l}.neurons`, 'U8', u.neurons.length) as Uint8Array),
      }));
      if (taylor) {
        taylor.sums.forEach((sum, l) => {
          sum.heads.set(read(`${l}.heads.taylor`, 'F64', sum.heads.length) as Float64Array);
          sum.neurons.set(read(`${l}.neurons.taylor`, 'F64', sum.neurons.length) as Float64Array);
        });
        taylor.batches = Number(metadata?.taylor_batches ?? 0);
      }
      mask = unitsMask(s.config, units);
    },
  };
}
