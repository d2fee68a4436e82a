// `tlc demo`: the whole pipeline on the bundled example data — prepare the corpora, sweep
// model sizes under one training budget, finetune the size that won the budget and the
// smallest one on the Brown genre task, compress both, choose on the Pareto frontier and
// say what happened. Every step resumes if the demo is run again.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { prepareData } from '../data/prepare.js';
import { runSweep, type SweepSpec, type SweepRow } from '../experiment/sweep.js';
import { chooseWithin, describe, formatBytes, paretoFrontier, toCsv } from '../experiment/pareto.js';
import { compressSweep, type CompressRow } from '../compress/sweep.js';
import { finetune, resumeFinetune, type FinetuneArgs } from '../train/finetune.js';
import { formatSeconds, parseDuration } from '../train/budget.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { num, positiveInt, progressEvents, withGracefulStop } from './common.js';

export const DEMO_SIZES = ['L2-D128', 'L4-D256', 'L6-D384'];

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
      const budget = parseDuration(opts.budget), ftBudget = parseDuration(opts.finetuneBudget);
      const sizes = opts.sizes.split(',').map((s) => s.trim()).filter(Boolean);
      if (sizes.length === 0) throw new TlcError('--sizes is empty');
      const maxBytes = parseBytesOption(opts.maxBytes);
      const out = opts.out;
      mkdirSync(out, { recursive: true });

      const dataDir = join(out, 'data');
      if (!existsSync(join(dataDir, 'data.json'))) {
        console.log('1. preparing the bundled corpora (State of the Union addresses and the Brown corpus)');
        await prepareData({ inputs: ['example:sotu', 'example:brown'], outDir: dataDir, vocabSize: 8192 });
      } else {
        console.log(`1. using the prepared data in ${dataDir}`);
      }

      console.log(`2. pretraining ${sizes.join(', ')} (masked LM) for ${formatSeconds(budget)} of training time each`);
      const spec: SweepSpec = {
        data: dataDir, objective: 'mlm', sizes, batch_sizes: [32], micro_batch_size: 16, budget: opts.budget, seq_len: 128,
        lr: 1e-3, warmup: 0.06, decay: 'linear', weight_decay: 0.01, dropout: 0, clip: 1, seed: 0, eval_every: 0.1, eval_tokens: 16384,
      };
      const sweep = await withGracefulStop((signal) => runSweep(spec, join(out, 'sweep'), (p) => progressEvents(`pretrain ${p.name}`, 'valid_loss'),
        signal, (l) => process.stderr.write(`   ${l}\n`)));
      if (sweep.interrupted) return interrupted();
      const winner = sweep.rows.reduce((a, r) => (r.valid_loss < a.valid_loss ? r : a));
      const smallest = sweep.rows.reduce((a, r) => (r.params < a.params ? r : a));
      printSweep(sweep.rows);

      // the size that won the budget and a small one; if those coincide, the largest, to see
      // how a large model survives compression
      const largest = sweep.rows.reduce((a, r) => (r.params > a.params ? r : a));
      const toFinetune = [...new Map((winner === smallest ? [winner, largest] : [winner, smallest]).map((r) => [r.name, r])).values()];
      console.log(`\n3. finetuning ${toFinetune.map((r) => r.name).join(' and ')} on the Brown genre task for ${formatSeconds(ftBudget)} each`);
      const compressed: CompressRow[] = [];
      for (const r of toFinetune) {
        const ftDir = join(out, 'finetune', r.name);
        const args: FinetuneArgs = {
          from: r.run, task: 'example:brown-genre', taskSeed: 0, maxExamples: opts.taskExamples ? num(opts.taskExamples, '--task-examples', positiveInt) : undefined, budget: { kind: 'time', limit: ftBudget }, batchSize: 32, microBatchSize: 32,
          maxLen: 64, schedule: { peakLr: 1e-4, warmup: 0.06, decay: 'linear' }, weightDecay: 0.01, betas: [0.9, 0.98], eps: 1e-6,
          maxGradNorm: 1, seed: 0, dropout: 0.1, evalEvery: { kind: 'fraction', value: 0.2 }, saveEvery: { kind: 'fraction', value: 0.25 },
          keep: 1, patience: 5,
        };
        if (!existsSync(join(ftDir, 'results.json'))) {
          const events = progressEvents(`finetune ${r.name}`, 'valid_accuracy');
          const f = await withGracefulStop((signal) => existsSync(join(ftDir, 'run.json'))
            ? resumeFinetune(ftDir, events, signal) : finetune(ftDir, args, events, signal));
          events.finish();
          if (f.interrupted) return interrupted();
          console.log(`   ${r.name}: test accuracy ${(100 * f.test!.accuracy).toFixed(1)}%, macro-F1 ${(100 * f.test!.macroF1).toFixed(1)}%`);
        }
        console.log(`4. compressing ${r.name}: sparsity 0, 0.5, 0.9 × 32, 8, 4 bits`);
        compressed.push(...await compressSweep({
          model: ftDir, out: join(out, 'compress', r.name), sparsities: [0, 0.5, 0.9], bits: [32, 8, 4], pruning: 'layer',
          mode: 'oneshot', steps: 1, lr: 1e-4, batchSize: 32, qat: false, seed: 0,
        }, (l) => process.stderr.write(`   ${l}\n`)));
      }

      const table = paretoFrontier(compressed).sort((a, b) => a.bytes - b.bytes);
      const choice = chooseWithin(table, { maxBytes });
      writeJsonAtomic(join(out, 'pareto.json'), { rows: table, choice });
      writeFileAtomic(join(out, 'pareto.csv'), toCsv(table));
      console.log('\n5. accuracy against compressed size (● = on the Pareto frontier)\n');
      console.log('| model | sparsity | bits | bytes | test accuracy | frontier |\n|---|---:|---:|---:|---:|:---:|');
      for (const r of table) {
        console.log(`| ${describe(r).split(' (')[0]} | ${r.sparsity} | ${r.bits} | ${formatBytes(r.bytes)} | ${(100 * r.accuracy!).toFixed(1)}% | ${r.on_frontier ? '●' : ''} |`);
      }
      const answer = answerParagraph(sweep.rows, winner, smallest, budget, table, choice.reason, opts.maxBytes);
      writeFileSync(join(out, 'answer.txt'), answer + '\n');
      const { writeReport } = await import('../report/report.js'); // Vega loads only when a report is drawn
      const report = await writeReport(out, { title: 'tlc demo: train large, then compress?' });
      console.log(`\n6. report: ${report.html}\n\n${answer}\n\nEverything is in ${out}/ (runs, metrics, checkpoints, compressed files, pareto.csv).`);
    });
}

