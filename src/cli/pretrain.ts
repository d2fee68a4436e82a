// `tlc pretrain`: flags → options (src/train/args.ts), progress display, SIGINT/SIGTERM → checkpoint and stop.
import { TlcError } from '../util/errors.js';
import { Option, type Command } from 'commander';
import { formatSeconds } from '../train/budget.js';
import { pretrain, pretrainPlan, resumePretrain } from '../train/pretrain.js';
import { DEFAULT_BLEU_PAIRS, DEFAULT_LABEL_SMOOTHING, parseFlags, pretrainOptionsSchema, pretrainShape } from '../train/args.js';
import { withOutputDir } from '../run/ownership.js';
import { addTrainingFlags, optionsFromFlags, progressEvents, required, trainingRole, withGracefulStop } from './common.js';
import { resumeDir } from './resume-flags.js';
import { markRequired } from './help.js';

const d = pretrainOptionsSchema.parse({ data: '-', model: '-' });

export function registerPretrain(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description('pretrain a Transformer LM (masked or causal) on prepared token shards, or train an encoder–decoder on prepared translation pairs, under a budget')
    .option('--data <dir>', 'prepared data directory (from `tlc data prepare`; for seq2seq, `tlc data prepare --task translation`)')
    .option('--model <preset|config.json>', 'model shape: a preset like L4-D256 (for seq2seq: L encoder and L decoder layers), or a config.json')
    .addOption(new Option('--objective <kind>', 'masked LM (RoBERTa-style), causal LM (GPT-2-style) or encoder–decoder translation (default: mlm)')
      .choices(pretrainShape.objective.unwrap().options))
    .addOption(new Option('--norm <kind>', 'pre-LN (default) or post-LN blocks; a post-LN masked LM exports as Hugging Face RoBERTa, a pre-LN one to ONNX only').choices(pretrainShape.norm.unwrap().options))
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--seq-len <n>', `tokens per sequence; seq2seq: most tokens per source and per target, longer ones are cut (default: ${d.seq_len})`)
    .option('--eval-tokens <n>', `validation tokens per evaluation (default: ${d.eval_tokens})`)
    .option('--label-smoothing <x>', `seq2seq: ε of the label-smoothed cross-entropy (default: ${DEFAULT_LABEL_SMOOTHING})`)
    .option('--bleu-pairs <n>', `seq2seq: validation pairs translated (greedy) for BLEU at each evaluation; 0 = none (default: ${DEFAULT_BLEU_PAIRS})`)
    .option('--save-at <fractions>', 'extra checkpoints kept at these budget fractions, e.g. 0.5,0.75,1')
    .option('--branches <fractions>', 'wsd: cooldown branches fork from the trunk at these budget fractions, e.g. 0.125,0.25,0.5,1 (default: 1)')
    .option('--cooldown <fraction>', `wsd: each branch's cooldown, as a fraction of the training done when it forks (default: ${d.cooldown})`)
    .addOption(new Option('--cooldown-shape <shape>', `wsd: how the rate falls to zero in a branch (default: ${d.cooldown_shape})`)
      .choices(pretrainShape.cooldown_shape.unwrap().options))
  addTrainingFlags(cmd, 'pretrain');
  markRequired(cmd, ['--data', '--model', '--out'], '--resume');
  cmd
    .option('--force', 'start the run in an existing --out directory that holds something else')
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async ({ force, json, ...flags }: Record<string, unknown> & { out?: string; resume?: string | boolean; force?: boolean; json?: boolean }) => {
      const dir = resumeDir(flags, pretrainShape, 'pretrain');
      const role = trainingRole();
      const events = role.leader ? progressEvents('pretrain', 'valid_loss') : { finish() {} };
      const result = await withGracefulStop((signal) => {
        if (dir) return resumePretrain(dir.dir, events, signal, dir.extend);
        const out = required(flags.out, '--out');
        // the wsd flags shape its cooldown branches; under another schedule they would do nothing
        const wsdOnly = (['cooldown', 'cooldownShape'] as const).filter((k) => flags[k] !== undefined);
        if (wsdOnly.length > 0 && flags.schedule !== 'wsd') {
          const named = wsdOnly.map((k) => (k === 'cooldown' ? '--cooldown' : '--cooldown-shape'));
          throw new TlcError(`${named.join(' and ')} ${named.length > 1 ? 'shape' : 'shapes'} the cooldown branches of a wsd run: add --schedule wsd`);
        }
        const { options } = pretrainPlan(parseFlags(pretrainOptionsSchema, optionsFromFlags(flags)));
        if (!role.leader) return pretrain(out, options, events, signal);
        return withOutputDir(out, 'pretrain', { force }, () => pretrain(out, options, events, signal));
      });
      events.finish();
      role.leave();
      if (!role.leader) return;
      const u = result.usage;
      if (json) {
        process.stdout.write(JSON.stringify({
          run: result.runDir, interrupted: result.interrupted, steps: result.steps, tokens: u.tokens, train_seconds: u.trainSeconds, flops: u.flops,
          valid_loss: result.finalValidLoss, ...(result.finalValidBleu !== undefined ? { valid_bleu: result.finalValidBleu } : {}),
          branches: (result.branches ?? []).map((b) => ({
            fraction: b.fraction, run: b.dir, valid_loss: b.validLoss, tokens: b.usage.tokens, train_seconds: b.usage.trainSeconds, branch_train_seconds: b.cost.trainSeconds,
          })),
        }) + '\n');
        return;
      }
      console.log(`${result.interrupted ? 'interrupted' : 'finished'}: ${result.steps} steps, ${u.tokens.toLocaleString()} tokens, ` +
        `${formatSeconds(u.trainSeconds)} of training; validation loss ${result.finalValidLoss.toFixed(4)} ` +
        `(perplexity ${Math.exp(result.finalValidLoss).toFixed(2)})` +
        (result.finalValidBleu !== undefined ? `, BLEU ${result.finalValidBleu.toFixed(2)}` : '') + `; run in ${result.runDir}` +
        (result.interrupted ? ' — continue with --resume' : ''));
      for (const b of result.branches ?? []) {
        console.log(`cooldown branch at ${b.fraction} of the budget: validation loss ${b.validLoss.toFixed(4)} after ` +
          `${b.usage.tokens.toLocaleString()} tokens (${formatSeconds(b.usage.trainSeconds)} of training, ${formatSeconds(b.cost.trainSeconds)} of it in the branch); ${b.dir}`);
      }
    });
}
