// The online gradient-noise-scale estimate: it recovers tr(Σ)/|G|² from simulated gradients,
// and what a real training run logs is that estimator applied to its micro-batch gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Rng } from '../src/engine/random.js';
import { backward, gradOf, zeroGrad } from '../src/engine/autograd.js';
import { tidy } from '../src/engine/tensor.js';
import { openShards } from '../src/data/shards.js';
import { presetConfig } from '../src/nn/config.js';
import { IGNORE_INDEX, TransformerLM, type LMBatch } from '../src/nn/transformer.js';
import { loadWeights } from '../src/nn/weights.js';
import { LMBatcher } from '../src/train/lm-batches.js';
import { readMetrics } from '../src/run/metrics.js';
import { pretrain } from '../src/train/pretrain.js';
import { initialNoiseScale, updateNoiseScale, NOISE_EMA } from '../src/train/noise-scale.js';
import { preparedSyntheticData, pretrainOptions } from './corpus-fixture.js';
import { tempDir } from './temp-dir.js';

test('B_simple from small- and big-batch gradient norms matches tr(Σ)/|G|²', () => {
  const rng = new Rng(3);
  const dim = 50, sigma = 2;
  const G = Float64Array.from({ length: dim }, () => rng.normal() * 0.5);
  const gSq = G.reduce((a, x) => a + x * x, 0);
  const truth = (dim * sigma * sigma) / gSq;
  const mean = (n: number, into: Float64Array): void => {
    into.fill(0);
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) into[d] += (G[d] + sigma * rng.normal()) / n;
  };
  const s = initialNoiseScale();
  const small = new Float64Array(dim), rest = new Float64Array(dim);
  let estimate: number | null = null;
  for (let step = 0; step < 3000; step++) {
    // the big batch contains the small one, as with gradient accumulation
    mean(8, small);
    mean(24, rest);
    const big = small.map((x, d) => (8 * x + 24 * rest[d]) / 32);
    const sq = (v: Float64Array) => v.reduce((a, x) => a + x * x, 0);
    estimate = updateNoiseScale(s, 8, sq(small), 32, sq(big));
  }
  assert.ok(estimate !== null);
  assert.ok(Math.abs(estimate / truth - 1) < 0.15, `estimate ${estimate}, truth ${truth}`);
});

test('the noise scale logged by a real training run equals the estimator recomputed from the same weights and batches', async () => {
  // Every step's micro-batch gradients are recomputed from that step's starting weights (a
  // checkpoint after every step) and the batcher replayed from the same seed; |G_small|² is the
  // first micro-batch's mean gradient, |G_big|² the whole step's, and the EMA and ratio of
  // McCandlish et al. are evaluated here, independently of src/train/noise-scale.ts.
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-noise-'), 'run');
  const steps = 16, seqLen = 32, micro = 4, batch = 12, seed = 5;
  const model = presetConfig('L1-D32', { vocab_size: 320, max_len: 32, dropout: 0, objective: 'mlm' });
  await pretrain(run, pretrainOptions({
    data, model, steps, batch_size: batch, micro_batch_size: micro, seq_len: seqLen, lr: 3e-3, warmup: 0.1,
    clip: 0.5, seed, eval_every: 1, eval_tokens: 256, save_every: '1', keep: steps + 1,
    precision: 'f32', // recomputed below in f32 to 1e-5
  }));
  const logged = readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'train');
  assert.deepEqual(logged.map((e) => e.step), Array.from({ length: steps }, (_, i) => i + 1));

  const batcher = new LMBatcher(openShards(data).train, { objective: 'mlm', seqLen, vocabSize: model.vocab_size, seed });
  const lm = new TransformerLM(model, { seed: 0 });
  const params = lm.parameters();
  // mean-loss gradient of one micro-batch at the loaded weights, in float64, and its loss
  const gradient = (b: LMBatch): { g: Float64Array; loss: number } => {
    zeroGrad(params);
    let loss = NaN;
    tidy(() => {
      const l = lm.loss(b, { training: true }).loss;
      loss = l.item();
      backward(l);
    });
    const parts = params.map((p) => gradOf(p)!.toFloat32Array());
    const g = new Float64Array(parts.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of parts) { g.set(x, o); o += x.length; }
    return { g, loss };
  };
  const sq = (v: Float64Array) => v.reduce((s, x) => s + x * x, 0);
  const ema = { gradSq: 0, trace: 0, n: 0 };
  let compared = 0;
  try {
    for (const e of logged) {
      loadWeights(lm, join(run, 'checkpoints', `step-${String(e.step - 1).padStart(8, '0')}`, 'model.safetensors'));
      const grads = Array.from({ length: batch / micro }, () => {
        const b = batcher.next(micro);
        return { ...gradient(b), weight: b.targets!.filter((t) => t !== IGNORE_INDEX).length };
      });
      const bSmall = grads[0].weight, bBig = grads.reduce((s, x) => s + x.weight, 0);
      const big = new Float64Array(grads[0].g.length);
      for (const x of grads) for (let i = 0; i < big.length; i++) big[i] += (x.weight / bBig) * x.g[i];
      const smallSq = sq(grads[0].g), bigSq = sq(big);
      // the same batches: the step's loss is their target-weighted mean; the same gradient: its norm (before clipping)
      const loss = grads.reduce((s, x) => s + x.weight * x.loss, 0) / bBig;
      assert.ok(Math.abs(loss - (e.loss as number)) < 1e-5, `step ${e.step}: loss ${loss}, logged ${e.loss}`);
      assert.ok(Math.abs(Math.sqrt(bigSq) / (e.grad_norm as number) - 1) < 1e-5, `step ${e.step}: |G_big| ${Math.sqrt(bigSq)}, logged ${e.grad_norm}`);
      // E|G_B|² = |G|² + tr(Σ)/B at B_small and B_big, solved for |G|² and tr(Σ), each averaged
      ema.gradSq = NOISE_EMA * ema.gradSq + (1 - NOISE_EMA) * (bBig * bigSq - bSmall * smallSq) / (bBig - bSmall);
      ema.trace = NOISE_EMA * ema.trace + (1 - NOISE_EMA) * (smallSq - bigSq) / (1 / bSmall - 1 / bBig);
      ema.n++;
      const expected = ema.n >= 10 && ema.gradSq > 0 && ema.trace > 0 ? ema.trace / ema.gradSq : null;
      if (expected === null) {
        assert.equal(e.noise_scale, null, `step ${e.step}: logged ${e.noise_scale}, the estimate is not defined yet`);
      } else {
        assert.equal(typeof e.noise_scale, 'number', `step ${e.step}: expected a noise scale of ${expected}`);
        assert.ok(Math.abs((e.noise_scale as number) / expected - 1) < 1e-4, `step ${e.step}: noise scale ${e.noise_scale}, recomputed ${expected}`);
        compared++;
      }
    }
  } finally {
    lm.dispose();
  }
  assert.ok(compared >= 5, `only ${compared} steps had a noise scale to compare`);
});
