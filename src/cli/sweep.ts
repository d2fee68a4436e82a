// `tlc sweep <sweep.yaml|json> --out <dir>`.
import type { Command } from 'commander';
import { readSweepSpec, runSweep } from '../experiment/sweep.js';
import { formatSeconds } from '../train/budget.js';
import { withOutputDir } from '../run/ownership.js';
import { workerSlot } from '../util/launch.js';
import { progressEvents, required, withGracefulStop } from './common.js';
import { markRequired } from './help.js';

export function registerSweep(program: Command): void {
  const cmd = program
    .command('sweep <spec>')
    .description('pretrain a grid of model sizes (and batch sizes) under one budget; rerun to resume')
    .option('--out <dir>', 'output directory: runs/<name>/ per point and sweep.json')
    .option('--force', 'write into an existing --out directory that holds something other than a sweep')
    .option('--json', 'print the finished runs as one JSON object on stdout')
    .option('--worker <i/n>', 'run only every n-th run, starting at run i (0-based); set by itself under mpirun, srun or a Slurm array');
  markRequired(cmd, ['--out']);
  cmd.action(async (specPath: string, o: { out?: string; force?: boolean; worker?: string; json?: boolean }) => {
      const spec = readSweepSpec(specPath);
      const out = required(o.out, '--out');
      const worker = workerSlot(o.worker);
      const bars: ReturnType<typeof progressEvents>[] = [];
      const result = await withOutputDir(out, 'sweep', { force: o.force }, () => withGracefulStop((signal) => runSweep(spec, out, {
        events: (p) => {
          bars.at(-1)?.finish(); // one point at a time: close the previous point's bar
          const ev = progressEvents(`sweep ${worker ? `[${worker.index}/${worker.count}] ` : ''}${p.name}`, 'valid_loss');
          bars.push(ev);
          return ev;
        },
        signal, worker, log: (l) => process.stderr.write(l + '\n'),
      })));
      bars.at(-1)?.finish();
      // ranks of one launch share a terminal: the first one prints the table
      if (worker && worker.source !== '--worker' && worker.index !== 0) return;
      if (o.json) {
        process.stdout.write(JSON.stringify({ out, rows: result.rows, pending: result.pending, interrupted: result.interrupted }) + '\n');
        return;
      }
      console.log('| run | params | batch | steps | tokens | training time | tokens/s | validation loss |\n|---|---:|---:|---:|---:|---:|---:|---:|');
      for (const r of result.rows) {
        console.log(`| ${r.name} | ${(r.params / 1e6).toFixed(2)}M | ${r.batch_size} | ${r.steps} | ${r.tokens.toLocaleString()} | ` +
          `${formatSeconds(r.train_seconds)} | ${Math.round(r.tokens_per_s).toLocaleString()} | ${r.valid_loss.toFixed(3)} |`);
      }
      if (result.interrupted) console.log(`interrupted; run \`tlc sweep ${specPath} --out ${out}\` again to continue`);
      else if (result.pending.length > 0) console.log(`not finished yet, on other workers: ${result.pending.join(', ')}`);
    });
}
