// `tlc plan` on a sweep of four sizes whose evaluations follow a known scaling law: the
// planner must fit the size term and recommend the shape the law itself says is best.
// The sweep directory is written in the format `tlc sweep` leaves (sweep.spec.json,
// sweep.json, runs/<name>/metrics.jsonl), with every run at the same achieved GFLOP/s, so
// that the throughput the planner extrapolates to unswept shapes is known exactly too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countParams, presetConfig, trainingFlopsPerToken, PRESETS } from '../src/nn/config.js';
import { preparedSyntheticData } from './corpus-fixture.js';

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

/** A finished sweep of SWEPT whose evaluations lie on `law`. */
function writeSweep(root: string, data: string, law: Law): string {
  const out = join(root, 'sweep');
  mkdirSync(out, { recursive: true });
  const spec = {
    data, sizes: SWEPT, batch_sizes: [32], budget: `${RUN_SECONDS}s`, seq_len: SEQ_LEN, lr: 1e-3, warmup: 0.06, schedule: 'linear',
    weight_decay: 0.01, dropout: 0, clip: 1, seed: 0, eval_every: 0.1, eval_tokens: 32768, objective: 'clm',
  };
  writeFileSync(join(out, 'sweep.spec.json'), JSON.stringify(spec));
  const rows = SWEPT.map((preset) => {
    const s = shape(preset);
    const run = join(out, 'runs', preset);
    mkdirSync(run, { recursive: true });
    const perToken = trainingFlopsPerToken(presetConfig(preset, { vocab_size: VOCAB, max_len: 128, objective: 'clm' }), SEQ_LEN);
    const steps = 1000, tokensPerStep = (s.tokensPerS * RUN_SECONDS) / steps;
    const events: Record<string, unknown>[] = [{ event: 'start', step: 0, params: s.params, budget: { kind: 'time', limit: RUN_SECONDS }, train_seconds: 0 }];
    for (let k = 0; k <= 10; k++) {
      const step = k * 100, tokens = step * tokensPerStep;
      // step 0: the untrained model; 10%: still warming up, above the law (the planner skips the first quarter)
      const loss = k === 0 ? Math.log(VOCAB) : lossOf(law, s.nonEmbedding, tokens) * (k === 1 ? 1.3 : 1);
      events.push({
        event: 'eval', step, train_seconds: (RUN_SECONDS * k) / 10, tokens, flops: tokens * perToken, valid_loss: loss, eval_seconds: 0.5,
      });
    }
    const last = events[events.length - 1];
    events.push({ ...last, event: 'end', eval_seconds: 5.5, checkpoint_seconds: 1, stopped_early: false });
    writeFileSync(join(run, 'metrics.jsonl'), events.map((e) => JSON.stringify(e) + '\n').join(''));
    const tokens = steps * tokensPerStep;
    return {
      name: preset, preset, batch_size: 32, params: s.params, non_embedding_params: s.nonEmbedding, steps, tokens,
      train_seconds: RUN_SECONDS, valid_loss: last.valid_loss, tokens_per_s: tokens / RUN_SECONDS, run,
    };
  });
  writeFileSync(join(out, 'sweep.json'), JSON.stringify({ spec, rows }));
  return out;
}

/** What the law itself predicts for each candidate shape at the planned budget, best first. */
function lawRanking(law: Law): { preset: string; loss: number }[] {
  return [...new Set([...SWEPT, ...PRESETS])].map((preset) => {
    const s = shape(preset);
    return { preset, loss: lossOf(law, s.nonEmbedding, s.tokensPerS * PLAN_SECONDS) };
  }).sort((a, b) => a.loss - b.loss);
}

interface PlanJson {
  best: { preset: string; loss: number };
  candidates: { preset: string; loss: number; tokens: number; measured: boolean }[];
  fit: { alpha: { value: number } | null; beta: { value: number } | null; unidentifiable: { params: string | null } };
}

function planFor(root: string, data: string, law: Law): PlanJson {
  const sweep = writeSweep(root, data, law);
  const r = spawnSync(process.execPath, [CLI, 'plan', '--sweep', sweep, '--budget', `${PLAN_SECONDS / 3600}h`, '--json'], { encoding: 'utf8' });
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
    const p = planFor(mkdtempSync(join(tmpdir(), `tlc-plan-${i}-`)), data, law);
    assert.equal(p.fit.unidentifiable.params, null, 'four sizes identify the N term');
    assert.ok(p.fit.alpha !== null && Math.abs(p.fit.alpha.value - law.alpha) < 0.01, `fitted α ${p.fit.alpha?.value}, law α ${law.alpha}`);
    assert.ok(p.fit.beta !== null && Math.abs(p.fit.beta.value - law.beta) < 0.01, `fitted β ${p.fit.beta?.value}, law β ${law.beta}`);
    assert.equal(p.best.preset, expected[i], `α = ${law.alpha}: recommended ${p.best.preset}, the law's best is ${expected[i]}`);
    // every candidate's prediction is the law's, measured or extrapolated throughput alike
    const truth = new Map(lawRanking(law).map((c) => [c.preset, c.loss]));
    assert.equal(p.candidates.length, truth.size);
    for (const c of p.candidates) {
      const want = truth.get(c.preset)!;
      assert.ok(Math.abs(c.loss / want - 1) < 2e-3, `α = ${law.alpha}, ${c.preset}: predicted ${c.loss}, law ${want}`);
      assert.equal(c.measured, SWEPT.includes(c.preset));
      const tokens = shape(c.preset).tokensPerS * PLAN_SECONDS;
      assert.ok(Math.abs(c.tokens / tokens - 1) < 1e-9, `${c.preset}: ${c.tokens} tokens in the budget, expected ${tokens}`);
    }
  }
});
