// Reverse-mode autodiff: a define-by-run tape.
//
// Each differentiable op calls `record` with its inputs, its output and a backward
// function. `backward(loss)` walks the tape in reverse. Gradients flow into `.grad`:
// leaves (parameters) keep theirs across calls, so several micro-batches accumulate
// into one gradient; intermediate gradients are freed as soon as they are consumed.
import { native, type NativeHandle } from './native.js';
import { TlcError, fmtShape } from '../util/errors.js';
import { Tensor, empty, outsideScopes, tapeHooks, type TapeRecord } from './tensor.js';
import { checkFinite } from './numerics.js';

/** Where a backward function writes one input's gradient. */
export interface GradTarget {
  handle: NativeHandle;
  /** true: add into the existing gradient; false: overwrite it. */
  accumulate: boolean;
  tensor: Tensor;
}

export type BackwardFn = (gradOutput: Tensor, grad: (inputIndex: number) => GradTarget | null) => void;

export interface TapeNode extends TapeRecord {
  op: string;
  inputs: (Tensor | null)[];
  needsGrad: boolean[];
  output: Tensor;
  backward: BackwardFn;
  /** Tensors owned by this record (e.g. saved statistics), freed with it. */
  owned: Tensor[];
}

const tape: TapeNode[] = [];
let gradEnabled = true;

tapeHooks.mark = () => tape.length;
tapeHooks.truncate = (mark: number) => {
  while (tape.length > mark) releaseNode(tape.pop()!);
};
tapeHooks.view = (base: Tensor, view: Tensor) =>
  record('reshape', [base], view, (g, grad) => {
    const gb = grad(0);
    if (gb) native.accumulate({ dst: gb.handle, src: g.handle, n: g.size, accumulate: gb.accumulate });
  });

function releaseNode(node: TapeNode): void {
  for (const t of node.owned) t.dispose();
  if (node.output.creator === node) node.output.creator = null;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording: for evaluation and inference. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Number of live tape records (for tests and leak checks). */
export function tapeLength(): number {
  return tape.length;
}

/**
 * Records an op for backward if gradients are on and an input requires them.
 * `owned` tensors are disposed with the record. Returns the output for chaining.
 */
export function record(op: string, inputs: (Tensor | null | undefined)[], output: Tensor, backward: BackwardFn,
  owned: Tensor[] = []): Tensor {
  checkFinite(op, output);
  const ins = inputs.map((t) => t ?? null);
  const needsGrad = ins.map((t) => t !== null && t.requiresGrad);
  if (!gradEnabled || !needsGrad.some(Boolean)) {
    for (const t of owned) t.dispose();
    return output;
  }
  output.requiresGrad = true;
  const node: TapeNode = { op, inputs: ins, needsGrad, output, backward, owned };
  output.creator = node;
  tape.push(node);
  return output;
}

/**
 * Backpropagates from `root` through every recorded op, accumulating into the `.grad`
 * of each leaf that requires gradients, then clears the tape. `root` is normally a
 * one-element loss (seeded with `gradOutput`, default 1); for any other tensor pass its
 * gradient as a tensor of the same shape.
 */
export function backward(root: Tensor, gradOutput: Tensor | number = 1): void {
  if (!root.creator) {
    throw new TlcError('backward: the tensor was not computed from any tensor that requires grad (or the tape was cleared)');
  }
  let seed: Tensor;
  if (typeof gradOutput === 'number') {
    if (root.size !== 1) {
      throw new TlcError(`backward: a tensor of shape ${fmtShape(root.shape)} needs an explicit gradient of the same shape`);
    }
    seed = empty([1]);
    seed.fill(gradOutput);
  } else {
    if (gradOutput.size !== root.size || gradOutput.dtype !== 'f32') {
      throw new TlcError(`backward: gradient ${gradOutput.describe()} does not match tensor ${root.describe()}`);
    }
    seed = gradOutput; // the caller's tensor: read, never disposed here
  }
  root.grad = seed;
  const end = tape.indexOf(root.creator as TapeNode);
  try {
    for (let i = end; i >= 0; i--) {
      const node = tape[i];
      const g = node.output.grad;
      if (!g) continue;
      node.backward(g, (k) => gradTarget(node, k));
      for (let k = 0; k < node.inputs.length; k++) {
        const t = node.inputs[k];
        if (node.needsGrad[k] && t && t.grad) checkFinite(`${node.op} backward`, t.grad);
      }
      // An intermediate's gradient is complete once its producer has run.
      if (node.output.creator === node) {
        if (g !== gradOutput) g.dispose();
        node.output.grad = null;
      }
    }
  } finally {
    for (const node of tape) {
      const out = node.output;
      if (out.grad && out.creator === node) {
        if (out.grad !== gradOutput) out.grad.dispose();
        out.grad = null;
      }
    }
    while (tape.length) releaseNode(tape.pop()!);
  }
}

function gradTarget(node: TapeNode, k: number): GradTarget | null {
  const t = node.inputs[k];
  if (!t || !node.needsGrad[k]) return null;
  if (t.grad && !t.gradStale) return { handle: t.grad.handle, accumulate: true, tensor: t.grad };
  if (!t.grad) {
    // Leaves keep their gradient beyond the current scope; intermediates do not.
    t.grad = t.creator ? empty(t.shape) : outsideScopes(() => empty(t.shape));
  }
  t.gradStale = false;
  return { handle: t.grad.handle, accumulate: false, tensor: t.grad };
}

/** Marks gradients stale so the next backward overwrites them (no memset needed). */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) p.gradStale = true;
}

/** Gradient of a leaf as a tensor, or null if backward has not reached it. */
export function gradOf(t: Tensor): Tensor | null {
  return t.grad && !t.gradStale ? t.grad : null;
}

export { native };
