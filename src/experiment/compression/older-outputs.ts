// The one reader of compression outputs written before the methods declared their settings:
// their result and finetuning keys (flat fields: sparsity, bits, pruning, qat, distill,
// structured…) in today's form, so that a rerun reuses what they hold instead of computing it
// again. A key already in today's form passes through.
import { canonicalJson } from './keys.js';

type Flat = Record<string, unknown>;

/** Today's per-method part of an older flat key; `training`: the finetuning key, which left the bit width to QAT. */
function methodsOfFlat(old: Flat, training: boolean): Flat {
  const methods: Flat = {};
  if (typeof old.structured === 'number' && old.structured > 0) {
    methods.structured = { amount: old.structured, criterion: old.structured_criterion, units: old.structured_units ?? 'both' };
  } else {
    methods.magnitude = { amount: old.sparsity, pruning: old.pruning };
  }
  if (!training) methods.quantization = { bits: old.bits, embedding_bits: old.embeddingBits };
  if (old.qat === true) methods.qat = { bits: old.bits };
  if (old.distill) methods.distillation = old.distill;
  return methods;
}

const STRUCTURED_FIELDS = ['structured', 'structured_criterion', 'structured_units'];
const RESULT_FIELDS = ['model', 'sparsity', 'bits', 'pruning', 'embeddingBits', 'mode', 'finetune', 'qat', 'distill', 'task', 'taskSeed', 'seed', 'scoredOn'];
const FINETUNE_FIELDS = ['sparsity', 'pruning', 'mode', 'qat', 'distill', 'finetune', 'seed'];

/** Whether `key` holds exactly the fields the last flat format wrote: all of `required`, others only from `optional`. */
function hasFields(key: Flat, required: readonly string[], optional: readonly string[]): boolean {
  return required.every((f) => f in key) && Object.keys(key).every((f) => required.includes(f) || optional.includes(f));
}

/**
 * A saved result's settings as today's result key, or null when they cannot be reused: a flat
 * key of another shape is from a version whose results were computed otherwise.
 */
export function resultKeyOf(saved: Flat): string | null {
  if ('methods' in saved) return canonicalJson(saved);
  if (!hasFields(saved, RESULT_FIELDS, STRUCTURED_FIELDS) || saved.scoredOn !== 'inference kernels') return null;
  return canonicalJson({
    model: saved.model, mode: saved.mode, task: saved.task, task_seed: saved.taskSeed, seed: saved.seed,
    finetune: saved.finetune, scored_on: saved.scoredOn, methods: methodsOfFlat(saved, false),
  });
}

/** A finetuning run's recorded key as today's, or null when it is in no form this version reads (an earlier version's). */
export function finetuneKeyOf(text: string): string | null {
  let saved: unknown;
  try {
    saved = JSON.parse(text);
  } catch {
    return null;
  }
  if (saved === null || typeof saved !== 'object' || Array.isArray(saved)) return null;
  const flat = saved as Flat;
  if ('methods' in flat) return canonicalJson(flat);
  // the bit width was in every key once, then only in QAT's
  if (!hasFields(flat, FINETUNE_FIELDS, ['bits', ...STRUCTURED_FIELDS])) return null;
  return canonicalJson({ mode: flat.mode, seed: flat.seed, finetune: flat.finetune, methods: methodsOfFlat(flat, true) });
}
