// One process of `tlc bench train --ranks N` (bench/ranks.ts): trains the benchmark model for
// a few steps through the real training loop — data-parallel when mpirun started it — and,
// on rank 0, prints one JSON line: the median step's tokens/s and the all-reduce's cost on a
// buffer of the model's gradient size.
//   node dist/bench/ranks-worker.js '<TrainBenchConfig as JSON>'
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TransformerLM, trainingFlopsPerToken } from '../src/nn/index.js';
import { getThreads } from '../src/engine/threads.js';
import { loadMpi } from '../src/engine/mpi.js';
import { Rng } from '../src/engine/random.js';
import { LMBatcher } from '../src/train/lm-batches.js';
import { trainLoop } from '../src/train/loop.js';
import { joinDataParallel } from '../src/train/data-parallel.js';
import { eventsOf, readMetrics } from '../src/run/metrics.js';
import { runFile } from '../src/run/layout.js';
import { modelConfig, type TrainBenchConfig } from './train.js';

/** Steps before the timed ones: primitives, caches, the all-reduce's buffers. */
const WARMUP_STEPS = 2;
const ALLREDUCE_REPEATS = 5;

async function main(): Promise<void> {
  const c = JSON.parse(process.argv[2]) as TrainBenchConfig;
  const dp = joinDataParallel();
  const ranks = dp?.size ?? 1;
  const cfg = modelConfig(c);
  const model = new TransformerLM(cfg, { seed: 0 });
  const rng = new Rng(1);
  const stream = new Uint16Array(1 << 20).map(() => 5 + rng.int(c.vocab - 5));
  const batcher = new LMBatcher(stream, { objective: c.objective, seqLen: c.seq_len, vocabSize: c.vocab, seed: 0 });
  const perRank = c.batch / ranks;
  const flopsPerToken = trainingFlopsPerToken(cfg, c.seq_len);
  const runDir = dp ? dp.fromRankZero(dp.rank === 0 ? mkdtempSync(join(tmpdir(), 'tlc-bench-ranks-')) : undefined)
    : mkdtempSync(join(tmpdir(), 'tlc-bench-ranks-'));
  try {
    await trainLoop(runDir, {
      budget: { kind: 'steps', limit: WARMUP_STEPS + c.steps }, microBatches: ranks, evalEvery: { kind: 'steps', value: 1e9 },
      saveEvery: { kind: 'steps', value: 1e9 }, saveAt: [], keep: 1, publishLatest: false, precision: 'f32',
      schedule: { peakLr: 1e-4, warmup: 0, decay: 'linear' }, weightDecay: 0.01, betas: [0.9, 0.98], eps: 1e-6, maxGradNorm: 1,
    }, {
      model,
      nextBatch: () => batcher.next(perRank),
      loss: (b) => model.loss(b, { training: true }).loss,
      cost: (b) => ({ tokens: b.batchSize * b.seqLen, flops: b.batchSize * b.seqLen * flopsPerToken, weight: b.batchSize }),
      // random tokens have nothing to validate: the benchmark times training steps only
      evaluate: function* () { return { valid_loss: 0 }; },
      dataPosition: null,
    }, false);
    const params = model.parameters().reduce((n, p) => n + p.size, 0);
    let allreduceMs: number | null = null;
    if (dp) {
      const mpi = loadMpi();
      const buf = new Float32Array(params);
      mpi.allreduceSum(buf);
      const t0 = performance.now();
      for (let i = 0; i < ALLREDUCE_REPEATS; i++) mpi.allreduceSum(buf);
      allreduceMs = (performance.now() - t0) / ALLREDUCE_REPEATS;
    }
    if (!dp || dp.rank === 0) {
      const rates = eventsOf(readMetrics(runFile(runDir, 'metrics')), 'train').slice(WARMUP_STEPS)
        .map((e) => e.tokens_per_s as number).sort((a, b) => a - b);
      const bytes = 4 * params;
      process.stdout.write(JSON.stringify({
        ranks, threads: getThreads(), params, tokens_per_s: rates[Math.floor(rates.length / 2)],
        allreduce_ms: allreduceMs,
        // bus bandwidth: the bytes each rank sends and receives, 2·(N−1)/N of the buffer
        allreduce_gb_per_s: allreduceMs === null ? null : (2 * (ranks - 1) / ranks) * bytes / (allreduceMs / 1000) / 1e9,
      }) + '\n');
      rmSync(runDir, { recursive: true, force: true });
    }
  } finally {
    model.dispose();
    dp?.finalize();
  }
}

await main();
