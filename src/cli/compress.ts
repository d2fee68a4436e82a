// `tlc compress` and `tlc pareto`.
import { BUDGET_FLAGS } from '../train/budget.js';
import { hfModelDir } from '../import/import.js';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { mpiRank } from '../util/launch.js';
import { warn } from '../util/warn.js';
import { compressSweep, type CompressSweepArgs } from '../experiment/compress-sweep.js';
import { METHODS, withDefaultPruning, type MethodArgs } from '../experiment/compression/registry.js';
import type { MethodFlag } from '../experiment/compression/method.js';
import { chooseWithin, describe, formatBytes, paretoFrontier, parseBytes, structuredText, writePareto } from '../experiment/pareto.js';
import { compressModes, readCompressSummary, type CompressMode, type CompressRow } from '../run/compress-summary.js';
import { COMPRESS_FINETUNE_DEFAULTS } from '../train/args.js';
import { PARETO_FILES } from '../run/layout.js';
import { withOutputDir } from '../run/ownership.js';
import { warnIfUnfinished } from '../run/unfinished.js';
import { aliasOption, markRequired, renamed } from './help.js';
import { addBudgetFlags, num, optionsFromFlags, progressEvents, required, seedFlag, withGracefulStop } from './common.js';
import { flagName } from '../train/args.js';
import { makeDirs } from '../util/make-dirs.js';

function list(v: string, flag: string): number[] {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => num(s, flag));
  if (xs.length === 0) throw new TlcError(`${flag} is empty`);
  return xs;
}

/** Flags of the compression finetuning runs, passed on as finetune options. */
const FINETUNE_FLAGS = [...BUDGET_FLAGS, 'lr', 'batchSize', 'warmup', 'weightDecay', 'evalEvery'];

export function registerCompress(program: Command): void {
  const d = COMPRESS_FINETUNE_DEFAULTS;
  const cmd = program
    .command('compress')
    .description('prune × quantize a trained run at every combination, write real compressed files and score them')
    .option('--from <run>', 'a finetuned classifier run (scored on its task) or a pretrained LM run (sizes only)')
    .option('--out <dir>', 'output directory (one subdirectory per setting)')
    .addOption(new Option('--mode <kind>', 'prune once; prune then finetune with the mask fixed; or prune gradually while finetuning')
      .choices(compressModes).default('oneshot'));
  for (const method of METHODS) for (const flag of method.flags) cmd.addOption(optionOf(flag));
  addBudgetFlags(cmd, `finetuning (finetune and gradual modes; default: --steps ${d.steps})`)
    .option('--lr <x>', `finetuning peak learning rate (default: ${d.lr})`)
    .option('--batch-size <n>', 'finetuning batch size (default: as tlc finetune)')
    .option('--warmup <fraction>', `finetuning warmup fraction (default: ${d.warmup})`)
    .option('--weight-decay <x>', 'finetuning weight decay (default: as tlc finetune)')
    .option('--eval-every <steps|duration|fraction>', `validation during finetuning (default: ${d.eval_every})`)
    .option('--task <file|dir|example:NAME>', 'labelled task (default: the one the run was finetuned on)')
    .option('--task-seed <n>', "seed of the task's split (default: as in finetuning)")
    .option('--seed <n>', 'random seed', '0')
    .option('--force', 'write into an existing --out directory that holds something other than a compression output')
    .option('--json', 'print every setting (with the Pareto frontier marked) as one JSON object on stdout');
  cmd.addOption(aliasOption('--model <run>', '--from'));
  markRequired(cmd, ['--from', '--out']);
  cmd.action((o: Record<string, unknown>) => runCompress(cmd, o));
  registerPareto(program);
}

/** `tlc compress` with its parsed flags: the sweep, then its table (or JSON). */
async function runCompress(cmd: Command, o: Record<string, unknown>): Promise<void> {
  const ranks = mpiRank();
  if (ranks && ranks.count > 1) {
    throw new TlcError(`tlc compress runs in one process (${ranks.source} started ${ranks.count}): its settings are written by one ` +
      'writer; run it without the launcher');
  }
  refuseFlagsWithoutEffect(cmd);
  const model = hfModelDir(required(renamed<string | undefined>(cmd, 'from', 'model'), '--from')), out = required(o.out as string | undefined, '--out');
  warnIfUnfinished(model);
  const result = await withOutputDir(out, 'compress', { force: o.force === true, source: model, lock: true }, () => withGracefulStop((signal) => compressSweep(
    sweepArgsOf(o, model, out), (l) => process.stderr.write(l + '\n'), (setting) => progressEvents(`finetune ${setting}`, 'valid_accuracy'), signal)));
  if (o.json) {
    process.stdout.write(JSON.stringify({ model, out, interrupted: result.interrupted, rows: paretoFrontier(result.rows) }) + '\n');
    return;
  }
  if (result.interrupted) {
    console.log('interrupted; run the same command again to continue');
    return;
  }
  printTable(paretoFrontier(result.rows));
}

