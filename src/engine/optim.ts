// AdamW with global gradient-norm clipping (torch.optim.AdamW + clip_grad_norm_).
// Kernels: native/src/adamw.cc. Not an op on the tape: it reads `.grad` and updates
// parameters in place, all of them in one native call per step.
import { native } from './native.js';
import { TlcError, fmtShape } from '../util/errors.js';
import { type Tensor, zeros, outsideScopes } from './tensor.js';
import { gradOf, zeroGrad } from './autograd.js';

export interface AdamWOptions {
  lr: number;
  /** (β1, β2), default [0.9, 0.98]. */
  betas?: [number, number];
  /** Default 1e-6. */
  eps?: number;
  /** Decoupled weight decay, default 0.01. */
  weightDecay?: number;
  /** Clip the global gradient norm to this (clip_grad_norm_); null or absent: no clipping. */
  maxGradNorm?: number | null;
  /** Parameters for which this returns true get no weight decay (biases, norms). */
  noDecay?: (p: Tensor) => boolean;
}

export interface AdamWStepResult {
  /** L2 norm over the gradients of all updated parameters, before clipping. */
  gradNorm: number;
  /** Factor the gradients were scaled by: min(1, maxGradNorm / (gradNorm + 1e-6)), or 1. */
  clipScale: number;
}

export interface AdamWState {
  step: number;
  /** One entry per parameter, in constructor order. */
  moments: { m: Tensor; v: Tensor }[];
}

function paramName(p: Tensor, k: number): string {
  return p.name ?? `#${k}`;
}

/**
 * Squared L2 norm of each gradient, in double (deterministic: independent of the thread
 * count). Tensors must be f32.
 */
export function gradNormsSquared(grads: readonly Tensor[]): number[] {
  if (grads.length === 0) return [];
  for (const g of grads) {
    if (g.dtype !== 'f32') throw new TlcError(`gradNormsSquared: gradient ${g.describe()} is not f32`);
  }
  return native.gradNormSquared({ grads: grads.map((g) => g.handle), sizes: grads.map((g) => g.size) });
}

/** Squared global norm of the parameters' current gradients (deterministic, fixed order). */
export function gradientSquaredNorm(params: readonly Tensor[]): number {
  const grads = params.map((p) => gradOf(p)).filter((g): g is Tensor => g !== null);
  return gradNormsSquared(grads).reduce((a, b) => a + b, 0);
}

export class AdamW {
  readonly params: readonly Tensor[];
  /** Learning rate of the last step (or the initial one). */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly maxGradNorm: number | null;
  private readonly decays: number[];
  private readonly moments: { m: Tensor; v: Tensor }[];
  private steps = 0;

