// Unstructured magnitude pruning: the smallest weights of every linear layer (--pruning layer) or
// of all of them at once (global) become zero. Oneshot prunes the trained weights; finetune
// prunes them once and trains with the mask fixed; gradual tightens the mask on the cubic
// schedule while training. Pruned weights get no gradient, and the mask travels with every
// checkpoint. Sparsity 0 is the dense model.
import { join } from 'node:path';
import { TlcError } from '../../util/errors.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../../engine/safetensors.js';
import type { Module } from '../../nn/module.js';
import { PruningMask, checkSparsity, magnitudePrune, recomputeMask, type PruningMode } from '../../compress/pruning.js';
import { gradualTarget, type CompressionHooks } from '../../compress/training.js';
import { CHECKPOINT_FILES } from '../../run/layout.js';
import type { CompressionMethod } from './method.js';

export interface MagnitudeArgs {
  /** Fractions of the linear weights pruned, each a setting (0: dense). */
  sparsities?: number[];
  /** One threshold per layer (default) or one over all layers. */
  pruning?: PruningMode;
}

const PRUNING_MODES = ['layer', 'global'] as const;

export const magnitude: CompressionMethod<MagnitudeArgs, { pruning: PruningMode }> = {
  name: 'magnitude',
  flags: [
    { spec: '--sparsity <list>', value: 'list', help: 'fractions of the linear weights pruned, in [0, 1) (default: 0,0.5,0.9 when no other pruning is asked for)' },
    { spec: '--pruning <kind>', value: 'choice', choices: PRUNING_MODES, default: 'layer', help: 'one threshold per layer, or one over all layers' },
  ],
  fromFlags: (read) => ({ sparsities: read('--sparsity') as number[] | undefined, pruning: read('--pruning') as PruningMode | undefined }),
  axis: { group: 'pruning', flag: '--sparsity', values: (a) => a.sparsities ?? [], whenNoneAsked: { sparsities: [0, 0.5, 0.9] } },
  shapesTraining: true,
  settings(a) {
    for (const s of a.sparsities ?? []) checkSparsity('--sparsity', s);
    const pruning = a.pruning ?? 'layer';
    if (!PRUNING_MODES.includes(pruning)) throw new TlcError(`--pruning must be one of ${PRUNING_MODES.join(', ')}, got ${JSON.stringify(pruning)}`);
    return (a.sparsities ?? []).length > 0 ? { pruning } : null;
  },
  dirPart: (_s, v) => `s${v.amount}`,
  describe: (v) => `sparsity ${v.amount}`,
  start: (s, sweep) => ({
    training: (v) => ({ hooks: (model) => magnitudeHooks(model, sweep.mode === 'gradual', v.amount!, s.pruning) }),
    encoding: (v) => ({ sparsity: v.amount!, pruning: s.pruning }),
  }),
};

/** Hooks that keep `model` pruned while it trains; prunes it now (gradual: from 0). */
function magnitudeHooks(model: Module, gradual: boolean, sparsity: number, pruning: PruningMode): CompressionHooks {
  const named = () => model.namedParameters();
  let mask = magnitudePrune(named(), { sparsity: gradual ? 0 : sparsity, mode: pruning });
  mask.apply(named());
  return {
    afterBackward: () => mask.maskGradients(named()),
    afterStep: (progress) => {
      if (gradual) mask = recomputeMask(named(), mask, gradualTarget(progress, sparsity));
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
