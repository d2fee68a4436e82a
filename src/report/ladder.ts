// The budget ladder's figures, drawn from a sweep's end-of-schedule losses only (the ends of
// decaying runs and of wsd cooldown branches: src/experiment/analysis.ts):
//   endPointCurves      validation loss against training budget, one line per size
//   bestSizeAtBudget    which size reaches the lowest loss at each budget, and where the
//                       larger size starts to win
import type { TopLevelSpec } from 'vega-lite';
import type { FitPoint } from '../experiment/plan.js';
import { formatParams } from './figures.js';

const WIDTH = 560;
const HEIGHT = 320;

function sizeLabel(p: Pick<FitPoint, 'preset' | 'params'>): string {
  return `${p.preset} (${formatParams(p.params)} non-embedding)`;
}

function domain(points: FitPoint[]): string[] {
  return [...new Map([...points].sort((a, b) => a.params - b.params).map((p) => [p.preset, sizeLabel(p)])).values()];
}

const secondsAxis = { field: 'seconds', type: 'quantitative' as const, title: 'training budget: seconds on one core (log scale)', scale: { type: 'log' as const } };

/** End-of-schedule validation loss against the budget it cost, one line per size. */
export function endPointCurves(points: FitPoint[]): TopLevelSpec {
  const values = points.map((p) => ({ size: sizeLabel(p), seconds: p.seconds, loss: p.loss, tokens: p.tokens, fraction: p.fraction }))
    .sort((a, b) => a.seconds - b.seconds);
  const color = { field: 'size', type: 'nominal' as const, title: 'size', legend: { labelLimit: 0 }, scale: { domain: domain(points), scheme: 'tableau10' } };
  const y = { field: 'loss', type: 'quantitative' as const, title: 'validation loss at the end of the schedule (nats per token)', scale: { zero: false } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Validation loss against training budget (cooldown branches and whole runs)', width: WIDTH, height: HEIGHT, background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'line', strokeWidth: 2 }, encoding: { x: secondsAxis, y, color } },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { x: secondsAxis, y, color, tooltip: [{ field: 'tokens' }, { field: 'fraction' }] } },
    ],
  };
}

export interface BestAtBudget {
  seconds: number;
  preset: string;
  params: number;
  loss: number;
  /** The runner-up at this budget and its loss (null: one size covers it). */
  runnerUp: { preset: string; loss: number } | null;
}

/**
 * At each budget where some size has an end point, the size with the lowest loss there. A
 * size's loss between two of its end points is read off the straight line joining them in
 * log(seconds); a size counts only within the budgets it was measured at.
 */
export function bestAtBudgets(points: FitPoint[]): BestAtBudget[] {
  const bySize = new Map<string, FitPoint[]>();
  for (const p of points) bySize.set(p.preset, [...(bySize.get(p.preset) ?? []), p]);
  for (const ps of bySize.values()) ps.sort((a, b) => a.seconds - b.seconds);
  const budgets = [...new Set(points.map((p) => p.seconds))].sort((a, b) => a - b);
  const out: BestAtBudget[] = [];
  for (const t of budgets) {
    const at = [...bySize.values()].map((ps) => ({ p: ps[0], loss: interpolate(ps, t) }))
      .filter((x): x is { p: FitPoint; loss: number } => x.loss !== null)
      .sort((a, b) => a.loss - b.loss);
    if (at.length === 0) continue;
    out.push({
      seconds: t, preset: at[0].p.preset, params: at[0].p.params, loss: at[0].loss,
      runnerUp: at[1] ? { preset: at[1].p.preset, loss: at[1].loss } : null,
    });
  }
  return out;
}

function interpolate(ps: FitPoint[], t: number): number | null {
  const eps = 1e-9 * t;
  if (t < ps[0].seconds - eps || t > ps[ps.length - 1].seconds + eps) return null;
  for (let i = 0; i < ps.length; i++) {
    if (Math.abs(ps[i].seconds - t) <= eps) return ps[i].loss;
    if (i > 0 && t < ps[i].seconds) {
      const [a, b] = [ps[i - 1], ps[i]];
      const w = (Math.log(t) - Math.log(a.seconds)) / (Math.log(b.seconds) - Math.log(a.seconds));
      return a.loss + w * (b.loss - a.loss);
    }
  }
  return null;
}

/** The winning size's non-embedding parameters against the budget, a step line with its points coloured by size. */
export function bestSizeAtBudget(points: FitPoint[]): TopLevelSpec {
  const values = bestAtBudgets(points).map((b) => ({
    seconds: b.seconds, params: b.params, size: sizeLabel({ preset: b.preset, params: b.params }), loss: b.loss,
    margin: b.runnerUp ? b.runnerUp.loss - b.loss : null,
  }));
  const sizes = [...new Set(points.map((p) => p.params))].sort((a, b) => a - b);
  const y = {
    field: 'params', type: 'quantitative' as const, title: 'non-embedding parameters of the best size',
    scale: { type: 'log' as const, domain: [sizes[0] / 1.5, sizes[sizes.length - 1] * 1.5], nice: false }, axis: { values: sizes, format: '.3~s' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Best size against training budget (end-of-schedule losses)', width: WIDTH, height: HEIGHT, background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'line', interpolate: 'step-after', color: '#444', strokeWidth: 2 }, encoding: { x: secondsAxis, y } },
      {
        mark: { type: 'point', filled: true, size: 70, opacity: 1 },
        encoding: {
          x: secondsAxis, y, tooltip: [{ field: 'loss' }, { field: 'margin', title: 'runner-up − best' }],
          color: { field: 'size', type: 'nominal', title: 'size', legend: { labelLimit: 0 }, scale: { domain: domain(points), scheme: 'tableau10' } },
        },
      },
    ],
  };
}
