// `tlc pretrain`: flags → PretrainArgs, progress display, SIGINT/SIGTERM → checkpoint and stop.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { parseModelConfig, presetConfig, readModelConfig, type ModelConfig } from '../nn/config.js';
import { budgetFromFlags, formatSeconds } from '../train/budget.js';
import { dataVocabSize, pretrain, resumePretrain, type PretrainArgs } from '../train/pretrain.js';
import { DEFAULT_BLEU_PAIRS, DEFAULT_LABEL_SMOOTHING } from '../train/translation.js';
import { addTrainingFlags, num, optimizerFromFlags, positiveInt, progressEvents, required, resumeDir, withGracefulStop,
  type TrainingFlags } from './common.js';

interface PretrainFlags extends TrainingFlags {
  data?: string;
  model?: string;
  objective?: 'mlm' | 'clm' | 'seq2seq';
  norm?: 'pre' | 'post';
  seqLen: string;
  evalTokens: string;
  saveAt: string;
  labelSmoothing?: string;
  bleuPairs?: string;
}

export function registerPretrain(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description('pretrain a Transformer LM (masked or causal) on prepared token shards, or train an encoder–decoder on prepared translation pairs, under a budget')
    .option('--data <dir>', 'prepared data directory (from `tlc data prepare`; for seq2seq, `tlc data prepare --task translation`)')
    .option('--model <preset|config.json>', 'model shape: a preset like L4-D256 (for seq2seq: L encoder and L decoder layers), or a config.json')
    .option('--objective <mlm|clm|seq2seq>', 'masked LM (RoBERTa-style), causal LM (GPT-2-style) or encoder–decoder translation')
    .option('--norm <pre|post>', 'pre-LN (default) or post-LN blocks')
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--seq-len <n>', 'tokens per sequence (seq2seq: most tokens per source and per target; longer ones are cut)', '128')
    .option('--eval-tokens <n>', 'validation tokens per evaluation', '65536')
    .option('--label-smoothing <x>', 'seq2seq: ε of the label-smoothed cross-entropy (default 0.1)')
    .option('--bleu-pairs <n>', 'seq2seq: validation pairs translated (greedy) for BLEU at each evaluation; 0 = none (default 200)')
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
        `(perplexity ${Math.exp(result.finalValidLoss).toFixed(2)})` +
        (result.finalValidBleu !== undefined ? `, BLEU ${result.finalValidBleu.toFixed(2)}` : '') + `; run in ${result.runDir}` +
        (result.interrupted ? ' — continue with --resume' : ''));
    });
}

function modelFromFlags(flags: PretrainFlags, dataDir: string, seqLen: number): ModelConfig {
  const spec = required(flags.model, '--model');
  const overrides: Partial<ModelConfig> = {};
  if (flags.objective) {
    if (!['mlm', 'clm', 'seq2seq'].includes(flags.objective)) throw new TlcError(`invalid --objective "${flags.objective}": use mlm, clm or seq2seq`);
    overrides.objective = flags.objective;
  }
  if (flags.norm) overrides.norm = flags.norm;
  if (flags.dropout !== undefined) overrides.dropout = num(flags.dropout, '--dropout', (x) => x >= 0 && x < 1);
  if (spec.endsWith('.json') || existsSync(spec)) {
    const config = parseModelConfig({ ...readModelConfig(spec), ...overrides }, spec);
    dataVocabSize(dataDir, config.objective); // a bad --data fails now, before the run directory is made
    return config;
  }
  const objective = overrides.objective ?? 'mlm';
  const activation = objective === 'clm' ? 'gelu_tanh' : 'gelu';
  return presetConfig(spec, { vocab_size: dataVocabSize(dataDir, objective), max_len: Math.max(seqLen, 128), activation, ...overrides });
}

function argsFromFlags(flags: PretrainFlags): PretrainArgs {
  const dataDir = required(flags.data, '--data');
  const seqLen = num(flags.seqLen, '--seq-len', (x) => Number.isInteger(x) && x >= 2);
  const model = modelFromFlags(flags, dataDir, seqLen);
  const seq2seq = model.objective === 'seq2seq';
  return {
    dataDir,
    model,
    budget: budgetFromFlags(flags),
    seqLen,
    ...optimizerFromFlags(flags),
    evalTokens: num(flags.evalTokens, '--eval-tokens', positiveInt),
    saveAt: flags.saveAt ? flags.saveAt.split(',').map((f) => num(f, '--save-at', (x) => x > 0 && x <= 1)) : [],
    ...seq2seqFlags(flags, seq2seq),
  };
}

function seq2seqFlags(flags: PretrainFlags, seq2seq: boolean): Pick<PretrainArgs, 'labelSmoothing' | 'bleuPairs'> {
  if (!seq2seq) {
    for (const [value, flag] of [[flags.labelSmoothing, '--label-smoothing'], [flags.bleuPairs, '--bleu-pairs']] as const) {
      if (value !== undefined) throw new TlcError(`${flag} applies to --objective seq2seq only`);
    }
    return {};
  }
  return {
    labelSmoothing: num(flags.labelSmoothing ?? String(DEFAULT_LABEL_SMOOTHING), '--label-smoothing', (x) => x >= 0 && x < 1),
    bleuPairs: num(flags.bleuPairs ?? String(DEFAULT_BLEU_PAIRS), '--bleu-pairs', (x) => Number.isInteger(x) && x >= 0),
  };
}
