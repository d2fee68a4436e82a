// `tlc report`: every figure that applies to the runs and compression results under a
// directory, written as SVG files and one self-contained HTML page (SVGs inline, no
// scripts, nothing fetched), so it can be mailed, archived or opened offline.
import { esc, table, type Figure, type Section } from './html.js';
export { esc, table, type Figure, type Section } from './html.js';
import { join, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { describeBudget, formatSeconds } from '../train/budget.js';
import type { CompressRow } from '../run/compress-summary.js';
import { formatBytes, paretoFrontier } from '../experiment/pareto.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { accuracyCurves, bestSizeByBudget, bleuCurves, formatParams, lossCurves, modelLabel, paretoFigure, runLabel, type LossAxis } from './figures.js';
import { renderSvg } from './render.js';
import { scan, type CompressResult, type RunSummary } from './runs.js';
import { scalingSections } from './scaling.js';
import { choiceConclusion, readSavedChoice, sizeConclusions, type SavedChoice } from './conclusion.js';
import { makeDirs } from '../util/make-dirs.js';

export const REPORT_DIR = 'report';
export const REPORT_HTML = 'index.html';

export interface ReportOptions {
  /** Where to write the report (default: `<dir>/report`). */
  out?: string;
  /** The page's heading (default: "tlc report: <dir>"). */
  title?: string;
  /** Sentences that open the conclusion (a pipeline's own answer, e.g. `tlc auto`'s). */
  lead?: string[];
  /**
   * Whether the conclusion also compares every run's loss at equal budgets (default true); off
   * where the runs are stages of one pipeline, not a grid of sizes.
   */
  sizeConclusions?: boolean;
}

export interface ReportResult {
  html: string;
  svgs: string[];
}

export async function writeReport(dir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const out = resolve(opts.out ?? join(dir, REPORT_DIR));
  const { runs, compress } = scan(dir, out);
  if (runs.length === 0 && compress.length === 0) {
    throw new TlcError(`${dir}: no training runs (folders with metrics.jsonl) or compression results (compress.json) found`);
  }
  const sections = [...conclusionSection(dir, opts.sizeConclusions === false ? [] : runs, opts.lead ?? []), ...runSections(runs), ...scalingSections(dir, out), ...compressSections(compress, readSavedChoice(dir))];
  makeDirs(out);
  const svgs: string[] = [];
  const rendered = new Map<Figure, string>();
  for (const s of sections) {
    for (const f of s.figures) {
      const svg = await renderSvg(f.spec, f.id);
      const path = join(out, `${f.id}.svg`);
      writeFileAtomic(path, svg);
      writeJsonAtomic(join(out, `${f.id}.vl.json`), f.spec);
      svgs.push(path);
      rendered.set(f, svg);
    }
  }
  const html = join(out, REPORT_HTML);
  writeFileAtomic(html, page(opts.title ?? `tlc report: ${dir}`, sections, rendered));
  return { html, svgs };
}

/** The measured answer first, when there is one to give. */
function conclusionSection(dir: string, runs: RunSummary[], lead: string[]): Section[] {
  const sentences = [...lead, ...sizeConclusions(runs), choiceConclusion(dir)].filter((s): s is string => s !== null);
  return sentences.length ? [{ title: 'Conclusion', table: sentences.map((s) => `<p>${esc(s)}</p>`).join(''), figures: [] }] : [];
}

/** One section per group of comparable runs (same objective or same task). */
function runSections(runs: RunSummary[]): Section[] {
  const groups = new Map<string, RunSummary[]>();
  for (const r of runs) groups.set(r.group, [...(groups.get(r.group) ?? []), r]);
  const prefix = (g: string) => (groups.size > 1 ? `${g}-` : '');
  // pipeline order: pretraining before finetuning
  const order = (g: string) => (g.startsWith('finetune-') ? 1 : 0);
  return [...groups.entries()].sort((a, b) => order(a[0]) - order(b[0])).map(([group, members]) => {
    const curves = members.filter((r) => r.evals.length > 0);
    const figures: Figure[] = [];
    if (curves.length > 0) {
      const axes: { axis: LossAxis; caption: string }[] = [
        { axis: 'time', caption: 'Validation loss against training wall-clock time (evaluation and checkpoints excluded), one line per run. ' +
          'Under an equal time budget, a larger model that processes fewer tokens can still end lower: the central claim of "Train Large, Then Compress".' },
        { axis: 'tokens', caption: 'The same runs against the tokens each has seen: larger models learn more per token.' },
        { axis: 'flops', caption: 'The same runs against training compute (6·N + 12·L·T·d FLOPs per token, N the non-embedding parameters).' },
      ];
      for (const { axis, caption } of axes) {
        // a count the runs did not record (all zero) has nothing to plot
        if (axis !== 'time' && !curves.some((r) => r.evals.some((p) => (axis === 'tokens' ? p.tokens : p.flops) > 0))) continue;
        figures.push({ id: `${prefix(group)}loss-vs-${axis}`, spec: lossCurves(curves, axis), caption });
      }
      if (curves.some((r) => r.evals.some((p) => p.validBleu !== undefined))) {
        figures.push({
          id: `${prefix(group)}bleu-vs-time`, spec: bleuCurves(curves),
          caption: 'Corpus BLEU (as sacreBLEU computes it) of greedy translations of a fixed sample of validation pairs, against training time. ' +
            'In the paper\'s translation experiment, at equal wall-clock the larger models reached higher BLEU, and wider models beat deeper ones.',
        });
      }
      if (curves.some((r) => r.evals.some((p) => p.validAccuracy !== undefined))) {
        figures.push({
          id: `${prefix(group)}accuracy-vs-time`, spec: accuracyCurves(curves),
          caption: 'Accuracy on the validation split against finetuning time: the score the model is chosen by ' +
            '(finetuning keeps the best evaluation\'s weights, and stops once it has not improved for a while).',
        });
      }
      if (curves.filter((r) => r.params !== null).length >= 2) {
        figures.push({
          id: `${prefix(group)}best-size-vs-time`, spec: bestSizeByBudget(curves),
          caption: 'For every training time t, the parameter count of the run with the lowest validation loss at t ' +
            '(read off the curves above; a run that has ended keeps its final loss). Each run\'s learning rate decays to zero at its own budget, so a point before ' +
            'the end of the budgets shows a run mid-schedule, not the loss a run given only t would reach: read it as a guide, ' +
            'and the end of the curve as the measured answer.',
        });
      }
    }
    return { title: members[0].groupTitle, table: runTable(members), figures };
  });
}

function compressSections(results: CompressResult[], choice: SavedChoice | null): Section[] {
  if (results.length === 0) return [];
  const rows = results.flatMap((r) => r.rows);
  const figures: Figure[] = rows.some((r) => r.accuracy !== null)
    ? [{
      id: 'accuracy-vs-bytes', spec: paretoFigure(rows, 'bytes', { limit: choice?.budget.max_bytes, chosenFile: choice?.file ?? undefined }),
      caption: 'Test accuracy against the real size of each compressed file, one colour per model and one shape per bit width. ' +
        'The circled points joined by the black step line are the Pareto frontier: no other model is both smaller and at least as accurate.' +
        (choice ? ' The dashed red line is the size budget of the recorded choice, the red cross the model it chose.' : ''),
    }]
    : [];
  if (rows.some((r) => r.accuracy !== null && r.latency_ms != null)) {
    figures.push({
      id: 'accuracy-vs-latency', spec: paretoFigure(rows, 'latency', { limit: choice?.budget.max_latency_ms, chosenFile: choice?.file ?? undefined }),
      caption: 'The same models against their measured latency (one sequence, batch 1) on the inference kernels each would ship with ' +
        '(int8, k-bit, sparse or f32; see docs/inference.md). The frontier here is the one `tlc pareto --max-latency` chooses from.',
    });
  }
  return [{ title: 'Compression', table: compressTable(rows, results.map((r) => r.path)), figures }];
}

function runTable(runs: RunSummary[]): string {
  const scored = runs.filter((r) => r.finalValidLoss !== null);
  const best = scored.length > 1 ? scored.reduce((a, r) => (r.finalValidLoss! < a.finalValidLoss! ? r : a)) : null;
  const bleuOf = (r: RunSummary): number | undefined => [...r.evals].reverse().find((p) => p.validBleu !== undefined)?.validBleu;
  const withBleu = runs.some((r) => bleuOf(r) !== undefined);
  const head = ['run', 'parameters', 'non-embedding', 'budget', 'steps', 'tokens', 'training time', 'final validation loss',
    ...(withBleu ? ['final validation BLEU'] : []), 'status'];
  const body = runs.map((r) => [
    esc(r.name), r.params === null ? '–' : formatParams(r.params), r.nonEmbeddingParams === null ? '–' : formatParams(r.nonEmbeddingParams),
    r.budget ? esc(describeBudget(r.budget)) : '–', r.steps.toLocaleString('en-US'), r.tokens.toLocaleString('en-US'), formatSeconds(r.trainSeconds),
    r.finalValidLoss === null ? '–' : r === best ? `<strong>${r.finalValidLoss.toFixed(3)}</strong>` : r.finalValidLoss.toFixed(3),
    ...(withBleu ? [bleuOf(r)?.toFixed(2) ?? '–'] : []),
    r.finished ? 'finished' : 'not finished',
  ]);
  let note = '';
  if (best) {
    const smallest = scored.reduce((a, r) => ((r.params ?? Infinity) < (a.params ?? Infinity) ? r : a));
    note = `<p>Lowest final validation loss: <strong>${esc(runLabel(best))}</strong>` +
      (smallest !== best && smallest.params !== null && best.tokens > 0
        ? `, though the smallest model, ${esc(runLabel(smallest))}, saw ${(smallest.tokens / best.tokens).toFixed(1)}× as many tokens.`
        : '.') + '</p>';
  }
  return table(head, body, withBleu ? [1, 2, 4, 5, 6, 7, 8] : [1, 2, 4, 5, 6, 7]) + note;
}

function compressTable(rows: CompressRow[], sources: string[]): string {
  const marked = paretoFrontier(rows).sort((a, b) => a.bytes - b.bytes || (a.model < b.model ? -1 : 1));
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)}%`);
  const body = marked.map((r) => [
    esc(modelLabel(r)), `${Math.round(r.sparsity * 100)}%`, r.bits === 32 ? 'float32' : `${r.bits}-bit`, esc(String(r.mode ?? '–')),
    formatBytes(r.bytes), esc(r.kernels ?? '–'), r.latency_ms == null ? '–' : `${r.latency_ms.toFixed(2)} ms`,
    pct(r.accuracy), pct(r.macro_f1), r.on_frontier ? '●' : '',
  ]);
  return table(['model', 'sparsity', 'weights', 'mode', 'file size', 'kernels', 'latency', 'test accuracy', 'macro-F1', 'Pareto frontier (bytes)'],
    body, [1, 4, 6, 7, 8]) +
    `<p class="source">From ${sources.map((s) => `<code>${esc(s)}</code>`).join(', ')}.</p>`;
}


const CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; max-width: 1000px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: .3em .7em; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { background: #f6f6f6; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; max-width: 760px; }
code { font-size: 0.9em; } .source { color: #777; font-size: 0.85em; }
`;

function page(title: string, sections: Section[], svgs: Map<Figure, string>): string {
  const parts = [`<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(title)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n<h1>${esc(title)}</h1>\n`];
  for (const s of sections) {
    parts.push(`<section>\n<h2>${esc(s.title)}</h2>\n${s.table}`);
    for (const f of s.figures) {
      parts.push(`<figure id="${f.id}">\n${svgs.get(f)}\n<figcaption>${esc(f.caption)}</figcaption>\n</figure>\n`);
    }
    parts.push('</section>\n');
  }
  parts.push('</body>\n</html>\n');
  return parts.join('');
}

