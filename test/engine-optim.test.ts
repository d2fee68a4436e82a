import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, gradNormsSquared, tidy, tensor, setThreads, getThreads, TlcError, type Tensor } from '../src/engine/index.js';
import { randn } from './helpers.js';

const f = Math.fround;

interface Hyper { lr: number; beta1: number; beta2: number; eps: number }

/**
 * torch.optim.AdamW's single-tensor step (PyTorch 1.13) in float32 arithmetic: every
 * operation rounded to float in PyTorch's order, the scalars rounded where PyTorch rounds
 * them, FMAs where its vectorised kernels fuse (add_ with alpha, addcmul_). A float product
 * is exact in double, so fround(a·b + c) is the float FMA.
 */
class AdamWFloat32 {
  m: Float32Array; v: Float32Array;
  constructor(readonly p: Float32Array, readonly wd: number) {
    this.m = new Float32Array(p.length);
    this.v = new Float32Array(p.length);
  }
  step(g: Float32Array, t: number, clip: number, h: Hyper): void {
    const decay = f(1 - h.lr * this.wd), b1 = f(h.beta1), c1 = f(1 - h.beta1), b2 = f(h.beta2), c2 = f(1 - h.beta2);
    const negStep = f(-(h.lr / (1 - h.beta1 ** t))), bc2Sqrt = f(Math.sqrt(1 - h.beta2 ** t)), eps = f(h.eps), cs = f(clip);
    for (let i = 0; i < g.length; i++) {
      const gi = f(g[i] * cs);
      const p = f(this.p[i] * decay);
      const m = f(gi * c1 + f(this.m[i] * b1));
      const v = f(f(c2 * gi) * gi + f(this.v[i] * b2));
      const denom = f(f(f(Math.sqrt(v)) / bc2Sqrt) + eps);
      this.p[i] = f(p + f(f(negStep * m) / denom));
      this.m[i] = m;
      this.v[i] = v;
    }
  }
}

/** The same formula in float64, from float32 inputs. */
class AdamWFloat64 {
  p: Float64Array; m: Float64Array; v: Float64Array;
  constructor(p: Float32Array, readonly wd: number) {
    this.p = Float64Array.from(p);
    this.m = new Float64Array(p.length);
    this.v = new Float64Array(p.length);
  }
  step(g: Float32Array, t: number, clip: number, h: Hyper): void {
    const stepSize = h.lr / (1 - h.beta1 ** t), bc2Sqrt = Math.sqrt(1 - h.beta2 ** t);
    for (let i = 0; i < g.length; i++) {
      const gi = g[i] * clip;
      this.p[i] *= 1 - h.lr * this.wd;
      this.m[i] = h.beta1 * this.m[i] + (1 - h.beta1) * gi;
      this.v[i] = h.beta2 * this.v[i] + (1 - h.beta2) * gi * gi;
      this.p[i] -= stepSize * this.m[i] / (Math.sqrt(this.v[i]) / bc2Sqrt + h.eps);
    }
  }
}

function setGrad(p: Tensor, g: Float32Array): void {
  if (p.grad) p.grad.dispose();
  p.grad = tensor(g, p.shape);
  p.gradStale = false;
}

function param(shape: number[], seed: number, name: string): Tensor {
  const p = randn(shape, seed);
  p.name = name;
  p.requiresGrad = true;
  return p;
}

