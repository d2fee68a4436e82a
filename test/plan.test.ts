// `tlc plan` on a sweep of four sizes whose evaluations follow a known scaling law: the
// planner must fit the size term and recommend the shape the law itself says is best.
// The sweep directory is written in the format `tlc sweep` leaves (sweep.spec.json,
// sweep.json, runs/<name>/metrics.jsonl), with every run at the same achieved GFLOP/s, so
// that the throughput the planner extrapolates to unswept shapes is known exactly too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countParams, presetConfig, trainingFlopsPerToken } from '../src/nn/config.js';
import { preparedSyntheticData } from './corpus-fixture.js';
import { accelerationWarning, accelerations, precisionWarning, type FitPoint } from '../src/experiment/plan.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

const VOCAB = 320, SEQ_LEN = 128;
const GFLOPS = 2; // achieved by every run
const SWEPT = ['L1-D64', 'L2-D128', 'L4-D256', 'L4-D512'];
const RUN_SECONDS = 3600; // each swept run's budget
const PLAN_SECONDS = 4 * 3600; // the budget planned for

interface Law { E: number; A: number; alpha: number; B: number; beta: number }
const lossOf = (l: Law, n: number, d: number): number => l.E + l.A / n ** l.alpha + l.B / d ** l.beta;

function shape(preset: string): { params: number; nonEmbedding: number; tokensPerS: number } {
  const cfg = presetConfig(preset, { vocab_size: VOCAB, max_len: Math.max(SEQ_LEN, 128), objective: 'clm' });
  const counts = countParams(cfg);
  return { params: counts.total, nonEmbedding: counts.nonEmbedding, tokensPerS: (GFLOPS * 1e9) / trainingFlopsPerToken(cfg, SEQ_LEN) };
}

const FRACTIONS = [0.25, 0.5, 1], COOLDOWN = 0.2;

/**
 * A finished wsd sweep of SWEPT: each run's cooldown branches end on `law`, while its
 * mid-schedule (trunk) evaluations lie 30% above it — the planner must fit the former only.
 */
function writeSweep(root: string, data: string, law: Law): string {
  const out = join(root, 'sweep');
  mkdirSync(out, { recursive: true });
  const spec = {
    data, sizes: SWEPT, batch_sizes: [32], budget: `${RUN_SECONDS}s`, seq_len: SEQ_LEN, lr: 1e-3, warmup: 0.06, schedule: 'wsd',
    branches: FRACTIONS, cooldown: COOLDOWN, weight_decay: 0.01, dropout: 0, clip: 1, seed: 0, eval_every: 0.1, eval_tokens: 32768, objective: 'clm',
  };
  writeFileSync(join(out, 'sweep.spec.json'), JSON.stringify(spec));
  const rows = SWEPT.map((preset) => {
    const s = shape(preset);
    const run = join(out, 'runs', preset);
    mkdirSync(run, { recursive: true });
    const perToken = trainingFlopsPerToken(presetConfig(preset, { vocab_size: VOCAB, max_len: 128, objective: 'clm' }), SEQ_LEN);
    const steps = 1000, tokensPerStep = (s.tokensPerS * RUN_SECONDS) / steps;
    const at = (step: number) => ({ train_seconds: (RUN_SECONDS * step) / steps, tokens: step * tokensPerStep, flops: step * tokensPerStep * perToken });
    const end = (step: number, loss: number) => ({ event: 'end', step, ...at(step), eval_seconds: 1, checkpoint_seconds: 1, stopped_early: false, valid_loss: loss });
    const events: Record<string, unknown>[] = [{ event: 'start', step: 0, params: s.params, budget: { kind: 'time', limit: RUN_SECONDS }, train_seconds: 0 }];
    for (let k = 1; k <= 10; k++) {
      const step = k * 100;
      events.push({ event: 'eval', step, ...at(step), valid_loss: 1.3 * lossOf(law, s.nonEmbedding, at(step).tokens), eval_seconds: 0.5 });
    }
    events.push(end(steps, events.at(-1)!.valid_loss as number));
    writeFileSync(join(run, 'metrics.jsonl'), events.map((e) => JSON.stringify(e) + '\n').join(''));
    writeFileSync(join(run, 'run.json'), JSON.stringify({ command: 'pretrain', format_version: 2, options: { schedule: 'wsd' } }));
    for (const f of FRACTIONS) {
      const dir = join(run, 'branches', f.toFixed(2));
      mkdirSync(dir, { recursive: true });
      const fork = f * steps, last = Math.round(fork * (1 + COOLDOWN));
      writeFileSync(join(dir, 'branch.json'), JSON.stringify({
        fraction: f, fork_step: fork, fork_usage: { trainSeconds: at(fork).train_seconds, tokens: at(fork).tokens, steps: fork, flops: at(fork).flops },
        cooldown: COOLDOWN, cooldown_shape: '1-sqrt', budget: { kind: 'time', limit: at(last).train_seconds },
      }));
      writeFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(end(last, lossOf(law, s.nonEmbedding, at(last).tokens))) + '\n');
    }
    const tokens = steps * tokensPerStep;
    return {
      name: preset, preset, batch_size: 32, params: s.params, non_embedding_params: s.nonEmbedding, steps, tokens,
      train_seconds: RUN_SECONDS, valid_loss: events.at(-1)!.valid_loss, tokens_per_s: tokens / RUN_SECONDS, run,
    };
  });
  writeFileSync(join(out, 'sweep.json'), JSON.stringify({ spec, rows }));
  return out;
}

