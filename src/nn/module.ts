// Module: a named tree of parameters, as in PyTorch's nn.Module but minimal. Parameter
// names are dotted paths ("blocks.0.attn.qkv.weight"), the keys of model.safetensors.
import { Tensor, outsideScopes, tensor, full } from '../engine/tensor.js';
import type { Rng } from '../engine/random.js';

export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected addParam(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    this.ownParams.set(name, t);
    return t;
  }

  protected addChild<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** All parameters, depth-first in registration order, with dotted names. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.ownParams) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Every module in the tree with its dotted path ('' for the root). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Frees every parameter (and its gradient) and what else any module of the tree holds natively. */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeResources();
    for (const t of this.parameters()) t.dispose();
  }

  /** Frees native resources this module holds besides its parameters (called by dispose). */
  protected disposeResources(): void {}
}

/** A persistent f32 parameter drawn from N(0, std²). */
export function normalParam(shape: number[], std: number, rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return outsideScopes(() => tensor(data, shape));
}

export function constantParam(shape: number[], value: number): Tensor {
  return outsideScopes(() => full(shape, value));
}