/** A flag that only shapes another (`--distill-alpha` shapes `--distill`), given without it, would do nothing. */
function refuseFlagsWithoutEffect(cmd: Command): void {
  const given = (flag: string) => cmd.getOptionValueSource(attributeOf(flag)) === 'cli';
  for (const flag of METHODS.flatMap((m) => m.flags)) {
    if (flag.shapes && given(flag.spec) && !given(flag.shapes)) {
      throw new TlcError(`${flag.spec.split(' ')[0]} shapes ${flag.shapes}, which is not given: add ${flag.shapes}, or leave it out`);
    }
  }
}

/** A method's flag as a commander option. */
function optionOf(flag: MethodFlag): Option {
  const o = new Option(flag.spec, flag.help);
  if (flag.choices) o.choices(flag.choices);
  if (flag.default !== undefined) o.default(flag.default);
  return o;
}

/** The commander attribute of a flag: `--structured-units <kind>` → structuredUnits. */
function attributeOf(flag: string): string {
  return flag.replace(/^--/, '').split(' ')[0].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The value of a method's flag as the method reads it: numbers parsed, undefined when not given. */
function flagReader(o: Record<string, unknown>): (flag: string) => unknown {
  const byName = new Map(METHODS.flatMap((m) => m.flags).map((f) => [f.spec.split(' ')[0], f]));
  return (name) => {
    const flag = byName.get(name);
    if (!flag) throw new Error(`no compression flag ${name}`);
    const v = o[attributeOf(name)];
    if (v === undefined) return undefined;
    if (flag.value === 'list') return list(String(v), name);
    if (flag.value === 'number') return num(String(v), name, flag.accepts ? (x) => Number.isFinite(x) && flag.accepts!(x) : undefined);
    return v;
  };
}

/** The sweep the flags describe; finetuning flags become finetune options over the compression defaults. */
function sweepArgsOf(o: Record<string, unknown>, model: string, out: string): CompressSweepArgs {
  const given = optionsFromFlags(Object.fromEntries(FINETUNE_FLAGS.map((k) => [k, o[k]])));
  const budgetGiven = BUDGET_FLAGS.some((k) => given[k] !== undefined);
  // a one-shot sweep trains nothing: finetuning flags there would do nothing
  const trainingFlags = Object.keys(given);
  if (o.mode === 'oneshot' && trainingFlags.length > 0) {
    throw new TlcError(`${trainingFlags.map((k) => flagName(k)).join(', ')} ${trainingFlags.length > 1 ? 'set' : 'sets'} the finetuning of --mode finetune or gradual; ` +
      '--mode oneshot (the default) trains nothing');
  }
  const { steps, ...rest } = COMPRESS_FINETUNE_DEFAULTS;
  const read = flagReader(o);
  const methodArgs = withDefaultPruning(Object.assign({}, ...METHODS.map((m) => m.fromFlags(read))) as MethodArgs);
  if (methodArgs.qat && methodArgs.bits !== undefined && methodArgs.bits.every((b) => b === 32)) {
    throw new TlcError('--qat finetunes with quantized weights, but every --bits setting is 32 (float): add a width below 32, or leave --qat out');
  }
  return {
    ...methodArgs,
    model,
    out,
    mode: o.mode as CompressMode,
    finetune: { ...rest, ...(budgetGiven ? {} : { steps }), ...given },
    task: o.task as string | undefined,
    taskSeed: o.taskSeed !== undefined ? num(String(o.taskSeed), '--task-seed', Number.isInteger) : undefined,
    seed: seedFlag(String(o.seed)),
  };
}

function registerPareto(program: Command): void {
  program
    .command('pareto <dirs...>')
    .description('accuracy against real compressed bytes over `tlc compress` outputs; pick the best model within a budget')
    .option('--max-bytes <size>', 'size budget, e.g. 20MB')
    .option('--max-latency <ms>', 'latency budget in milliseconds (rows need a measured latency)')
    .option('--out <dir>', 'where to write pareto.json and pareto.csv (default: the first directory)')
    .option('--json', 'print the table and the choice as one JSON object')
    .option('--force', 'write into an existing --out directory that holds something else')
    .action(async (given: string[], o: { maxBytes?: string; maxLatency?: string; out?: string; json?: boolean; force?: boolean }) => {
      // a folder named twice would list its rows twice
      const dirs = given.filter((d, i) => given.findIndex((e) => resolve(e) === resolve(d)) === i);
      const repeated = given.filter((d, i) => !dirs.includes(d) || given.indexOf(d) !== i);
      if (repeated.length > 0) warn(`${[...new Set(repeated)].join(', ')}: named more than once, read once`);
      const rows: CompressRow[] = dirs.flatMap((dir) => readCompressSummary(dir).rows);
      if (rows.length === 0) throw new TlcError(`${dirs.join(', ')}: no compressed settings to rank (their compress.json lists none)`);
      const table = paretoFrontier(rows).sort((a, b) => a.bytes - b.bytes);
      const budget = {
        maxBytes: o.maxBytes !== undefined ? parseBytes(o.maxBytes) : undefined,
        maxLatencyMs: o.maxLatency !== undefined ? num(o.maxLatency.replace(/ms$/, ''), '--max-latency', (x) => x > 0) : undefined,
      };
      const lengths = new Set(rows.filter((r) => typeof r.latency_ms === 'number').map((r) => r.latency_seq_len));
      if (budget.maxLatencyMs !== undefined && lengths.size > 1) {
        warn(`the latencies were measured at different sequence lengths (${[...lengths].join(', ')} tokens): re-time the outputs together ` +
          'with `tlc bench latency <dirs> --write` before comparing them');
      }
      const choice = budget.maxBytes !== undefined || budget.maxLatencyMs !== undefined ? chooseWithin(table, budget) : null;
      const outDir = o.out ?? dirs[0];
      const write = (): void => {
        makeDirs(outDir);
        writePareto(outDir, table, choice, { max_bytes: budget.maxBytes, max_latency_ms: budget.maxLatencyMs });
      };
      // beside the compression output it reads (the default), or in a directory of its own
      if (o.out === undefined || dirs.some((d) => resolve(d) === resolve(outDir))) write();
      else await withOutputDir(outDir, 'pareto', { force: o.force, lock: true }, write);
      if (o.json) {
        process.stdout.write(JSON.stringify({ rows: table, choice, budget: { max_bytes: budget.maxBytes, max_latency_ms: budget.maxLatencyMs } }) + '\n');
        return;
      }
      printTable(table);
      if (choice) console.log(`\n${choice.row ? 'choice: ' : ''}${choice.reason}`);
      console.log(`\nwritten: ${join(outDir, PARETO_FILES.json)}, ${join(outDir, PARETO_FILES.csv)}`);
    });
}

function printTable(rows: ReturnType<typeof paretoFrontier>): void {
  console.log('| model | method | pruned | bits | bytes | kernels | latency | accuracy | macro-F1 | frontier |\n|---|---|---:|---:|---:|---|---:|---:|---:|:---:|');
  for (const r of rows) {
    const pruned = r.structured ? `${structuredText(r)} (${((r.params_kept ?? r.params) / 1e6).toFixed(2)}M kept)` : `${r.sparsity}`;
    const method = r.mode === 'oneshot' ? 'one-shot' : `${r.mode}${r.qat ? ' + QAT' : ''}`;
    console.log(`| ${describe(r).split(' (')[0]} (${(r.params / 1e6).toFixed(1)}M) | ${method} | ${pruned} | ${r.bits} | ${formatBytes(r.bytes)} | ` +
      `${r.kernels ?? '-'} | ${r.latency_ms == null ? '-' : r.latency_ms.toFixed(2) + ' ms'} | ` +
      `${r.accuracy === null ? '-' : (100 * r.accuracy).toFixed(1) + '%'} | ${r.macro_f1 === null ? '-' : (100 * r.macro_f1).toFixed(1) + '%'} | ${r.on_frontier ? '●' : ''} |`);
  }
}
