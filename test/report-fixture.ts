// A report's input without any training: metrics.jsonl files as the trainer writes them for
// three model sizes under one 60-second budget, and one compress.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FixtureRun {
  size: string;
  params: number;
  nonEmbedding: number;
  tokensPerS: number;
}

export const FIXTURE_RUNS: FixtureRun[] = [
  { size: 'L2-D128', params: 1_511_680, nonEmbedding: 396_544, tokensPerS: 20_000 },
  { size: 'L4-D256', params: 5_396_224, nonEmbedding: 3_159_040, tokensPerS: 7_000 },
  { size: 'L4-D512', params: 17_128_448, nonEmbedding: 12_858_368, tokensPerS: 2_100 },
];
export const BUDGET_SECONDS = 60;
export const EVAL_EVERY_SECONDS = 6;
const UNIGRAM = 7.412;
const SEQ = 128, BATCH = 32;

/** A made-up but plausible curve: a floor that falls with size, reached faster per token by larger models. */
export function fixtureLoss(nonEmbedding: number, tokens: number): number {
  const floor = 1.5 + 2 * Math.pow(1e6 / nonEmbedding, 0.3);
  return floor + (9.01 - floor) / (1 + Math.pow(tokens * Math.sqrt(nonEmbedding / 1e6) / 3e4, 0.7));
}

/** objective seq2seq: a translation run, whose evaluations also log validation BLEU. */
export function writeRunMetrics(dir: string, run: FixtureRun, objective: 'mlm' | 'seq2seq' = 'mlm'): void {
  mkdirSync(dir, { recursive: true });
  const tokensPerStep = SEQ * BATCH;
  const stepSeconds = tokensPerStep / run.tokensPerS;
  const flopsPerToken = 6 * run.nonEmbedding + 12 * 2 * SEQ * 256;
  const lines: object[] = [];
  const at = (step: number) => ({ train_seconds: step * stepSeconds, tokens: step * tokensPerStep, flops: step * tokensPerStep * flopsPerToken });
  const evalAt = (step: number) => {
    const loss = fixtureLoss(run.nonEmbedding, step * tokensPerStep);
    const bleu = objective === 'seq2seq' ? { valid_bleu: Math.max(0, 40 * (1 - loss / 9.01)) } : {};
    return { event: 'eval', step, ...at(step), valid_loss: loss, valid_ppl: Math.exp(loss), valid_tokens: 32768, eval_seconds: 0.8, ...bleu };
  };
  lines.push({
    event: 'start', step: 0, params: run.params, budget: { kind: 'time', limit: BUDGET_SECONDS }, threads: 2, train_seconds: 0,
    objective, non_embedding_params: run.nonEmbedding, flops_per_token: flopsPerToken, unigram_valid_loss: UNIGRAM,
  });
  lines.push(evalAt(0));
  const steps = Math.ceil(BUDGET_SECONDS / stepSeconds);
  let nextEval = EVAL_EVERY_SECONDS;
  for (let step = 1; step <= steps; step++) {
    const progress = Math.min(1, (step * stepSeconds) / BUDGET_SECONDS);
    const loss = fixtureLoss(run.nonEmbedding, step * tokensPerStep) + 0.05 * Math.sin(step);
    lines.push({
      event: 'train', step, ...at(step), lr: 1e-3 * Math.min(progress / 0.06, (1 - progress) / 0.94), loss, grad_norm: 1.2,
      step_seconds: stepSeconds, tokens_per_s: run.tokensPerS, gflops: (flopsPerToken * run.tokensPerS) / 1e9, progress,
    });
    if (step * stepSeconds >= nextEval - 1e-9 || step === steps) {
      lines.push(evalAt(step));
      nextEval += EVAL_EVERY_SECONDS;
    }
  }
  const last = evalAt(steps) as { valid_loss: number };
  lines.push({
    event: 'end', step: steps, ...at(steps), eval_seconds: 8, checkpoint_seconds: 1.5, stopped_early: false,
    valid_loss: last.valid_loss,
  });
  const stamp = (i: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, i % 60)).toISOString();
  writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l, i) => JSON.stringify({ ...l, wall_time: stamp(i) }) + '\n').join(''));
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ command: 'pretrain', model: run.size, budget: { kind: 'time', limit: BUDGET_SECONDS } }));
}

/** compress.json of a finetuned classifier at sparsity × bits, as `tlc compress` writes it. */
export function writeCompressSummary(dir: string, model: string, params: number): void {
  mkdirSync(dir, { recursive: true });
  const denseBytes = params * 4;
  const rows = [];
  for (const sparsity of [0, 0.5, 0.9]) {
    for (const bits of [32, 8, 4]) {
      const linearShare = 0.75;
      const linear = denseBytes * linearShare * (bits / 32) * (sparsity > 0 ? (1 - sparsity) + 1 / 32 : 1);
      const bytes = Math.round(linear + denseBytes * (1 - linearShare) * (bits === 32 ? 1 : Math.max(bits, 4) / 32) + 2048);
      const accuracy = 0.91 - (bits === 4 ? 0.015 : 0) - sparsity * sparsity * 0.12 - (bits === 4 && sparsity === 0.9 ? 0.05 : 0);
      rows.push({
        model, params, sparsity, bits, mode: 'oneshot', bytes, file: join(dir, `s${sparsity}-b${bits}`, 'model.tlcz.safetensors'),
        accuracy: Math.round(accuracy * 1000) / 1000, macro_f1: Math.round((accuracy - 0.02) * 1000) / 1000, measured_sparsity: sparsity,
        kernels: sparsity >= 0.9 ? 'sparse×26' : bits === 8 ? 'int8×26' : bits === 4 ? 'w4a8×26' : 'f32×26',
        latency_ms: 20 * (sparsity >= 0.9 ? 0.5 : bits === 8 ? 0.4 : bits === 4 ? 1.1 : 1), latency_seq_len: 128,
      });
    }
  }
  writeFileSync(join(dir, 'compress.json'), JSON.stringify({ model, mode: 'oneshot', rows }, null, 2));
}

/** The whole fixture: runs/<size>/metrics.jsonl for each size and compress/L4-D512-clf/compress.json. */
export function writeReportFixture(root: string): void {
  for (const r of FIXTURE_RUNS) writeRunMetrics(join(root, 'runs', r.size), r);
  writeCompressSummary(join(root, 'compress', 'L4-D512-clf'), 'runs/L4-D512-clf', 17_129_474);
}
