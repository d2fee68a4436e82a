// Structured pruning: a fraction of every block's attention heads and FFN neurons is removed
// (src/compress/structured.ts), so the setting ships a smaller dense model (its config.json has
// the per-block widths) that every kernel runs faster. The units are scored by the norm of their
// weights or by Taylor importance on the task, and chosen once on the trained weights (oneshot,
// finetune: then fixed while training) or removed on the cubic schedule while training (gradual,
// Taylor importance accumulated over the steps' gradients). Zeroed units get no gradient; the
// units kept (and the Taylor sums) travel with every checkpoint.
import { join } from 'node:path';
import { TlcError } from '../../util/errors.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../../engine/safetensors.js';
import { gradOf } from '../../engine/autograd.js';
import type { Tensor } from '../../engine/tensor.js';
import { countParams, type ModelConfig } from '../../nn/config.js';
import type { Module } from '../../nn/module.js';
import { loadWeights } from '../../nn/weights.js';
import {
  STRUCTURED_CRITERIA, TaylorScores, allUnits, checkStructurable, magnitudeScores, selectUnits, silentUnits, unitsMask,
  type StructuredCriterion, type Units,
} from '../../compress/structured.js';
import { gradualTarget, type CompressionHooks } from '../../compress/training.js';
import { CHECKPOINT_FILES } from '../../run/layout.js';
import { unitScores } from '../../train/unit-importance.js';
import { buildModel, withoutUnits } from '../../infer/load.js';
import type { CompressionMethod, MethodRun, SweepContext } from './method.js';

const STRUCTURED_UNITS = ['both', 'heads', 'neurons'] as const;
export type StructuredUnits = (typeof STRUCTURED_UNITS)[number];

export interface StructuredArgs {
  /** Fractions of every block's heads and FFN neurons removed, each a setting. */
  structured?: number[];
  /** How units are scored (default: taylor for a classifier, magnitude for a language model). */
  structuredCriterion?: StructuredCriterion;
  /** Which units go (default both heads and FFN neurons). */
  structuredUnits?: StructuredUnits;
}

export interface StructuredSettings {
  [key: string]: string | null;
  /** null until resolved against the model. */
  criterion: StructuredCriterion | null;
  units: StructuredUnits;
}

/** The fractions of heads and of FFN neurons a setting removes. */
function fractionsOf(f: number, units: StructuredUnits): { heads: number; neurons: number } {
  return { heads: units === 'neurons' ? 0 : f, neurons: units === 'heads' ? 0 : f };
}

