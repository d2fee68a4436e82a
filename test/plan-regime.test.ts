// The planner's regime: the plateau rule on a synthetic plateau-then-drop ladder, effective
// tokens under repetition, approach 2 on a known law, budgets in time, tokens and FLOPs, and
// `tlc plan --points` on the Chinchilla paper's published points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analysePlateaus, shortPastDrop } from '../src/experiment/plateau.js';
import { fitRegime, predictInRegime, type SizedPoint } from '../src/experiment/plan-regime.js';
import { fitChinchilla, predictLoss } from '../src/experiment/fit.js';
import { checkPoints } from '../src/experiment/plan-points.js';
import { approach2 } from '../src/experiment/approach2.js';
import { effectiveTokens, decideRepetition, PUBLISHED_R_STAR } from '../src/experiment/repetition.js';
import { parsePlanBudget } from '../src/experiment/plan-budget.js';
import { readPointsFile } from '../src/experiment/points-file.js';
import { huber } from '../src/util/numerics/optimise.js';
import { transitionResidualProblem } from '../src/experiment/transition.js';
import { tempDir } from './temp-dir.js';
import { chooseSize } from '../src/auto/choose.js';
import type { SweepRun } from '../src/experiment/analysis.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = join(HERE, '..', 'src', 'cli', 'main.js');
const CHINCHILLA = join(HERE, '..', '..', 'test', 'fixtures', 'chinchilla-figure4.csv');

// the law after the drop, and the plateau before it: the loss sits near 6.2 (falling 0.04 nats
// per doubling) until the size's onset D_on = 2e6·(N/1e5), then follows the law
const LAW = { E: 1.8, A: 40, alpha: 0.34, B: 200, beta: 0.3 };
const law = (n: number, d: number) => LAW.E + LAW.A / n ** LAW.alpha + LAW.B / d ** LAW.beta;
const onset = (n: number) => 2e6 * (n / 1e5);
const plateau = (d: number) => 6.2 - 0.04 * Math.log2(d / 1e6);
// deterministic evaluation noise of a few thousandths of a nat
const noise = (i: number) => 0.004 * Math.sin(12.9898 * i);

const SIZES = [1e5, 3e5, 1e6, 1e7];
function ladder(doublings = 7): SizedPoint[] {
  let i = 0;
  return SIZES.flatMap((n) => Array.from({ length: doublings }, (_, k) => {
    const d = 1e6 * 2 ** k;
    return { size: `N${n}`, params: n, tokens: d, loss: (d < onset(n) ? plateau(d) : law(n, d)) + noise(i++) };
  }));
}
const check = (points: SizedPoint[]) => checkPoints(points);

test('the plateau rule: each size\'s drop found, the points before it kept out of the law, the onset fitted across sizes', () => {
  const points = ladder();
  const a = analysePlateaus(points);
  assert.deepEqual(a.decisions.map((d) => d.state), ['left', 'left', 'left', 'on-plateau']);
  for (const d of a.decisions.filter((x) => x.state === 'left')) {
    assert.ok(d.dropAfter! < onset(d.params) && onset(d.params) <= d.dropBy!, `${d.size}: drop between ${d.dropAfter} and ${d.dropBy}, onset ${onset(d.params)}`);
  }
  assert.ok(a.onset !== null && Math.abs(a.onset.k - 1) < 0.25, `onset exponent ${a.onset?.k}`);
  const r = fitRegime(points, { check, bootstrap: 50 });
  assert.ok(r.plateauApplied);
  assert.ok(r.kept.every((p) => p.tokens >= onset(p.params)), 'only points past their drop are fitted');
  assert.ok(Math.abs(r.fit.alpha!.value - LAW.alpha) < 0.07 && Math.abs(r.fit.beta!.value - LAW.beta) < 0.02, `α ${r.fit.alpha?.value}, β ${r.fit.beta?.value}`);
});

