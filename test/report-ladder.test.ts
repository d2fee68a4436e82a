// The budget-ladder and batch-size figures from end-of-schedule points and sweep curves: which
// size is best at each budget (read off the line between a size's points in log time), the
// steps to a target against batch size with the critical batch marked; both render to SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestAtBudgets, bestSizeAtBudget, endPointCurves } from '../src/report/ladder.js';
import { batchFigure, batchPoints, criticalBatch } from '../src/report/batch.js';
import { renderSvg } from '../src/report/render.js';
import type { FitPoint } from '../src/experiment/plan.js';
import type { SweepRun } from '../src/experiment/analysis.js';

const point = (preset: string, params: number, seconds: number, loss: number): FitPoint =>
  ({ preset, params, tokens: seconds * 1000, loss, group: preset, size: preset, seconds, flops: 6e3 * params * seconds, fraction: 1, run: preset });

test('the best size at each budget: the small one early, the large one once its line drops below', async () => {
  const points = [
    point('small', 1e5, 100, 5.0), point('small', 1e5, 1000, 4.5), point('small', 1e5, 10000, 4.3),
    point('large', 1e7, 100, 5.5), point('large', 1e7, 1000, 4.6), point('large', 1e7, 10000, 4.0),
  ];
  const best = bestAtBudgets(points);
  assert.deepEqual(best.map((b) => [b.seconds, b.preset]), [[100, 'small'], [1000, 'small'], [10000, 'large']]);
  assert.ok(Math.abs(best[1].runnerUp!.loss - 4.6) < 1e-12 && Math.abs(best[2].loss - 4.0) < 1e-12);
  // a budget between two of a size's points reads the straight line in log time
  const mid = bestAtBudgets([...points, point('probe', 1e6, Math.sqrt(100 * 1000), 9)]).find((b) => Math.abs(b.seconds - Math.sqrt(1e5)) < 1e-9)!;
  assert.equal(mid.preset, 'small');
  assert.ok(Math.abs(mid.loss - 4.75) < 1e-12, `interpolated ${mid.loss}`);
  for (const spec of [endPointCurves(points), bestSizeAtBudget(points)]) assert.match(await renderSvg(spec), /^<svg/);
});

test('steps to a target against batch size, and the critical batch from the noise scale', async () => {
  const run = (preset: string, batch: number, stepsToTarget: number): SweepRun => ({
    name: `${preset}-B${batch}`, preset, batch_size: batch, params: 1, non_embedding_params: 1, steps: 1000, tokens: 1000 * batch * 128,
    train_seconds: 100, valid_loss: 4, tokens_per_s: 1, run: preset,
    curve: [{ trainSeconds: 1, tokens: 1, flops: 1, validLoss: 6 }, { trainSeconds: stepsToTarget / 10, tokens: stepsToTarget * batch * 128, flops: 1, validLoss: 3.9 }],
    points: [], noiseScale: 1900, precision: null, unigramLoss: null,
  });
  const runs = [run('L2', 16, 800), run('L2', 32, 420), run('L2', 64, 400), run('L4', 32, 300)];
  const pts = batchPoints(runs, 4)!;
  assert.deepEqual(pts.map((p) => [p.preset, p.batch, p.steps]), [['L2', 16, 800], ['L2', 32, 420], ['L2', 64, 400], ['L4', 32, 300]]);
  assert.equal(batchPoints([run('L2', 16, 800), run('L4', 32, 300)], 4), null, 'one batch size per size: no study');
  assert.ok(Math.abs(criticalBatch(1900, 128, 'mlm') - 1900 / (0.15 * 127)) < 1e-9);
  const svg = await renderSvg(batchFigure(pts, 4, criticalBatch(1900, 128, 'mlm'), 'steps'));
  assert.match(svg, /critical batch ≈ 100 \(noise scale\)/);
});
