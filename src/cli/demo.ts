// `tlc demo`: `tlc auto` on the bundled data (src/experiment/demo.ts), then its report.
import type { Command } from 'commander';
import { parsePlanBudget } from '../experiment/plan-budget.js';
import { parseBytes } from '../experiment/pareto.js';
import { DEMO_CORPORA, DEMO_DEFAULTS, DEMO_TASK } from '../experiment/demo.js';
import { runAuto } from '../auto/auto.js';
import { finetuneBudgetOf } from '../auto/task.js';
import { withOutputDir } from '../run/ownership.js';
import { checkProbe, checkedSizes, finishAuto } from './auto.js';
import { num, positiveInt, progressEvents, withGracefulStop } from './common.js';

interface DemoFlags { out: string; budget: string; finetuneBudget: string; compressBudget: string; sizes?: string; maxBytes: string; taskExamples?: string; probe: string }

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('tlc auto on the bundled corpora and the Brown genre task: explore sizes, plan, train, finetune, compress, choose, report')
    .option('--out <dir>', 'output directory', 'tlc-demo')
    .option('--budget <budget>', 'the whole pretraining budget, exploration included', DEMO_DEFAULTS.budget)
    .option('--finetune-budget <duration>', 'finetuning budget per model', DEMO_DEFAULTS.finetuneBudget)
    .option('--compress-budget <duration>', 'compression finetuning per setting', DEMO_DEFAULTS.compressBudget)
    .option('--sizes <list>', 'candidate presets instead of the ones the throughput probe proposes')
    .option('--max-bytes <size>', 'test-time size budget for the final choice', DEMO_DEFAULTS.maxBytes)
    .option('--probe <duration>', 'length of each throughput probe', DEMO_DEFAULTS.probe)
    .option('--task-examples <n>', 'use only this many Brown genre examples (a quicker, noisier demo)')
    .action(async (f: DemoFlags) => {
      finetuneBudgetOf(f.finetuneBudget);
      finetuneBudgetOf(f.compressBudget);
      checkProbe(f.probe);
      const sizes = checkedSizes(f.sizes);
      const options = {
        out: f.out, corpus: DEMO_CORPORA, task: DEMO_TASK, budget: parsePlanBudget(f.budget), budgetText: f.budget, objective: 'mlm' as const,
        finetuneBudget: f.finetuneBudget, compressBudget: f.compressBudget, maxBytes: parseBytes(f.maxBytes), probe: f.probe,
        ...(sizes !== undefined && { sizes }),
        ...(f.taskExamples !== undefined && { taskExamples: num(f.taskExamples, '--task-examples', positiveInt) }),
      };
      const result = await withOutputDir(f.out, 'auto', {}, () => withGracefulStop((signal) => runAuto(options, {
        say: (l) => console.log(l), detail: (l) => process.stderr.write(`   ${l}\n`), events: progressEvents, signal,
      })));
      if (result.interrupted) {
        console.log('interrupted; run the demo again to continue where it stopped');
        return;
      }
      const { answer, report } = await finishAuto(f.out, result.record, 'tlc demo: train large, then compress?');
      console.log(`\n${answer.join(' ')}\n\nreport: ${report}\nEverything is in ${f.out}/ (auto.json, the runs, their metrics, the compressed files, pareto.csv).`);
    });
}
