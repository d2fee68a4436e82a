// A compression method as `tlc compress` runs it: the flags it adds, the settings it reads from
// the sweep's arguments, what it does while a setting is finetuned (hooks, a loss) and to the
// model that is written (another shape, how its tensors are encoded, what the file and the row
// record). Every setting a method declares, with the point values it reads, is its part of the
// cache keys (compress-sweep.ts): nothing outside its settings may change what it does, so no
// key is kept by hand. The methods are listed in registry.ts.
import type { Tensor } from '../../engine/tensor.js';
import type { ModelConfig } from '../../nn/config.js';
import type { TransformerBody } from '../../nn/transformer.js';
import type { ClassificationBatch, TransformerClassifier } from '../../nn/classifier.js';
import type { CompressOptions } from '../../compress/compress.js';
import type { CompressionHooks } from '../../compress/training.js';
import type { CompressMode, CompressRow } from '../../run/compress-summary.js';
import type { EncodedTask } from '../../run/task.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A method's settings: JSON values only, since they are its part of the cache keys. */
export type Settings = { readonly [key: string]: Json };

/**
 * The sweep's two axes: pruning methods are alternatives (each setting has one, at one amount;
 * the dense model is magnitude pruning at 0) and every one is crossed with every bit width.
 */
export type AxisGroup = 'pruning' | 'bits';

/** One point of the sweep. */
export interface SweepPoint {
  pruning: { method: string; amount: number };
  bits: number;
}

/**
 * What a method sees of a point: `amount` when it is the point's pruning method, `bits` when
 * it owns the bit-width axis or reads it. These values enter its key with its settings.
 */
export interface PointView {
  amount?: number;
  bits?: number;
}

/** A flag a method adds to `tlc compress`; the command line turns it into a commander option. */
export interface MethodFlag {
  /** As commander spells it: `--sparsity <list>`, `--qat`. */
  spec: string;
  help: string;
  /** How the value is read: a comma-separated list of numbers, one number, one of `choices`, or a switch. */
  value: 'list' | 'number' | 'choice' | 'switch';
  choices?: readonly string[];
  default?: string;
  /** For numbers: the values accepted (else `invalid --flag "v"`). */
  accepts?(x: number): boolean;
  /** The switch or list this flag only shapes: given without it, the flag is refused (it would do nothing). */
  shapes?: string;
}

/** The model a sweep compresses, for the checks that depend on it. */
export interface ModelContext {
  /** The run's directory, as given (errors name it). */
  dir: string;
  config: ModelConfig;
  mode: CompressMode;
  log(line: string): void;
}

/** What every setting of one sweep shares. */
export interface SweepContext extends ModelContext {
  /** The trained weights every setting starts from. */
  weightsPath: string;
  /** The task a classifier is finetuned and scored on (null for a language model). */
  data: EncodedTask | null;
  seed: number;
}

/** A method's part in finetuning one setting. */
export interface MethodTraining {
  /** Hooks on the model being trained; their state travels with every checkpoint. Called once, in registry order. */
  hooks?(model: TransformerClassifier): CompressionHooks;
  /** The training loss in place of the cross-entropy (at most one method may give one). */
  loss?(model: TransformerClassifier, batch: ClassificationBatch): Tensor;
  /** Frees what the training held (a teacher), once it has ended. */
  dispose?(): void;
}

/** A method over one sweep, once its settings are resolved: what it does at each point. */
export interface MethodRun {
  /** Finetuning modes: what it adds to the setting's finetuning run. */
  training?(view: PointView): MethodTraining;
  /**
   * Before the file is written: a model of another shape built from `model` (structured
   * pruning removes units), or null to keep it. `finetuned` says whether `model` holds the
   * weights of the setting's finetuning run.
   */
  reshape?(model: TransformerBody, view: PointView, finetuned: boolean): TransformerBody | null;
  /** How the file encodes the tensors: its part of compressModel's options. */
  encoding?(view: PointView): Partial<CompressOptions>;
  /** What the compressed file's settings record. */
  recorded?(view: PointView): Record<string, unknown>;
  /** Its fields of the setting's row (new fields go in compressRowSchema, src/run/compress-summary.ts); `shipped` is the config of the model written. */
  row?(view: PointView, shipped: ModelConfig): Partial<CompressRow>;
}

/**
 * A compression method. `A` is the part of the sweep's arguments it reads (its own fields, named
 * so as not to clash with another method's); `S` the settings it resolves them to.
 */
export interface CompressionMethod<A extends object = object, S extends Settings = Settings> {
  /** Its name, also the key of its settings in the cache keys. */
  readonly name: string;
  readonly flags: readonly MethodFlag[];
  /** Its arguments from its flags (`read` gives a flag's parsed value, undefined when not given). */
  fromFlags(read: (flag: string) => unknown): Partial<A>;
  /** The axis it sweeps, when it sweeps one: its group, the flag that gives the values, the values asked for. */
  readonly axis?: {
    group: AxisGroup;
    flag: string;
    values(args: A): number[];
    /** A pruning method's values when no pruning method is asked for any (the first such method's, on the command line). */
    whenNoneAsked?: Partial<A>;
  };
  /** It reads each point's bit width (QAT computes with it): the bit width then enters its key. */
  readonly readsBits?: boolean;
  /** Its settings change what finetuning trains, and so enter the finetuning run's key: exactly when its run has `training`. */
  readonly shapesTraining: boolean;
  /** It acts only through finetuning: the flag and why, for the refusal in oneshot mode. */
  readonly needsFinetuning?: { flag: string; why: string };
  /** Its settings from the arguments, checked on their own; null when the sweep does not use it. */
  settings(args: A): S | null;
  /** Its part of a setting's folder name (`s0.5`, `struct0.5-heads`, `b4`); none when it has none. */
  dirPart?(settings: S, view: PointView): string;
  /** Its part of the line logged when a setting is done (`sparsity 0.5`, `4 bits`). */
  describe?(view: PointView): string;
  /** Its row fields in a setting that does not use it, so that every row has them (`qat: false`). */
  readonly unusedRow?: Partial<CompressRow>;
  /** Its settings checked against the model they compress, completed where they depend on it. */
  resolve?(settings: S, model: ModelContext): S;
  /** Starts it for one sweep (a cache, a teacher), after every method has resolved; `values` are its axis values. */
  start(settings: S, sweep: SweepContext, values: readonly number[]): MethodRun;
}