test('on a plateau-then-drop ladder the rule changes the prediction: right past the drop, "cannot say" before it', () => {
  const points = ladder();
  const r = fitRegime(points, { check, bootstrap: 50 });
  // the largest size, on its plateau throughout, far past its predicted onset: the law's number
  const far = predictInRegime(r, 'N10000000', 1e7, 2e9);
  assert.ok(far.loss !== null && Math.abs(far.loss / law(1e7, 2e9) - 1) < 0.03, `predicted ${far.loss}, law ${law(1e7, 2e9)}`);
  // the same size before its onset (2e8 tokens): the law cannot say
  const early = predictInRegime(r, 'N10000000', 1e7, 1.5e8);
  assert.equal(early.loss, null);
  assert.match(early.unpredictable!, /has not left the plateau.*onset.*expected near/);
  // without the rule, the law fitted through every point is far off past the drop
  const naive = predictLoss(fitChinchilla(points, { bootstrap: 0 }), 1e7, 2e9).loss;
  assert.ok(Math.abs(naive / law(1e7, 2e9) - 1) > 0.1, `naive ${naive} vs law ${law(1e7, 2e9)}: the rule should matter here`);
});

test('auto judges a size trained at two batch sizes by the plateau decision of its own batch size', () => {
  // the ladder's largest size at batch sizes 16 and 32: each is its own curve, on its plateau throughout
  const runOf = (size: string, params: number, batch: number, points: SizedPoint[]): SweepRun => ({
    name: `${size}-B${batch}`, preset: size, batch_size: batch, params, non_embedding_params: params, steps: 1, tokens: points.at(-1)!.tokens,
    train_seconds: 1, valid_loss: points.at(-1)!.loss, tokens_per_s: 1e6, run: `/runs/${size}-B${batch}`, curve: [], noiseScale: null, precision: null,
    unigramLoss: null, points: points.map((p, i) => ({ kind: 'branch', fraction: 2 ** (i - points.length + 1), tokens: p.tokens, validLoss: p.loss, trainSeconds: 1, flops: 1 })),
  });
  const bySize = new Map<string, SizedPoint[]>();
  for (const p of ladder()) bySize.set(p.size, [...(bySize.get(p.size) ?? []), p]);
  const runs = [...bySize].flatMap(([size, points]) => (points[0].params === 1e7 ? [16, 32] : [32]).map((b) => runOf(size, points[0].params, b, points)));
  // a budget that ends before the largest size's onset (2e8 tokens): its own points say it is still on its plateau
  const choice = chooseSize({
    runs, budget: { kind: 'tokens', tokens: 1e8 }, trunkOf: () => 1, stepOf: () => 0, remaining: 1e8, vocabSize: 8192, seqLen: 128, objective: 'mlm', corpusTokens: 1e12,
  });
  const largest = choice.outlook.filter((o) => o.preset === 'N10000000');
  assert.equal(largest.length, 2);
  for (const o of largest) {
    assert.equal(o.predicted, null, `predicted ${o.predicted} at ${o.endTokens} tokens`);
    assert.match(o.unpredictable!, /has not left the plateau/);
  }
  assert.equal(choice.by, 'law');
});

test('held out, each size\'s largest budget is predicted within 3% or declared unpredictable from its own points', () => {
  const points = ladder();
  const largest = new Map<string, SizedPoint>();
  for (const p of points) if (!largest.has(p.size) || p.tokens > largest.get(p.size)!.tokens) largest.set(p.size, p);
  const rest = points.filter((p) => largest.get(p.size) !== p);
  const r = fitRegime(rest, { check, bootstrap: 50 });
  for (const h of largest.values()) {
    const p = predictInRegime(r, h.size, h.params, h.tokens);
    if (p.loss === null) {
      assert.notEqual(r.plateau.decisions.find((d) => d.size === h.size)!.state, 'left', `${h.size} declared unpredictable: ${p.unpredictable}`);
    } else {
      assert.ok(Math.abs(p.loss / h.loss - 1) < 0.03, `${h.size}: predicted ${p.loss}, measured ${h.loss}`);
    }
  }
});