export const structured: CompressionMethod<StructuredArgs, StructuredSettings> = {
  name: 'structured',
  flags: [
    { spec: '--structured <list>', value: 'list', help: 'settings that remove these fractions of every block\'s attention heads and FFN neurons instead '
      + '(structured pruning: a smaller dense model), e.g. 0.25,0.5' },
    { spec: '--structured-units <kind>', value: 'choice', choices: STRUCTURED_UNITS, shapes: '--structured', help: 'what structured pruning removes: attention heads and FFN neurons, '
      + 'or only one of them (neurons keeps a causal LM exportable to transformers.js) (default: both)' },
    { spec: '--structured-criterion <kind>', value: 'choice', choices: STRUCTURED_CRITERIA, shapes: '--structured', help: 'how heads and neurons are scored: Taylor importance on the '
      + 'task\'s training examples, or the norm of their weights (default: taylor for a classifier, magnitude for a language model)' },
  ],
  fromFlags: (read) => ({
    structured: read('--structured') as number[] | undefined,
    structuredUnits: read('--structured-units') as StructuredUnits | undefined,
    structuredCriterion: read('--structured-criterion') as StructuredCriterion | undefined,
  }),
  axis: { group: 'pruning', flag: '--structured', values: (a) => a.structured ?? [] },
  shapesTraining: true,
  settings(a) {
    for (const f of a.structured ?? []) {
      if (f === 0) throw new TlcError('--structured 0 removes nothing: the dense model is --sparsity 0');
      if (!(f > 0 && f < 1)) throw new TlcError(`--structured: the fraction of heads and FFN neurons removed must be in (0, 1), got ${f}`);
    }
    const units = a.structuredUnits ?? 'both';
    if (!STRUCTURED_UNITS.includes(units)) throw new TlcError(`--structured-units must be one of ${STRUCTURED_UNITS.join(', ')}, got ${JSON.stringify(units)}`);
    const criterion = a.structuredCriterion ?? null;
    if (criterion !== null && !STRUCTURED_CRITERIA.includes(criterion)) {
      throw new TlcError(`--structured-criterion must be one of ${STRUCTURED_CRITERIA.join(', ')}, got ${JSON.stringify(criterion)}`);
    }
    if ((a.structured ?? []).length === 0) {
      if (a.structuredCriterion !== undefined || a.structuredUnits !== undefined) {
        throw new TlcError('--structured-criterion and --structured-units are for structured pruning: add --structured fractions');
      }
      return null;
    }
    return { criterion, units };
  },
  resolve(s, model) {
    checkStructurable(model.config, model.dir);
    const criterion: StructuredCriterion = s.criterion ?? (model.config.labels ? 'taylor' : 'magnitude');
    if (criterion === 'taylor' && !model.config.labels) {
      throw new TlcError(`${model.dir}: Taylor importance is measured on a classifier's task; use --structured-criterion magnitude for a language model`);
    }
    return { ...s, criterion };
  },
  dirPart: (s, v) => `struct${v.amount}${s.units === 'both' ? '' : `-${s.units}`}`,
  describe: (v) => `structured ${v.amount}`,
  start: (s, sweep, fractions) => structuredRun(s.criterion!, s.units, sweep, fractions),
};

function structuredRun(criterion: StructuredCriterion, units: StructuredUnits, sweep: SweepContext, fractions: readonly number[]): MethodRun {
  const { config, mode, dir, log } = sweep;
  for (const f of units === 'neurons' ? [] : new Set(fractions)) {
    if (Math.min(config.n_heads - 1, Math.round(f * config.n_heads)) === 0) {
      log(`${dir}: with ${config.n_heads} head${config.n_heads === 1 ? '' : 's'} per block, --structured ${f} removes no heads ` +
        `(at least one stays in every block): ${units === 'heads' ? 'nothing is removed' : 'only FFN neurons go'}`);
    }
  }
  // the units a fraction keeps, scored on the trained weights once for every bit width and mode
  // that chooses them before any finetuning (oneshot, finetune)
  const chosen = new Map<number, Units>();
  const unitsBefore = (f: number): Units => {
    if (!chosen.has(f)) chosen.set(f, chooseUnits(sweep, fractionsOf(f, units), criterion));
    return chosen.get(f)!;
  };
  return {
    training: (v) => {
      // finetune: the units are chosen once, on the trained weights, before finetuning
      const kept = mode === 'finetune' ? { units: unitsBefore(v.amount!) } : {};
      return { hooks: (model) => structuredHooks(model, { gradual: mode === 'gradual', ...fractionsOf(v.amount!, units), criterion, config, ...kept }) };
    },
    // oneshot: score and choose now; finetuned: the units the finetuning zeroed
    reshape: (model, v, finetuned) => withoutUnits(model, finetuned
      ? silentUnits(config, (name) => model.namedParameters().find(([n]) => n === name)![1].toFloat32Array())
      : unitsBefore(v.amount!), sweep.seed),
    recorded: (v) => ({
      structured: v.amount, structured_criterion: criterion, structured_units: units, pruned_from: { n_heads: config.n_heads, d_ff: config.d_ff },
    }),
    row: (v, shipped) => ({
      structured: v.amount, structured_criterion: criterion, params_kept: countParams(shipped).total,
      ...(units !== 'both' ? { structured_units: units } : {}),
      layer_heads: shipped.layer_heads, layer_d_ff: shipped.layer_d_ff,
    }),
  };
}

