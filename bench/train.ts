// Training benchmark: tokens/s and achieved GFLOP/s of one full training step
// (forward, backward, AdamW) for the reference configuration, next to PyTorch training
// the same architecture in the same run, and next to oneDNN's f32 and bf16 matmul peaks.
// tlc runs three ways, in alternating steps: f32; bf16 mixed precision (bf16 products with
// f32 accumulation, f32 master weights and AdamW state, layer norms and GELUs writing bf16
// for the products that consume them; src/engine/mixed.ts); and bf16 with those activations
// kept in f32 (the same numbers: what writing them in bf16 saves). Each reports the bytes
// its step's activations peak at.
// GFLOP/s for both counts the same model FLOPs: 6·N + 12·L·T·d per token.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, waitPolicy } from '../src/engine/native.js';
import { backward, getThreads, memoryStats, resetPeakMemory, tidy, zeroGrad } from '../src/engine/index.js';
import { AdamW } from '../src/engine/optim.js';
import { Bf16Weights, autoPrecision, bf16Unavailable, setBf16Weights, type Precision } from '../src/engine/mixed.js';
import { TransformerLM, countParams, parseModelConfig, trainingFlopsPerToken, type ModelConfig } from '../src/nn/index.js';
import { LMBatcher } from '../src/train/lm-batches.js';
import { Rng } from '../src/engine/random.js';

export interface TrainBenchConfig {
  objective: 'mlm' | 'clm';
  layers: number;
  d_model: number;
  heads: number;
  seq_len: number;
  batch: number;
  vocab: number;
  steps: number;
}

export const REFERENCE_TRAIN_CONFIG: TrainBenchConfig = {
  objective: 'mlm', layers: 4, d_model: 512, heads: 8, seq_len: 128, batch: 32, vocab: 8192, steps: 5,
};

/** A tlc row: throughput, and the native bytes a step's activations peak at above what it holds between steps. */
export interface TlcTrainRow {
  tokens_per_s: number;
  gflops: number;
  activation_peak_bytes: number;
}

/** A row this CPU cannot run: its numbers are null and `unavailable` says why. */
export interface UnavailableRow {
  tokens_per_s: null;
  gflops: null;
  unavailable: string;
}

export interface TrainBenchResult {
  config: TrainBenchConfig & { threads: number; params: number; flops_per_token: number };
  tlc: TlcTrainRow;
  /** tlc in bf16 mixed precision. */
  tlc_bf16: TlcTrainRow | UnavailableRow;
  /** tlc in bf16 with the products' inputs kept in f32 as well (the same numbers). */
  tlc_bf16_f32_activations: TlcTrainRow | UnavailableRow;
  /** PyTorch running the same algorithm (output layer only at positions with a target). */
  pytorch: { tokens_per_s: number; gflops: number; version: string; blas?: string } | null;
  /** PyTorch with CPU autocast to bf16 (oneDNN bf16 products, f32 master weights). */
  pytorch_bf16?: { tokens_per_s: number; gflops: number; version: string };
  /** PyTorch computing logits at every position, as Hugging Face's RobertaForMaskedLM does (masked LM only). */
  pytorch_all_positions?: { tokens_per_s: number; gflops: number; version: string } | null;
  pytorch_error?: string;
  matmul_peak_gflops: number;
  /** The same shapes as bf16 × bf16 → f32 products (null where this CPU has none). */
  bf16_matmul_peak_gflops: number | null;
}

export function modelConfig(c: TrainBenchConfig): ModelConfig {
  return parseModelConfig({
    objective: c.objective, vocab_size: c.vocab, d_model: c.d_model, n_layers: c.layers, n_heads: c.heads,
    d_ff: 4 * c.d_model, max_len: c.seq_len, dropout: 0, activation: c.objective === 'clm' ? 'gelu_tanh' : 'gelu',
  });
}

/** Highest f32 (or bf16 × bf16 → f32) matmul throughput of raw oneDNN over large Transformer-like shapes. */
export function matmulPeakGflops(precision: Precision = 'f32'): number {
  let best = 0;
  const bench = precision === 'bf16' ? native.benchMatmulBf16 : native.benchMatmul;
  for (const [m, k, n] of [[4096, 512, 2048], [4096, 2048, 512], [4096, 1024, 1024], [2048, 2048, 2048]]) {
    best = Math.max(best, (2 * m * k * n) / bench({ m, k, n, transA: false, transB: true, iterations: 7 }) / 1e9);
  }
  return best;
}

/** How tlc trains in the benchmark: f32, bf16, or bf16 with the products' inputs kept in f32. */
export type TrainVariant = 'f32' | 'bf16' | 'bf16-f32-activations';

