// The batch-size study of a sweep as a figure: for each size swept at several batch sizes,
// the optimizer steps and the training time each batch size took to reach a common target
// loss, with the critical batch from the measured gradient noise scale marked (McCandlish et
// al. 2018): below it, doubling the batch halves the steps; past it, it mostly buys noise
// reduction, and the budget is better spent on a larger model — "grow the model, not the batch".
import { MLM_MASK_RATE } from '../nn/config.js';
import type { TopLevelSpec } from 'vega-lite';
import type { SweepRun } from '../experiment/analysis.js';

export interface BatchPoint {
  preset: string;
  batch: number;
  steps: number;
  seconds: number;
}

/**
 * Steps and seconds to reach `target` for every run that reached it (steps from the run's
 * tokens per step); null where fewer than two batch sizes of one size reached it.
 */
export function batchPoints(runs: SweepRun[], target: number): BatchPoint[] | null {
  const points: BatchPoint[] = [];
  for (const r of runs) {
    const hit = r.curve.find((p) => p.validLoss <= target);
    if (!hit || r.steps === 0) continue;
    const tokensPerStep = r.tokens / r.steps;
    points.push({ preset: r.preset, batch: r.batch_size, steps: Math.round(hit.tokens / tokensPerStep), seconds: hit.trainSeconds });
  }
  const bySize = new Map<string, Set<number>>();
  for (const p of points) bySize.set(p.preset, (bySize.get(p.preset) ?? new Set()).add(p.batch));
  return [...bySize.values()].some((b) => b.size >= 2) ? points : null;
}

/** Critical batch in sequences from a noise scale in predicted tokens per batch. */
export function criticalBatch(noiseScale: number, seqLen: number, objective: 'mlm' | 'clm'): number {
  return noiseScale / (objective === 'mlm' ? MLM_MASK_RATE * (seqLen - 1) : seqLen);
}

export function batchFigure(points: BatchPoint[], target: number, critical: number | null, metric: 'steps' | 'seconds'): TopLevelSpec {
  const x = { field: 'batch', type: 'quantitative' as const, title: 'batch size (sequences, log scale)', scale: { type: 'log' as const, base: 2 } };
  const y = {
    field: metric, type: 'quantitative' as const, scale: { type: 'log' as const },
    title: metric === 'steps' ? `optimizer steps to validation loss ${target.toFixed(2)} (log)` : `training seconds to validation loss ${target.toFixed(2)} (log)`,
  };
  const color = { field: 'preset', type: 'nominal' as const, title: 'size', legend: { labelLimit: 0 } };

  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: metric === 'steps' ? 'Steps to a target loss against batch size' : 'Time to a target loss against batch size',
    width: 560, height: 300, background: 'white',
    layer: [
      { data: { values: points }, mark: { type: 'line', point: true, strokeWidth: 2 }, encoding: { x, y, color } },
      ...(critical !== null ? [
        { data: { values: [{ batch: critical }] }, mark: { type: 'rule', strokeDash: [6, 4], color: '#444' }, encoding: { x: { field: 'batch', type: 'quantitative' } } },
        {
          data: { values: [{ batch: critical, label: `critical batch ≈ ${Math.round(critical)} (noise scale)` }] },
          mark: { type: 'text', align: 'left', dx: 4, dy: -120, color: '#444' }, encoding: { x: { field: 'batch', type: 'quantitative' }, text: { field: 'label' } },
        },
      ] : []),
    ],
  };

  return spec as TopLevelSpec;
}
