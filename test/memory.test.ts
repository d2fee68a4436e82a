// Memory: a long training loop must not grow RSS, leak native blocks or tape records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Bf16Weights, backward, memoryStats, setBf16Weights, tapeLength, tidy, zeroGrad } from '../src/engine/index.js';
import { AdamW } from '../src/engine/optim.js';
import { TransformerLM, parseModelConfig, type LMBatch } from '../src/nn/index.js';
import { Rng } from '../src/engine/random.js';
import { noBf16 } from './helpers.js';

// bf16 runs half the steps (the suite's time); a leak of 4 KB a step would still show 16 MiB
for (const [precision, STEPS] of [['f32', 10000], ['bf16', 5000]] as const) {
test(`${STEPS.toLocaleString('en')} training steps keep RSS and native memory flat (${precision})`, { skip: precision === 'bf16' && noBf16() }, () => {
  const cfg = parseModelConfig({ objective: 'mlm', vocab_size: 64, d_model: 16, n_layers: 1, n_heads: 2, d_ff: 32, max_len: 8, dropout: 0.1 });
  const model = new TransformerLM(cfg, { seed: 1 });
  const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01, maxGradNorm: 1 });
  // bf16: the weight copies are re-cast after every step, into the same blocks
  const bf16 = precision === 'bf16' ? new Bf16Weights(model.parameters().filter((p) => p.shape.length === 2)) : null;
  const previous = setBf16Weights(bf16);
  const rng = new Rng(2);
  const B = 2, T = 8;
  const batch = (): LMBatch => {
    const inputIds = Int32Array.from({ length: B * T }, () => 5 + rng.int(59));
    // a varying number of targets, as masking produces
    const targets = Int32Array.from(inputIds, (id) => (rng.uniform() < 0.3 ? id : -100));
    return { batchSize: B, seqLen: T, inputIds, targets };
  };
  const step = (): void => {
    zeroGrad(model.parameters());
    tidy(() => backward(model.loss(batch(), { training: true }).loss));
    opt.step();
    bf16?.invalidate();
  };
  for (let i = 0; i < 1000; i++) step();
  const rss0 = process.memoryUsage.rss(), live0 = memoryStats().liveBytes;
  for (let i = 1000; i < STEPS; i++) step();
  const rss1 = process.memoryUsage.rss(), live1 = memoryStats().liveBytes;
  assert.equal(tapeLength(), 0, 'tape records leaked');
  assert.equal(live1, live0, `native memory in use grew from ${live0} to ${live1} bytes`);
  // the JS heap may still grow a young generation once (~8 MiB); a leak of even 2 KB a step would show 18 MiB
  assert.ok(rss1 - rss0 < 16 * 2 ** 20, `RSS grew by ${((rss1 - rss0) / 2 ** 20).toFixed(1)} MiB over ${STEPS - 1000} steps`);
  // one cast per weight matrix per step (qkv, out, fc1, fc2, the head's dense layer and the tied
  // output layer), not one per use
  if (bf16) assert.deepEqual([bf16.copied, bf16.casts], [6, STEPS * 6]);
  const copies = bf16?.bytes() ?? 0;
  setBf16Weights(previous);
  bf16?.dispose();
  assert.equal(memoryStats().liveBytes, live1 - copies, 'the bf16 copies are freed with their set');
  model.dispose();
  opt.dispose();
});
}