/** One tlc training setup (model, AdamW, batches); `step` runs one full step and returns its activation peak in bytes. */
function tlcTrainer(c: TrainBenchConfig, variant: TrainVariant): { step(): number; dispose(): void } {
  const cfg = modelConfig(c);
  const model = new TransformerLM(cfg, { seed: 0 });
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-4, betas: [0.9, 0.98], eps: 1e-6, weightDecay: 0.01, maxGradNorm: 1, noDecay: (p) => p.shape.length < 2 });
  const rng = new Rng(1);
  const stream = new Uint16Array(1 << 20).map(() => 5 + rng.int(c.vocab - 5));
  const batcher = new LMBatcher(stream, { objective: c.objective, seqLen: c.seq_len, vocabSize: c.vocab, seed: 0 });
  // as the training loop does it: bf16 copies of the weight matrices, re-cast after each step
  const bf16 = variant === 'f32' ? null
    : new Bf16Weights(params.filter((p) => p.shape.length === 2), { bf16Activations: variant === 'bf16' });
  return {
    step(): number {
      const previous = setBf16Weights(bf16);
      try {
        zeroGrad(params);
        const held = memoryStats().liveBytes;
        resetPeakMemory();
        tidy(() => {
          const { loss } = model.loss(batcher.next(c.batch), { training: true });
          backward(loss);
        });
        const peak = memoryStats().peakLiveBytes - held;
        opt.step();
        bf16?.invalidate();
        return peak;
      } finally {
        setBf16Weights(previous);
      }
    },
    dispose(): void {
      bf16?.dispose();
      model.dispose();
      opt.dispose();
    },
  };
}

/**
 * tlc's training step in each variant, timed in alternating steps (f32, bf16, ..., f32, ...)
 * so that a neighbour's load shifts all alike; median seconds per step of each, and the
 * activation peak of its last step.
 */
export function benchTlcTraining<V extends TrainVariant>(c: TrainBenchConfig, log: (l: string) => void, variants: V[]):
  Record<V, { tokens_per_s: number; stepSeconds: number; activationPeakBytes: number }> {
  const trainers = variants.map((v) => tlcTrainer(c, v));
  const times: number[][] = variants.map(() => []);
  const peaks: number[] = variants.map(() => 0);
  try {
    for (const t of trainers) t.step(); // warm-up: primitives, caches, copies, gradients
    for (let i = 0; i < c.steps; i++) {
      trainers.forEach((t, j) => {
        const t0 = performance.now();
        peaks[j] = t.step();
        times[j].push((performance.now() - t0) / 1000);
        log(`tlc ${variants[j]} step ${i + 1}/${c.steps}: ${times[j][i].toFixed(3)} s`);
      });
    }
  } finally {
    for (const t of trainers) t.dispose();
  }
  const out = {} as Record<V, { tokens_per_s: number; stepSeconds: number; activationPeakBytes: number }>;
  variants.forEach((v, j) => {
    const sorted = [...times[j]].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    out[v] = { tokens_per_s: (c.batch * c.seq_len) / median, stepSeconds: median, activationPeakBytes: peaks[j] };
  });
  return out;
}

function torchScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'tools', 'torch_train_bench.py'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('tools/torch_train_bench.py not found');
    dir = up;
  }
  return join(dir, 'tools', 'torch_train_bench.py');
}

/**
 * The OpenBLAS core to name for this CPU: OpenBLAS 0.3.21 does not recognise CPUs newer than
 * it and falls back to its generic Prescott kernel (measured here: 19 against 94 GFLOP/s on a
 * 1024² sgemm), so the baseline names the newest kernel the CPU's instructions can run.
 */
