// `tlc pretrain`: flags → PretrainArgs, progress display, SIGINT/SIGTERM → checkpoint and stop.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { presetConfig, readModelConfig, type ModelConfig } from '../nn/config.js';
import { openShards } from '../data/shards.js';
import { budgetFromFlags, formatSeconds } from '../train/budget.js';
import { pretrain, resumePretrain, type PretrainArgs } from '../train/pretrain.js';
import { addTrainingFlags, num, optimizerFromFlags, positiveInt, progressEvents, required, resumeDir, withGracefulStop,
  type TrainingFlags } from './common.js';

interface PretrainFlags extends TrainingFlags {
  data?: string;
  model?: string;
  objective?: 'mlm' | 'clm';
  norm?: 'pre' | 'post';
  seqLen: string;
  evalTokens: string;
  saveAt: string;
}

export function registerPretrain(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description('pretrain a Transformer LM (masked or causal) on prepared token shards under a budget')
    .option('--data <dir>', 'prepared data directory (from `tlc data prepare`)')
    .option('--model <preset|config.json>', 'model shape: a preset like L4-D256, or a config.json')
    .option('--objective <mlm|clm>', 'masked LM (RoBERTa-style) or causal LM (GPT-2-style)')
    .option('--norm <pre|post>', 'pre-LN (default) or post-LN blocks')
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--seq-len <n>', 'tokens per sequence', '128')
    .option('--eval-tokens <n>', 'validation tokens per evaluation', '65536')
    .option('--save-at <fractions>', 'extra checkpoints kept at these budget fractions, e.g. 0.5,0.75,1', '');
  addTrainingFlags(cmd, { lr: '1e-3', batchSize: '32', evalEvery: '0.1', keep: '3' });
  cmd
    .action(async (flags: PretrainFlags) => {
      const events = progressEvents('pretrain', 'valid_loss');
      const dir = resumeDir(flags);
      const result = await withGracefulStop((signal) => dir
        ? resumePretrain(dir, events, signal)
        : pretrain(required(flags.out, '--out'), argsFromFlags(flags), events, signal));
      events.finish();
      const u = result.usage;
      console.log(`${result.interrupted ? 'interrupted' : 'finished'}: ${result.steps} steps, ${u.tokens.toLocaleString()} tokens, ` +
        `${formatSeconds(u.trainSeconds)} of training; validation loss ${result.finalValidLoss.toFixed(4)} ` +
        `(perplexity ${Math.exp(result.finalValidLoss).toFixed(2)}); run in ${result.runDir}` +
        (result.interrupted ? ' — continue with --resume' : ''));
    });
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
  return {
    dataDir,
    model: modelFromFlags(flags, meta.vocab_size, seqLen),
    budget: budgetFromFlags(flags),
    seqLen,
    ...optimizerFromFlags(flags),
    evalTokens: num(flags.evalTokens, '--eval-tokens', positiveInt),
    saveAt: flags.saveAt ? flags.saveAt.split(',').map((f) => num(f, '--save-at', (x) => x > 0 && x <= 1)) : [],
  };
}
