// Every compression method `tlc compress` knows, in the order a setting applies them: its
// pruning method (magnitude or structured), then quantization, QAT and distillation. A new method
// is its own module (method.ts says what it gives) and one entry here: its flags, arguments,
// cache keys, hooks and rows follow from the entry.
import type { CompressionMethod } from './method.js';
import { magnitude } from './magnitude.js';
import { structured } from './structured.js';
import { quantization } from './quantization.js';
import { qat } from './qat.js';
import { distillation } from './distillation.js';

const REGISTERED = [magnitude, structured, quantization, qat, distillation] as const;

export const METHODS: readonly CompressionMethod[] = REGISTERED;

type ArgsOf<M> = M extends CompressionMethod<infer A, infer _S> ? A : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The sweep's arguments every method reads, each method's own fields. */
export type MethodArgs = Intersection<ArgsOf<(typeof REGISTERED)[number]>>;

/** The pruning methods, whose axis values are the sweep's alternatives. */
export const PRUNING_METHODS = METHODS.filter((m) => m.axis?.group === 'pruning');

/** The arguments with the first pruning method's default values when none asks for any (the command line's default grid). */
export function withDefaultPruning<A extends object>(args: A): A {
  if (PRUNING_METHODS.some((m) => m.axis!.values(args).length > 0)) return args;
  return { ...args, ...PRUNING_METHODS.find((m) => m.axis!.whenNoneAsked)?.axis!.whenNoneAsked };
}