function parseBytesOption(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(kB|MB|GB)?\s*$/i.exec(v);
  if (!m) throw new TlcError(`invalid --max-bytes "${v}": use e.g. 2MB`);
  return Number(m[1]) * ({ kb: 1e3, mb: 1e6, gb: 1e9 }[(m[2] ?? '').toLowerCase()] ?? 1);
}

function interrupted(): void {
  console.log('interrupted; run the demo again to continue where it stopped');
}

function printSweep(rows: SweepRow[]): void {
  console.log('\n| model | parameters | tokens seen | tokens/s | validation loss |\n|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${(r.params / 1e6).toFixed(1)}M | ${r.tokens.toLocaleString()} | ${Math.round(r.tokens_per_s).toLocaleString()} | ${r.valid_loss.toFixed(3)} |`);
  }
}

function answerParagraph(rows: SweepRow[], winner: SweepRow, smallest: SweepRow, budget: number,
  table: ReturnType<typeof paretoFrontier>, choice: string, maxBytes: string): string {
  const largest = rows.reduce((a, r) => (r.params > a.params ? r : a));
  const training = winner === smallest
    ? `With ${formatSeconds(budget)} of pretraining per model, the smallest model (${smallest.name}) reached the lowest validation loss ` +
      `(${smallest.valid_loss.toFixed(3)} vs ${largest.valid_loss.toFixed(3)} for ${largest.name}): at this budget the models are still ` +
      'limited by the data they have seen, the regime where size barely pays off (Cramming), and the larger models have not caught up yet.'
    : `With ${formatSeconds(budget)} of pretraining per model, ${winner.name} (${(winner.params / 1e6).toFixed(1)}M parameters) reached the ` +
      `lowest validation loss (${winner.valid_loss.toFixed(3)}) although ${smallest.name} saw ${(smallest.tokens / winner.tokens).toFixed(1)}× ` +
      'as many tokens: train large.';
  const frontier = table.filter((r) => r.on_frontier);
  const smallestGood = frontier[0];
  return `${training} On the Brown genre task, ${frontier.length} compressed models form the accuracy/size frontier, from ` +
    `${describe(smallestGood)} at ${formatBytes(smallestGood.bytes)} up to ${describe(frontier[frontier.length - 1])}. ` +
    `For a ${maxBytes} budget: ${choice}.`;
}
