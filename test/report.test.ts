// `tlc report` on runs written without training: the SVG figures hold a line per run, the
// legends and axis titles; the HTML page is self-contained and, opened in a real browser,
// shows every figure; the same input gives the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from '../src/report/report.js';
import { bestRunOverTime, formatParams } from '../src/report/figures.js';
import { uniqueIds } from '../src/report/render.js';
import type { RunSummary } from '../src/report/runs.js';
import { FIXTURE_RUNS, writeReportFixture, writeRunMetrics } from './report-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const CHROMIUM = '/usr/bin/chromium';
const FIGURES = ['loss-vs-time', 'loss-vs-tokens', 'loss-vs-flops', 'best-size-vs-time', 'accuracy-vs-bytes', 'accuracy-vs-latency'];
const RUN_LABELS = FIXTURE_RUNS.map((r) => `runs/${r.size} (${formatParams(r.params)})`);

/** The fixture, reported once through the real command line and shared by the tests below. */
let reported: { root: string; stdout: string } | null = null;
function reportedFixture(): { root: string; stdout: string } {
  if (!reported) {
    const root = tempDir('tlc-report-');
    writeReportFixture(root);
    const r = spawnSync(process.execPath, [CLI, 'report', root], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    reported = { root, stdout: r.stdout };
  }
  return reported;
}

const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;
const lineMarks = (svg: string) => count(svg, /<path[^>]*role="graphics-symbol"[^>]*aria-roledescription="line mark"/g);
const points = (svg: string) => count(svg, /<path[^>]*role="graphics-symbol"[^>]*aria-roledescription="point"/g);
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

test('tlc report writes one SVG per figure, with a line per run, the legend and titled axes', () => {
  const { root, stdout } = reportedFixture();
  const out = join(root, 'report');
  assert.match(stdout, new RegExp(`report: .*${join('report', 'index.html').replace(/\//g, '\\/')}`));
  for (const f of FIGURES) assert.ok(existsSync(join(out, `${f}.svg`)), `${f}.svg is written`);

  const evalsPerRun = 11; // at 0, 6, …, 60 s
  for (const [axis, title] of [['time', 'training wall-clock time (s)'], ['tokens', 'training tokens seen (log scale)'],
    ['flops', 'training compute (FLOPs, log scale)']]) {
    const svg = readFileSync(join(out, `loss-vs-${axis}.svg`), 'utf8');
    assert.equal(lineMarks(svg), FIXTURE_RUNS.length, `loss-vs-${axis}: one line per run`);
    // the evaluation before training is off a log axis
    assert.equal(points(svg), FIXTURE_RUNS.length * (axis === 'time' ? evalsPerRun : evalsPerRun - 1), `loss-vs-${axis}: a point per evaluation`);
    const t = texts(svg);
    for (const label of RUN_LABELS) assert.ok(t.includes(label), `loss-vs-${axis}: legend names ${label}`);
    assert.ok(t.includes(title), `loss-vs-${axis}: x axis titled "${title}"`);
    assert.ok(t.includes('validation loss (nats per token)'));
    assert.ok(t.some((s) => s.startsWith('unigram baseline')), 'the unigram baseline is marked');
    assert.doesNotMatch(svg, /20\d\d-\d\d-\d\dT/, 'no timestamps');
  }

  const best = readFileSync(join(out, 'best-size-vs-time.svg'), 'utf8');
  assert.equal(lineMarks(best), 1, 'one step line of the leading size');
  for (const label of RUN_LABELS) assert.ok(texts(best).includes(label));
  assert.ok(texts(best).includes('parameters of the run ahead'));
  assert.ok(texts(best).includes('training budget: wall-clock time (s)'));

  const pareto = readFileSync(join(out, 'accuracy-vs-bytes.svg'), 'utf8');
  const rows = JSON.parse(readFileSync(join(root, 'compress', 'L4-D512-clf', 'compress.json'), 'utf8')).rows as { bytes: number; accuracy: number }[];
  const frontier = rows.filter((r) => !rows.some((o) => (o.bytes <= r.bytes && o.accuracy > r.accuracy) || (o.bytes < r.bytes && o.accuracy >= r.accuracy)));
  assert.ok(frontier.length >= 2 && frontier.length < rows.length);
  assert.equal(lineMarks(pareto), 1, 'the frontier is one line');
  assert.equal(points(pareto), rows.length + frontier.length, 'every setting, plus a ring on each frontier point');
  assert.ok(texts(pareto).includes('compressed file size (bytes, log scale)'));
  assert.ok(texts(pareto).includes('test accuracy'));
  assert.ok(texts(pareto).includes('L4-D512-clf (17M)'));
});

test('index.html is self-contained: every figure inline, the run and compression tables, no scripts or fetches', () => {
  const { root } = reportedFixture();
  const html = readFileSync(join(root, 'report', 'index.html'), 'utf8');
  assert.equal(count(html, /<svg[\s>]/g), FIGURES.length);
  for (const f of FIGURES) assert.match(html, new RegExp(`<figure id="${f}">\\s*<svg`));
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|\ssrc=|@import|url\(http/i);
  for (const r of FIXTURE_RUNS) {
    const row = html.match(new RegExp(`<tr><td>runs/${r.size}</td>.*</tr>`));
    assert.ok(row, `a table row for ${r.size}`);
    assert.match(row[0], new RegExp(`<td class="num">${formatParams(r.params)}</td>`));
    assert.match(row[0], /1m00s/);
  }
  assert.match(html, /<strong>runs\/L4-D512 \(17M\)<\/strong>/, 'the largest model ends lowest in this fixture');
  assert.match(html, /<h2>Compression<\/h2>/);
  assert.equal(count(html, /<td>●<\/td>/g), 4, 'the frontier rows are marked');
});

test('the same input gives byte-identical figures and page', async () => {
  const { root } = reportedFixture();
  const again = join(tempDir('tlc-report-again-'), 'r');
  const r = await writeReport(root, { out: again });
  assert.deepEqual(r.svgs.map((p) => p.slice(again.length + 1)), FIGURES.map((f) => `${f}.svg`));
  for (const f of FIGURES) {
    assert.equal(readFileSync(join(again, `${f}.svg`), 'utf8'), readFileSync(join(root, 'report', `${f}.svg`), 'utf8'), `${f}.svg`);
  }
  assert.equal(readFileSync(r.html, 'utf8'), readFileSync(join(root, 'report', 'index.html'), 'utf8'));
  assert.deepEqual(readdirSync(again).filter((n) => n.endsWith('.tmp')), [], 'no temporary files left');
});

test('headless Chromium shows every figure of index.html with its marks', (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip('chromium not installed');
    return;
  }
  const { root } = reportedFixture();
  const profile = tempDir('tlc-chromium-');
  try {
    const r = spawnSync(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--dump-dom',
      `file://${join(root, 'report', 'index.html')}`,
    ], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, `chromium failed: ${r.error ?? ''} ${r.stderr}`);
    const dom = r.stdout;
    const figure = (id: string) => {
      const m = dom.match(new RegExp(`<figure id="${id}">([\\s\\S]*?)</figure>`));
      assert.ok(m, `the DOM holds figure ${id}`);
      assert.match(m[1], /^\s*<svg[^>]*class="marks"/, `${id} is an inline <svg>`);
      return m[1];
    };
    for (const axis of ['time', 'tokens', 'flops']) {
      const svg = figure(`loss-vs-${axis}`);
      assert.equal(lineMarks(svg), FIXTURE_RUNS.length, `loss-vs-${axis}: a line per run in the browser`);
      for (const label of RUN_LABELS) assert.ok(texts(svg).includes(label));
    }
    assert.equal(lineMarks(figure('best-size-vs-time')), 1);
    assert.ok(points(figure('best-size-vs-time')) > 0);
    assert.equal(lineMarks(figure('accuracy-vs-bytes')), 1);
    assert.ok(points(figure('accuracy-vs-bytes')) >= 9);
    assert.equal(lineMarks(figure('accuracy-vs-latency')), 1);
    assert.ok(points(figure('accuracy-vs-latency')) >= 9);
    assert.match(dom, /<table>[\s\S]*runs\/L2-D128[\s\S]*<\/table>/);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});

