// `tlc plan`: which shape to train for a new budget on this machine. The scaling-law fit
// L(N, D) from a sweep's measurements predicts each candidate's loss at the tokens its
// measured (or estimated) throughput buys within the budget.
import { TlcError } from '../engine/errors.js';
import { presetConfig, countParams, trainingFlopsPerToken, PRESETS } from '../nn/config.js';
import { fitChinchilla, predictLoss, type ChinchillaFit } from './fit.js';
import type { SweepRun } from './analysis.js';

export interface PlanCandidate {
  preset: string;
  nonEmbeddingParams: number;
  tokensPerS: number;
  /** Whether the throughput was measured in the sweep or extrapolated from its GFLOP/s. */
  measured: boolean;
  tokens: number;
  loss: number;
  low: number;
  high: number;
}

export interface Plan {
  budgetSeconds: number;
  fit: ChinchillaFit;
  candidates: PlanCandidate[];
  best: PlanCandidate;
  /** True when the best candidate's advantage is within the prediction uncertainty. */
  sizeBarelyMatters: boolean;
  batchSize: { sequences: number; reason: string } | null;
  summary: string;
}

/** Evaluation points used for the fit: past the first quarter of each run (warmup distorts earlier ones). */
export function fitPoints(runs: SweepRun[]): { params: number; tokens: number; loss: number }[] {
  return runs.flatMap((r) => {
    const end = r.curve.length ? r.curve[r.curve.length - 1].tokens : 0;
    return r.curve.filter((p) => p.tokens > 0 && p.tokens >= 0.25 * end && Number.isFinite(p.validLoss))
      .map((p) => ({ params: r.non_embedding_params, tokens: p.tokens, loss: p.validLoss }));
  });
}

export function plan(runs: SweepRun[], budgetSeconds: number, opts: { vocabSize: number; seqLen: number; objective: 'mlm' | 'clm' }): Plan {
  if (!(budgetSeconds > 0)) throw new TlcError(`the budget must be positive, got ${budgetSeconds} s`);
  const points = fitPoints(runs);
  const fit = fitChinchilla(points);
  // achieved model GFLOP/s of the swept runs extrapolates the throughput of unswept shapes
  const gflops = runs.map((r) => (r.tokens_per_s * trainingFlopsPerToken(configFor(r.preset, opts), opts.seqLen)) / 1e9).sort((a, b) => a - b);
  const typicalGflops = gflops[Math.floor(gflops.length / 2)];
  const measured = new Map(runs.map((r) => [r.preset, r.tokens_per_s]));
  const presets = [...new Set([...runs.map((r) => r.preset), ...PRESETS])];
  const candidates = presets.map((preset) => {
    const cfg = configFor(preset, opts);
    const n = countParams(cfg).nonEmbedding;
    const tps = measured.get(preset) ?? (typicalGflops * 1e9) / trainingFlopsPerToken(cfg, opts.seqLen);
    const tokens = tps * budgetSeconds;
    const p = predictLoss(fit, n, tokens);
    const [low, high] = p.interval ?? [p.loss, p.loss];
    return { preset, nonEmbeddingParams: n, tokensPerS: tps, measured: measured.has(preset), tokens, loss: p.loss, low, high };
  }).sort((a, b) => a.nonEmbeddingParams - b.nonEmbeddingParams);
  const best = candidates.reduce((a, c) => (c.loss < a.loss ? c : a));
  const smallest = candidates[0];
  const sizeBarelyMatters = best === smallest || best.high >= smallest.low;
  const batchSize = batchAdvice(runs, best.preset, opts);
  const minutes = budgetSeconds / 60;
  const summary = `For ${minutes >= 1 ? `${minutes.toFixed(minutes < 10 ? 1 : 0)} minutes` : `${budgetSeconds} s`} of training, ` +
    `${best.preset} is predicted to reach the lowest validation loss, ${best.loss.toFixed(3)} ` +
    `(90% band ${best.low.toFixed(3)}–${best.high.toFixed(3)}), after ${(best.tokens / 1e6).toFixed(1)}M tokens` +
    (best.measured ? '' : ' (throughput extrapolated from the sweep)') + '. ' +
    (sizeBarelyMatters
      ? `Size barely matters at this budget: the difference to the smallest shape (${smallest.preset}, ${smallest.loss.toFixed(3)}) is within the uncertainty — the Cramming regime.`
      : `That beats the smallest shape (${smallest.preset}, ${smallest.loss.toFixed(3)}) by more than the uncertainty: train large, then compress.`) +
    (batchSize ? ` ${batchSize.reason}` : '');
  return { budgetSeconds, fit, candidates, best, sizeBarelyMatters, batchSize, summary };
}

function configFor(preset: string, opts: { vocabSize: number; seqLen: number; objective: 'mlm' | 'clm' }) {
  return presetConfig(preset, { vocab_size: opts.vocabSize, max_len: Math.max(opts.seqLen, 128), objective: opts.objective });
}

/**
 * The gradient noise scale estimates the critical batch size in predicted items (masked
 * tokens or sequences); converted to sequences, it bounds the batch that still uses
 * compute efficiently (McCandlish et al. 2018).
 */
function batchAdvice(runs: SweepRun[], preset: string, opts: { seqLen: number; objective: 'mlm' | 'clm' }): Plan['batchSize'] {
  const withNoise = runs.filter((r) => r.noiseScale !== null);
  if (withNoise.length === 0) return null;
  const run = withNoise.find((r) => r.preset === preset) ?? withNoise[withNoise.length - 1];
  const targetsPerSequence = opts.objective === 'mlm' ? 0.15 * (opts.seqLen - 1) : opts.seqLen;
  const critical = run.noiseScale! / targetsPerSequence;
  const sequences = 2 ** Math.max(3, Math.min(10, Math.round(Math.log2(Math.max(1, critical)))));
  return {
    sequences,
    reason: `The gradient noise scale measured in ${run.name} (≈${Math.round(critical)} sequences) suggests a batch of about ` +
      `${sequences} sequences: larger batches would mostly buy noise reduction the model does not need yet — grow the model, not the batch.`,
  };
}
