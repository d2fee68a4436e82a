// `tlc pretrain`: flags → PretrainArgs, progress display, SIGINT/SIGTERM → checkpoint and stop.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { presetConfig, readModelConfig, type ModelConfig } from '../nn/config.js';
import { openShards } from '../data/shards.js';
import { budgetFromFlags, formatSeconds, parseDuration } from '../train/budget.js';
import { pretrain, resumePretrain, type Interval, type PretrainArgs, type PretrainEvents } from '../train/pretrain.js';
import { progress } from '../util/progress.js';

interface PretrainFlags {
  data?: string;
  model?: string;
  objective?: 'mlm' | 'clm';
  out?: string;
  budget?: string;
  tokens?: string;
  steps?: string;
  flops?: string;
  batchSize: string;
  microBatchSize?: string;
  seqLen: string;
  lr: string;
  warmup: string;
  decay: 'linear' | 'cosine' | 'constant';
  weightDecay: string;
  clip: string;
  dropout?: string;
  seed: string;
  evalEvery: string;
  evalTokens: string;
  saveEvery: string;
  saveAt: string;
  keep: string;
  resume?: string | boolean;
  norm?: 'pre' | 'post';
}

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('pretrain a Transformer LM (masked or causal) on prepared token shards under a budget')
    .option('--data <dir>', 'prepared data directory (from `tlc data prepare`)')
    .option('--model <preset|config.json>', 'model shape: a preset like L4-D256, or a config.json')
    .option('--objective <mlm|clm>', 'masked LM (RoBERTa-style) or causal LM (GPT-2-style)')
    .option('--norm <pre|post>', 'pre-LN (default) or post-LN blocks')
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--budget <duration>', 'training wall-clock budget, e.g. 90s, 10m, 2h')
    .option('--tokens <n>', 'token budget, e.g. 5M')
    .option('--steps <n>', 'optimizer-step budget')
    .option('--flops <n>', 'FLOP budget (6·N + 12·L·T·d per token), e.g. 1e15')
    .option('--batch-size <n>', 'sequences per optimizer step', '32')
    .option('--micro-batch-size <n>', 'sequences per forward/backward (gradient accumulation); default = batch size')
    .option('--seq-len <n>', 'tokens per sequence', '128')
    .option('--lr <x>', 'peak learning rate', '1e-3')
    .option('--warmup <fraction>', 'warmup as a fraction of the budget', '0.06')
    .option('--decay <linear|cosine|constant>', 'decay to zero at the end of the budget', 'linear')
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', '0.01')
    .option('--clip <x>', 'max global gradient norm (0 = off)', '1.0')
    .option('--dropout <p>', 'dropout probability (default: the model config, 0.1)')
    .option('--seed <n>', 'random seed (init, data order, masking, dropout)', '0')
    .option('--eval-every <steps|duration|fraction>', 'evaluate every N steps, every duration of training (30s), or every fraction of the budget (0.1)', '0.1')
    .option('--eval-tokens <n>', 'validation tokens per evaluation', '65536')
    .option('--save-every <steps|duration|fraction>', 'checkpoint every N steps, duration, or budget fraction', '0.1')
    .option('--save-at <fractions>', 'extra checkpoints kept at these budget fractions, e.g. 0.5,0.75,1', '')
    .option('--keep <k>', 'periodic checkpoints to keep', '3')
    .option('--resume [run]', 'continue the run in <run> (or --out) from its last checkpoint, same budget')
    .action(async (flags: PretrainFlags) => {
      const controller = new AbortController();
      const stop = (): void => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('\ntlc: stopping after this step and saving a checkpoint (press Ctrl-C again to quit now)\n');
        controller.abort();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      const events = progressEvents();
      let result;
      if (flags.resume !== undefined) {
        const dir = typeof flags.resume === 'string' ? flags.resume : flags.out;
        if (!dir) throw new TlcError('--resume needs a run directory: --resume <run> or --out <run>');
        result = await resumePretrain(dir, events, controller.signal);
      } else {
        result = await pretrain(required(flags.out, '--out'), argsFromFlags(flags), events, controller.signal);
      }
      events.finish();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      const u = result.usage;
      console.log(`${result.interrupted ? 'interrupted' : 'finished'}: ${result.steps} steps, ${u.tokens.toLocaleString()} tokens, ` +
        `${formatSeconds(u.trainSeconds)} of training; validation loss ${result.finalValidLoss.toFixed(4)} ` +
        `(perplexity ${Math.exp(result.finalValidLoss).toFixed(2)}); run in ${result.runDir}` +
        (result.interrupted ? ' — continue with --resume' : ''));
    });
}

function required(v: string | undefined, flag: string): string {
  if (!v) throw new TlcError(`missing ${flag}`);
  return v;
}

function num(v: string, flag: string, check: (x: number) => boolean = Number.isFinite): number {
  const x = Number(v);
  if (v.trim() === '' || !check(x)) throw new TlcError(`invalid ${flag} "${v}"`);
  return x;
}

