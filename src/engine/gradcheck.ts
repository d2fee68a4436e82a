// Gradient checking: analytic gradients from the tape against central finite
// differences. The scalar probed is L = Σ r·f(x) for a fixed random r, accumulated in
// float64; each probe uses the exact float32 perturbation that was applied, so the
// only error left is the op's own float32 rounding and the O(eps²) truncation term.
import { backward, gradOf, noGrad, zeroGrad } from './autograd.js';
import { Rng } from './random.js';
import { Tensor, tensor, tidy } from './tensor.js';

export interface GradcheckOptions {
  /** Perturbation size (default 1e-2; smooth float32 ops balance truncation and rounding there). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** At most this many elements per input are probed (chosen at random). */
  samples?: number;
  seed?: number;
  /** Inputs (by index) that are not differentiated, e.g. masks or integer ids. */
  skip?: number[];
}

export interface GradcheckResult {
  ok: boolean;
  /** Worst |analytic − numeric| / (atol + rtol·|numeric|) over all probes; ≤ 1 passes. */
  worstRatio: number;
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
  probes: number;
}

export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const skip = new Set(opts.skip ?? []);
  return tidy(() => {
    const leaves = inputs.map((t, i) => {
      const c = t.clone();
      c.requiresGrad = t.dtype === 'f32' && !skip.has(i);
      return c;
    });
    return checkLeaves(() => fn(...leaves), leaves, opts);
  });
}

/**
 * gradcheck for tensors that already are leaves, such as a model's parameters: `fn`
 * computes from them (and whatever else it closes over). Each probed value is restored.
 */
export function gradcheckLeaves(fn: () => Tensor, leaves: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const skip = new Set(opts.skip ?? []);
  const saved = leaves.map((t) => t.requiresGrad);
  leaves.forEach((t, i) => { t.requiresGrad = t.dtype === 'f32' && !skip.has(i); });
  zeroGrad(leaves);
  try {
    return tidy(() => checkLeaves(fn, leaves, opts));
  } finally {
    leaves.forEach((t, i) => { t.requiresGrad = saved[i]; });
  }
}

function checkLeaves(fn: () => Tensor, leaves: Tensor[], opts: GradcheckOptions): GradcheckResult {
  const eps = opts.eps ?? 1e-2, atol = opts.atol ?? 1e-3, rtol = opts.rtol ?? 1e-2;
  const samples = opts.samples ?? 64;
  const rng = new Rng(opts.seed ?? 1234);
  const y = fn();
  const r = new Float64Array(y.size);
  for (let i = 0; i < r.length; i++) r[i] = rng.normal();
  backward(y, tensor(Float32Array.from(r), y.shape));
  const analytic = leaves.map((t) => (t.requiresGrad ? gradOf(t)?.toArray() as Float32Array | undefined ?? null : null));

  const probe = (): number => noGrad(() => tidy(() => {
    const out = fn().toArray() as Float32Array;
    let s = 0;
    for (let i = 0; i < out.length; i++) s += r[i] * out[i];
    return s;
  }));

  let worstRatio = 0, probes = 0;
  let worst: GradcheckResult['worst'] = null;
  leaves.forEach((leaf, input) => {
    if (!leaf.requiresGrad) return;
    const base = leaf.toArray() as Float32Array;
    const picks = leaf.size <= samples ? [...Array(leaf.size).keys()] : Array.from({ length: samples }, () => rng.int(leaf.size));
    for (const index of picks) {
      const x0 = base[index];
      const up = Math.fround(x0 + eps), down = Math.fround(x0 - eps);
      const one = new Float32Array(1);
      one[0] = up; leaf.write(one, index);
      const lUp = probe();
      one[0] = down; leaf.write(one, index);
      const lDown = probe();
      one[0] = x0; leaf.write(one, index);
      const numeric = (lUp - lDown) / (up - down);
      const a = analytic[input] ? analytic[input]![index] : 0;
      const ratio = Math.abs(a - numeric) / (atol + rtol * Math.abs(numeric));
      probes++;
      if (worst === null || !(ratio <= worstRatio)) {
        worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
        worst = { input, index, analytic: a, numeric };
      }
    }
  });
  return { ok: worstRatio <= 1, worstRatio, worst, probes };
}
