// `tlc demo`: the whole pipeline on the bundled example data (src/experiment/demo.ts).
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { parseDuration } from '../train/budget.js';
import { DEMO_SIZES, runDemo } from '../experiment/demo.js';
import { num, positiveInt, progressEvents, withGracefulStop } from './common.js';

export { DEMO_SIZES } from '../experiment/demo.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('end to end on the bundled data: sweep sizes under one budget, finetune, compress, choose')
    .option('--out <dir>', 'output directory', 'tlc-demo')
    .option('--budget <duration>', 'pretraining budget per model size', '2m')
    .option('--finetune-budget <duration>', 'finetuning budget per model', '2m')
    .option('--sizes <list>', 'model presets to compare', DEMO_SIZES.join(','))
    .option('--max-bytes <size>', 'test-time size budget for the final choice', '2MB')
    .option('--task-examples <n>', 'use only this many Brown genre examples (a quicker, noisier demo)')
    .action(async (opts: { out: string; budget: string; finetuneBudget: string; sizes: string; maxBytes: string; taskExamples?: string }) => {
      parseDuration(opts.budget);
      parseDuration(opts.finetuneBudget);
      const result = await withGracefulStop((signal) => runDemo({
        out: opts.out, budget: opts.budget, finetuneBudget: opts.finetuneBudget,
        sizes: opts.sizes.split(',').map((s) => s.trim()).filter(Boolean),
        maxBytes: parseBytesOption(opts.maxBytes), maxBytesText: opts.maxBytes,
        taskExamples: opts.taskExamples ? num(opts.taskExamples, '--task-examples', positiveInt) : undefined,
      }, {
        say: (l) => console.log(l), detail: (l) => process.stderr.write(`   ${l}\n`),
        events: progressEvents, signal,
      }));
      if (result.interrupted) {
        console.log('interrupted; run the demo again to continue where it stopped');
        return;
      }
      const { writeReport } = await import('../report/report.js'); // Vega loads only when a report is drawn
      const report = await writeReport(opts.out, { title: 'tlc demo: train large, then compress?' });
      console.log(`\n6. report: ${report.html}\n\n${result.answer}\n\nEverything is in ${opts.out}/ (runs, metrics, checkpoints, compressed files, pareto.csv).`);
    });
}

function parseBytesOption(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(kB|MB|GB)?\s*$/i.exec(v);
  if (!m) throw new TlcError(`invalid --max-bytes "${v}": use e.g. 2MB`);
  return Number(m[1]) * ({ kb: 1e3, mb: 1e6, gb: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1);
}
