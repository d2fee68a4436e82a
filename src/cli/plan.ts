// `tlc plan --sweep <dir> --budget 2h|2B|1e18flops [--holdout] [--json]` and
// `tlc plan --points <file.csv|json> --budget 1e21flops|2B [--json]`.
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { loadSweep } from '../experiment/analysis.js';
import { plan, type Plan, type PlanCandidate } from '../experiment/plan.js';
import { holdout, type Holdout } from '../experiment/plan-holdout.js';
import { planPoints, type PointsPlan } from '../experiment/plan-points.js';
import { readPointsFile } from '../experiment/points-file.js';
import { parsePlanBudget, formatCount } from '../experiment/plan-budget.js';
import { discountsRepeats, regimeJson, type Regime, type SizedPoint } from '../experiment/plan-regime.js';
import type { OptimumComparison } from '../experiment/plan-compare.js';
import { describeOwnCurve } from '../experiment/own-curve.js';
import { readSweepSpec } from '../experiment/sweep.js';
import type { ChinchillaFit, Coefficient } from '../experiment/fit.js';
import { SWEEP_FILES } from '../run/layout.js';
import { readDataMeta } from '../data/shards.js';
import { formatSeconds } from '../train/budget.js';
import { required } from './common.js';
import { markRequired } from './help.js';

const MAX_ROWS_SHOWN = 12;

interface PlanFlags { sweep?: string; points?: string; budget?: string; holdout?: boolean; json?: boolean }

export function registerPlan(program: Command): void {
  const cmd = program
    .command('plan')
    .description("recommend a model size for a new training budget from a sweep's end-of-schedule losses, or fit points from any source")
    .option('--sweep <dir>', 'a `tlc sweep` output directory')
    .option('--points <file>', 'scaling points from any source: CSV with a header naming params, tokens or flops, loss (and optionally group), or a JSON array of such objects')
    .option('--budget <budget>', 'the budget to plan for: training time (2h), tokens (2B, 5e9) or FLOPs (1e21flops)')
    .option('--holdout', "also refit without each size's largest budget and compare its predictions there with the measurements (--sweep)")
    .option('--json', 'print the plan as one JSON object');
  markRequired(cmd, ['--budget']);
  markRequired(cmd, ['--sweep'], '--points');
  markRequired(cmd, ['--points'], '--sweep');
  cmd.action((o: PlanFlags) => {
    const budget = parsePlanBudget(required(o.budget, '--budget'));
    if ((o.sweep === undefined) === (o.points === undefined)) throw new TlcError('plan: give either --sweep <dir> or --points <file>');
    if (o.points !== undefined) {
      if (o.holdout) throw new TlcError('plan: --holdout refits a sweep without its largest budgets; it does not apply to --points');
      const p = planPoints(readPointsFile(o.points), budget);
      if (o.json) process.stdout.write(JSON.stringify(pointsJson(p)) + '\n');
      else printPointsPlan(p);
      return;
    }
    const dir = o.sweep!;
    const runs = loadSweep(dir);
    const spec = readSweepSpec(join(dir, SWEEP_FILES.spec));
    if (spec.objective === 'seq2seq') throw new TlcError(`${dir}: planning from a seq2seq sweep is not supported; compare its runs' BLEU in sweep.json`);
    const meta = readDataMeta(spec.data);
    const unigramLoss = runs.find((r) => r.unigramLoss !== null)?.unigramLoss ?? null;
    const regimeOptions = { corpusTokens: meta.train.tokens, unigramLoss };
    const p = plan(runs, budget, { vocabSize: meta.vocab_size, seqLen: spec.seq_len, objective: spec.objective, ...regimeOptions });
    const h = o.holdout ? holdout(runs, regimeOptions) : null;
    if (o.json) {
      process.stdout.write(JSON.stringify(planJson(p, h)) + '\n');
      return;
    }
    printPlan(p);
    if (h) printHoldout(h);
  });
}

/** The fit's coefficients as numbers, their 90% bands beside them. */
function fitJson(f: ChinchillaFit): Record<string, unknown> {
  const v = (c: Coefficient | null) => (c === null ? null : c.value);
  const band = (c: Coefficient | null) => c?.ci90 ?? null;
  return {
    E: v(f.E), A: v(f.A), alpha: v(f.alpha), B: v(f.B), beta: v(f.beta),
    bands: { E: band(f.E), A: band(f.A), alpha: band(f.alpha), B: band(f.B), beta: band(f.beta) },
    r2: f.goodness.r2, rmse: f.goodness.rmse, huber: f.goodness.huberLoss, points: f.goodness.points,
    unidentifiable: f.unidentifiable, bootstrap: { unit: f.bootstrap.unit, units: f.bootstrap.units, used: f.bootstrap.used },
  };
}

