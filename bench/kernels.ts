// Kernel benchmark: tlc's linear forward and backward, through the full TypeScript op
// path (checks, allocation, autodiff record), against raw oneDNN matmuls of the same
// shapes timed inside native code in the same run. Shapes: tokens × d × 4d, the FFN's
// first layer at batch 32 × sequence 128.
import { native } from '../src/engine/native.js';
import { backward, getThreads, linear, noGrad, tidy } from '../src/engine/index.js';
import { randnTensor } from './random-tensors.js';
import { timeIt } from './timing.js';

export interface KernelRow {
  op: 'linear_fwd' | 'linear_bwd';
  m: number;
  k: number;
  n: number;
  gflops: number;
  onednn_gflops: number;
}

export interface KernelBenchOptions {
  dims?: number[];
  tokens?: number;
  log?: (line: string) => void;
}

export function benchKernels(opts: KernelBenchOptions = {}): { threads: number; rows: KernelRow[] } {
  const dims = opts.dims ?? [256, 512, 768];
  const M = opts.tokens ?? 4096;
  const log = opts.log ?? (() => {});
  const rows: KernelRow[] = [];
  for (const d of dims) {
    const K = d, N = 4 * d;
    const flops = 2 * M * K * N;
    tidy(() => {
      const x = randnTensor([M, K], 1), w = randnTensor([N, K], 2), b = randnTensor([N], 3), dy = randnTensor([M, N], 4);
      w.requiresGrad = true;
      b.requiresGrad = true;
      x.requiresGrad = true;

      // tlc and raw oneDNN are measured in alternating rounds and each reported as the
      // median over rounds, so a slow spell on a shared machine hits both alike
      const rounds = 5;
      const fwdT: number[] = [], rawFwdT: number[] = [], bwdT: number[] = [], rawBwdT: number[] = [];
      const runBwd = (): number => tidy(() => {
        const y = linear(x, w, b);
        const t0 = process.hrtime.bigint();
        backward(y, dy);
        return Number(process.hrtime.bigint() - t0) / 1e9;
      });
      for (let i = 0; i < 2; i++) runBwd();
      for (let r = 0; r < rounds; r++) {
        fwdT.push(timeIt(() => noGrad(() => tidy(() => { linear(x, w, b); })), { minTimeS: 0.2 }).medianS);
        rawFwdT.push(native.benchMatmul({ m: M, k: K, n: N, transA: false, transB: true, iterations: 5 }));
        bwdT.push(median(Array.from({ length: 5 }, runBwd)));
        rawBwdT.push(native.benchMatmul({ m: M, k: N, n: K, transA: false, transB: false, iterations: 5 }) +
          native.benchMatmul({ m: N, k: M, n: K, transA: true, transB: false, iterations: 5 }));
      }
      const fwd = median(fwdT), rawFwd = median(rawFwdT), bwd = median(bwdT), rawBwd = median(rawBwdT);
      rows.push({ op: 'linear_fwd', m: M, k: K, n: N, gflops: flops / fwd / 1e9, onednn_gflops: flops / rawFwd / 1e9 });
      log(`linear_fwd ${M}x${K}x${N}: ${(flops / fwd / 1e9).toFixed(1)} GFLOP/s (oneDNN ${(flops / rawFwd / 1e9).toFixed(1)})`);
      rows.push({ op: 'linear_bwd', m: M, k: K, n: N, gflops: 2 * flops / bwd / 1e9, onednn_gflops: 2 * flops / rawBwd / 1e9 });
      log(`linear_bwd ${M}x${K}x${N}: ${(2 * flops / bwd / 1e9).toFixed(1)} GFLOP/s (oneDNN ${(2 * flops / rawBwd / 1e9).toFixed(1)})`);
    });
  }
  return { threads: getThreads(), rows };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
