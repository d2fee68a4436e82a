// How `tlc auto` divides a budget and proposes candidates: pure arithmetic, checked against
// hand-computed values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { candidateSizes, finalTrunk, splitBudget, trunkCostFactor, EXPLORE_BRANCHES } from '../src/auto/budget-split.js';

test('the exploration share pays for every trunk and its cooldowns; the final trunk and its one cooldown spend the rest', () => {
  assert.equal(trunkCostFactor(), 1 + 0.2 * (0.25 + 0.5 + 1));
  const s = splitBudget(3600, 0.2, 4);
  assert.equal(s.explore, 720);
  assert.ok(Math.abs(4 * s.trunk * trunkCostFactor() - 720) < 1e-9);
  assert.equal(s.final, 2880);
  // the final trunk B′ continues the exploration trunk T: (B′ − T) + 0.2·B′ = what is left
  const b = finalTrunk(s.trunk, s.final);
  assert.ok(Math.abs(b - s.trunk + 0.2 * b - s.final) < 1e-9);
  // a step per training segment is held back, so that overshooting by a step each stays within the budget
  const held = splitBudget(3600, 0.2, 4, 2);
  assert.ok(Math.abs(held.explore + held.final + 2 * (4 * (1 + EXPLORE_BRANCHES.length) + 2) - 3600) < 1e-9);
  assert.throws(() => splitBudget(10, 0.2, 4, 1), /less than one step of each of the 18 training segments/);
  assert.throws(() => splitBudget(3600, 1, 4), /between 0 and 1/);
  // a trunk must train at least a step before its first cooldown forks, at a quarter of it
  assert.throws(() => splitBudget(1000, 0.2, 4, 10), /less than a step before its first cooldown; the budget must be at least/);
  const least = ((10 / 0.25) * 4 * trunkCostFactor()) / 0.2 + 18 * 10;
  splitBudget(least * 1.0001, 0.2, 4, 10);
});

test('candidates: the size nearest 20 tokens per parameter, one below and two above, within the ladder', () => {
  const ladder = [1e5, 1e6, 1e7, 1e8, 1e9].map((n, i) => ({ preset: `S${i}`, nonEmbedding: n, tokens: 2e8 }));
  // 2e8 tokens: 20 per parameter at N = 1e7
  assert.deepEqual(candidateSizes(ladder), { candidates: ['S1', 'S2', 'S3', 'S4'], centre: 'S2' });
  // at the ladder's ends the window shifts to stay four sizes wide
  assert.deepEqual(candidateSizes(ladder.map((s) => ({ ...s, tokens: 2e6 }))).candidates, ['S0', 'S1', 'S2', 'S3']);
  assert.deepEqual(candidateSizes(ladder.map((s) => ({ ...s, tokens: 2e12 }))).candidates, ['S1', 'S2', 'S3', 'S4']);
});
