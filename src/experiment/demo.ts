// The demo pipeline as a library function: prepare the bundled corpora, sweep model sizes
// under one training budget, finetune the size that won the budget and the smallest one
// on the Brown genre task, compress both, choose on the Pareto frontier and say what
// happened (the report is drawn by the caller, a layer above). Every step is reused or
// resumed if the demo runs again.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { prepareData } from '../data/prepare.js';
import { loadTask, testDocumentIds } from '../data/tasks.js';
import { DATA_FILE } from '../data/shards.js';
import { runFile } from '../run/layout.js';
import { hasFinetuneResults } from '../run/results.js';
import { finetuneOptionsSchema, type FinetuneOptions } from '../train/args.js';
import { finetune, finetunePlan, resumeFinetune } from '../train/finetune.js';
import type { LoopEvents } from '../train/loop.js';
import { formatSeconds } from '../train/budget.js';
import { runSweep, type SweepInput, type SweepRow } from './sweep.js';
import { compressSweep, type CompressRow } from './compress-sweep.js';
import { chooseWithin, describe, formatBytes, paretoFrontier, toCsv } from './pareto.js';

// from below to above the compute-optimal size for a 2-minute budget on 2 cores, so that
// either answer (train small, train large) is possible
export const DEMO_SIZES = ['L1-D64', 'L2-D128', 'L4-D256', 'L6-D384'];
export const DEMO_TASK = 'example:brown-genre';
const DEMO_TASK_SEED = 0;

export interface DemoOptions {
  out: string;
  /** Pretraining budget per size, e.g. "2m". */
  budget: string;
  /** Finetuning budget per model. */
  finetuneBudget: string;
  sizes: string[];
  /** The test-time size budget of the final choice, in bytes, and as the user wrote it. */
  maxBytes: number;
  maxBytesText: string;
  taskExamples?: number;
}

export interface DemoIo {
  /** A line of the story. */
  say(line: string): void;
  /** A detail line (progress of a stage). */
  detail(line: string): void;
  /** Progress of one training run. */
  events(label: string, validKey: string): LoopEvents & { finish(): void };
  signal?: AbortSignal;
}

export type DemoResult = { interrupted: true } | { interrupted: false; answer: string };

export const DEMO_CORPORA = ['example:sotu', 'example:brown'];

/** The documents the demo's pretraining leaves out: those the Brown genre task's test split comes from (docs/data.md). */
export async function demoPretrainingExclusion(): Promise<Set<string>> {
  return testDocumentIds(await loadTask(DEMO_TASK, { seed: DEMO_TASK_SEED }));
}

export async function runDemo(o: DemoOptions, io: DemoIo): Promise<DemoResult> {
  if (o.sizes.length === 0) throw new TlcError('--sizes is empty');
  mkdirSync(o.out, { recursive: true });

  const dataDir = join(o.out, 'data');
  if (!existsSync(join(dataDir, DATA_FILE))) {
    io.say('1. preparing the bundled corpora (State of the Union addresses and the Brown corpus)');
    await prepareData({ inputs: DEMO_CORPORA, outDir: dataDir, vocabSize: 8192, exclude: await demoPretrainingExclusion() });
  } else {
    io.say(`1. using the prepared data in ${dataDir}`);
  }

  io.say(`2. pretraining ${o.sizes.join(', ')} (masked LM) for ${o.budget} of training time each`);
  const spec: SweepInput = {
    data: dataDir, objective: 'mlm', sizes: o.sizes, batch_sizes: [32], micro_batch_size: 16, budget: o.budget,
    eval_every: 0.1, eval_tokens: 16384,
  };
  const sweepEvents = new Map<string, ReturnType<DemoIo['events']>>();
  const sweep = await runSweep(spec, join(o.out, 'sweep'), {
    events: (p) => {
      const e = io.events(`pretrain ${p.name}`, 'valid_loss');
      sweepEvents.set(p.name, e);
      return e;
    },
    signal: io.signal, log: io.detail,
  });
  for (const e of sweepEvents.values()) e.finish();
  if (sweep.interrupted) return { interrupted: true };
  const winner = sweep.rows.reduce((a, r) => (r.valid_loss < a.valid_loss ? r : a));
  const smallest = sweep.rows.reduce((a, r) => (r.params < a.params ? r : a));
  io.say(sweepTable(sweep.rows));

  // the size that won the budget and a small one; if those coincide, the largest, to see
  // how a large model survives compression
  const largest = sweep.rows.reduce((a, r) => (r.params > a.params ? r : a));
  const toFinetune = [...new Map((winner === smallest ? [winner, largest] : [winner, smallest]).map((r) => [r.name, r])).values()];
  io.say(`\n3. finetuning ${toFinetune.map((r) => r.name).join(' and ')} on the Brown genre task for ${o.finetuneBudget} each`);
  const compressed: CompressRow[] = [];
  for (const r of toFinetune) {
    const ftDir = join(o.out, 'finetune', r.name);
    const options: FinetuneOptions = finetunePlan(finetuneOptionsSchema.parse({
      from: r.run, task: DEMO_TASK, task_seed: DEMO_TASK_SEED, max_examples: o.taskExamples, budget: o.finetuneBudget, max_len: 64,
      dropout: 0.1, eval_every: 0.2, save_every: 0.25, keep: 1,
    })).options;
    if (!hasFinetuneResults(ftDir)) {
      const events = io.events(`finetune ${r.name}`, 'valid_accuracy');
      const f = existsSync(runFile(ftDir, 'args'))
        ? await resumeFinetune(ftDir, events, io.signal) : await finetune(ftDir, options, events, io.signal);
      events.finish();
      if (f.interrupted) return { interrupted: true };
      io.detail(`${r.name}: test accuracy ${(100 * f.test!.accuracy).toFixed(1)}%, macro-F1 ${(100 * f.test!.macroF1).toFixed(1)}%`);
    }
    io.say(`4. compressing ${r.name}: sparsity 0, 0.5, 0.9 × 32, 8, 4 bits`);
    const c = await compressSweep({
      model: ftDir, out: join(o.out, 'compress', r.name), sparsities: [0, 0.5, 0.9], bits: [32, 8, 4], pruning: 'layer',
      mode: 'oneshot', finetune: {}, qat: false, seed: 0,
    }, io.detail, () => ({}), io.signal);
    if (c.interrupted) return { interrupted: true };
    compressed.push(...c.rows);
  }

  const table = paretoFrontier(compressed).sort((a, b) => a.bytes - b.bytes);
  const choice = chooseWithin(table, { maxBytes: o.maxBytes });
  writeJsonAtomic(join(o.out, 'pareto.json'), { rows: table, choice, budget: { max_bytes: o.maxBytes } });
  writeFileAtomic(join(o.out, 'pareto.csv'), toCsv(table));
  io.say('\n5. accuracy against compressed size (● = on the Pareto frontier)\n');
  io.say('| model | sparsity | bits | bytes | test accuracy | frontier |\n|---|---:|---:|---:|---:|:---:|');
  for (const r of table) {
    io.say(`| ${describe(r).split(' (')[0]} | ${r.sparsity} | ${r.bits} | ${formatBytes(r.bytes)} | ${(100 * r.accuracy!).toFixed(1)}% | ${r.on_frontier ? '●' : ''} |`);
  }
  const answer = answerParagraph(sweep.rows, winner, smallest, o.budget, table, choice.reason, o.maxBytesText);
  writeFileSync(join(o.out, 'answer.txt'), answer + '\n');
  return { interrupted: false, answer };
}

