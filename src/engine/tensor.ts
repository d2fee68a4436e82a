// Tensors: a shape and a dtype over a block of native memory with an explicit lifetime.
//
// Memory is freed deterministically, not by the garbage collector: either by
// `dispose()` or by the `tidy()` scope the tensor was created in. Views made by
// `reshape` share their storage; the storage is freed when its last view is disposed.
import { native, type NativeHandle } from './native.js';
import { TlcError, fmtShape } from '../util/errors.js';

export type DType = 'f32' | 'i32' | 'u8' | 'bf16' | 'i8';

const DTYPE_CODE: Record<DType, number> = { f32: 0, i32: 1, u8: 2, bf16: 3, i8: 4 };
const DTYPE_BYTES: Record<DType, number> = { f32: 4, i32: 4, u8: 1, bf16: 2, i8: 1 };

export type TypedArrayFor<D extends DType> = D extends 'f32' ? Float32Array
  : D extends 'i32' ? Int32Array
  : D extends 'u8' ? Uint8Array
  : D extends 'bf16' ? Uint16Array
  : Int8Array;

function newTypedArray(dtype: DType, length: number): Float32Array | Int32Array | Uint8Array | Uint16Array | Int8Array {
  switch (dtype) {
    case 'f32': return new Float32Array(length);
    case 'i32': return new Int32Array(length);
    case 'u8': return new Uint8Array(length);
    case 'bf16': return new Uint16Array(length);
    case 'i8': return new Int8Array(length);
  }
}

export function bytesPerElement(dtype: DType): number {
  return DTYPE_BYTES[dtype];
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TlcError(`${what}: invalid shape ${fmtShape(shape)}`);
  }
}

/**
 * Reference-counted native memory shared by a tensor and its views. It is freed only by
 * dispose()/tidy(), never by the garbage collector: GC-driven freeing (finalizers) runs
 * late and in batches, and a training loop's memory would then swing with the GC.
 */
class Storage {
  refs = 1;
  constructor(readonly handle: NativeHandle, readonly bytes: number) {}

  release(): void {
    if (--this.refs === 0) native.free(this.handle);
  }
}

// ---- scopes -------------------------------------------------------------------------

type Scope = Set<Tensor>;
const scopes: Scope[] = [];

/**
 * Runs `fn` and disposes every tensor created inside it, except those reachable from
 * its return value (a tensor, or an array/object of tensors) and those passed to `keep`.
 * Returned tensors move to the enclosing scope. Autodiff records made inside are dropped.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  const tapeMark = tapeHooks.mark();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    // nothing escapes a failed scope: free all it created, then rethrow
    scopes.pop();
    tapeHooks.truncate(tapeMark);
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  tapeHooks.truncate(tapeMark);
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/** Removes `t` from every scope: it lives until disposed explicitly. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

/** Runs `fn` with no active scope: tensors it creates are persistent. */
export function outsideScopes<T>(fn: () => T): T {
  const saved = scopes.splice(0, scopes.length);
  try {
    return fn();
  } finally {
    scopes.push(...saved);
  }
}

function collectTensors(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectTensors(x, out);
  else if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const x of Object.values(v)) collectTensors(x, out);
  }
}

/** Set by autograd.ts so that tensors can talk to the tape without an import cycle. */
export const tapeHooks = {
  mark: (): number => 0,
  truncate: (_mark: number): void => {},
  /** Records `view` (a reshape of `base`) so gradients flow back to `base`. */
  view: (_base: Tensor, view: Tensor): Tensor => view,
};

// ---- the tensor ---------------------------------------------------------------------

/** The tape record that computed a tensor (src/engine/autograd.ts's TapeNode), opaque here. */
export interface TapeRecord {
  readonly op: string;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** Set on leaves (parameters) to receive gradients, and propagated to op outputs. */
  requiresGrad = false;
  /** Accumulated gradient (leaves) or gradient during backward (intermediates). */
  grad: Tensor | null = null;
  /** When true, the next backward overwrites `grad` instead of adding to it. */
  gradStale = false;
  /** The tape record that produced this tensor, if any. */
  creator: TapeRecord | null = null;
  /** Optional name used in error messages (parameter names). */
  name: string | undefined;
  private storage: Storage | null;

  /** @internal use the factory functions below */
  constructor(shape: readonly number[], dtype: DType, storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = shapeSize(shape);
    this.storage = storage;
    scopes[scopes.length - 1]?.add(this);
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** The native handle; throws a clear error after dispose. */
  get handle(): NativeHandle {
    if (!this.storage) throw new TlcError(`tensor ${this.describe()} was used after it was disposed`);
    return this.storage.handle;
  }

  describe(): string {
    return `${this.name ? this.name + ' ' : ''}${fmtShape(this.shape)} ${this.dtype}`;
  }

  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    s.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    for (const scope of scopes) scope.delete(this);
  }

