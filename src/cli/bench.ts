// `tlc bench kernels|train|infer`: benchmarks print a table (or one JSON object with
// --json; progress goes to stderr). Numbers are ratios against baselines measured in
// the same run, never against remembered values.
import type { Command } from 'commander';
import { benchKernels } from '../../bench/kernels.js';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks (kernels, train, infer)');
  bench
    .command('kernels')
    .description("GFLOP/s of tlc's linear forward/backward next to raw oneDNN matmuls of the same shapes")
    .option('--json', 'print one JSON object on stdout')
    .option('--tokens <n>', 'rows of the activation matrix (batch × sequence)', '4096')
    .option('--dims <list>', 'model widths d (shapes tokens × d × 4d)', '256,512,768')
    .action((opts: { json?: boolean; tokens: string; dims: string }) => {
      const dims = opts.dims.split(',').map(Number);
      const result = benchKernels({ tokens: Number(opts.tokens), dims, log: (l) => process.stderr.write(l + '\n') });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ rows: result.rows }) + '\n');
        return;
      }
      console.log(`threads: ${result.threads}`);
      console.log('| op | m × k × n | tlc GFLOP/s | oneDNN GFLOP/s | tlc / oneDNN |');
      console.log('|---|---|---:|---:|---:|');
      for (const r of result.rows) {
        console.log(`| ${r.op} | ${r.m} × ${r.k} × ${r.n} | ${r.gflops.toFixed(1)} | ${r.onednn_gflops.toFixed(1)} | ${(100 * r.gflops / r.onednn_gflops).toFixed(0)}% |`);
      }
    });
}
