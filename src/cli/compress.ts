// `tlc compress` and `tlc pareto`.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { compressSweep, SUMMARY_FILE, type CompressMode, type CompressRow } from '../compress/sweep.js';
import { chooseWithin, describe, formatBytes, paretoFrontier, parseBytes, toCsv } from '../experiment/pareto.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { num, positiveInt, required } from './common.js';

function list(v: string, flag: string): number[] {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => num(s, flag));
  if (xs.length === 0) throw new TlcError(`${flag} is empty`);
  return xs;
}

export function registerCompress(program: Command): void {
  program
    .command('compress')
    .description('prune × quantize a trained run at every combination, write real compressed files and score them')
    .option('--model <run>', 'a finetuned classifier run (scored on its task) or a pretrained LM run (sizes only)')
    .option('--sparsity <list>', 'fractions of the linear weights pruned, in [0, 1)', '0,0.5,0.9')
    .option('--bits <list>', 'bits per weight: 2…8, or 32 for no quantization', '32,8,4')
    .option('--out <dir>', 'output directory (one subdirectory per setting)')
    .option('--pruning <layer|global>', 'one threshold per layer, or one over all layers', 'layer')
    .option('--embedding-bits <n>', 'bits for embeddings (default: max(bits, 4); 32 keeps them float)')
    .option('--mode <oneshot|finetune|gradual>', 'prune once; prune then finetune with the mask fixed; or prune gradually while finetuning', 'oneshot')
    .option('--steps <n>', 'finetuning steps per setting (finetune and gradual modes)', '200')
    .option('--lr <x>', 'finetuning learning rate', '5e-5')
    .option('--batch-size <n>', 'finetuning batch size', '32')
    .option('--qat', 'quantization-aware finetuning (fake-quantized weights with a straight-through gradient)')
    .option('--task <file|dir|example:NAME>', 'labelled task (default: the one the run was finetuned on)')
    .option('--task-seed <n>', "seed of the task's split (default: as in finetuning)")
    .option('--seed <n>', 'random seed', '0')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const mode = String(o.mode) as CompressMode;
      if (!['oneshot', 'finetune', 'gradual'].includes(mode)) throw new TlcError(`invalid --mode "${mode}": use oneshot, finetune or gradual`);
      if (o.pruning !== 'layer' && o.pruning !== 'global') throw new TlcError(`invalid --pruning "${o.pruning}": use layer or global`);
      const rows = await compressSweep({
        model: required(o.model as string | undefined, '--model'),
        out: required(o.out as string | undefined, '--out'),
        sparsities: list(String(o.sparsity), '--sparsity'),
        bits: list(String(o.bits), '--bits'),
        pruning: o.pruning,
        embeddingBits: o.embeddingBits ? num(String(o.embeddingBits), '--embedding-bits') : undefined,
        mode,
        steps: num(String(o.steps), '--steps', positiveInt),
        lr: num(String(o.lr), '--lr', (x) => x > 0),
        batchSize: num(String(o.batchSize), '--batch-size', positiveInt),
        qat: o.qat === true,
        task: o.task as string | undefined,
        taskSeed: o.taskSeed !== undefined ? num(String(o.taskSeed), '--task-seed', Number.isInteger) : undefined,
        seed: num(String(o.seed), '--seed', Number.isInteger),
      }, (l) => process.stderr.write(l + '\n'));
      printTable(paretoFrontier(rows));
    });

  program
    .command('pareto <dirs...>')
    .description('accuracy against real compressed bytes over `tlc compress` outputs; pick the best model within a budget')
    .option('--max-bytes <size>', 'size budget, e.g. 20MB')
    .option('--max-latency <ms>', 'latency budget in milliseconds (rows need a measured latency)')
    .option('--out <dir>', 'where to write pareto.json and pareto.csv (default: the first directory)')
    .option('--json', 'print the table and the choice as one JSON object')
    .action((dirs: string[], o: { maxBytes?: string; maxLatency?: string; out?: string; json?: boolean }) => {
      const rows: CompressRow[] = [];
      for (const d of dirs) {
        const p = join(d, SUMMARY_FILE);
        if (!existsSync(p)) throw new TlcError(`${d}: no ${SUMMARY_FILE}; run \`tlc compress --out ${d}\` first`);
        let summary: { rows?: CompressRow[] };
        try {
          summary = JSON.parse(readFileSync(p, 'utf8'));
        } catch (e) {
          throw new TlcError(`${p}: cannot read (${(e as Error).message})`);
        }
        if (!Array.isArray(summary.rows)) throw new TlcError(`${p}: no "rows" array`);
        rows.push(...summary.rows);
      }
      const table = paretoFrontier(rows).sort((a, b) => a.bytes - b.bytes);
      const budget = {
        maxBytes: o.maxBytes !== undefined ? parseBytes(o.maxBytes) : undefined,
        maxLatencyMs: o.maxLatency !== undefined ? num(o.maxLatency.replace(/ms$/, ''), '--max-latency', (x) => x > 0) : undefined,
      };
      const choice = budget.maxBytes !== undefined || budget.maxLatencyMs !== undefined ? chooseWithin(table, budget) : null;
      const outDir = o.out ?? dirs[0];
      mkdirSync(outDir, { recursive: true });
      writeJsonAtomic(join(outDir, 'pareto.json'), { rows: table, choice });
      writeFileAtomic(join(outDir, 'pareto.csv'), toCsv(table));
      if (o.json) {
        process.stdout.write(JSON.stringify({ rows: table, choice }) + '\n');
        return;
      }
      printTable(table);
      if (choice) console.log(`\n${choice.row ? 'choice: ' : ''}${choice.reason}`);
      console.log(`\nwritten: ${join(outDir, 'pareto.json')}, ${join(outDir, 'pareto.csv')}`);
    });
}

function printTable(rows: ReturnType<typeof paretoFrontier>): void {
  console.log('| model | sparsity | bits | bytes | kernels | latency | accuracy | macro-F1 | frontier |\n|---|---:|---:|---:|---|---:|---:|---:|:---:|');
  for (const r of rows) {
    console.log(`| ${describe(r).split(' (')[0]} (${(r.params / 1e6).toFixed(1)}M) | ${r.sparsity} | ${r.bits} | ${formatBytes(r.bytes)} | ` +
      `${r.kernels ?? '-'} | ${r.latency_ms == null ? '-' : r.latency_ms.toFixed(2) + ' ms'} | ` +
      `${r.accuracy === null ? '-' : (100 * r.accuracy).toFixed(1) + '%'} | ${r.macro_f1 === null ? '-' : (100 * r.macro_f1).toFixed(1) + '%'} | ${r.on_frontier ? '●' : ''} |`);
  }
}