  constructor(params: Tensor[], opts: AdamWOptions) {
    const [beta1, beta2] = opts.betas ?? [0.9, 0.98];
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = opts.eps ?? 1e-6;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.maxGradNorm = opts.maxGradNorm ?? null;
    checkLr(opts.lr);
    this.lr = opts.lr;
    for (const [name, b] of [['beta1', beta1], ['beta2', beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new TlcError(`AdamW: ${name} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps > 0 && Number.isFinite(this.eps))) throw new TlcError(`AdamW: eps must be positive, got ${this.eps}`);
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) {
      throw new TlcError(`AdamW: weightDecay must be >= 0, got ${this.weightDecay}`);
    }
    if (this.maxGradNorm !== null && !(this.maxGradNorm > 0 && Number.isFinite(this.maxGradNorm))) {
      throw new TlcError(`AdamW: maxGradNorm must be positive or null, got ${this.maxGradNorm}`);
    }
    const seen = new Set<Tensor>();
    params.forEach((p, k) => {
      if (p.dtype !== 'f32') throw new TlcError(`AdamW: parameter ${paramName(p, k)} ${fmtShape(p.shape)} has dtype ${p.dtype}, expected f32`);
      if (p.disposed) throw new TlcError(`AdamW: parameter ${paramName(p, k)} was disposed`);
      if (seen.has(p)) throw new TlcError(`AdamW: parameter ${paramName(p, k)} is listed twice`);
      seen.add(p);
    });
    this.params = [...params];
    this.decays = params.map((p) => (opts.noDecay?.(p) ? 0 : this.weightDecay));
    // Moments live until dispose(), whatever scope the optimizer is built in.
    this.moments = outsideScopes(() => params.map((p, k) => {
      const m = zeros(p.shape), v = zeros(p.shape);
      m.name = `${paramName(p, k)}.exp_avg`;
      v.name = `${paramName(p, k)}.exp_avg_sq`;
      return { m, v };
    }));
  }

  /** Number of steps taken (the t of the bias corrections). */
  get stepCount(): number {
    return this.steps;
  }

  /**
   * One AdamW step on every parameter that has a fresh gradient (parameters with no
   * gradient, or a stale one after zeroGrad, are left as they are; the step counter is
   * global). `lr` overrides the learning rate from this step on.
   */
  step(lr?: number): AdamWStepResult {
    if (lr !== undefined) {
      checkLr(lr);
      this.lr = lr;
    }
    const active: number[] = [];
    this.params.forEach((p, k) => {
      const g = gradOf(p);
      if (!g) return;
      if (g.size !== p.size || g.dtype !== 'f32') {
        throw new TlcError(`AdamW: gradient ${g.describe()} does not match parameter ${paramName(p, k)} ${fmtShape(p.shape)}`);
      }
      active.push(k);
    });
    const grads = active.map((k) => this.params[k].grad!);
    const squares = gradNormsSquared(grads);
    let total = 0;
    for (const s of squares) total += s;  // fixed order: deterministic
    const gradNorm = Math.sqrt(total);
    if (!Number.isFinite(gradNorm)) {
      const bad = squares.findIndex((s) => !Number.isFinite(s));
      if (bad < 0) throw new TlcError(`AdamW: the gradient norm is ${gradNorm}; the step was not taken`);
      const k = active[bad], g = grads[bad];
      const at = native.firstNonFinite(g.handle, g.size);
      const value = g.toFloat32Array()[at];
      throw new TlcError(`AdamW: parameter ${paramName(this.params[k], k)} ${fmtShape(this.params[k].shape)} has a ` +
        `non-finite gradient (${value} at flat index ${at}); the step was not taken`);
    }
    const clipScale = this.maxGradNorm === null ? 1 : Math.min(1, this.maxGradNorm / (gradNorm + 1e-6));
    const t = this.steps + 1;
    if (active.length > 0) {
      native.adamwStep({
        params: active.map((k) => this.params[k].handle), grads: grads.map((g) => g.handle),
        m: active.map((k) => this.moments[k].m.handle), v: active.map((k) => this.moments[k].v.handle),
        sizes: active.map((k) => this.params[k].size), weightDecays: active.map((k) => this.decays[k]),
        lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, step: t, clipScale,
      });
    }
    this.steps = t;
    return { gradNorm, clipScale };
  }

  /** Marks every parameter's gradient stale: the next backward overwrites it. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** The step count and the optimizer's own moment tensors (not copies) for a checkpoint. */
  exportState(): AdamWState {
    return { step: this.steps, moments: this.moments.map(({ m, v }) => ({ m, v })) };
  }

  /** Restores a state saved by exportState (the moments are copied in). */
  importState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new TlcError(`AdamW.importState: invalid step ${state.step}`);
    if (state.moments.length !== this.params.length) {
      throw new TlcError(`AdamW.importState: the state has moments for ${state.moments.length} parameters, the optimizer has ${this.params.length}`);
    }
    state.moments.forEach(({ m, v }, k) => {
      const p = this.params[k];
      for (const [what, t] of [['first moment', m], ['second moment', v]] as const) {
        if (t.dtype !== 'f32' || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
          throw new TlcError(`AdamW.importState: ${what} ${t.describe()} does not match parameter ${paramName(p, k)} ${fmtShape(p.shape)}`);
        }
      }
    });
    state.moments.forEach(({ m, v }, k) => {
      const own = this.moments[k];
      if (m !== own.m) own.m.copyFrom(m);
      if (v !== own.v) own.v.copyFrom(v);
    });
    this.steps = state.step;
  }

  /** Frees the moment tensors; the optimizer cannot step afterwards. */
  dispose(): void {
    for (const { m, v } of this.moments) {
      m.dispose();
      v.dispose();
    }
  }
}

function checkLr(lr: number): void {
  if (!(lr >= 0 && Number.isFinite(lr))) throw new TlcError(`AdamW: lr must be a non-negative number, got ${lr}`);
}