export function parseInterval(v: string, flag: string): Interval {
  if (/^\d+$/.test(v)) return { kind: 'steps', value: num(v, flag, (x) => x >= 1) };
  if (/^0?\.\d+$|^1(\.0+)?$/.test(v)) return { kind: 'fraction', value: Number(v) };
  try {
    return { kind: 'seconds', value: parseDuration(v) };
  } catch {
    throw new TlcError(`invalid ${flag} "${v}": use a step count (200), a duration (30s, 5m) or a budget fraction (0.1)`);
  }
}

function modelFromFlags(flags: PretrainFlags, vocabSize: number, seqLen: number): ModelConfig {
  const spec = required(flags.model, '--model');
  const overrides: Partial<ModelConfig> = {};
  if (flags.objective) {
    if (!['mlm', 'clm'].includes(flags.objective)) throw new TlcError(`invalid --objective "${flags.objective}": use mlm or clm`);
    overrides.objective = flags.objective;
  }
  if (flags.norm) overrides.norm = flags.norm;
  if (flags.dropout !== undefined) overrides.dropout = num(flags.dropout, '--dropout', (x) => x >= 0 && x < 1);
  if (spec.endsWith('.json') || existsSync(spec)) {
    const fromFile = readModelConfig(spec);
    return { ...fromFile, ...overrides };
  }
  const activation = (overrides.objective ?? 'mlm') === 'clm' ? 'gelu_tanh' : 'gelu';
  return presetConfig(spec, { vocab_size: vocabSize, max_len: Math.max(seqLen, 128), activation, ...overrides });
}

function argsFromFlags(flags: PretrainFlags): PretrainArgs {
  const dataDir = required(flags.data, '--data');
  const meta = openShards(dataDir).meta;
  const seqLen = num(flags.seqLen, '--seq-len', (x) => Number.isInteger(x) && x >= 2);
  const batchSize = num(flags.batchSize, '--batch-size', (x) => Number.isInteger(x) && x >= 1);
  const clip = num(flags.clip, '--clip', (x) => x >= 0);
  return {
    dataDir,
    model: modelFromFlags(flags, meta.vocab_size, seqLen),
    budget: budgetFromFlags(flags),
    batchSize,
    microBatchSize: flags.microBatchSize ? num(flags.microBatchSize, '--micro-batch-size', (x) => Number.isInteger(x) && x >= 1) : batchSize,
    seqLen,
    schedule: { peakLr: num(flags.lr, '--lr', (x) => x > 0), warmup: num(flags.warmup, '--warmup', (x) => x >= 0 && x < 1), decay: checkDecay(flags.decay) },
    weightDecay: num(flags.weightDecay, '--weight-decay', (x) => x >= 0),
    betas: [0.9, 0.98],
    eps: 1e-6,
    maxGradNorm: clip > 0 ? clip : null,
    seed: num(flags.seed, '--seed', Number.isInteger),
    evalEvery: parseInterval(flags.evalEvery, '--eval-every'),
    evalTokens: num(flags.evalTokens, '--eval-tokens', (x) => Number.isInteger(x) && x >= 1),
    saveEvery: parseInterval(flags.saveEvery, '--save-every'),
    saveAt: flags.saveAt ? flags.saveAt.split(',').map((f) => num(f, '--save-at', (x) => x > 0 && x <= 1)) : [],
    keep: num(flags.keep, '--keep', (x) => Number.isInteger(x) && x >= 1),
  };
}

function checkDecay(d: string): 'linear' | 'cosine' | 'constant' {
  if (d !== 'linear' && d !== 'cosine' && d !== 'constant') throw new TlcError(`invalid --decay "${d}": use linear, cosine or constant`);
  return d;
}

function progressEvents(): PretrainEvents & { finish(): void } {
  let bar: ReturnType<typeof progress> | null = null;
  let lastValid = NaN;
  return {
    onStart(info) {
      process.stderr.write(`tlc pretrain: ${(info.params / 1e6).toFixed(2)}M parameters, budget ${info.budget}` +
        (info.resumed ? `, resuming at step ${info.step}` : '') + '\n');
      bar = progress({ label: 'pretrain', total: 100, unit: '% of budget', intervalMs: 5000 });
    },
    onStep(info) {
      bar?.update(Math.round(info.progress * 1000) / 10, {
        step: info.step, loss: info.loss.toFixed(3), valid: Number.isNaN(lastValid) ? '-' : lastValid.toFixed(3),
        'tok/s': Math.round(info.tokensPerS), lr: info.lr.toExponential(2),
        // training time still to spend, extrapolated from the pace so far for non-time budgets
        left: info.progress > 0 ? formatSeconds(info.usage.trainSeconds * (1 - info.progress) / info.progress) : '-',
      });
    },
    onEval(info) {
      lastValid = info.metrics.valid_loss;
    },
    finish() {
      bar?.done();
    },
  };
}
