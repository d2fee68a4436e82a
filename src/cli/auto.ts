// `tlc auto --corpus <files|dirs|example:..>... [--task <...>] --budget 1h [--max-bytes 5MB]
// [--max-latency 5ms] --out <dir>`: the whole pipeline (src/auto/auto.ts), then the report.
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { parsePlanBudget } from '../experiment/plan-budget.js';
import { parseBytes } from '../experiment/pareto.js';
import { parseDuration, formatSeconds } from '../train/budget.js';
import { withOutputDir } from '../run/ownership.js';
import { workerSlot } from '../util/launch.js';
import { describeCost, runAuto } from '../auto/auto.js';
import type { AutoOptions } from '../auto/options.js';
import { finetuneBudgetOf } from '../auto/task.js';
import { writeRecord, type AutoRecord } from '../auto/record.js';
import { writeFileAtomic } from '../util/atomic.js';
import { join } from 'node:path';
import { num, positiveInt, progressEvents, required, withGracefulStop } from './common.js';
import { markRequired } from './help.js';
import { presetConfig } from '../nn/config.js';

interface AutoFlags {
  corpus?: string[]; task?: string; budget?: string; explore?: string; finetuneBudget?: string; compressBudget?: string;
  maxBytes?: string; maxLatency?: string; objective: string; sizes?: string; vocabSize?: string; seqLen?: string; batchSize?: string;
  probe?: string; dryRun?: boolean; json?: boolean; out?: string; force?: boolean;
}

export function registerAuto(program: Command): void {
  const cmd = program
    .command('auto')
    .description('from your corpus (and task) and budgets to the model to ship: explore sizes, plan, train the chosen one, finetune, compress, choose, export, report')
    .option('--corpus <inputs...>', 'text files, directories or example:NAME to pretrain on')
    .option('--task <file|dir|example:NAME>', 'a classification task to finetune, compress and choose for (without one: the pretrained model)')
    .option('--budget <budget>', 'the whole pretraining budget, exploration included: time (1h), tokens (200M) or FLOPs (1e16flops)')
    .option('--explore <share>', 'share of the budget spent exploring sizes', '0.2')
    .option('--finetune-budget <duration>', 'finetuning budget per model, a duration or a step count (200steps); default: a tenth of a time budget, at least 30s (2m for a token or FLOP budget)')
    .option('--compress-budget <duration>', 'compression finetuning per setting, a duration or a step count (default: a quarter of the finetuning budget)')
    .option('--max-bytes <size>', 'test-time size budget of the model to ship, e.g. 5MB')
    .option('--max-latency <ms>', 'test-time latency budget (one sequence, this machine), e.g. 5ms')
    .option('--objective <mlm|clm>', 'masked or causal language modelling', 'mlm')
    .option('--sizes <list>', 'candidate presets instead of the ones the throughput probe proposes, e.g. L2-D128,L4-D256,L6-D384')
    .option('--vocab-size <n>', 'tokenizer vocabulary', '8192')
    .option('--seq-len <n>', 'pretraining sequence length', '128')
    .option('--batch-size <n>', 'pretraining batch (sequences)', '32')
    .option('--probe <duration>', 'length of each throughput probe', '20s')
    .option('--dry-run', 'prepare the data, measure the machine, print the plan and stop')
    .option('--json', 'print auto.json on stdout at the end')
    .option('--force', 'write into an existing --out directory that holds something other than a `tlc auto` output')
    .option('--out <dir>', 'output directory');
  markRequired(cmd, ['--corpus', '--budget', '--out']);
  cmd.action(async (f: AutoFlags) => {
    const options = autoOptions(f);
    const worker = workerSlot();
    const quiet = f.json === true;
    const say = (l: string) => (quiet ? process.stderr.write(l + '\n') : console.log(l));
    const result = await withOutputDir(options.out, 'auto', { force: f.force }, () => withGracefulStop((signal) => runAuto(options, {
      say, detail: (l) => process.stderr.write(`   ${l}\n`), events: progressEvents, signal, worker,
    })));
    if (worker && worker.index !== 0) return;
    if (result.interrupted) {
      say(`interrupted; run the same command again to continue where it stopped`);
      return;
    }
    if (result.dryRun) {
      if (f.json) process.stdout.write(JSON.stringify(result.record) + '\n');
      return;
    }
    const { answer, report } = await finishAuto(options.out, result.record, `tlc auto: ${options.corpus.join(', ')}`);
    if (f.json) {
      process.stdout.write(JSON.stringify(result.record) + '\n');
      return;
    }
    say(`\n${answer.join(' ')}\n\nthe model: ${result.record.model_dir ?? 'none'}\nreport: ${report}\neverything: ${options.out}/auto.json`);
  });
}

/** After a finished run: the report, opening with the answer, and answer.txt; auto.json records the report. */
export async function finishAuto(out: string, record: AutoRecord, title: string): Promise<{ answer: string[]; report: string }> {
  const { writeReport } = await import('../report/report.js'); // Vega loads only when a report is drawn
  const answer = answerOf(record);
  // the report states the test-budget choice itself (from pareto.json)
  const lead = answer.filter((sentence) => !sentence.startsWith('For the test budget'));
  const report = await writeReport(out, { title, lead, sizeConclusions: false });
  record.report = report.html;
  writeRecord(out, record);
  writeFileAtomic(join(out, 'answer.txt'), answer.join(' ') + '\n');
  return { answer, report: report.html };
}