test('at each time, the run ahead is read off the drawn (piecewise-linear) curves, later runs kept at their last value', () => {
  const run = (name: string, params: number, evals: [number, number][]): RunSummary => ({
    name, dir: name, group: 'mlm', groupTitle: '', params, nonEmbeddingParams: null, budget: null, unigramValidLoss: null,
    steps: 0, tokens: 0, flops: 0, trainSeconds: 0, finalValidLoss: null, finished: true,
    evals: evals.map(([seconds, validLoss], step) => ({ step, seconds, tokens: 0, flops: 0, validLoss })),
  });
  const a = run('a', 1e6, [[0, 9], [10, 5.5], [20, 4]]);
  const b = run('b', 4e6, [[0, 9], [5, 7], [15, 5], [25, 2.8]]);
  const best = bestRunOverTime([a, b]);
  assert.deepEqual(best.map((p) => p.x), [5, 10, 15, 20, 25]);
  // at 5: a is at 7.25 (halfway 9→5.5), b at 7; at 20: b is at 3.9, a at 4; at 25 a stays at 4
  assert.deepEqual(best.map((p) => p.run), ['b (4.0M)', 'a (1.0M)', 'a (1.0M)', 'b (4.0M)', 'b (4.0M)']);
  assert.ok(Math.abs(best[2].loss - 4.75) < 1e-12);
});