  /** A view with another shape over the same memory (no copy). */
  reshape(shape: readonly number[]): Tensor {
    const s = this.storage;
    if (!s) throw new TlcError(`reshape: tensor ${this.describe()} was used after it was disposed`);
    const resolved = resolveShape(shape, this.size, this.shape);
    s.refs++;
    return tapeHooks.view(this, new Tensor(resolved, this.dtype, s));
  }

  /** Copies the contents into a new typed array. */
  toArray(): TypedArrayFor<DType> {
    const out = newTypedArray(this.dtype, this.size);
    native.read(this.handle, out, 0);
    return out as TypedArrayFor<DType>;
  }

  /** Copies the contents into `out` (a typed array of this tensor's length and element type), without allocating. */
  readInto(out: ArrayBufferView & { length: number }): void {
    if (out.length !== this.size) throw new TlcError(`readInto: ${out.length} elements for tensor ${this.describe()}`);
    native.read(this.handle, out, 0);
  }

  toFloat32Array(): Float32Array {
    if (this.dtype !== 'f32') throw new TlcError(`toFloat32Array: tensor ${this.describe()} is not f32`);
    return this.toArray() as Float32Array;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new TlcError(`item: tensor ${this.describe()} has ${this.size} elements, not 1`);
    return this.toArray()[0];
  }

  /** Overwrites the contents from a typed array of the same dtype and length. */
  write(data: ArrayBufferView & { length: number }, offset = 0): void {
    native.write(this.handle, data, offset);
  }

  /** A new tensor with a copy of the contents (not tracked by autodiff). */
  clone(): Tensor {
    const out = empty(this.shape, this.dtype);
    native.copy(out.handle, this.handle, this.size * DTYPE_BYTES[this.dtype]);
    return out;
  }

  /** Copies another tensor's contents into this one (same shape and dtype). */
  copyFrom(src: Tensor): void {
    if (src.dtype !== this.dtype || src.size !== this.size) {
      throw new TlcError(`copyFrom: cannot copy ${src.describe()} into ${this.describe()}`);
    }
    native.copy(this.handle, src.handle, this.size * DTYPE_BYTES[this.dtype]);
  }

  fill(value: number): void {
    native.fill(this.handle, value);
  }
}

function resolveShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = shapeSize(out.filter((_, i) => i !== free));
    if (rest === 0 || size % rest !== 0) throw new TlcError(`reshape: cannot view ${fmtShape(from)} as ${fmtShape(shape)}`);
    out[free] = size / rest;
  }
  checkShape(out, 'reshape');
  if (shapeSize(out) !== size) throw new TlcError(`reshape: cannot view ${fmtShape(from)} (${size} elements) as ${fmtShape(shape)}`);
  return out;
}

// ---- factories ----------------------------------------------------------------------

/** Uninitialised memory (recycled blocks may hold old values). */
export function empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
  checkShape(shape, 'empty');
  const bytes = shapeSize(shape) * DTYPE_BYTES[dtype];
  return new Tensor(shape, dtype, new Storage(native.alloc(bytes, DTYPE_CODE[dtype], false), bytes));
}

export function zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
  checkShape(shape, 'zeros');
  const bytes = shapeSize(shape) * DTYPE_BYTES[dtype];
  return new Tensor(shape, dtype, new Storage(native.alloc(bytes, DTYPE_CODE[dtype], true), bytes));
}

export function full(shape: readonly number[], value: number): Tensor {
  const t = empty(shape, 'f32');
  t.fill(value);
  return t;
}

/** A tensor holding a copy of `data`. The dtype follows the typed array unless given. */
export function tensor(data: ArrayLike<number>, shape: readonly number[], dtype?: DType): Tensor {
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint8Array ? 'u8' : 'f32');
  checkShape(shape, 'tensor');
  if (shapeSize(shape) !== data.length) {
    throw new TlcError(`tensor: ${data.length} values do not fill shape ${fmtShape(shape)} (${shapeSize(shape)} elements)`);
  }
  let typed: ArrayBufferView & { length: number };
  if (dt === 'f32') typed = data instanceof Float32Array ? data : Float32Array.from(data);
  else if (dt === 'i32') typed = data instanceof Int32Array ? data : Int32Array.from(data);
  else if (dt === 'u8') typed = data instanceof Uint8Array ? data : Uint8Array.from(data);
  else throw new TlcError(`tensor: building ${dt} tensors from numbers is not supported`);
  const t = empty(shape, dt);
  if (typed.length > 0) t.write(typed);
  return t;
}

/** Native memory in use and cached by the allocator. */
export function memoryStats(): ReturnType<typeof native.stats> {
  return native.stats();
}

/** Restarts `memoryStats().peakLiveBytes` from the bytes live now (e.g. to measure one step). */
export function resetPeakMemory(): void {
  native.resetPeak();
}

/** Returns cached free blocks to the system. */
export function trimMemory(): void {
  native.trimCache();
}