function sweepTable(rows: SweepRow[]): string {
  return ['\n| model | parameters | tokens seen | tokens/s | validation loss |\n|---|---:|---:|---:|---:|', ...rows.map((r) =>
    `| ${r.name} | ${(r.params / 1e6).toFixed(1)}M | ${r.tokens.toLocaleString()} | ${Math.round(r.tokens_per_s).toLocaleString()} | ${r.valid_loss.toFixed(3)} |`)]
    .join('\n');
}

/**
 * The demo's answer in a few sentences, every one computed from the measurements: which size
 * won the budget, by how much, and where it lies among the sizes; then the test-time choice.
 */
function answerParagraph(rows: SweepRow[], winner: SweepRow, _smallest: SweepRow, budget: string,
  table: ReturnType<typeof paretoFrontier>, choice: string, maxBytes: string): string {
  const ranked = [...rows].sort((a, b) => a.valid_loss - b.valid_loss);
  const next = ranked[1];
  const bySize = [...rows].sort((a, b) => a.params - b.params);
  const label = (r: SweepRow) => `${r.name} (${(r.params / 1e6).toFixed(1)}M parameters)`;
  const where = rows.length < 2 ? '' : winner === bySize[0]
    ? ' It is the smallest size measured: at this budget the measurements say "train small" (and a smaller size still might do better).'
    : winner === bySize.at(-1)
      ? ' It is the largest size measured: at this budget the measurements say "train large" (and a larger size still might do better).'
      : ` It lies between ${bySize[0].name} and ${bySize.at(-1)!.name}: the optimum for this budget is interior.`;
  const tokens = bySize[0] !== winner ? ` ${bySize[0].name} saw ${(bySize[0].tokens / winner.tokens).toFixed(1)}× as many tokens.` : '';
  const training = `With ${budget} of pretraining per model (${formatSeconds(winner.train_seconds)} measured), ${label(winner)} reached the ` +
    `lowest validation loss, ${winner.valid_loss.toFixed(3)}` +
    (next ? `, ${(next.valid_loss - winner.valid_loss).toFixed(3)} below the next, ${next.name} (${next.valid_loss.toFixed(3)}).` : '.') + where + tokens;
  const frontier = table.filter((r) => r.on_frontier);
  const smallestGood = frontier[0];
  return `${training} On the Brown genre task, ${frontier.length} compressed models form the accuracy/size frontier, from ` +
    `${describe(smallestGood)} at ${formatBytes(smallestGood.bytes)} up to ${describe(frontier[frontier.length - 1])}. ` +
    `For a ${maxBytes} budget: ${choice}.`;
}
