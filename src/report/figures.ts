// The report's figures as Vega-Lite specs (plain data; render.ts turns them into SVG).
//   lossCurves       validation loss against training time, tokens or FLOPs, one line per run:
//                    the central figure of "Train Large, Then Compress"
//   bestSizeByBudget which run is ahead at every moment: the size to train for a given budget
//   paretoFigure     test accuracy against compressed bytes, the Pareto frontier marked
import type { TopLevelSpec } from 'vega-lite';
import type { CompressRow } from '../run/compress-summary.js';
import { formatBytes, paretoFrontier, type Cost } from '../experiment/pareto.js';
import { resolve } from 'node:path';
import type { RunSummary } from './runs.js';

export type LossAxis = 'time' | 'tokens' | 'flops';

const WIDTH = 560;
const HEIGHT = 320;
const PALETTE = 'tableau10';

const AXES: Record<LossAxis, { title: string; log: boolean; format?: string; value: (p: RunSummary['evals'][number]) => number }> = {
  time: { title: 'training wall-clock time (s)', log: false, value: (p) => p.seconds },
  tokens: { title: 'training tokens seen (log scale)', log: true, format: '~s', value: (p) => p.tokens },
  flops: { title: 'training compute (FLOPs, log scale)', log: true, format: '.0e', value: (p) => p.flops },
};

/** "1.5M", "340k", "92M", "1.2B". */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 0 : 1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(n);
}

/** A run's legend entry: its name and size. */
export function runLabel(r: Pick<RunSummary, 'name' | 'params'>): string {
  return r.params === null ? r.name : `${r.name} (${formatParams(r.params)})`;
}