export function openblasCoreType(cpuinfo = readCpuinfo()): string | null {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  if (['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => flags.has(f))) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  return null;
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

export function benchTorchTraining(c: TrainBenchConfig, threads: number, head: 'targets' | 'all' = 'targets',
  python = '/usr/bin/python3', precision: Precision = 'f32'): { tokens_per_s: number; version: string; blas: string } {
  const spec = { model: modelConfig(c), batch: c.batch, seq_len: c.seq_len, steps: Math.max(3, Math.ceil(c.steps / 2)), warmup_steps: 1, threads, head, precision };
  // OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, where the environment sets them, pin OpenBLAS to a
  // slower kernel: the baseline runs without them (its own environment only), naming instead
  // the best kernel for this CPU, which OpenBLAS would not find by itself
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const core = openblasCoreType();
  if (core) env.OPENBLAS_CORETYPE = core;
  const r = spawnSync(python, [torchScript(), JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 1 << 20, env });
  if (r.error) throw new Error(`cannot run ${python}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`PyTorch benchmark failed: ${r.stderr.trim().split('\n').pop()}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { tokens_per_s: out.tokens_per_s, version: out.torch_version, blas: out.blas ?? 'unknown' };
}

export function benchTraining(c: TrainBenchConfig, opts: { withTorch: boolean; log: (l: string) => void }): TrainBenchResult {
  const threads = getThreads();
  const cfg = modelConfig(c);
  const flopsPerToken = trainingFlopsPerToken(cfg, c.seq_len);
  const peak = matmulPeakGflops('f32');
  opts.log(`OpenMP wait policy ${waitPolicy.policy}: ${waitPolicy.why}`);
  opts.log(`oneDNN f32 matmul peak: ${peak.toFixed(1)} GFLOP/s`);
  const noBf16 = bf16Unavailable('bf16 training');
  const peakBf16 = noBf16 ? null : matmulPeakGflops('bf16');
  opts.log(peakBf16 === null ? `skipped: ${noBf16}` : `oneDNN bf16 matmul peak: ${peakBf16.toFixed(1)} GFLOP/s`);
  const auto = autoPrecision();
  opts.log(`--precision auto trains in ${auto.precision} here: ${auto.why}`);
  const measured: Partial<Record<TrainVariant, { tokens_per_s: number; activationPeakBytes: number }>> =
    benchTlcTraining(c, opts.log, noBf16 ? ['f32'] : ['f32', 'bf16', 'bf16-f32-activations']);
  const row = (m: { tokens_per_s: number; activationPeakBytes: number } | undefined): TlcTrainRow | UnavailableRow => m
    ? { tokens_per_s: m.tokens_per_s, gflops: (m.tokens_per_s * flopsPerToken) / 1e9, activation_peak_bytes: m.activationPeakBytes }
    : { tokens_per_s: null, gflops: null, unavailable: noBf16 ?? 'not measured' };
  opts.log(`tlc f32: ${measured.f32!.tokens_per_s.toFixed(0)} tokens/s` + (measured.bf16 ? `, bf16: ${measured.bf16.tokens_per_s.toFixed(0)} tokens/s` : ''));
  let pytorch: TrainBenchResult['pytorch'] = null, pytorchAll: TrainBenchResult['pytorch'] = null, pytorchError: string | undefined;
  let pytorchBf16: TrainBenchResult['pytorch_bf16'];
  if (opts.withTorch) {
    try {
      const t = benchTorchTraining(c, threads, 'targets');
      pytorch = { tokens_per_s: t.tokens_per_s, gflops: (t.tokens_per_s * flopsPerToken) / 1e9, version: t.version, blas: t.blas };
      opts.log(`PyTorch ${t.version} on ${t.blas}: ${t.tokens_per_s.toFixed(0)} tokens/s`);
      if (!/openblas|mkl|blis/i.test(t.blas)) {
        opts.log('warning: PyTorch\'s products run on a BLAS that is not OpenBLAS, MKL or BLIS (Debian\'s python3-torch takes the reference libblas3 ' +
          'unless another is installed, ~40× slower): bash scripts/setup-bench.sh gives the baseline OpenBLAS');
      }
      if (!noBf16) {
        const b = benchTorchTraining(c, threads, 'targets', undefined, 'bf16');
        pytorchBf16 = { tokens_per_s: b.tokens_per_s, gflops: (b.tokens_per_s * flopsPerToken) / 1e9, version: b.version };
        opts.log(`PyTorch ${b.version}, bf16 autocast: ${b.tokens_per_s.toFixed(0)} tokens/s`);
      }
      if (c.objective === 'mlm') {
        const a = benchTorchTraining(c, threads, 'all');
        pytorchAll = { tokens_per_s: a.tokens_per_s, gflops: (a.tokens_per_s * flopsPerToken) / 1e9, version: a.version };
        opts.log(`PyTorch ${a.version}, logits at all positions: ${a.tokens_per_s.toFixed(0)} tokens/s`);
      }
    } catch (e) {
      pytorchError = (e as Error).message;
      opts.log(`PyTorch baseline unavailable: ${pytorchError}`);
    }
  }
  return {
    config: { ...c, threads, params: countParams(cfg).total, flops_per_token: flopsPerToken },
    tlc: row(measured.f32) as TlcTrainRow,
    tlc_bf16: row(measured.bf16),
    tlc_bf16_f32_activations: row(measured['bf16-f32-activations']),
    pytorch,
    ...(pytorchBf16 ? { pytorch_bf16: pytorchBf16 } : {}),
    ...(pytorchAll ? { pytorch_all_positions: pytorchAll } : {}),
    ...(pytorchError ? { pytorch_error: pytorchError } : {}),
    matmul_peak_gflops: peak,
    bf16_matmul_peak_gflops: peakBf16,
  };
}