test('a size whose points reach less than two doublings past the end of its drop is named: past them the law\'s slope is not measured', () => {
  const ends = new Map(analysePlateaus(ladder()).decisions.map((d) => [d.size, d.dropEnd]));
  assert.equal(ends.get('N100000')!.at, 2e6, 'the drop of the smallest size ends at its onset');
  assert.ok(Math.abs(ends.get('N100000')!.doublingsPast - 5) < 1e-9);
  assert.equal(ends.get('N1000000')!.at, 3.2e7);
  assert.equal(ends.get('N10000000'), null, 'a size on its plateau has no drop to end');
  assert.deepEqual(analysePlateaus(ladder()).decisions.map(shortPastDrop), [false, false, true, false]);
  const note = (points: SizedPoint[]) => fitRegime(points, { check, bootstrap: 0 }).notes.find((n) => /past the end of its drop|still fell|end in its drop/.test(n)) ?? '';
  const settled = note(ladder());
  assert.match(settled, /^N1000000 reaches 1\.0 doubling past the end of its drop at 32\.0M tokens \(\d\.\d\d then 0\.\d\d nats per doubling\): past its points the law's slope is not measured/);
  assert.doesNotMatch(settled, /N100000 |N300000 /, 'sizes two or more doublings past their drops are not named');
  // its band reaches down to the continuation of its own last slope, and holds the law's loss there
  const r = fitRegime(ladder(), { check, bootstrap: 50 });
  const own = ladder().filter((p) => p.size === 'N1000000');
  const [before, last] = own.slice(-2);
  const continued = last.loss * 2 ** -Math.log2(before.loss / last.loss);
  const p = predictInRegime(r, 'N1000000', 1e6, 2 * last.tokens);
  assert.ok(p.lowFromOwnSlope && Math.abs(p.low! - continued) < 1e-12, `band ${p.low}–${p.high}, own slope continued ${continued}`);
  assert.ok(p.low! <= law(1e6, 2 * last.tokens) && law(1e6, 2 * last.tokens) <= p.high!);
  // a settled size is predicted from its own curve past its drop, whose band holds the law there
  const far = 2 * last.tokens;
  const settledSize = predictInRegime(r, 'N100000', 1e5, far);
  assert.ok(settledSize.fromOwnCurve && Math.abs(settledSize.loss! / law(1e5, far) - 1) < 0.005, `own curve ${settledSize.loss}, law ${law(1e5, far)}`);
  assert.ok(settledSize.low! <= law(1e5, far) && law(1e5, far) <= settledSize.high!, `band ${settledSize.low}–${settledSize.high}`);
  assert.equal(p.fromOwnCurve, false, 'a size short past its drop has no curve of its own');
  assert.equal(predictInRegime(r, 'N1000000', 1e6, last.tokens).lowFromOwnSlope, false, 'within its points, the fit\'s band');
  // a doubling shorter, the same size's points end in its drop: no slope past the drop to continue
  const inDrop = ladder(6);
  assert.match(note(inDrop), /N1000000's points end in its drop \(\d\.\d\d nats per doubling over its last interval, its steepest\)/);
  assert.equal(predictInRegime(fitRegime(inDrop, { check, bootstrap: 50 }), 'N1000000', 1e6, 6.4e7).lowFromOwnSlope, false);
  // a doubling longer, every size that dropped is settled
  assert.equal(note(ladder(8)), '');
});

test('a settled size is predicted from its own curve: where each size has its own data exponent, the law across sizes misses it', () => {
  // past each drop, size n follows its own E + B·D^−β with β from 0.12 to 0.5: no single data term fits them all
  const own = new Map([[1e5, { E: 3.6, B: 900, beta: 0.5 }], [3e5, { E: 2.6, B: 40, beta: 0.25 }], [1e6, { E: 1.2, B: 14, beta: 0.12 }], [3e6, { E: 1.0, B: 12, beta: 0.12 }]]);
  const at = (n: number, d: number) => (d < onset(n) ? plateau(d) : own.get(n)!.E + own.get(n)!.B * d ** -own.get(n)!.beta);
  let i = 0;
  const points: SizedPoint[] = [...own.keys()].flatMap((n) => Array.from({ length: 9 }, (_, k) => ({ size: `N${n}`, params: n, tokens: 1e6 * 2 ** k, loss: at(n, 1e6 * 2 ** k) + noise(i++) })));
  const largest = new Map<string, SizedPoint>();
  for (const q of points) if (!largest.has(q.size) || q.tokens > largest.get(q.size)!.tokens) largest.set(q.size, q);
  const r = fitRegime(points.filter((q) => largest.get(q.size) !== q), { check, bootstrap: 0 });
  assert.deepEqual(r.ownCurves.map((c) => c.size), ['N100000', 'N300000', 'N1000000'], 'the sizes two doublings or more past their drops');
  for (const c of r.ownCurves) assert.ok(Math.abs(c.beta - own.get(Number(c.size.slice(1)))!.beta) < 0.02, `${c.size}: β ${c.beta}`);
  let lawMiss = 0;
  for (const c of r.ownCurves) {
    const h = largest.get(c.size)!;
    const p = predictInRegime(r, h.size, h.params, h.tokens);
    assert.ok(p.fromOwnCurve && Math.abs(p.loss! / h.loss - 1) < 0.002, `${h.size}: own curve ${p.loss}, measured ${h.loss}`);
    assert.ok(p.low! <= h.loss && h.loss <= p.high!, `${h.size}: band ${p.low}–${p.high}, measured ${h.loss}`);
    lawMiss = Math.max(lawMiss, Math.abs(predictLoss(r.fit, h.params, h.tokens).loss / h.loss - 1));
  }
  assert.ok(lawMiss > 0.03, `the law across sizes misses by ${lawMiss}: the own curves should matter here`);
  // past as many doublings as its points span, a size goes back to the law across sizes
  const c = r.ownCurves[2];
  const span = c.points[c.points.length - 1].tokens / c.points[0].tokens;
  assert.equal(predictInRegime(r, c.size, 1e6, c.points[c.points.length - 1].tokens * span * 1.01).fromOwnCurve, false);
});

test('a gradual drop (over four doublings) is predicted through: held out within 3%, where the law past the drop misses', () => {
  // the drop model's own form with known coefficients: P = 6.5, the law above, D_on = 2e7·(N/1e5)^−0.3, s = 1.5:
  // the held-out budgets lie in the drop's tail (5–15% of it left)
  const gradual = (n: number, d: number) => {
    const w = 1 / (1 + (d / (2e7 * (n / 1e5) ** -0.3)) ** 1.5);
    return law(n, d) + (6.5 - law(n, d)) * w;
  };
  let i = 0;
  const points: SizedPoint[] = [1e5, 3e5, 1e6, 3e6].flatMap((n) => Array.from({ length: 7 }, (_, k) => ({
    size: `N${n}`, params: n, tokens: 1e6 * 2 ** k, loss: gradual(n, 1e6 * 2 ** k) + noise(i++),
  })));
  const largest = new Map<string, SizedPoint>();
  for (const p of points) if (!largest.has(p.size) || p.tokens > largest.get(p.size)!.tokens) largest.set(p.size, p);
  const rest = points.filter((p) => largest.get(p.size) !== p);
  const r = fitRegime(rest, { check, bootstrap: 50 });
  assert.ok(r.transition !== null, r.transitionNote ?? '');
  let lawMiss = 0;
  for (const h of largest.values()) {
    const p = predictInRegime(r, h.size, h.params, h.tokens);
    assert.ok(p.loss !== null && Math.abs(p.loss / h.loss - 1) < 0.03, `${h.size}: predicted ${p.loss} (${p.unpredictable}), measured ${h.loss}`);
    assert.ok(p.low! <= p.loss && p.loss <= p.high!);
    lawMiss = Math.max(lawMiss, Math.abs(predictLoss(r.fit, h.params, h.tokens).loss / h.loss - 1));
  }
  assert.ok(lawMiss > 0.05, `the law on the points past each drop misses by ${lawMiss}: the drop model should matter here`);
});

test('the drop model\'s Jacobian matches central differences at every coordinate', () => {
  const points = ladder(5);
  const prob = transitionResidualProblem(points);
  const theta = Float64Array.from([0.4, 1.1, -0.7, 0.9, -1.2, 0.3, -0.25, 0.6, 1.85]);
  const n = prob.points, p = prob.free.length;
  const r = new Float64Array(n), J = new Float64Array(n * p), rp = new Float64Array(n), rm = new Float64Array(n);
  prob.residualsAndJacobian(theta, r, J);
  for (let j = 0; j < p; j++) {
    const h = 1e-6, tp = Float64Array.from(theta), tm = Float64Array.from(theta);
    tp[prob.free[j]] += h;
    tm[prob.free[j]] -= h;
    prob.residuals(tp, rp);
    prob.residuals(tm, rm);
    for (let i = 0; i < n; i++) {
      const fd = (rp[i] - rm[i]) / (2 * h);
      assert.ok(Math.abs(fd - J[i * p + j]) < 1e-6 * (1 + Math.abs(fd)), `∂r${i}/∂θ${j}: analytic ${J[i * p + j]}, central difference ${fd}`);
    }
  }
});

test('a ladder without a plateau is fitted whole, and a size above the unigram loss counts as on its plateau', () => {
  const clean = SIZES.flatMap((n) => [1, 2, 4, 8].map((k) => ({ size: `N${n}`, params: n, tokens: 1e7 * k, loss: law(n, 1e7 * k) })));
  const r = fitRegime(clean, { check, bootstrap: 0 });
  assert.equal(r.plateau.active, false);
  assert.equal(r.kept.length, clean.length);
  const unigram = analysePlateaus(clean, 3.3);
  assert.deepEqual(unigram.decisions.filter((d) => d.state === 'on-plateau').map((d) => d.size), ['N100000'], 'only the smallest stays above 3.3 throughout');
});

test('repeated tokens count as Muennighoff et al.\'s effective tokens; R* is fitted only where the points repeat enough', () => {
  assert.equal(effectiveTokens(5e6, 1e7, PUBLISHED_R_STAR), 5e6, 'under one epoch every token counts');
  // 1 + R*(1 − e^(−R/R*)) with R = 3 repetitions
  assert.ok(Math.abs(effectiveTokens(4e7, 1e7, 15.4) / (1e7 * (1 + 15.4 * (1 - Math.exp(-3 / 15.4)))) - 1) < 1e-12);
  assert.ok(effectiveTokens(1e10, 1e7, 15.4) <= 1e7 * 16.4 * (1 + 1e-12), 'saturates at U·(1 + R*)');
  const few = decideRepetition([{ params: 1, tokens: 2e7, loss: 3 }], 1e7);
  assert.equal(few.source, 'published');
  // points made with R* = 4: the grid finds it
  const rStar = 4, unique = 2e6;
  const pts = SIZES.flatMap((n) => [1, 2, 4, 8, 16].map((k) => ({ params: n, tokens: unique * k, loss: law(n, effectiveTokens(unique * k, unique, rStar)) })));
  const fitted = decideRepetition(pts, unique);
  assert.equal(fitted.source, 'fitted');
  assert.equal(fitted.rStar, rStar, fitted.note);
});

test('approach 2 recovers the optimum\'s exponent β/(α+β) from iso-FLOP profiles of a known law', () => {
  const points = [];
  for (const c of [1e17, 3e17, 1e18, 3e18, 1e19]) {
    for (let i = 0; i < 9; i++) {
      const n = 1e6 * 10 ** (i / 4);
      points.push({ size: `N${n}`, params: n, cost: c, loss: law(n, c / (6 * n)) });
    }
  }
  const r = approach2(points, 1e20, { bootstrap: 0 });
  assert.ok(!('reason' in r), 'reason' in r ? r.reason : '');
  const expected = LAW.beta / (LAW.alpha + LAW.beta);
  assert.ok(Math.abs(r.a - expected) < 0.03, `a ${r.a}, law ${expected}`);
  assert.equal(r.extrapolated, true);
  // too few sizes per budget: no profile has a minimum
  const two = approach2(points.filter((p) => p.params < 2e6), 1e20, { bootstrap: 0 });
  assert.ok('reason' in two);
});

test('budgets parse as time, tokens or FLOPs, and nonsense is refused', () => {
  assert.deepEqual(parsePlanBudget('2h'), { kind: 'time', seconds: 7200 });
  assert.deepEqual(parsePlanBudget('3600s'), { kind: 'time', seconds: 3600 });
  assert.throws(() => parsePlanBudget('3600'), /names no unit: give a training time \(3600s\), tokens \(3600 tokens\) or FLOPs \(3600flops\)/);
  assert.deepEqual(parsePlanBudget('1E9 tokens'), { kind: 'tokens', tokens: 1e9 });
  assert.deepEqual(parsePlanBudget('2B'), { kind: 'tokens', tokens: 2e9 });
  assert.deepEqual(parsePlanBudget('500M'), { kind: 'tokens', tokens: 5e8 });
  assert.deepEqual(parsePlanBudget('5e9 tokens'), { kind: 'tokens', tokens: 5e9 });
  assert.deepEqual(parsePlanBudget('1e21flops'), { kind: 'flops', flops: 1e21 });
  assert.deepEqual(parsePlanBudget('3.5e18 FLOPs'), { kind: 'flops', flops: 3.5e18 });
  assert.throws(() => parsePlanBudget('lots'), /give a training time \(2h, 90m\), tokens \(2B, 500M, 5e9 tokens\) or FLOPs \(1e21flops\)/);
  assert.throws(() => parsePlanBudget('-1flops'), /FLOP budget/);
});

test('a points file names what is wrong with it', () => {
  const dir = tempDir('tlc-points-');
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  assert.throws(() => readPointsFile(file('a.csv', 'params,loss\n1,2\n')), /missing tokens or flops/);
  assert.throws(() => readPointsFile(file('b.csv', 'params,tokens,loss\n1e6,1e9,-3\n')), /row 1: loss must be a positive number, got "-3"/);
  assert.throws(() => readPointsFile(file('c.csv', 'params,tokens,flops,loss\n1e6,1e9,1e12,3\n')), /tokens 1000000000 and flops 1000000000000 disagree/);
  assert.throws(() => readPointsFile(file('d.json', '{"params": 1}')), /a JSON array of objects/);
  assert.throws(() => readPointsFile(join(dir, 'missing.csv')), /missing\.csv: not found/);
  const ok = readPointsFile(file('e.json', JSON.stringify([{ params: 1e6, flops: 6e15, loss: 3, group: 'a' }])));
  assert.deepEqual(ok, [{ params: 1e6, tokens: 1e9, loss: 3, group: 'a', label: 'a' }]);
});

test('tlc plan --points on the Chinchilla paper\'s points fits at least as well as the published replication, and gives N_opt with bands for a FLOP budget', () => {
  // Hoffmann et al. 2022, Figure 4, as extracted by Besiroglu et al. 2024 (epoch-research/analyzing-chinchilla)
  const r = spawnSync(process.execPath, [CLI, 'plan', '--points', CHINCHILLA, '--budget', '5.76e23flops', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout);
  assert.equal(p.points, 245);
  for (const k of ['E', 'A', 'alpha', 'B', 'beta']) {
    assert.equal(typeof p.fit[k], 'number', k);
    assert.ok(p.fit.bands[k][0] <= p.fit[k] && p.fit[k] <= p.fit.bands[k][1], `${k} inside its band`);
  }
  // Besiroglu et al.'s best fit, in the same Huber objective (δ = 1e-3 on log losses)
  const points = readPointsFile(CHINCHILLA);
  const objective = (E: number, A: number, a: number, B: number, b: number) =>
    points.reduce((s, q) => s + huber(Math.log(E + A / q.params ** a + B / q.tokens ** b) - Math.log(q.loss), 1e-3), 0);
  const published = objective(1.8172, 477.84, 0.34731, 2143.86, 0.36718);
  assert.ok(p.fit.huber <= published, `tlc's Huber objective ${p.fit.huber} vs the published coefficients' ${published}`);
  assert.ok(Math.abs(objective(p.fit.E, p.fit.A, p.fit.alpha, p.fit.B, p.fit.beta) - p.fit.huber) < 1e-9, 'the reported objective is the coefficients\'');
  // approach 2 on the paper's iso-FLOP profiles: the paper found a = 0.49 (0.462–0.534)
  assert.ok(p.approach2.a > 0.45 && p.approach2.a < 0.55, `approach 2 a = ${p.approach2.a}`);
  for (const o of [p.approach2, p.approach3]) {
    assert.ok(o.n_opt_band[0] < o.n_opt && o.n_opt < o.n_opt_band[1], JSON.stringify(o.n_opt_band));
    assert.ok(o.n_opt > 1e10 && o.n_opt < 3e11, `N_opt ${o.n_opt}`);
  }
  assert.ok(p.allocation.params === p.approach3.n_opt);
  // a time budget cannot be planned without throughputs
  const t = spawnSync(process.execPath, [CLI, 'plan', '--points', CHINCHILLA, '--budget', '2h'], { encoding: 'utf8' });
  assert.equal(t.status, 1);
  assert.match(t.stderr, /--points carry no throughput/);
});

test('the budget ladder of the bundled corpora (README), refitted without its largest budget: the two sizes still on their plateau are declared unpredictable', () => {
  const ladderOf = (size: string, params: number, tokens: number, losses: number[]) =>
    losses.map((loss, i) => ({ size, params, tokens: tokens * 2 ** i, loss }));
  const points = [
    ...ladderOf('L1-D64', 63e3, 20.5e6, [5.912, 5.844, 4.474]),
    ...ladderOf('L2-D128', 422e3, 8.5e6, [5.946, 5.849, 4.431]),
    ...ladderOf('L4-D256', 3.2e6, 1.8e6, [6.206, 6.049, 5.936]),
    ...ladderOf('L6-D384', 10.8e6, 0.75e6, [6.5, 6.329, 6.165]),
  ];
  const r = fitRegime(points, { check, bootstrap: 20 });
  assert.deepEqual(r.plateau.decisions.map((d) => [d.size, d.state]), [['L1-D64', 'left'], ['L2-D128', 'left'], ['L4-D256', 'on-plateau'], ['L6-D384', 'on-plateau']]);
  // one point each past the drop is too few for the law: it is fitted on all of them, and says so
  assert.equal(r.plateauApplied, false);
  assert.match(r.notes.join(' '), /too few for the law/);
  // the held-out budgets (the next doubling): the plateau sizes cannot be predicted, the others are
  for (const [size, params, tokens] of [['L4-D256', 3.2e6, 14.4e6], ['L6-D384', 10.8e6, 6e6]] as const) {
    const p = predictInRegime(r, size, params, tokens);
    assert.equal(p.loss, null, `${size}: ${p.loss}`);
    assert.match(p.unpredictable!, /has not left the plateau/);
  }
  assert.notEqual(predictInRegime(r, 'L2-D128', 422e3, 68e6).loss, null);
});
