// How `tlc auto` divides a budget and proposes candidates: pure arithmetic, checked against
// hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ASSUMED_OVERHEAD, JobClock, settingsPerModel, taskTrainingSeconds } from '../src/auto/job-clock.js';
import { expectedPaddedLength } from '../src/auto/task.js';
import type { AutoOptions } from '../src/auto/options.js';
import { formatSeconds } from '../src/train/budget.js';
import { candidateSizes, finalTrunk, reserveFor, splitBudget, trunkCostFactor, MIN_TRUNK_STEPS } from '../src/auto/budget-split.js';

test('the exploration share pays for every trunk and its cooldowns; the final trunk and its one cooldown spend the rest', () => {
  assert.equal(trunkCostFactor(), 1 + 0.2 * (0.25 + 0.5 + 1));
  const s = splitBudget(3600, 0.2, 4);
  assert.equal(s.explore, 720);
  assert.ok(Math.abs(4 * s.trunk * trunkCostFactor() - 720) < 1e-9);
  assert.equal(s.final, 2880);
  // the final trunk B′ continues the exploration trunk T: (B′ − T) + 0.2·B′ = what is left
  const b = finalTrunk(s.trunk, s.final);
  assert.ok(Math.abs(b - s.trunk + 0.2 * b - s.final) < 1e-9);
  // a step per training segment is held back (each candidate's own; the costliest twice for the final)
  assert.equal(reserveFor([1, 2, 4]), 4 * (1 + 2 + 4) + 2 * 4);
  const held = splitBudget(3600, 0.2, 3, reserveFor([1, 2, 4]), 4);
  assert.ok(Math.abs(held.explore + held.final + reserveFor([1, 2, 4]) - 3600) < 1e-9);
  // every trunk trains at least MIN_TRUNK_STEPS steps of the costliest candidate
  assert.throws(() => splitBudget(3600, 0.2, 3, 0, 3600), new RegExp(`fewer than ${MIN_TRUNK_STEPS} steps in its exploration; the budget must be at least`));
  const least = (MIN_TRUNK_STEPS * 2 * 3 * trunkCostFactor()) / 0.2 + 30;
  assert.throws(() => splitBudget(least * 0.999, 0.2, 3, 30, 2), /fewer than/);
  splitBudget(least * 1.001, 0.2, 3, 30, 2);
  assert.throws(() => splitBudget(3600, 1, 4), /between 0 and 1/);
});

test('candidates: the size nearest 20 tokens per parameter, one below and two above, within the ladder', () => {
  const ladder = [1e5, 1e6, 1e7, 1e8, 1e9].map((n, i) => ({ preset: `S${i}`, nonEmbedding: n, tokens: 2e8 }));
  // 2e8 tokens: 20 per parameter at N = 1e7
  assert.deepEqual(candidateSizes(ladder), { candidates: ['S1', 'S2', 'S3', 'S4'], centre: 'S2' });
  // at the ladder's ends the window shifts to stay four sizes wide
  assert.deepEqual(candidateSizes(ladder.map((s) => ({ ...s, tokens: 2e6 }))).candidates, ['S0', 'S1', 'S2', 'S3']);
  assert.deepEqual(candidateSizes(ladder.map((s) => ({ ...s, tokens: 2e12 }))).candidates, ['S1', 'S2', 'S3', 'S4']);
});

test('the job clock: the share of training done and the wall time left, paced by the overhead measured on this process', () => {
  const t0 = Date.now();
  const clock = new JobClock(1000, 1000, t0);
  clock.stageStarted(1000);
  // before a minute of training is measured, the assumed overhead paces the wall clock
  assert.equal(clock.wallLeft(t0), 1000 * ASSUMED_OVERHEAD);
  clock.trained(40);
  assert.equal(clock.status(t0 + 60_000), `4%, about ${formatSeconds(960 * ASSUMED_OVERHEAD)} left`);
  // 400 s of training in 600 s of wall clock: 1.5 wall seconds per training second
  clock.trained(360);
  assert.equal(clock.wallLeft(t0 + 600_000), 900);
  assert.equal(clock.status(t0 + 600_000), `40%, about ${formatSeconds(900)} left`);
  // the next stage's record says less was left than the loops reported: it corrects them; the share shown never goes back
  clock.stageStarted(650);
  assert.equal(clock.status(t0 + 600_000), `40%, about ${formatSeconds(975)} left`);
  clock.trained(650);
  assert.equal(clock.status(t0 + 1_600_000), '100%, finishing');
  // a resumed job measures its own pace: 100 s of training in 150 s here
  const resumed = new JobClock(1000, 600, t0);
  resumed.trained(100);
  assert.equal(resumed.trainingLeft(), 500);
  assert.equal(resumed.wallLeft(t0 + 150_000), 500 * 1.5);
});

test('the job\'s task training: durations as given, step budgets at each model\'s estimated seconds per step', () => {
  const o = { finetuneBudget: '100steps', compressBudget: '30s', maxLatencyMs: undefined } as unknown as AutoOptions;
  const settings = settingsPerModel(o);
  assert.equal(settings, 6);
  // two models: 100 steps at 0.2 s and at 0.5 s, and every compression setting's 30 s for each
  assert.ok(Math.abs(taskTrainingSeconds(o, [0.2, 0.5]) - (100 * 0.2 + 100 * 0.5 + 2 * settings * 30)) < 1e-9);
  // before the plan estimated the steps, they count as nothing; durations still count
  assert.equal(taskTrainingSeconds(o, null), 2 * settings * 30);
  const steps = { ...o, compressBudget: '20steps' } as AutoOptions;
  assert.ok(Math.abs(taskTrainingSeconds(steps, [0.2, 0.5]) - ((100 + settings * 20) * 0.2 + (100 + settings * 20) * 0.5)) < 1e-9);
});

test('a finetuning batch pads to the longest of its examples: the b/(b+1) quantile of their lengths', () => {
  const lengths = Array.from({ length: 100 }, (_, i) => 100 - i); // 1…100, in any order
  assert.equal(expectedPaddedLength(lengths, 32), 97);
  assert.equal(expectedPaddedLength(lengths, 1), 51);
  assert.equal(expectedPaddedLength([7], 32), 7);
});