/** The units kept when `fraction` of every block's heads and neurons go, scored on the trained weights. */
function chooseUnits(sweep: SweepContext, fraction: { heads: number; neurons: number }, criterion: StructuredCriterion): Units {
  const model = buildModel(sweep.config, sweep.seed);
  try {
    loadWeights(model, sweep.weightsPath);
    return selectUnits(unitScores(model, criterion, sweep.data?.train ?? null, sweep.seed), fraction);
  } finally {
    model.dispose();
  }
}

interface StructuredTraining {
  gradual: boolean;
  heads: number;
  neurons: number;
  criterion: StructuredCriterion;
  config: ModelConfig;
  /** finetune mode: the units kept throughout, chosen before training. */
  units?: Units;
}

/** Hooks of structured pruning: units zeroed (and their gradients), fixed or removed gradually. */
function structuredHooks(model: Module, s: StructuredTraining): CompressionHooks {
  if (!s.gradual && !s.units) throw new TlcError('structured finetuning needs the units to keep, chosen before training');
  const params = () => new Map(model.namedParameters());
  const valuesOf = (map: Map<string, Tensor>) => (name: string): Float32Array => {
    const t = map.get(name);
    if (!t) throw new TlcError(`structured pruning: the model has no parameter ${name}`);
    return t.toFloat32Array();
  };
  // each step's gradient is a minibatch's: Molchanov et al.'s squared gate derivative
  const taylor = s.gradual && s.criterion === 'taylor' ? new TaylorScores(s.config, 'squared') : null;
  let units: Units = s.units ?? allUnits(s.config);
  let mask = unitsMask(s.config, units);
  mask.apply(params());
  return {
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
      if (s.gradual) {
        const scores = taylor ? taylor.scores() : magnitudeScores(s.config, valuesOf(map));
        units = selectUnits(scores, { heads: gradualTarget(progress, s.heads), neurons: gradualTarget(progress, s.neurons) }, units);
        mask = unitsMask(s.config, units);
      }
      mask.apply(map);
    },
    save: (dir) => saveUnits(join(dir, CHECKPOINT_FILES.units), units, taylor),
    restore: (dir) => {
      units = restoreUnits(join(dir, CHECKPOINT_FILES.units), units, taylor);
      mask = unitsMask(s.config, units);
    },
  };
}

function saveUnits(path: string, units: Units, taylor: TaylorScores | null): void {
  const tensors = new Map<string, SafetensorsRawTensor>();
  units.forEach((u, l) => {
    tensors.set(`${l}.heads`, { dtype: 'U8', shape: [u.heads.length], data: u.heads });
    tensors.set(`${l}.neurons`, { dtype: 'U8', shape: [u.neurons.length], data: u.neurons });
    if (taylor) {
      tensors.set(`${l}.heads.taylor`, { dtype: 'F64', shape: [u.heads.length], data: taylor.sums[l].heads });
      tensors.set(`${l}.neurons.taylor`, { dtype: 'F64', shape: [u.neurons.length], data: taylor.sums[l].neurons });
    }
  });
  writeSafetensorsRaw(path, tensors, { taylor_batches: String(taylor?.batches ?? 0) });
}

/** The units (and Taylor sums, into `taylor`) a checkpoint holds, shaped as `like`. */
function restoreUnits(path: string, like: Units, taylor: TaylorScores | null): Units {
  const { tensors, metadata } = readSafetensorsRaw(path);
  const read = (name: string, dtype: string, length: number) => {
    const t = tensors.get(name);
    if (!t || t.dtype !== dtype || t.shape[0] !== length) throw new TlcError(`${path}: no ${dtype} [${length}] tensor ${name}`);
    return t.data;
  };
  const units = like.map((u, l) => ({
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
  return units;
}
