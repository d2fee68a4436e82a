// The report's scaling-law and batch-size section, for every sweep under the directory:
// the Chinchilla fit L(N, D) = E + A/N^α + B/D^β with its uncertainty and goodness of fit,
// and, per run, its batch size, gradient noise scale and time to a common target loss.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { loadSweep, timeToTarget, type SweepRun } from '../experiment/analysis.js';
import { fitChinchilla, type Coefficient } from '../experiment/fit.js';
import { checkFitPoints, fitPoints } from '../experiment/plan.js';
import { formatSeconds } from '../train/budget.js';
import { SWEEP_FILES } from '../run/layout.js';
import { esc, table, type Figure, type Section } from './html.js';
import { bestSizeAtBudget, endPointCurves } from './ladder.js';
import { batchFigure, batchPoints, criticalBatch } from './batch.js';
import { readSweepSummary } from '../run/sweep-summary.js';
import { slug } from './runs.js';

export function scalingSections(dir: string, reportDir: string): Section[] {
  return findSweeps(dir, resolve(reportDir)).map((sweepDir) => {
    const name = relative(dir, sweepDir) || '.';
    let runs: SweepRun[];
    try {
      runs = loadSweep(sweepDir);
    } catch (e) {
      if (e instanceof TlcError) return { title: `Sweep ${name}`, table: `<p>${esc(e.message)}</p>`, figures: [] };
      throw e;
    }
    return {
      title: `Scaling law and batch size: sweep ${name}`, table: fitTable(runs) + batchTable(runs),
      figures: [...ladderFigures(runs, name), ...batchFigures(runs, name, readSweepSummary(sweepDir).spec)],
    };
  });
}

function findSweeps(dir: string, skip: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    if (resolve(d) === skip) return;
    if (existsSync(join(d, SWEEP_FILES.summary))) found.push(d);
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (!e.startsWith('.') && e !== 'checkpoints' && statSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  return found;
}

/** The budget ladder, where the sweep has end-of-schedule losses of at least two sizes. */
function ladderFigures(runs: SweepRun[], name: string): Figure[] {
  const points = fitPoints(runs);
  if (new Set(points.map((p) => p.preset)).size < 2) return [];
  const id = name === '.' ? 'sweep' : `sweep-${slug(name)}`;
  return [
    {
      id: `${id}-loss-vs-budget`, spec: endPointCurves(points),
      caption: 'Each point is a loss at the end of a learning-rate schedule (a wsd cooldown branch, or a whole decaying run) against the ' +
        "budget it cost: its tokens at the run's median step throughput, so a busy moment of the machine does not move it.",
    },
    {
      id: `${id}-best-size`, spec: bestSizeAtBudget(points),
      caption: 'The size with the lowest end-of-schedule loss at each budget (between measured budgets, read off the line joining a ' +
        "size's points in log time): where the line steps up, the larger model starts to win.",
    },
  ];
}

/** Steps and time to the sweep's common target against batch size, where sizes were swept at several batch sizes. */
function batchFigures(runs: SweepRun[], name: string, spec: Record<string, unknown>): Figure[] {
  const target = Math.max(...runs.map((r) => r.valid_loss));
  const points = batchPoints(runs, target);
  if (!points) return [];
  const noise = runs.map((r) => r.noiseScale).filter((v): v is number => v !== null).sort((a, b) => a - b);
  const seqLen = typeof spec.seq_len === 'number' ? spec.seq_len : 128;
  const objective = spec.objective === 'clm' ? 'clm' : 'mlm';
  const critical = noise.length ? criticalBatch(noise[Math.floor(noise.length / 2)], seqLen, objective) : null;
  const id = name === '.' ? 'sweep' : `sweep-${slug(name)}`;
  const caption = `Each line is one size trained at several batch sizes; the target is the worst final loss of the sweep (${target.toFixed(3)}). ` +
    'Where the steps fall in proportion to the batch, a larger batch is free; past the critical batch (the median gradient noise scale of the ' +
    'runs, dashed) they stop falling, and the compute is better spent on a larger model.';
  return [
    { id: `${id}-steps-vs-batch`, spec: batchFigure(points, target, critical, 'steps'), caption },
    { id: `${id}-time-vs-batch`, spec: batchFigure(points, target, critical, 'seconds'), caption },
  ];
}

function fitTable(runs: SweepRun[]): string {
  const points = fitPoints(runs);
  let fit;
  try {
    checkFitPoints(points);
    fit = fitChinchilla(points);
  } catch (e) {
    if (e instanceof TlcError) return `<p>No scaling-law fit: ${esc(e.message)}</p>`;
    throw e;
  }
  const row = (name: string, c: Coefficient | null): string[] => c === null
    ? [name, '–', '–', 'not identifiable from this sweep']
    : [name, c.value.toPrecision(4), c.se === null ? '–' : c.se.toPrecision(2), c.ci90 ? `${c.ci90[0].toPrecision(3)} – ${c.ci90[1].toPrecision(3)}` : '–'];
  const g = fit.goodness;
  const notes = [fit.unidentifiable.params, fit.unidentifiable.tokens].filter(Boolean).map((n) => `<p>${esc(n!)}</p>`).join('');
  return `<p>L(N, D) = E + A/N<sup>α</sup> + B/D<sup>β</sup> fitted (Huber loss on log residuals, as Hoffmann et al. 2022) to ` +
    `${g.points} end-of-schedule losses (N: non-embedding parameters, D: tokens seen; the ends of decaying runs and of wsd cooldown ` +
    `branches, never a mid-schedule evaluation); bootstrap over ${fit.bootstrap.units} ${fit.bootstrap.unit === 'groups' ? 'runs' : 'points'}: standard errors and 90% intervals. ` +
    `R² of log loss ${g.r2 === null ? '–' : g.r2.toFixed(3)}, RMS log residual ${g.rmse.toFixed(4)}, ${g.dof} degrees of freedom. ` +
    '</p>' + notes +
    table(['coefficient', 'estimate', 'std. error', '90% interval'],
      [row('E', fit.E), row('A', fit.A), row('α', fit.alpha), row('B', fit.B), row('β', fit.beta)], [1, 2]);
}

function batchTable(runs: SweepRun[]): string {
  const target = Math.max(...runs.map((r) => r.valid_loss));
  const reach = timeToTarget(runs, target);
  const body = runs.map((r, i) => [
    esc(r.name), String(r.batch_size), r.noiseScale === null ? '–' : Math.round(r.noiseScale).toLocaleString('en-US'),
    reach[i].seconds === null ? 'not reached' : formatSeconds(reach[i].seconds!), r.valid_loss.toFixed(3),
  ]);
  return `<p>Time for each run to reach validation loss ${target.toFixed(3)} (the worst final loss of the sweep), and the ` +
    'gradient noise scale B<sub>simple</sub> = tr(Σ)/|G|² (McCandlish et al. 2018; in predicted tokens per batch), the batch size beyond which ' +
    'larger batches mostly buy noise reduction.</p>' +
    table(['run', 'batch (sequences)', 'noise scale', 'time to target', 'final loss'], body, [1, 2, 3, 4]);
}
