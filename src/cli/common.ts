// Flag parsing and run plumbing shared by the training commands.
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { parseDuration, formatSeconds } from '../train/budget.js';
import type { Interval, LoopEvents } from '../train/loop.js';
import { progress } from '../util/progress.js';

export function required(v: string | undefined, flag: string): string {
  if (!v) throw new TlcError(`missing ${flag}`);
  return v;
}

export function num(v: string, flag: string, check: (x: number) => boolean = Number.isFinite): number {
  const x = Number(v);
  if (v.trim() === '' || !check(x)) throw new TlcError(`invalid ${flag} "${v}"`);
  return x;
}

export const positiveInt = (x: number): boolean => Number.isInteger(x) && x >= 1;

export function parseInterval(v: string, flag: string): Interval {
  if (/^\d+$/.test(v)) return { kind: 'steps', value: num(v, flag, (x) => x >= 1) };
  if (/^0?\.\d+$|^1(\.0+)?$/.test(v)) return { kind: 'fraction', value: Number(v) };
  try {
    return { kind: 'seconds', value: parseDuration(v) };
  } catch {
    throw new TlcError(`invalid ${flag} "${v}": use a step count (200), a duration (30s, 5m) or a budget fraction (0.1)`);
  }
}

export function checkDecay(d: string): 'linear' | 'cosine' | 'constant' {
  if (d !== 'linear' && d !== 'cosine' && d !== 'constant') throw new TlcError(`invalid --decay "${d}": use linear, cosine or constant`);
  return d;
}

/** Budget, schedule and checkpoint flags common to pretraining and finetuning. */
export function addTrainingFlags(cmd: Command, defaults: { lr: string; batchSize: string; evalEvery: string; keep: string }): Command {
  return cmd
    .option('--budget <duration>', 'training wall-clock budget, e.g. 90s, 10m, 2h')
    .option('--tokens <n>', 'token budget, e.g. 5M')
    .option('--steps <n>', 'optimizer-step budget')
    .option('--flops <n>', 'FLOP budget (6·N + 12·L·T·d per token), e.g. 1e15')
    .option('--batch-size <n>', 'sequences per optimizer step', defaults.batchSize)
    .option('--micro-batch-size <n>', 'sequences per forward/backward (gradient accumulation); default = batch size')
    .option('--lr <x>', 'peak learning rate', defaults.lr)
    .option('--warmup <fraction>', 'warmup as a fraction of the budget', '0.06')
    .option('--decay <linear|cosine|constant>', 'decay to zero at the end of the budget', 'linear')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', '0.01')
    .option('--clip <x>', 'max global gradient norm (0 = off)', '1.0')
    .option('--dropout <p>', 'dropout probability (default: the model config)')
    .option('--seed <n>', 'random seed (init, data order, masking, dropout)', '0')
    .option('--eval-every <steps|duration|fraction>', 'evaluate every N steps, every duration of training (30s), or every fraction of the budget (0.1)', defaults.evalEvery)
    .option('--save-every <steps|duration|fraction>', 'checkpoint every N steps, duration, or budget fraction', '0.1')
    .option('--keep <k>', 'periodic checkpoints to keep', defaults.keep)
    .option('--resume [run]', 'continue the run in <run> (or --out) from its last checkpoint, same budget');
}

export interface TrainingFlags {
  budget?: string;
  tokens?: string;
  steps?: string;
  flops?: string;
  batchSize: string;
  microBatchSize?: string;
  lr: string;
  warmup: string;
  decay: string;
  weightDecay: string;
  clip: string;
  dropout?: string;
  seed: string;
  evalEvery: string;
  saveEvery: string;
  keep: string;
  resume?: string | boolean;
  out?: string;
}

/** The optimizer and schedule part of the flags. */
export function optimizerFromFlags(f: TrainingFlags) {
  const batchSize = num(f.batchSize, '--batch-size', positiveInt);
  const clip = num(f.clip, '--clip', (x) => x >= 0);
  return {
    batchSize,
    microBatchSize: f.microBatchSize ? num(f.microBatchSize, '--micro-batch-size', positiveInt) : batchSize,
    schedule: { peakLr: num(f.lr, '--lr', (x) => x > 0), warmup: num(f.warmup, '--warmup', (x) => x >= 0 && x < 1), decay: checkDecay(f.decay) },
    weightDecay: num(f.weightDecay, '--weight-decay', (x) => x >= 0),
    betas: [0.9, 0.98] as [number, number],
    eps: 1e-6,
    maxGradNorm: clip > 0 ? clip : null,
    seed: num(f.seed, '--seed', Number.isInteger),
    evalEvery: parseInterval(f.evalEvery, '--eval-every'),
    saveEvery: parseInterval(f.saveEvery, '--save-every'),
    keep: num(f.keep, '--keep', positiveInt),
  };
}

/** The run directory to resume, when --resume was given. */
export function resumeDir(f: TrainingFlags): string | null {
  if (f.resume === undefined) return null;
  const dir = typeof f.resume === 'string' ? f.resume : f.out;
  if (!dir) throw new TlcError('--resume needs a run directory: --resume <run> or --out <run>');
  return dir;
}

/**
 * Runs `fn` with SIGINT/SIGTERM turned into a graceful stop: the loop finishes its
 * step, saves a checkpoint and returns; a second signal quits at once.
 */
export async function withGracefulStop<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ntlc: stopping after this step and saving a checkpoint (press Ctrl-C again to quit now)\n');
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Progress display for a training loop: step, loss, validation metric, speed, time left. */
export function progressEvents(label: string, validKey: string): LoopEvents & { finish(): void } {
  let bar: ReturnType<typeof progress> | null = null;
  let lastValid = NaN;
  return {
    onStart(info) {
      process.stderr.write(`tlc ${label}: ${(info.params / 1e6).toFixed(2)}M parameters, budget ${info.budget}` +
        (info.resumed ? `, resuming at step ${info.step}` : '') + '\n');
      bar = progress({ label, total: 100, intervalMs: 5000, rate: false, describe: (v) => `${v.toFixed(1)}% of budget` });
    },
    onStep(info) {
      bar?.update(Math.round(info.progress * 1000) / 10, {
        step: info.step, loss: info.loss.toFixed(3), [validKey.replace(/^valid_/, 'valid ')]: Number.isNaN(lastValid) ? '-' : lastValid.toFixed(3),
        'tok/s': Math.round(info.tokensPerS), lr: info.lr.toExponential(2),
        // training time still to spend, extrapolated from the pace so far for non-time budgets
        left: info.progress > 0 ? formatSeconds(info.usage.trainSeconds * (1 - info.progress) / info.progress) : '-',
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