test('AdamW matches float64 and float32-exact references of PyTorch AdamW over 5 steps with clipping', () => {
  tidy(() => {
    const params = [param([13], 1, 'bias'), param([7, 13], 2, 'w'), param([70001], 3, 'big')];  // big spans chunks
    const h: Hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6 };
    const wd = 0.01, maxGradNorm = 1.0;
    const opt = new AdamW(params, { lr: h.lr, weightDecay: wd, maxGradNorm, noDecay: (p) => p.name === 'bias' });
    const decays = [0, wd, wd];
    const exact = params.map((p, k) => new AdamWFloat32(p.toFloat32Array(), decays[k]));
    const wide = params.map((p, k) => new AdamWFloat64(p.toFloat32Array(), decays[k]));
    for (let t = 1; t <= 5; t++) {
      const lr = t >= 4 ? 5e-3 : 1e-2;  // a schedule changes lr through step(lr)
      const grads = params.map((p, k) => randn([...p.shape], 100 * t + k, 0.8).toFloat32Array());
      params.forEach((p, k) => setGrad(p, grads[k]));
      let sq = 0;
      for (const g of grads) for (const x of g) sq += x * x;
      const norm = Math.sqrt(sq);
      const { gradNorm, clipScale } = opt.step(t >= 4 ? lr : undefined);
      assert.ok(Math.abs(gradNorm - norm) < 1e-12 * norm, `step ${t}: norm ${gradNorm} vs ${norm}`);
      assert.equal(clipScale, Math.min(1, maxGradNorm / (gradNorm + 1e-6)));
      assert.ok(clipScale < 0.01, 'clipping is active');
      for (let k = 0; k < params.length; k++) {
        exact[k].step(grads[k], t, clipScale, { ...h, lr });
        wide[k].step(grads[k], t, Math.min(1, maxGradNorm / (norm + 1e-6)), { ...h, lr });
      }
    }
    assert.equal(opt.stepCount, 5);
    const state = opt.exportState();
    params.forEach((p, k) => {
      const got = p.toFloat32Array(), m = state.moments[k].m.toFloat32Array(), v = state.moments[k].v.toFloat32Array();
      assert.deepEqual(Buffer.from(got.buffer), Buffer.from(exact[k].p.buffer), `${p.name}: parameters differ from the float32 reference`);
      assert.deepEqual(Buffer.from(m.buffer), Buffer.from(exact[k].m.buffer), `${p.name}: exp_avg differs`);
      assert.deepEqual(Buffer.from(v.buffer), Buffer.from(exact[k].v.buffer), `${p.name}: exp_avg_sq differs`);
      for (let i = 0; i < got.length; i++) {
        assert.ok(Math.abs(got[i] - wide[k].p[i]) < 2e-6, `${p.name}[${i}]: ${got[i]} vs float64 ${wide[k].p[i]}`);
        assert.ok(Math.abs(m[i] - wide[k].m[i]) < 1e-6 * (1e-3 + Math.abs(wide[k].m[i])), `${p.name}.exp_avg[${i}]`);
        assert.ok(Math.abs(v[i] - wide[k].v[i]) < 1e-6 * (1e-9 + Math.abs(wide[k].v[i])), `${p.name}.exp_avg_sq[${i}]`);
      }
    });
    opt.dispose();
  });
});

test('AdamW skips parameters with no or stale gradients; the step counter is global', () => {
  tidy(() => {
    const a = param([5], 10, 'a'), b = param([3], 11, 'b'), c = param([2], 12, 'never');
    const opt = new AdamW([a, b, c], { lr: 0.1 });
    const ra = new AdamWFloat32(a.toFloat32Array(), 0.01), rb = new AdamWFloat32(b.toFloat32Array(), 0.01);
    const cBefore = c.toFloat32Array();
    const h: Hyper = { lr: 0.1, beta1: 0.9, beta2: 0.98, eps: 1e-6 };
    const ga = [1, 2, 3].map((t) => randn([5], 20 + t).toFloat32Array()), gb = [1, 2, 3].map((t) => randn([3], 30 + t).toFloat32Array());
    for (let t = 1; t <= 3; t++) {
      opt.zeroGrad();
      setGrad(a, ga[t - 1]);
      if (t !== 2) setGrad(b, gb[t - 1]);  // b's gradient stays stale at step 2
      const { clipScale } = opt.step();
      assert.equal(clipScale, 1);
      ra.step(ga[t - 1], t, 1, h);
      if (t !== 2) rb.step(gb[t - 1], t, 1, h);  // b's third update uses t = 3
    }
    assert.deepEqual(Array.from(a.toFloat32Array()), Array.from(ra.p));
    assert.deepEqual(Array.from(b.toFloat32Array()), Array.from(rb.p));
    assert.deepEqual(Array.from(c.toFloat32Array()), Array.from(cBefore));
    assert.ok(opt.exportState().moments[2].m.toFloat32Array().every((x) => x === 0));
    opt.dispose();
  });
});

