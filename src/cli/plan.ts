// `tlc plan --sweep <dir> --budget 2h [--holdout] [--json]`.
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { loadSweep } from '../experiment/analysis.js';
import { holdout, plan, type Holdout, type Plan } from '../experiment/plan.js';
import { readSweepSpec } from '../experiment/sweep.js';
import type { ChinchillaFit } from '../experiment/fit.js';
import { SWEEP_FILES } from '../run/layout.js';
import { openShards } from '../data/shards.js';
import { parseDuration, formatSeconds } from '../train/budget.js';
import { required } from './common.js';
import { markRequired } from './help.js';

export function registerPlan(program: Command): void {
  const cmd = program
    .command('plan')
    .description("recommend a model shape (and batch size) for a new training budget from a sweep's end-of-schedule losses")
    .option('--sweep <dir>', 'a `tlc sweep` output directory')
    .option('--budget <duration>', 'the training budget to plan for, e.g. 2h')
    .option('--holdout', "also refit without each size's largest budget and compare its predictions there with the measurements")
    .option('--json', 'print the plan as one JSON object');
  markRequired(cmd, ['--sweep', '--budget']);
  cmd.action((o: { sweep?: string; budget?: string; holdout?: boolean; json?: boolean }) => {
      const dir = required(o.sweep, '--sweep');
      const budget = parseDuration(required(o.budget, '--budget'));
      const runs = loadSweep(dir);
      const spec = readSweepSpec(join(dir, SWEEP_FILES.spec));
      if (spec.objective === 'seq2seq') throw new TlcError(`${dir}: planning from a seq2seq sweep is not supported; compare its runs' BLEU in sweep.json`);
      const shards = openShards(spec.data);
      const p = plan(runs, budget, { vocabSize: shards.meta.vocab_size, seqLen: spec.seq_len, objective: spec.objective, corpusTokens: shards.meta.train.tokens });
      const h = o.holdout ? holdout(runs) : null;
      if (o.json) {
        process.stdout.write(JSON.stringify(planJson(p, h)) + '\n');
        return;
      }
      printFit(p.fit, p.points.length);
      console.log('\n| shape | non-embedding params | size | tokens/s | tokens in budget | epochs | predicted loss | 90% band |\n|---|---:|---|---:|---:|---:|---:|---|');
      for (const x of p.candidates) {
        console.log(`| ${x.preset}${x === p.best ? ' ◀' : ''} | ${(x.nonEmbeddingParams / 1e6).toFixed(2)}M | ${x.size} | ` +
          `${Math.round(x.tokensPerS).toLocaleString()}${x.measured ? '' : '*'} | ${(x.tokens / 1e6).toFixed(1)}M | ` +
          `${x.epochs === null ? '-' : x.epochs.toFixed(1)} | ${x.loss.toFixed(3)} | ${x.low.toFixed(3)}–${x.high.toFixed(3)} |`);
      }
      console.log('(* throughput extrapolated from the sweep\'s achieved GFLOP/s)\n');
      console.log(p.summary);
      if (h) printHoldout(h);
    });
}

/** The command-line contract's JSON: budget_s, best, candidates, fit (and holdout). */
function planJson(p: Plan, h: Holdout | null): Record<string, unknown> {
  const best = { preset: p.best.preset, loss: p.best.loss, low: p.best.low, high: p.best.high, extrapolated: p.best.extrapolated || p.best.size === 'extrapolated' };
  return {
    budget_s: p.budgetSeconds, best, candidates: p.candidates, fit: p.fit, points: p.points,
    runner_up: p.runnerUp?.preset ?? null, size_barely_matters: p.sizeBarelyMatters, batch_size: p.batchSize, warnings: p.warnings, summary: p.summary,
    ...(h ? {
      holdout: {
        budget_s: h.budgetSeconds, predicted_best: h.predictedBest, measured_best: h.measuredBest, warnings: h.warnings,
        rows: h.rows.map((r) => ({ preset: r.preset, predicted: r.predicted, low: r.low, high: r.high, measured: r.measured, tokens: r.tokens })),
      },
    } : {}),
  };
}

function printFit(f: ChinchillaFit, points: number): void {
  const coef = (name: string, v: { value: number; ci90: [number, number] | null } | null): string =>
    v === null ? `${name} not identifiable` : `${name} = ${v.value.toPrecision(3)}${v.ci90 ? ` [${v.ci90[0].toPrecision(3)}, ${v.ci90[1].toPrecision(3)}]` : ''}`;
  console.log(`fit L(N, D) = E + A/N^α + B/D^β over ${points} end-of-schedule losses ` +
    `(bootstrap over ${f.bootstrap.units} ${f.bootstrap.unit === 'groups' ? 'runs' : 'points'}): ` +
    [coef('E', f.E), coef('A', f.A), coef('α', f.alpha), coef('B', f.B), coef('β', f.beta)].join(', ') +
    `; R² ${f.goodness.r2 === null ? '-' : f.goodness.r2.toFixed(3)}, RMSE(log) ${f.goodness.rmse.toFixed(4)}, largest residual ${f.goodness.maxAbsResidual.toFixed(4)}`);
  for (const why of [f.unidentifiable.params, f.unidentifiable.tokens]) if (why) console.log(`note: ${why}`);
}

function printHoldout(h: Holdout): void {
  console.log(`\nheld out: each size's largest budget (about ${formatSeconds(h.budgetSeconds)} of training), predicted from the rest:`);
  console.log('| shape | tokens | predicted | 90% band | measured |\n|---|---:|---:|---|---:|');
  for (const r of h.rows) {
    console.log(`| ${r.preset} | ${(r.tokens / 1e6).toFixed(2)}M | ${r.predicted.toFixed(3)} | ${r.low.toFixed(3)}–${r.high.toFixed(3)} | ${r.measured.toFixed(3)} |`);
  }
  console.log(`predicted best: ${h.predictedBest}; measured best: ${h.measuredBest}` + (h.predictedBest === h.measuredBest ? ' — the fit chose right.' : ' — the fit chose wrong.'));
  for (const w of h.warnings) console.log(`Warning (the points of the refit): ${w}.`);
}