test('finetuning runs get their own figures beside the pretraining runs', async () => {
  const root = tempDir('tlc-report-groups-');
  for (const r of FIXTURE_RUNS.slice(0, 2)) writeRunMetrics(join(root, 'pre', r.size), r);
  const ft = join(root, 'clf');
  writeRunMetrics(ft, FIXTURE_RUNS[0]);
  const lines = readFileSync(join(ft, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  lines[0] = { event: 'start', step: 0, params: 1_511_938, budget: lines[0].budget, task: 'spam', labels: ['ham', 'spam'] };
  // a finetuning run's evaluations carry its validation accuracy
  lines.forEach((l, i) => { if (l.event === 'eval') lines[i] = { ...l, valid_accuracy: Math.min(0.99, 0.5 + l.step / 2000) }; });
  writeFileSync(join(ft, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
  const r = await writeReport(root);
  const names = r.svgs.map((p) => p.slice(join(root, 'report').length + 1)).sort();
  assert.deepEqual(names, [
    'finetune-spam-accuracy-vs-time.svg', 'finetune-spam-loss-vs-flops.svg', 'finetune-spam-loss-vs-time.svg', 'finetune-spam-loss-vs-tokens.svg',
    'mlm-best-size-vs-time.svg', 'mlm-loss-vs-flops.svg', 'mlm-loss-vs-time.svg', 'mlm-loss-vs-tokens.svg',
  ]);
  const html = readFileSync(r.html, 'utf8');
  assert.match(html, /<h2>Masked-LM pretraining<\/h2>[\s\S]*<h2>Finetuning on spam<\/h2>/);
  assert.ok(!html.includes('<h2>Compression</h2>'));
  assert.match(readFileSync(join(root, 'report', 'finetune-spam-loss-vs-time.svg'), 'utf8'), /nats per example/);
});

test('a directory without runs is a clear error naming it', () => {
  const root = tempDir('tlc-report-empty-');
  mkdirSync(join(root, 'nothing-here'));
  const r = spawnSync(process.execPath, [CLI, 'report', root], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `tlc: error: ${root}: no training runs (folders with metrics.jsonl) or compression results (compress.json) found\n`);
  const missing = spawnSync(process.execPath, [CLI, 'report', join(root, 'absent')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^tlc: error: .*absent: no such directory\n$/);
  const bad = join(root, 'cmp');
  mkdirSync(bad);
  writeFileSync(join(bad, 'compress.json'), '{"rows": [{"model": "m"}]}');
  const r2 = spawnSync(process.execPath, [CLI, 'report', root], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /^tlc: error: .*cmp\/compress\.json: invalid compression summary — .*rows\.0\.params: /);
});

test('ids in an SVG are renamed with a prefix, references with them', () => {
  const svg = '<svg><defs><clipPath id="clip7"><rect/></clipPath><linearGradient id="g3"/></defs>' +
    '<g clip-path="url(#clip7)"><rect fill="url(#g3)"/><use href="#clip7"/><rect fill="url(#other)"/></g></svg>';
  assert.equal(uniqueIds(svg, 'fig'), '<svg><defs><clipPath id="fig-1"><rect/></clipPath><linearGradient id="fig-2"/></defs>' +
    '<g clip-path="url(#fig-1)"><rect fill="url(#fig-2)"/><use href="#fig-1"/><rect fill="url(#other)"/></g></svg>');
});

test('translation runs get a BLEU-against-time figure and their final BLEU in the table', async () => {
  const root = tempDir('tlc-report-mt-');
  for (const r of FIXTURE_RUNS.slice(0, 2)) writeRunMetrics(join(root, 'runs', r.size), r, 'seq2seq');
  const out = join(root, 'report');
  await writeReport(root, { out });
  const svg = readFileSync(join(out, 'bleu-vs-time.svg'), 'utf8');
  assert.equal(lineMarks(svg), 2, 'one BLEU curve per run');
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.match(html, /final validation BLEU/);
  assert.match(html, /bleu-vs-time/);
});

test('the report opens with the measured conclusion: the winner of the shared budget, its margin, where it lies', async () => {
  const { root } = reportedFixture();
  const { scan } = await import('../src/report/runs.js');
  const { sizeConclusions } = await import('../src/report/conclusion.js');
  const runs = scan(root, join(root, 'report')).runs.filter((r) => r.finalValidLoss !== null);
  const winner = runs.reduce((a, r) => (r.finalValidLoss! < a.finalValidLoss! ? r : a));
  const [sentence] = sizeConclusions(runs);
  assert.ok(sentence.includes(`${winner.name} (${formatParams(winner.params!)}) reached the lowest validation loss, ${winner.finalValidLoss!.toFixed(3)}`), sentence);
  const html = readFileSync(join(root, 'report', 'index.html'), 'utf8');
  assert.ok(html.indexOf('<h2>Conclusion</h2>') >= 0 && html.indexOf('<h2>Conclusion</h2>') < html.indexOf('<h2>', html.indexOf('<h2>Conclusion</h2>') + 1));
  assert.ok(html.includes(sentence.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').slice(0, 60)));
});

test('a recorded choice draws its budget line and the chosen model on the accuracy-vs-bytes figure', async () => {
  const root = tempDir('tlc-report-choice-');
  writeReportFixture(root);
  const p = spawnSync(process.execPath, [CLI, 'pareto', join(root, 'compress', 'L4-D512-clf'), '--max-bytes', '5MB', '--out', root, '--force', '--json'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const chosen = JSON.parse(p.stdout).choice.row;
  // the same folder named twice is read once: its rows are not listed twice
  const dir = join(root, 'compress', 'L4-D512-clf');
  const twice = spawnSync(process.execPath, [CLI, 'pareto', dir, `${dir}/`, '--max-bytes', '5MB', '--json'], { encoding: 'utf8' });
  assert.equal(twice.status, 0, twice.stderr);
  assert.match(twice.stderr, /L4-D512-clf\/: named more than once, read once/);
  assert.equal(JSON.parse(twice.stdout).rows.length, JSON.parse(p.stdout).rows.length);
  const r = await writeReport(root);
  const spec = JSON.parse(readFileSync(join(root, 'report', 'accuracy-vs-bytes.vl.json'), 'utf8'));
  assert.ok(JSON.stringify(spec).includes('"budget 5.00 MB"') || JSON.stringify(spec).includes('budget 5'), 'the budget line is labelled');
  assert.equal(spec.data.values.filter((v: { chosen: boolean }) => v.chosen).length, 1, 'one chosen model');
  assert.ok(spec.data.values.some((v: { chosen: boolean; cost: number }) => v.chosen && v.cost === chosen.bytes));
  const svg = readFileSync(join(root, 'report', 'accuracy-vs-bytes.svg'), 'utf8');
  assert.match(svg, /budget/);
  assert.match(readFileSync(r.html, 'utf8'), /<h2>Conclusion<\/h2>[\s\S]*Test-time budget: /);
});
