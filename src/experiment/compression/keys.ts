// The cache keys of a compression sweep, derived: a setting's result is reused only when its key
// matches, and its finetuning run only when the finetuning key does. Each key holds every used
// method's declared settings with the point values it reads (method.ts), so a setting a method
// acts on cannot be left out of them.
import { resolve } from 'node:path';
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

type Key = Record<string, unknown>;

/** A path as the key holds it, resolved from here (an example: name is not a path). */
function place(v: unknown): unknown {
  return typeof v === 'string' && !v.startsWith('example:') ? resolve(v) : v;
}

/** The key with its paths (the model, the task, finetuning's from and task) resolved. */
function withPlaces(k: Key): Key {
  const out: Key = { ...k, model: place(k.model), task: place(k.task) };
  const f = k.finetune;
  if (f !== null && typeof f === 'object') out.finetune = { ...(f as Key), from: place((f as Key).from), task: place((f as Key).task) };
  return out;
}

function parsed(key: string): Key | null {
  try {
    const v: unknown = JSON.parse(key);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Key) : null;
  } catch {
    return null;
  }
}

/** Whether two keys name the same settings: equal, or differing only in how a path is spelled. */
export function keysMatch(a: string | null, b: string): boolean {
  if (a === null) return false;
  if (a === b) return true;
  const x = parsed(a), y = parsed(b);
  return x !== null && y !== null && canonicalJson(withPlaces(x)) === canonicalJson(withPlaces(y));
}

/** Whether two result keys score the same model on the same task split (whatever their methods). */
export function sameSubject(a: string, b: string): boolean {
  const x = parsed(a), y = parsed(b);
  if (x === null || y === null) return false;
  const subject = (k: Key) => canonicalJson({ model: place(k.model), task: place(k.task), task_seed: k.task_seed });
  return subject(x) === subject(y);
}