function optimumJson(o: OptimumComparison): Record<string, unknown> {
  const a2 = o.approach2;
  return {
    approach2: 'reason' in a2 ? { a: null, n_opt: null, reason: a2.reason }
      : { a: a2.a, a_band: a2.aBand, n_opt: a2.nOpt, n_opt_band: a2.band, extrapolated: a2.extrapolated, profiles: a2.profiles, bootstrap: a2.bootstrap },
    approach3: o.approach3 && { n_opt: o.approach3.nOpt, n_opt_band: o.approach3.band },
    disagreement: o.disagreement, conservative_n_opt: o.conservative,
  };
}

function budgetJson(b: Plan['budget']): Record<string, unknown> {
  return b.kind === 'time' ? { kind: 'time', seconds: b.seconds } : b.kind === 'tokens' ? { kind: 'tokens', tokens: b.tokens } : { kind: 'flops', flops: b.flops };
}

/** The command-line contract's JSON: budget_s, best, candidates, fit (and holdout); fields are only ever added. */
function planJson(p: Plan, h: Holdout | null): Record<string, unknown> {
  const best = { preset: p.best.preset, loss: p.best.loss, low: p.best.low, high: p.best.high, extrapolated: p.best.extrapolated || p.best.size === 'extrapolated' };
  const { approach2, approach3, disagreement, conservative_n_opt } = optimumJson(p.optimum);
  return {
    budget_s: p.budgetSeconds, budget: budgetJson(p.budget), best, candidates: p.candidates, fit: fitJson(p.fit), fit_detail: p.fit, points: p.points,
    approach2, approach3, disagreement, conservative_n_opt, ...regimeJson(p.regime),
    runner_up: p.runnerUp?.preset ?? null, size_barely_matters: p.sizeBarelyMatters, batch_size: p.batchSize, warnings: p.warnings, summary: p.summary,
    ...(h ? {
      holdout: {
        budget_s: h.budgetSeconds, predicted_best: h.predictedBest, measured_best: h.measuredBest, warnings: h.warnings, fit: fitJson(h.fit), ...h.regime,
        rows: h.rows.map((r) => ({
          preset: r.preset, predicted: r.predicted, low: r.low, high: r.high, measured: r.measured, tokens: r.tokens, relative_error: r.relativeError,
          short_past_drop: r.shortPastDrop, low_from_own_slope: r.lowFromOwnSlope, own_curve: r.fromOwnCurve,
          ...(r.unpredictable !== null && { unpredictable: r.unpredictable }),
        })),
      },
    } : {}),
  };
}

function pointsJson(p: PointsPlan): Record<string, unknown> {
  return {
    budget: budgetJson(p.budget), fit: fitJson(p.fit), fit_detail: p.fit, ...optimumJson(p.optimum), ...regimeJson(p.regime),
    allocation: p.allocation && { params: p.allocation.params, tokens: p.allocation.tokens, loss: p.allocation.loss, params_band: p.allocation.paramsInterval, tokens_band: p.allocation.tokensInterval, method: p.allocation.method },
    sizes: p.rows.map((r) => ({ size: r.size, params: r.params, tokens: r.tokens, predicted: r.loss, low: r.low, high: r.high, own_curve: r.ownCurve, ...(r.unpredictable !== null && { unpredictable: r.unpredictable }) })),
    points: p.points.length, warnings: p.warnings, summary: p.summary,
  };
}

function printPlan(p: Plan): void {
  printFit(p.fit);
  printRegime(p.regime);
  console.log('\n| shape | non-embedding params | size | tokens/s | tokens in budget | epochs | predicted loss | 90% band |\n|---|---:|---|---:|---:|---:|---:|---|');
  for (const x of p.candidates) {
    console.log(`| ${x.preset}${x === p.best ? ' ◀' : ''} | ${(x.nonEmbeddingParams / 1e6).toFixed(2)}M | ${x.size} | ` +
      `${Math.round(x.tokensPerS).toLocaleString()}${x.measured ? '' : '*'} | ${(x.tokens / 1e6).toFixed(1)}M | ` +
      `${x.epochs === null ? '-' : x.epochs.toFixed(1)} | ${lossCell(x)} |`);
  }
  console.log('(* throughput extrapolated from the sweep\'s achieved GFLOP/s)');
  if (p.candidates.some((x) => x.ownCurve)) console.log(OWN_CURVE_FOOTNOTE);
  console.log('');
  printOptimum(p.optimum);
  console.log(p.summary);
}