test('a non-finite gradient names the parameter and leaves everything untouched', () => {
  tidy(() => {
    const a = param([4], 40, 'embed.weight'), b = param([6], 41, 'layer.1.w');
    const opt = new AdamW([a, b], { lr: 0.1, maxGradNorm: 1 });
    const g = new Float32Array(6);
    g[5] = NaN;
    setGrad(a, new Float32Array(4).fill(1));
    setGrad(b, g);
    const before = b.toFloat32Array();
    assert.throws(() => opt.step(), (e: Error) => e instanceof TlcError &&
      /AdamW: parameter layer\.1\.w \[6\] has a non-finite gradient \(NaN at flat index 5\)/.test(e.message));
    assert.equal(opt.stepCount, 0);
    assert.deepEqual(Array.from(b.toFloat32Array()), Array.from(before));
    g[5] = Infinity;
    setGrad(b, g);
    assert.throws(() => opt.step(), /layer\.1\.w \[6\] has a non-finite gradient \(Infinity at flat index 5\)/);
    opt.dispose();
  });
});

test('gradient norm is bit-identical with 1 and 2 threads', () => {
  const saved = getThreads();
  try {
    tidy(() => {
      const grads = [randn([300001], 50), randn([7], 51), randn([40000], 52, 1e-3)];
      const run = (threads: number): number[] => {
        setThreads(threads);
        return gradNormsSquared(grads);
      };
      const one = run(1), two = run(2);
      assert.deepEqual(one, two);
      grads.forEach((g, k) => {
        let s = 0;
        for (const x of g.toFloat32Array()) s += x * x;
        assert.ok(Math.abs(one[k] - s) < 1e-12 * s, `gradient ${k}`);
      });
    });
  } finally {
    setThreads(saved);
  }
});

test('exportState/importState resume the exact same trajectory', () => {
  tidy(() => {
    const grads = [1, 2, 3, 4, 5].map((t) => randn([9], 60 + t).toFloat32Array());
    const a = param([9], 70, 'w');
    const b = a.clone();
    b.name = 'w';
    b.requiresGrad = true;
    const optA = new AdamW([a], { lr: 0.05, maxGradNorm: 0.5 });
    for (let t = 0; t < 3; t++) { setGrad(a, grads[t]); optA.step(); }
    b.copyFrom(a);
    const optB = new AdamW([b], { lr: 0.05, maxGradNorm: 0.5 });
    optB.importState(optA.exportState());
    assert.equal(optB.stepCount, 3);
    for (let t = 3; t < 5; t++) {
      setGrad(a, grads[t]); optA.step();
      setGrad(b, grads[t]); optB.step();
    }
    assert.deepEqual(Array.from(b.toFloat32Array()), Array.from(a.toFloat32Array()));
    assert.throws(() => optB.importState({ step: 1, moments: [] }), /AdamW.importState: the state has moments for 0 parameters, the optimizer has 1/);
    const wrong = { step: 1, moments: [{ m: randn([3], 1), v: randn([9], 1) }] };
    assert.throws(() => optB.importState(wrong), /AdamW.importState: first moment \[3\] f32 does not match parameter w \[9\]/);
    optA.dispose();
    optB.dispose();
  });
});

test('bad options are rejected with clear messages', () => {
  tidy(() => {
    const p = param([3], 80, 'p');
    assert.throws(() => new AdamW([p], { lr: -1 }), /AdamW: lr must be a non-negative number, got -1/);
    assert.throws(() => new AdamW([p], { lr: 1e-3, betas: [0.9, 1] }), /AdamW: beta2 must be in \[0, 1\), got 1/);
    assert.throws(() => new AdamW([p], { lr: 1e-3, eps: 0 }), /AdamW: eps must be positive/);
    assert.throws(() => new AdamW([p], { lr: 1e-3, maxGradNorm: 0 }), /AdamW: maxGradNorm must be positive or null/);
    assert.throws(() => new AdamW([p, p], { lr: 1e-3 }), /AdamW: parameter p is listed twice/);
    assert.throws(() => new AdamW([tensor(new Int32Array(2), [2], 'i32')], { lr: 1e-3 }), /AdamW: parameter #0 \[2\] has dtype i32, expected f32/);
  });
});
