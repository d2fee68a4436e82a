// Flag parsing and run plumbing shared by the commands.
import { joinDataParallel, type DataParallel } from '../train/data-parallel.js';
import { Option, type Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { formatSeconds } from '../train/budget.js';
import type { LoopEvents } from '../train/loop.js';
import { SHARED_DEFAULTS, TRAINING_DEFAULTS } from '../train/args.js';
import { SCHEDULES } from '../train/schedule.js';
import { PRECISIONS } from '../engine/mixed.js';
import { progress } from '../util/progress.js';

export function required(v: string | undefined, flag: string): string {
  if (!v) throw new TlcError(`missing ${flag}`);
  return v;
}

export function num(v: string, flag: string, check: (x: number) => boolean = Number.isFinite, expected?: string): number {
  const x = Number(v);
  if (v.trim() === '' || !check(x)) throw new TlcError(`invalid ${flag} "${v}"${expected ? `: expected ${expected}` : ''}`);
  return x;
}

/** A --max-len: whole examples of at least <s>, two tokens and </s>, as finetuning takes them. */
export const exampleLength = (v: string): number =>
  num(v, '--max-len', (x) => Number.isInteger(x) && x >= 4, 'a whole number of at least 4 tokens (<s>, two tokens, </s>)');

export const positiveInt = (x: number): boolean => Number.isInteger(x) && x >= 1;

/** A --seed value: an integer in [0, 2^31 − 1], as the training commands' schema takes it (seeds are mixed into 32-bit streams). */
export function seedFlag(v: string, flag = '--seed'): number {
  const x = Number(v);
  if (v.trim() === '' || !(Number.isInteger(x) && x >= 0 && x <= 2 ** 31 - 1)) throw new TlcError(`invalid ${flag} "${v}": must be an integer from 0 to 2147483647`);
  return x;
}

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Budget, batching, optimizer and checkpoint flags common to the training commands. They
 * carry no commander defaults: the family's schema (src/train/args.ts) fills those in, and
 * the help shows them from there.
 */
export function addTrainingFlags(cmd: Command, family: keyof typeof TRAINING_DEFAULTS): Command {
  const d = { ...SHARED_DEFAULTS, ...TRAINING_DEFAULTS[family] };
  return addBudgetFlags(cmd)
    .option('--batch-size <n>', `sequences per optimizer step (default: ${d.batch_size})`)
    .option('--micro-batch-size <n>', 'sequences per forward/backward (gradient accumulation) (default: the batch size)')
    .option('--lr <x>', `peak learning rate (default: ${d.lr})`)
    .option('--warmup <fraction>', `warmup as a fraction of the budget (default: ${d.warmup})`)
    .addOption(new Option('--schedule <kind>', 'learning rate after warmup: linear or cosine decay to zero at the end of the budget, ' +
      `constant, or wsd (constant, with cooldown branches; pretrain) (default: ${d.schedule})`).choices(SCHEDULES))
    .option('--weight-decay <x>', `AdamW decoupled weight decay (default: ${d.weight_decay})`)
    .option('--betas <b1,b2>', `AdamW betas (default: ${d.betas.join(',')})`)
    .option('--eps <x>', `AdamW epsilon (default: ${d.eps})`)
    .option('--clip <x>', `max global gradient norm, 0 = off (default: ${d.clip})`)
    .option('--dropout <p>', 'dropout probability (default: the model config)')
    .option('--seed <n>', `random seed: init, data order, masking, dropout (default: ${d.seed})`)
    .option('--eval-every <steps|duration|fraction>',
      `evaluate every N steps, every duration of training (30s), or every fraction of the budget (default: ${d.eval_every})`)
    .option('--save-every <steps|duration|fraction>', `checkpoint every N steps, duration, or budget fraction (default: ${d.save_every})`)
    .option('--keep <k>', `periodic checkpoints to keep (default: ${d.keep})`)
    .addOption(new Option('--precision <p>', 'matrix products in f32, in bf16 with f32 accumulation (f32 master weights), ' +
      `or auto: bf16 where the CPU has native bf16 dot products (AVX512-BF16, AMX) (default: ${d.precision})`).choices(PRECISIONS))
    .option('--resume [run]', 'continue the run in <run> (or --out) from its last checkpoint, with the options it was started with');
}

/** The four ways to give a training budget; exactly one is used. */
export function addBudgetFlags(cmd: Command, what = 'training'): Command {
  return cmd
    .option('--budget <duration>', `${what} wall-clock budget, e.g. 90s, 10m, 2h`)
    .option('--tokens <n>', `${what} token budget, e.g. 5M`)
    .option('--steps <n>', `${what} optimizer-step budget`)
    .option('--flops <n>', `${what} FLOP budget (6·N + 12·L·T·d per token), e.g. 1e15`);
}

/** Flags that are not options of the run itself. */
const NOT_RUN_OPTIONS = new Set(['out', 'resume', 'threads']);

/** Commander's values (camelCase keys) as a schema's options (snake_case keys): only the flags given. */
export function optionsFromFlags(flags: Record<string, unknown>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined && !NOT_RUN_OPTIONS.has(key)) options[snake(key)] = value;
  }
  return options;
}