/** Legend order, and so colour order: smallest model first. */
function runDomain(runs: RunSummary[]): string[] {
  return [...runs].sort((a, b) => (a.params ?? Infinity) - (b.params ?? Infinity) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(runLabel);
}

function lossTitle(runs: RunSummary[]): string {
  return runs.some((r) => r.group.startsWith('finetune-')) ? 'validation loss (nats per example)' : 'validation loss (nats per token)';
}

/** The baseline every language model must beat, when all runs share one validation set. */
function sharedUnigram(runs: RunSummary[]): number | null {
  const values = new Set(runs.map((r) => (r.unigramValidLoss === null ? null : r.unigramValidLoss.toFixed(6))));
  const [only] = values;
  return values.size === 1 && only !== null ? Number(only) : null;
}

/**
 * Validation loss against training time, tokens or FLOPs, one line per run coloured by run
 * (legend: name and parameter count, smallest first). Runs without evaluations are left out.
 */
export function lossCurves(runs: RunSummary[], axis: LossAxis, title?: string): TopLevelSpec {
  const ax = AXES[axis];
  const values = runs.flatMap((r) => r.evals
    .map((p) => ({ run: runLabel(r), params: r.params, x: ax.value(p), loss: p.validLoss, step: p.step }))
    .filter((d) => !ax.log || d.x > 0));
  const unigram = sharedUnigram(runs);
  // losses of language models span well under a factor of 3, where a log axis only costs tick labels
  const yScale = { zero: false };
  const layers: NonNullable<Extract<TopLevelSpec, { layer: unknown }>['layer']> = [{
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 2 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: ax.title, scale: ax.log ? { type: 'log' } : { zero: true }, axis: ax.format ? { format: ax.format } : {} },
      y: { field: 'loss', type: 'quantitative', title: lossTitle(runs), scale: yScale },
      color: { field: 'run', type: 'nominal', title: 'run (parameters)', legend: { labelLimit: 0 }, scale: { domain: runDomain(runs), scheme: PALETTE } },
      order: { field: 'x', type: 'quantitative' },
    },
  }];
  if (unigram !== null) {
    layers.push({
      data: { values: [{ loss: unigram, label: `unigram baseline ${unigram.toFixed(2)}` }] },
      mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
      encoding: { y: { field: 'loss', type: 'quantitative', scale: yScale } },
    }, {
      data: { values: [{ loss: unigram, label: `unigram baseline ${unigram.toFixed(2)}` }] },
      mark: { type: 'text', align: 'right', baseline: 'bottom', dx: -4, dy: -2, color: '#666', x: 'width' },
      encoding: { y: { field: 'loss', type: 'quantitative', scale: yScale }, text: { field: 'label' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title ?? `Validation loss vs ${axis === 'time' ? 'training time' : axis === 'tokens' ? 'tokens' : 'FLOPs'}`,
    width: WIDTH, height: HEIGHT, background: 'white',
    layer: layers,
  };
}

/** A validation score other than the loss, against training time, one line per run. */
const SCORES = {
  bleu: { of: (p: RunSummary['evals'][number]) => p.validBleu, title: 'Validation BLEU vs training time', axis: 'BLEU (sacreBLEU 13a, greedy decoding)', format: undefined },
  accuracy: { of: (p: RunSummary['evals'][number]) => p.validAccuracy, title: 'Validation accuracy vs training time', axis: 'validation accuracy', format: '.0%' },
} as const;

/** BLEU on the held-out pairs against training time, one line per translation run. */
export function bleuCurves(runs: RunSummary[]): TopLevelSpec {
  return scoreCurves(runs, 'bleu');
}

/** Validation accuracy against training time, one line per finetuning run. */
export function accuracyCurves(runs: RunSummary[]): TopLevelSpec {
  return scoreCurves(runs, 'accuracy');
}

function scoreCurves(runs: RunSummary[], score: keyof typeof SCORES): TopLevelSpec {
  const ax = AXES.time, s = SCORES[score];
  const values = runs.flatMap((r) => r.evals.filter((p) => s.of(p) !== undefined)
    .map((p) => ({ run: runLabel(r), x: ax.value(p), score: s.of(p), step: p.step })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: s.title, width: WIDTH, height: HEIGHT, background: 'white',
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 30 }, strokeWidth: 2 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: ax.title, scale: { zero: true }, axis: ax.format ? { format: ax.format } : {} },
      y: { field: 'score', type: 'quantitative', title: s.axis, scale: { zero: true }, ...(s.format ? { axis: { format: s.format } } : {}) },
      color: { field: 'run', type: 'nominal', title: 'run (parameters)', legend: { labelLimit: 0 }, scale: { domain: runDomain(runs), scheme: PALETTE } },
      order: { field: 'x', type: 'quantitative' },
    },
  };
}

export interface BestAt {
  x: number;
  run: string;
  params: number;
  loss: number;
}

/**
 * For every moment at which some run was evaluated, the run with the lowest validation loss
 * then. A run's loss between two of its evaluations is read off the straight line joining
 * them (as its curve is drawn), and after its last one stays at that value (a model
 * stopped earlier is still at hand). Moment 0, before any training, is left out.
 */
export function bestRunOverTime(runs: RunSummary[], axis: LossAxis = 'time'): BestAt[] {
  const value = AXES[axis].value;
  const sized = runs.filter((r) => r.params !== null && r.evals.length > 0);
  const times = [...new Set(sized.flatMap((r) => r.evals.map(value)))].filter((t) => t > 0).sort((a, b) => a - b);
  const out: BestAt[] = [];
  for (const t of times) {
    let best: BestAt | null = null;
    for (const r of sized) {
      const loss = lossAt(r.evals.map((p) => [value(p), p.validLoss] as const), t);
      if (loss !== null && (best === null || loss < best.loss)) best = { x: t, run: runLabel(r), params: r.params!, loss };
    }
    if (best) out.push(best);
  }
  return out;
}

/** Piecewise-linear reading of (x, loss) points sorted by x; null before the first. */
function lossAt(points: (readonly [number, number])[], t: number): number | null {
  if (points.length === 0 || t < points[0][0]) return null;
  for (let i = 1; i < points.length; i++) {
    const [x1, y1] = points[i];
    if (t <= x1) {
      const [x0, y0] = points[i - 1];
      return x1 === x0 ? y1 : y0 + ((y1 - y0) * (t - x0)) / (x1 - x0);
    }
  }
  return points[points.length - 1][1];
}

/**
 * The size of the run that is ahead at each training time: a step line of its parameter
 * count (log scale), its points coloured by run with the colours of the loss curves.
 */
export function bestSizeByBudget(runs: RunSummary[], title = 'Best model size for a training-time budget'): TopLevelSpec {
  const values = bestRunOverTime(runs, 'time');
  // one tick and grid line at each run's size, whether or not it is ever ahead
  const sizes = [...new Set(runs.flatMap((r) => (r.params === null ? [] : [r.params])))].sort((a, b) => a - b);
  const x = { field: 'x', type: 'quantitative' as const, title: 'training budget: wall-clock time (s)', scale: { zero: true } };
  const y = {
    field: 'params', type: 'quantitative' as const, title: 'parameters of the run ahead',
    scale: { type: 'log' as const, domain: [sizes[0] / 1.25, sizes[sizes.length - 1] * 1.25], nice: false },
    axis: { values: sizes, format: '.3~s' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title, width: WIDTH, height: HEIGHT, background: 'white',
    data: { values },
    layer: [
      { mark: { type: 'line', interpolate: 'step-after', color: '#444', strokeWidth: 2 }, encoding: { x, y } },
      {
        mark: { type: 'point', filled: true, size: 70, opacity: 1 },
        encoding: {
          x, y,
          color: { field: 'run', type: 'nominal', title: 'run (parameters)', legend: { labelLimit: 0 }, scale: { domain: runDomain(runs), scheme: PALETTE } },
        },
      },
    ],
  };
}

/** A model's name in the compression figure: the last folder of its path and its size. */
export function modelLabel(row: Pick<CompressRow, 'model' | 'params'>): string {
  const name = row.model.replace(/[\\/]+$/, '').split(/[\\/]/).pop() || row.model;
  return `${name} (${formatParams(row.params)})`;
}

/**
 * Test accuracy against the compressed file's bytes (log scale), one colour per model and
 * one shape per bit width; the Pareto frontier is drawn as a step line through its points,
 * which are circled. Rows without an accuracy (language models) are left out.
 */
/** A test-time budget to draw: its limit (bytes or milliseconds) and the file of the model it chose. */
export interface BudgetMark {
  limit?: number;
  chosenFile?: string;
}

export function paretoFigure(rows: CompressRow[], cost: Cost = 'bytes', mark: BudgetMark = {}): TopLevelSpec {
  const title = cost === 'bytes' ? 'Accuracy vs compressed size' : 'Accuracy vs latency';
  const scored = paretoFrontier(rows.filter((r) => r.accuracy !== null && (cost === 'bytes' || r.latency_ms != null)), cost);
  const values = scored.map((r) => ({
    model: modelLabel(r), params: r.params, cost: cost === 'bytes' ? r.bytes : r.latency_ms, accuracy: r.accuracy, sparsity: r.sparsity,
    bits: r.bits === 32 ? 'float32' : `${r.bits}-bit`, bitsOrder: r.bits, on_frontier: r.on_frontier, chosen: mark.chosenFile !== undefined && resolve(r.file) === resolve(mark.chosenFile),
  }));
  const models = [...new Map(scored.map((r) => [modelLabel(r), r.params])).entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map((e) => e[0]);
  const bitsDomain = [...new Map(values.map((v) => [v.bits, v.bitsOrder])).entries()].sort((a, b) => b[1] - a[1]).map((e) => e[0]);
  const x = cost === 'bytes'
    ? { field: 'cost', type: 'quantitative' as const, title: 'compressed file size (bytes, log scale)', scale: { type: 'log' as const }, axis: { format: '~s' } }
    : { field: 'cost', type: 'quantitative' as const, title: 'latency of one sequence (ms, log scale)', scale: { type: 'log' as const }, axis: { format: '~g' } };
  const y = { field: 'accuracy', type: 'quantitative' as const, title: 'test accuracy', scale: { zero: false }, axis: { format: '.0%' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title, width: WIDTH, height: HEIGHT, background: 'white',
    data: { values },
    layer: [
      {
        transform: [{ filter: 'datum.on_frontier' }],
        mark: { type: 'line', interpolate: 'step-after', color: '#222', strokeWidth: 1.5 },
        encoding: { x, y, order: { field: 'cost', type: 'quantitative' } },
      },
      {
        mark: { type: 'point', filled: true, size: 60, opacity: 0.9 },
        encoding: {
          x, y,
          color: { field: 'model', type: 'nominal', title: 'model (parameters)', legend: { labelLimit: 0 }, scale: { domain: models, scheme: PALETTE } },
          shape: { field: 'bits', type: 'nominal', title: 'weights', scale: { domain: bitsDomain } },
        },
      },
      {
        transform: [{ filter: 'datum.on_frontier' }],
        mark: { type: 'point', filled: false, size: 220, color: '#222', strokeWidth: 1.5 },
        encoding: { x, y },
      },
      // the budget, and the model it chose
      ...(mark.limit !== undefined ? [{
        data: { values: [{ cost: mark.limit, label: `budget ${cost === 'bytes' ? formatBytes(mark.limit) : `${mark.limit} ms`}` }] },
        layer: [
          { mark: { type: 'rule' as const, color: '#c0392b', strokeDash: [6, 4], strokeWidth: 1.5 }, encoding: { x } },
          { mark: { type: 'text' as const, color: '#c0392b', align: 'left' as const, dx: 4, baseline: 'top' as const, y: 4 }, encoding: { x, text: { field: 'label' } } },
        ],
      }] : []),
      ...(mark.chosenFile !== undefined ? [{
        transform: [{ filter: 'datum.chosen' }],
        mark: { type: 'point' as const, shape: 'cross', filled: true, size: 320, color: '#c0392b' },
        encoding: { x, y },
      }] : []),
    ],
  };
}