function lossCell(x: Pick<PlanCandidate, 'loss' | 'low' | 'high' | 'ownCurve'>): string {
  return x.loss === null ? 'cannot say | -' : `${x.loss.toFixed(3)}${x.ownCurve ? ' ‡' : ''} | ${x.low!.toFixed(3)}–${x.high!.toFixed(3)}`;
}

const OWN_CURVE_FOOTNOTE = '‡ from that size\'s own curve past its drop (E + B·D^−β through its points there, "own curve"), not the law across sizes; ' +
  'past its points its band runs from its last slope continued to its last loss';


function printPointsPlan(p: PointsPlan): void {
  printFit(p.fit);
  printRegime(p.regime);
  console.log('\n| size | non-embedding params | tokens | predicted loss | 90% band |\n|---|---:|---:|---:|---|');
  // a paper's table may hold a size per point: show an even spread of them (--json lists all)
  const step = Math.max(1, Math.ceil(p.rows.length / MAX_ROWS_SHOWN));
  const shown = p.rows.filter((_, i) => i % step === 0 || i === p.rows.length - 1);
  for (const r of shown) console.log(`| ${r.size} | ${formatCount(r.params)} | ${formatCount(r.tokens)} | ${lossCell(r)} |`);
  if (p.rows.some((r) => r.ownCurve)) console.log(OWN_CURVE_FOOTNOTE);
  console.log(shown.length < p.rows.length ? `(${shown.length} of ${p.rows.length} sizes shown; --json lists all)\n` : '');
  printOptimum(p.optimum);
  console.log(p.summary);
}

function printFit(f: ChinchillaFit): void {
  const coef = (name: string, v: { value: number; ci90: [number, number] | null } | null): string =>
    v === null ? `${name} not identifiable` : `${name} = ${v.value.toPrecision(3)}${v.ci90 ? ` [${v.ci90[0].toPrecision(3)}, ${v.ci90[1].toPrecision(3)}]` : ''}`;
  console.log(`fit L(N, D) = E + A/N^α + B/D^β over ${f.goodness.points} end-of-schedule losses ` +
    `(${f.bootstrap.unit === 'wild-groups' ? 'wild bootstrap' : 'bootstrap'} over ${f.bootstrap.units} ${f.bootstrap.unit === 'points' ? 'points' : 'runs'}): ` +
    [coef('E', f.E), coef('A', f.A), coef('α', f.alpha), coef('B', f.B), coef('β', f.beta)].join(', ') +
    `; R² ${f.goodness.r2 === null ? '-' : f.goodness.r2.toFixed(3)}, RMSE(log) ${f.goodness.rmse.toFixed(4)}, largest residual ${f.goodness.maxAbsResidual.toFixed(4)}`);
  for (const why of [f.unidentifiable.params, f.unidentifiable.tokens]) if (why) console.log(`note: ${why}`);
}

function printRegime<P extends SizedPoint>(r: Regime<P>): void {
  for (const d of r.plateau.decisions) if (d.state !== 'unseen') console.log(`plateau: ${d.size}: ${d.reason}`);
  if (r.plateau.onset) console.log(`plateau: the drop's onset D_on ∝ N^${r.plateau.onset.k.toFixed(2)} across ${r.plateau.onset.sizes.join(', ')}`);
  if (r.repetition) console.log(`repetition: ${r.repetition.note}`);
  const t = r.transition;
  if (t) {
    const l = t.log;
    console.log(`drop: the candidates are predicted through it, L = Λ + (P − Λ)/(1 + (D/D_on)^s) with Λ = E + A/N^α + B/D^β, over all ${t.points} points: ` +
      `P = ${Math.exp(l.p).toFixed(3)}, D_on = ${Math.exp(l.c).toPrecision(3)}·N^${l.k.toFixed(3)}, s = ${l.s.toFixed(2)}, ` +
      `E = ${Math.exp(l.e).toPrecision(3)}, A = ${Math.exp(l.a).toPrecision(3)}, α = ${l.alpha.toFixed(3)}, B = ${Math.exp(l.b).toPrecision(3)}, β = ${l.beta.toFixed(3)}; ` +
      `RMSE(log) ${t.rmse.toFixed(4)} (wild bootstrap, ${t.samples.length} fits); the law above, on the points past each drop, gives approach 3`);
  } else if (r.plateau.active && r.transitionNote) {
    console.log(`drop: not modelled (${r.transitionNote}): the law above predicts`);
  }
  for (const c of r.ownCurves) console.log(`own curve: ${describeOwnCurve(c, discountsRepeats(r))}`);
  for (const n of r.notes) console.log(`note: ${n}`);
}

