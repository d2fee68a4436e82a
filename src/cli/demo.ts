// `tlc demo`: the end-to-end run on the bundled example data. It prepares the corpora,
// trains several model sizes under one equal training budget, and says which size
// learned most within it — the first half of "train large, then compress".
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { prepareData } from '../data/prepare.js';
import { presetConfig } from '../nn/config.js';
import { countParams } from '../nn/config.js';
import { parseDuration, formatSeconds } from '../train/budget.js';
import { pretrain, resumePretrain, type PretrainArgs } from '../train/pretrain.js';
import { readMetrics } from '../train/metrics.js';
import { openShards } from '../data/shards.js';

export const DEMO_SIZES = ['L2-D128', 'L4-D256', 'L6-D384'];

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('end-to-end demo on the bundled corpora: prepare data, train several sizes under one budget, compare')
    .option('--out <dir>', 'output directory', 'tlc-demo')
    .option('--budget <duration>', 'training budget per model size', '2m')
    .option('--sizes <list>', 'model presets to compare', DEMO_SIZES.join(','))
    .action(async (opts: { out: string; budget: string; sizes: string }) => {
      const budget = parseDuration(opts.budget);
      const sizes = opts.sizes.split(',').map((s) => s.trim()).filter(Boolean);
      if (sizes.length === 0) throw new TlcError('--sizes is empty');
      mkdirSync(opts.out, { recursive: true });
      const dataDir = join(opts.out, 'data');
      if (!existsSync(join(dataDir, 'data.json'))) {
        console.log('1. preparing the bundled corpora (State of the Union addresses and the Brown corpus)');
        await prepareData({ inputs: ['example:sotu', 'example:brown'], outDir: dataDir, vocabSize: 8192 });
      } else {
        console.log(`1. using the prepared data in ${dataDir}`);
      }
      const vocab = openShards(dataDir).meta.vocab_size;
      console.log(`2. training ${sizes.join(', ')} (masked LM) for ${formatSeconds(budget)} of training time each`);
      const results: { size: string; params: number; validLoss: number; tokens: number }[] = [];
      for (const size of sizes) {
        const run = join(opts.out, 'runs', size);
        const model = presetConfig(size, { vocab_size: vocab, max_len: 128, dropout: 0 });
        const args: PretrainArgs = {
          dataDir, model, budget: { kind: 'time', limit: budget }, batchSize: 32, microBatchSize: 32, seqLen: 128,
          schedule: { peakLr: 1e-3, warmup: 0.06, decay: 'linear' }, weightDecay: 0.01, betas: [0.9, 0.98], eps: 1e-6,
          maxGradNorm: 1, seed: 0, evalEvery: { kind: 'fraction', value: 0.25 }, evalTokens: 32768,
          saveEvery: { kind: 'fraction', value: 0.5 }, saveAt: [], keep: 1,
        };
        const params = countParams(model).total;
        process.stderr.write(`   ${size}: ${(params / 1e6).toFixed(1)}M parameters\n`);
        const r = existsSync(join(run, 'run.json')) ? await resumePretrain(run) : await pretrain(run, args);
        const last = readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'eval').pop();
        results.push({ size, params, validLoss: (last?.valid_loss as number) ?? r.finalValidLoss, tokens: r.usage.tokens });
        console.log(`   ${size}: validation loss ${results[results.length - 1].validLoss.toFixed(3)} after ${r.usage.tokens.toLocaleString()} tokens`);
      }
      const best = results.reduce((a, b) => (b.validLoss < a.validLoss ? b : a));
      const smallest = results.reduce((a, b) => (b.params < a.params ? b : a));
      console.log('\n| model | parameters | tokens seen | validation loss |\n|---|---:|---:|---:|');
      for (const r of results) console.log(`| ${r.size} | ${(r.params / 1e6).toFixed(1)}M | ${r.tokens.toLocaleString()} | ${r.validLoss.toFixed(3)} |`);
      console.log(`\nWith ${formatSeconds(budget)} of training each, ${best.size} reached the lowest validation loss` +
        (best.size === smallest.size
          ? ' — the smallest model won at this budget (the regime where size barely pays off).'
          : `, though the smallest model (${smallest.size}) saw ${(smallest.tokens / best.tokens).toFixed(1)}× as many tokens.`) +
        `\nRuns, metrics and checkpoints are in ${opts.out}/runs.`);
    });
}