/**
 * Runs `fn` with SIGINT/SIGTERM turned into a graceful stop: the loop finishes its
 * step, saves a checkpoint and returns; a second signal quits at once. A stopped command
 * exits 130 (SIGINT) or 143 (SIGTERM), as a shell expects, so `tlc pretrain && tlc finetune`
 * does not go on with a half-trained model.
 */
export async function withGracefulStop<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let exitCode = 0;
  const stop = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGTERM' ? 143 : 130;
    if (controller.signal.aborted) process.exit(code);
    exitCode = code;
    process.stderr.write('\ntlc: stopping after this step and saving a checkpoint; an evaluation under way stops now and is done ' +
      'again on resume (press Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    if (exitCode) process.exitCode = exitCode;
  }
}

/**
 * The part this process plays in a training command: alone, or one rank of an MPI job
 * (`mpirun -np N tlc pretrain ...`, src/train/data-parallel.ts). Only the leader (rank 0,
 * or the lone process) shows progress, claims the output directory and prints the result.
 */
export function trainingRole(): { dp: DataParallel | null; leader: boolean; leave(): void } {
  const dp = joinDataParallel();
  return { dp, leader: dp === null || dp.rank === 0, leave: () => dp?.finalize() };
}

/**
 * Progress display for a training loop: step, loss, validation metric, speed, time left; `job`,
 * where the loop is one part of a larger job, is told the seconds trained since its last call and
 * says how far the whole job is.
 */
export function progressEvents(label: string, validKey: string, job?: (trainedSeconds: number) => string | null): LoopEvents & { finish(): void } {
  let bar: ReturnType<typeof progress> | null = null;
  let lastValid = NaN;
  let trainedSeen: number | null = null; // a resumed loop's first report carries the training of earlier processes
  let firstSeen: { seconds: number; progress: number } | null = null; // the pace is this process's, not an earlier one's
  return {
    onStart(info) {
      bar?.done(); // a wsd run's branches start one after another
      trainedSeen = null;
      firstSeen = null;
      process.stderr.write(`tlc ${label}: ${(info.params / 1e6).toFixed(2)}M parameters, budget ${info.budget}` +
        (info.resumed ? `, resuming at step ${info.step}` : '') + '\n');
      // on a narrow terminal the learning rate goes first, then speed and step: never the losses or the time left
      bar = progress({
        label, total: 100, intervalMs: 5000, rate: false, describe: (v) => `${v.toFixed(1)}% of budget`, dropFirst: ['lr', 'tok/s', 'step'],
      });
    },
    onStep(info) {
      const trained = trainedSeen === null ? 0 : info.usage.trainSeconds - trainedSeen;
      trainedSeen = info.usage.trainSeconds;
      firstSeen ??= { seconds: info.usage.trainSeconds, progress: info.progress };
      const paced = info.progress > firstSeen.progress && info.usage.trainSeconds > firstSeen.seconds;
      const perProgress = paced ? (info.usage.trainSeconds - firstSeen.seconds) / (info.progress - firstSeen.progress)
        : info.progress > 0 ? info.usage.trainSeconds / info.progress : NaN;
      bar?.update(Math.round(info.progress * 1000) / 10, {
        step: info.step, loss: info.loss.toFixed(3), [validKey.replace(/^valid_/, 'valid ')]: Number.isNaN(lastValid) ? '-' : lastValid.toFixed(3),
        'tok/s': Math.round(info.tokensPerS), lr: info.lr.toExponential(2),
        // training time still to spend, extrapolated from this process's pace for non-time budgets
        left: Number.isFinite(perProgress) ? formatSeconds(perProgress * (1 - info.progress)) : '-',
        ...(job ? { job: job(trained) ?? '-' } : {}),
      });
    },
    onEval(info) {
      lastValid = info.metrics[validKey];
    },
    finish() {
      bar?.done();
    },
  };
}