function printOptimum(o: OptimumComparison): void {
  const a2 = o.approach2;
  const m = (n: number) => formatCount(n);
  if ('reason' in a2) console.log(`approach 2: does not apply (${a2.reason})`);
  else {
    console.log(`approach 2: N_opt ∝ C^${a2.a.toFixed(3)}${a2.aBand ? ` [${a2.aBand[0].toFixed(3)}, ${a2.aBand[1].toFixed(3)}]` : ''} through ` +
      `${a2.profiles.filter((q) => q.nOpt !== null).length} of ${a2.profiles.length} budgets; N_opt at the budget ${m(a2.nOpt)}` +
      `${a2.band ? ` (90% band ${m(a2.band[0])}–${m(a2.band[1])})` : ''}${a2.extrapolated ? ', extrapolated' : ''}`);
  }
  if (o.approach3) console.log(`approach 3: N_opt ${m(o.approach3.nOpt)}${o.approach3.band ? ` (90% band ${m(o.approach3.band[0])}–${m(o.approach3.band[1])})` : ''}`);
  console.log('');
}

function printHoldout(h: Holdout): void {
  console.log(`\nheld out: each size's largest budget (about ${formatSeconds(h.budgetSeconds)} of training), predicted from the rest:`);
  console.log('| shape | tokens | predicted | 90% band | measured | error |\n|---|---:|---:|---|---:|---:|');
  for (const r of h.rows) {
    const cells = r.predicted === null ? 'cannot say | -'
      : `${r.predicted.toFixed(3)}${r.shortPastDrop ? ' *' : ''}${r.fromOwnCurve ? ' ‡' : ''} | ${r.low!.toFixed(3)}${r.lowFromOwnSlope ? '†' : ''}–${r.high!.toFixed(3)}`;
    console.log(`| ${r.preset} | ${(r.tokens / 1e6).toFixed(2)}M | ${cells} | ${r.measured.toFixed(3)} | ${r.relativeError === null ? '-' : `${(100 * r.relativeError).toFixed(1)}%`} |`);
  }
  for (const r of h.rows) if (r.unpredictable) console.log(`${r.preset}: ${r.unpredictable}`);
  if (h.rows.some((r) => r.predicted !== null && r.shortPastDrop)) {
    console.log('* doubted in advance: the refit\'s points of that size reach less than two doublings past the end of its drop (see the warning below)');
  }
  if (h.rows.some((r) => r.lowFromOwnSlope)) {
    console.log('† the band\'s lower end is that size\'s own last slope (past the end of its drop) continued, a bound from below');
  }
  if (h.rows.some((r) => r.fromOwnCurve)) {
    console.log(OWN_CURVE_FOOTNOTE);
    for (const c of h.ownCurves) console.log(`  the refit's own curve: ${c}`);
  }
  const row = (preset: string | null) => h.rows.find((r) => r.preset === preset);
  const [picked, best] = [row(h.predictedBest), row(h.measuredBest)];
  // a wrong choice the bands had already called uncertain is not the same failure as a confident one
  const overlapped = picked !== undefined && best !== undefined && picked.low !== null && best.low !== null &&
    picked.low <= best.high! && best.low <= picked.high!;
  console.log(`predicted best: ${h.predictedBest ?? 'none'}; measured best: ${h.measuredBest}` + (h.predictedBest === h.measuredBest ? ' — the fit chose right.'
    : overlapped ? ` — the fit chose wrong, though its 90% bands for ${h.predictedBest} and ${h.measuredBest} overlapped.` : ' — the fit chose wrong.'));
  for (const w of h.warnings) console.log(`Warning (the points of the refit): ${w}.`);
}