/** The shapes the planner should consider: the swept ones and one ladder step beyond each end. */
const CANDIDATES = [...SWEPT, 'L6-D512'];

/** What the law itself predicts for each candidate shape at the planned budget, best first. */
function lawRanking(law: Law): { preset: string; loss: number }[] {
  return CANDIDATES.map((preset) => {
    const s = shape(preset);
    return { preset, loss: lossOf(law, s.nonEmbedding, s.tokensPerS * PLAN_SECONDS) };
  }).sort((a, b) => a.loss - b.loss);
}

interface PlanJson {
  budget_s: number;
  best: { preset: string; loss: number; extrapolated: boolean };
  candidates: { preset: string; loss: number; tokens: number; measured: boolean; size: string }[];
  points: unknown[];
  holdout: { budget_s: number; predicted_best: string; measured_best: string; rows: { preset: string; predicted: number; measured: number }[]; warnings: string[] };
  warnings: string[];
  fit: { alpha: number | null; beta: number | null; unidentifiable: { params: string | null } };
}

function planFor(root: string, data: string, law: Law): PlanJson {
  const sweep = writeSweep(root, data, law);
  const r = spawnSync(process.execPath, [CLI, 'plan', '--sweep', sweep, '--budget', `${PLAN_SECONDS / 3600}h`, '--holdout', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as PlanJson;
}

test('tlc plan on four sizes fits the size exponent and recommends the size the known law says is best', async () => {
  const data = await preparedSyntheticData();
  const chinchilla: Law = { E: 1.69, A: 406.4, alpha: 0.34, B: 410.7, beta: 0.28 };
  const laws = [0.2, 0.34, 0.5].map((alpha) => ({ ...chinchilla, alpha }));
  const expected = laws.map((law) => lawRanking(law)[0].preset);
  // the premise: the size exponent alone decides between three different shapes at this budget
  assert.equal(new Set(expected).size, 3, `the law's best shapes ${expected.join(', ')} should differ with α`);
  for (const [i, law] of laws.entries()) {
    const p = planFor(tempDir(`tlc-plan-${i}-`), data, law);
    assert.equal(p.budget_s, PLAN_SECONDS);
    assert.equal(p.points.length, SWEPT.length * FRACTIONS.length, 'only the branch ends are fitted, not the trunk evaluations');
    assert.equal(p.fit.unidentifiable.params, null, 'four sizes identify the N term');
    assert.ok(p.fit.alpha !== null && Math.abs(p.fit.alpha - law.alpha) < 0.01, `fitted α ${p.fit.alpha}, law α ${law.alpha}`);
    assert.ok(p.fit.beta !== null && Math.abs(p.fit.beta - law.beta) < 0.01, `fitted β ${p.fit.beta}, law β ${law.beta}`);
    assert.equal(p.best.preset, expected[i], `α = ${law.alpha}: recommended ${p.best.preset}, the law's best is ${expected[i]}`);
    // every candidate's prediction is the law's, measured or extrapolated throughput alike
    const truth = new Map(lawRanking(law).map((c) => [c.preset, c.loss]));
    assert.equal(p.candidates.length, truth.size);
    for (const c of p.candidates) {
      const want = truth.get(c.preset)!;
      assert.ok(Math.abs(c.loss / want - 1) < 2e-3, `α = ${law.alpha}, ${c.preset}: predicted ${c.loss}, law ${want}`);
      assert.equal(c.measured, SWEPT.includes(c.preset));
      assert.equal(c.size, SWEPT.includes(c.preset) ? 'measured' : 'extrapolated');
      const tokens = shape(c.preset).tokensPerS * PLAN_SECONDS;
      assert.ok(Math.abs(c.tokens / tokens - 1) < 1e-9, `${c.preset}: ${c.tokens} tokens in the budget, expected ${tokens}`);
    }
    // refitted without the largest budget, the law still predicts it, and so the right size there
    assert.equal(p.holdout.rows.length, SWEPT.length);
    for (const r of p.holdout.rows) assert.ok(Math.abs(r.predicted / r.measured - 1) < 2e-3, `holdout ${r.preset}: ${r.predicted} vs ${r.measured}`);
    assert.equal(p.holdout.predicted_best, p.holdout.measured_best);
    assert.ok(Math.abs(p.holdout.budget_s - RUN_SECONDS * (1 + COOLDOWN)) < 1e-6);
    // points on the law gain less with every doubling: no phase-change warning
    assert.deepEqual(p.holdout.warnings, []);
    assert.ok(!p.warnings.some((w) => /fall faster/.test(w)), p.warnings.join('; '));
  }
});

// L1-D64 and L2-D128 as the budget ladder measured them (README): a plateau near the unigram
// loss, then a drop, which the law cannot follow, and the planner must say so; next to them a
// size whose gains shrink with every doubling.
test('plan warns when a size\'s loss falls faster with each doubling of its budget, as no power law does', () => {
  const point = (preset: string, params: number, tokens: number, loss: number, batch = 32): FitPoint =>
    ({ preset, params, tokens, loss, group: `${preset}-B${batch}`, size: `${preset}-B${batch}`, seconds: tokens / 1e4, flops: 6 * params * tokens, fraction: 1, run: preset });
  const ladder = (preset: string, params: number, tokens: number, losses: number[], batch = 32): FitPoint[] =>
    losses.map((l, i) => point(preset, params, tokens * 2 ** i, l, batch));
  const points = [
    ...ladder('L1-D64', 63e3, 20.5e6, [5.912, 5.844, 4.474, 3.812]),
    ...ladder('L2-D128', 422e3, 8.5e6, [5.946, 5.849, 4.431, 3.331]),
    ...ladder('L6-D384', 10.8e6, 0.75e6, [6.5, 6.329, 6.25, 6.2]),
  ];
  const found = accelerations(points);
  assert.deepEqual(found.map((a) => a.label), ['L1-D64', 'L2-D128'], 'L6-D384 gains less with every doubling');
  const l2 = found[1];
  assert.ok(Math.abs(l2.before - 0.097) < 1e-9 && Math.abs(l2.after - 1.418) < 1e-9, `L2-D128: ${l2.before} then ${l2.after}`);
  assert.equal(l2.tokens, 8.5e6 * 4);
  assert.match(accelerationWarning(found)!, /L2-D128 0\.10 then 1\.42 nats per doubling of tokens \(to 34\.0M\)/);
  // a law's points with evaluation noise: shrinking gains, no warning
  const law = (n: number, d: number) => 1.7 + 400 / n ** 0.34 + 410 / d ** 0.28;
  const lawful = ['L1-D64', 'L2-D128', 'L4-D256'].flatMap((preset, k) =>
    [1, 2, 4, 8].map((m, i) => point(preset, 1e5 * 8 ** k, 1e6 * m, law(1e5 * 8 ** k, 1e6 * m) + (i % 2 ? 0.01 : -0.01))));
  assert.deepEqual(accelerations(lawful), []);
  assert.equal(accelerationWarning([]), null);
  // near a plateau, noise alone (a loss 0.005 up, then 0.055 down) is no acceleration, nor are
  // closely spaced branches (0.5, 0.75, 0.875, 1), whose short intervals would magnify noise
  const flat = ladder('L4-D256', 3.2e6, 1e6, [6.21, 6.215, 6.16, 6.155]);
  const close = [0.5, 0.75, 0.875, 1].map((f, i) => point('L4-D256', 3.2e6, 8e6 * f, [6.0, 5.99, 5.95, 5.948][i]));
  assert.deepEqual(accelerations(flat), []);
  assert.deepEqual(accelerations(close), []);
  // one size at two batch sizes is two curves: each is judged on its own and named with its batch
  const batches = [...ladder('L2-D128', 422e3, 8.5e6, [5.946, 5.849, 4.431], 32), ...ladder('L2-D128', 422e3, 8.5e6, [6.3, 6.2, 6.15], 128)];
  assert.deepEqual(accelerations(batches).map((a) => a.label), ['L2-D128-B32']);
});

test('plan warns when a sweep\'s runs trained in different precisions', () => {
  assert.equal(precisionWarning([{ preset: 'L1-D64', precision: 'bf16' }, { preset: 'L2-D128', precision: 'bf16' }, { preset: 'L4-D256', precision: null }]), null);
  assert.equal(precisionWarning([{ preset: 'L1-D64', precision: 'bf16' }, { preset: 'L2-D128', precision: 'f32' }, { preset: 'L2-D128', precision: 'f32' }]),
    'the runs trained in different precisions (bf16: L1-D64; f32: L2-D128): their throughputs, and so the tokens a time budget buys, ' +
    'are not those of one precision; sweep with an explicit precision');
});
