// The cache keys of a compression sweep, derived: a setting's result is reused only when its key
// matches, and its finetuning run only when the finetuning key does. Each key holds every used
// method's declared settings with the point values it reads (method.ts), so a setting a method
// acts on cannot be left out of them.
import type { Json, PointView, Settings } from './method.js';

/** A method as one setting uses it. */
export interface KeyPart {
  name: string;
  settings: Settings;
  view: PointView;
  shapesTraining: boolean;
}

/** What a sweep's settings share beyond the methods. */
export interface SharedKey {
  model: string;
  mode: string;
  task: string | null;
  taskSeed: number | null;
  seed: number;
  /** The finetuning options (null in oneshot mode). */
  finetune: Json;
}

function methodsOf(parts: readonly KeyPart[]): Json {
  return Object.fromEntries(parts.map((p) => {
    const clash = Object.keys(p.view).find((k) => k in p.settings);
    if (clash) throw new Error(`compression method ${p.name}: its setting "${clash}" has the name of a point value`);
    return [p.name, { ...p.settings, ...p.view } as Json];
  }));
}

/** Everything that determines a setting's result. */
export function resultKey(shared: SharedKey, parts: readonly KeyPart[]): string {
  return canonicalJson({
    model: shared.model, mode: shared.mode, task: shared.task, task_seed: shared.taskSeed, seed: shared.seed, finetune: shared.finetune,
    scored_on: 'inference kernels', methods: methodsOf(parts),
  });
}

/** Everything that determines a setting's finetuning run: the methods that shape training (not, say, the bit width without QAT). */
export function finetuneKey(shared: SharedKey, parts: readonly KeyPart[]): string {
  return canonicalJson({ mode: shared.mode, seed: shared.seed, finetune: shared.finetune, methods: methodsOf(parts.filter((p) => p.shapesTraining)) });
}

/** JSON with every object's keys sorted, so that equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v));
}
