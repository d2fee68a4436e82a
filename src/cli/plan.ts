// `tlc plan --sweep <dir> --budget 2h`.
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { loadSweep } from '../experiment/analysis.js';
import { readSweepSpec } from '../experiment/sweep.js';
import { SWEEP_FILES } from '../run/layout.js';
import { plan } from '../experiment/plan.js';
import { openShards } from '../data/shards.js';
import { parseDuration } from '../train/budget.js';
import { required } from './common.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description("recommend a model shape (and batch size) for a new training budget from a sweep's measurements")
    .option('--sweep <dir>', 'a `tlc sweep` output directory')
    .option('--budget <duration>', 'the training budget to plan for, e.g. 2h')
    .option('--json', 'print the plan as one JSON object')
    .action((o: { sweep?: string; budget?: string; json?: boolean }) => {
      const dir = required(o.sweep, '--sweep');
      const budget = parseDuration(required(o.budget, '--budget'));
      const runs = loadSweep(dir);
      const spec = readSweepSpec(join(dir, SWEEP_FILES.spec));
      if (spec.objective === 'seq2seq') throw new TlcError(`${dir}: planning from a seq2seq sweep is not supported; compare its runs' BLEU in sweep.json`);
      const vocabSize = openShards(spec.data).meta.vocab_size;
      const p = plan(runs, budget, { vocabSize, seqLen: spec.seq_len, objective: spec.objective });
      if (o.json) {
        process.stdout.write(JSON.stringify(p) + '\n');
        return;
      }
      const f = p.fit;
      const coef = (name: string, v: { value: number; ci90: [number, number] | null } | null): string =>
        v === null ? `${name} not identifiable` : `${name} = ${v.value.toPrecision(3)}${v.ci90 ? ` [${v.ci90[0].toPrecision(3)}, ${v.ci90[1].toPrecision(3)}]` : ''}`;
      console.log(`fit L(N, D) = E + A/N^α + B/D^β over ${f.goodness.points} points: ` +
        [coef('E', f.E), coef('A', f.A), coef('α', f.alpha), coef('B', f.B), coef('β', f.beta)].join(', ') +
        `; R² ${f.goodness.r2 === null ? '-' : f.goodness.r2.toFixed(3)}, RMSE(log) ${f.goodness.rmse.toFixed(4)}`);
      for (const why of [f.unidentifiable.params, f.unidentifiable.tokens]) if (why) console.log(`note: ${why}`);
      console.log('\n| shape | non-embedding params | tokens/s | tokens in budget | predicted loss | 90% band |\n|---|---:|---:|---:|---:|---|');
      for (const x of p.candidates) {
        console.log(`| ${x.preset}${x === p.best ? ' ◀' : ''} | ${(x.nonEmbeddingParams / 1e6).toFixed(2)}M | ${Math.round(x.tokensPerS).toLocaleString()}${x.measured ? '' : '*'} | ` +
          `${(x.tokens / 1e6).toFixed(1)}M | ${x.loss.toFixed(3)} | ${x.low.toFixed(3)}–${x.high.toFixed(3)} |`);
      }
      console.log('(* throughput extrapolated from the sweep\'s achieved GFLOP/s)\n');
      console.log(p.summary);
    });
}