function autoOptions(f: AutoFlags): AutoOptions {
  if (!f.corpus || f.corpus.length === 0) throw new TlcError('--corpus is required: the text files, directories or example:NAME to pretrain on');
  const budgetText = required(f.budget, '--budget');
  const budget = parsePlanBudget(budgetText);
  const explore = num(required(f.explore, '--explore'), '--explore', (v) => v > 0 && v < 1);
  if (f.objective !== 'mlm' && f.objective !== 'clm') throw new TlcError(`--objective must be mlm or clm, got ${f.objective}`);
  if (f.task && f.objective !== 'mlm') throw new TlcError('--task finetunes a classifier on a masked LM: use --objective mlm (the default) with --task');
  const finetuneBudget = f.finetuneBudget ?? (budget.kind === 'time' ? `${Math.max(30, Math.round(budget.seconds / 10))}s` : '2m');
  const ft = flagged('--finetune-budget', () => finetuneBudgetOf(finetuneBudget));
  const compressBudget = f.compressBudget ?? ('steps' in ft ? `${Math.max(1, Math.round(ft.steps / 4))}steps` : `${Math.max(5, Math.round(parseDuration(ft.budget) / 4))}s`);
  flagged('--compress-budget', () => finetuneBudgetOf(compressBudget));
  checkProbe(f.probe ?? '20s');
  const sizes = checkedSizes(f.sizes);
  const maxLatencyMs = f.maxLatency !== undefined ? num(f.maxLatency.replace(/\s*ms$/, ''), '--max-latency', (v) => v > 0) : undefined;
  return {
    out: required(f.out, '--out'), corpus: f.corpus, task: f.task ?? null, budget, budgetText, explore,
    objective: f.objective, finetuneBudget, compressBudget,
    ...(f.maxBytes !== undefined && { maxBytes: flagged('--max-bytes', () => parseBytes(f.maxBytes!)) }), ...(maxLatencyMs !== undefined && { maxLatencyMs }),
    ...(sizes !== undefined && { sizes }),
    vocabSize: num(f.vocabSize ?? '8192', '--vocab-size', positiveInt), seqLen: num(f.seqLen ?? '128', '--seq-len', positiveInt),
    batchSize: num(f.batchSize ?? '32', '--batch-size', positiveInt), probe: f.probe ?? '20s', dryRun: f.dryRun === true,
  };
}

function unitsText(r: AutoRecord, v: number): string {
  return r.budget.kind === 'time' ? `${formatSeconds(v)} at the probed throughputs` : r.budget.kind === 'tokens' ? `${(v / 1e6).toFixed(2)}M tokens` : `${v.toExponential(2)} FLOPs`;
}

/** The --probe duration, checked before anything is prepared. */
export function checkProbe(probe: string): void {
  flagged('--probe', () => parseDuration(probe));
}

/** The --sizes presets, every one checked before anything is prepared or probed. */
export function checkedSizes(text: string | undefined): string[] | undefined {
  const sizes = text?.split(',').map((s) => s.trim()).filter(Boolean);
  if (sizes !== undefined && sizes.length === 0) throw new TlcError(`--sizes "${text}" names no size: give presets such as L2-D128,L4-D256`);
  for (const size of sizes ?? []) flagged('--sizes', () => presetConfig(size, { vocab_size: 8192 }));
  const twice = (sizes ?? []).filter((s, i, all) => all.indexOf(s) !== i);
  if (twice.length > 0) throw new TlcError(`--sizes names ${[...new Set(twice)].join(', ')} more than once`);
  return sizes;
}

/** A value parsed for a flag; its error names the flag. */
function flagged<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new TlcError(`${flag}: ${(e as Error).message}`);
  }
}

/** The answer, first: which size won, what was predicted against measured, what fits the test budget. */
export function answerOf(r: AutoRecord): string[] {
  const out: string[] = [];
  const chosen = r.chosen!;
  const explored = r.exploration?.rows ?? [];
  const outlook = ((r.plan?.outlook ?? []) as { preset: string; predicted: number | null }[]).filter((c) => c.predicted !== null && c.preset !== chosen.preset)
    .sort((a, b) => a.predicted! - b.predicted!);
  const cost = r.pretrain_cost!;
  const within = `${r.budget.text} of pretraining, exploration included, spent ${unitsText(r, cost.budget_units)} (${describeCost(cost)})`;
  out.push(`${chosen.preset} was chosen for the budget (${within}) and reached a validation loss of ${chosen.valid_loss === null ? '(not evaluated)' : chosen.valid_loss.toFixed(3)} at the end of its schedule` +
    (chosen.predicted_loss !== null ? `, where the planner predicted ${chosen.predicted_loss.toFixed(3)} from the exploration` : '') +
    (outlook.length > 0 ? `; the runner-up, ${outlook[0].preset}, was predicted ${outlook[0].predicted!.toFixed(3)} with the same budget.` : '.') +
    (explored.length > 0 ? ` At the end of the exploration the candidates stood at ${explored.map((e) => `${e.preset} ${e.valid_loss.toFixed(3)}`).join(', ')}.` : ''));
  if (r.selection) {
    out.push(`For the test budget: ${r.selection.reason}.`); // the reason already names the next best
  }
  if (r.sample !== undefined) out.push(`A greedy sample: "${r.sample.trim().slice(0, 200)}"`);
  const total = Object.values(r.stages).reduce((s, x) => s + x.seconds, 0);
  out.push(`The whole job took ${formatSeconds(total)}.`);
  return out;
}
