// `tlc finetune` and `tlc evaluate`: classifiers on pretrained runs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { TlcError } from '../engine/errors.js';
import { budgetFromFlags, formatSeconds } from '../train/budget.js';
import { finetune, resumeFinetune, summary, taskForRun, type FinetuneArgs } from '../train/finetune.js';
import { evaluateClassifier } from '../train/classify.js';
import { readModelConfig } from '../nn/config.js';
import { TransformerClassifier } from '../nn/classifier.js';
import { loadModelDir } from '../infer/load.js';
import { KERNEL_CHOICES, describePacking, packByChoice } from '../infer/pack.js';
import { addTrainingFlags, num, optimizerFromFlags, positiveInt, progressEvents, required, resumeDir, withGracefulStop,
  type TrainingFlags } from './common.js';

interface FinetuneFlags extends TrainingFlags {
  from?: string;
  task?: string;
  taskSeed: string;
  maxLen: string;
  maxExamples?: string;
  patience: string;
}

export function registerFinetune(program: Command): void {
  const cmd = program
    .command('finetune')
    .description('finetune a pretrained run as a sequence classifier on a labelled task, under a budget')
    .option('--from <run>', 'pretrained run directory')
    .option('--task <file|dir|example:NAME>', 'labelled data: JSONL/TSV/CSV with text[, text_pair], label; or example:brown-genre, example:spam')
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--max-len <n>', 'tokens per example including <s> and </s>; longer texts are truncated', '128')
    .option('--task-seed <n>', "seed of the task's train/valid/test split", '0')
    .option('--max-examples <n>', 'use at most this many examples (all splits together)')
    .option('--patience <n>', 'stop after this many evaluations without a better validation accuracy', '5');
  addTrainingFlags(cmd, { lr: '1e-4', batchSize: '32', evalEvery: '0.05', keep: '2' });
  cmd.action(async (flags: FinetuneFlags) => {
    const events = progressEvents('finetune', 'valid_accuracy');
    const dir = resumeDir(flags);
    const r = await withGracefulStop((signal) => dir
      ? resumeFinetune(dir, events, signal)
      : finetune(required(flags.out, '--out'), argsFromFlags(flags), events, signal));
    events.finish();
    if (r.interrupted || !r.test || !r.valid) {
      console.log(`interrupted after ${r.steps} steps; continue with --resume ${r.runDir}`);
      return;
    }
    console.log(`finished: ${r.steps} steps, ${formatSeconds(r.usage.trainSeconds)} of training${r.stoppedEarly ? ' (stopped early)' : ''}`);
    console.log(`best model on validation: accuracy ${pct(r.valid.accuracy)}, macro-F1 ${pct(r.valid.macroF1)}`);
    console.log(`test (${r.test.examples} examples): accuracy ${pct(r.test.accuracy)}, macro-F1 ${pct(r.test.macroF1)}; run in ${r.runDir}`);
  });

  program
    .command('evaluate <run>')
    .description('score a finetuned classifier on a labelled task (accuracy, macro-F1)')
    .requiredOption('--task <file|dir|example:NAME>', 'labelled data')
    .option('--split <name>', 'which split to score: test, valid or train', 'test')
    .option('--task-seed <n>', "seed of the task's split (default: as in finetuning)")
    .option('--max-len <n>', 'tokens per example (default: as in finetuning, or the model maximum)')
    .option('--kernel <name>', `inference kernels for the linear layers: ${KERNEL_CHOICES}`, 'auto')
    .option('--json', 'print one JSON object')
    .action(async (run: string, flags: { task: string; split: string; taskSeed?: string; maxLen?: string; kernel: string; json?: boolean }) => {
      if (!['test', 'valid', 'train'].includes(flags.split)) throw new TlcError(`invalid --split "${flags.split}": use test, valid or train`);
      const configPath = join(run, 'config.json');
      if (!existsSync(configPath)) throw new TlcError(`${run}: not a tlc run directory (config.json is missing)`);
      const config = readModelConfig(configPath);
      const { task, data } = await taskForRun(run, config, flags.task, {
        taskSeed: flags.taskSeed !== undefined ? num(flags.taskSeed, '--task-seed', Number.isInteger) : undefined,
        maxLen: flags.maxLen ? num(flags.maxLen, '--max-len', positiveInt) : undefined,
      });
      const { model, tensorBits } = loadModelDir(run);
      try {
        const packing = packByChoice(model, flags.kernel, tensorBits);
        const kernels = packing ? describePacking(packing) : 'reference (training path)';
        const e = evaluateClassifier(model as TransformerClassifier, data[flags.split as 'test' | 'valid' | 'train']);
        if (flags.json) {
          process.stdout.write(JSON.stringify({ run, task: task.name, split: flags.split, labels: config.labels, kernels, ...summary(e) }) + '\n');
          return;
        }
        console.log(`${task.name}, ${flags.split} split (${e.examples} examples), kernels ${kernels}: ` +
          `accuracy ${pct(e.accuracy)}, macro-F1 ${pct(e.macroF1)}, loss ${e.loss.toFixed(4)}`);
        console.log('| label | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|');
        e.perLabel.forEach((l, i) => console.log(`| ${config.labels![i]} | ${pct(l.precision)} | ${pct(l.recall)} | ${pct(l.f1)} | ${l.support} |`));
      } finally {
        model.dispose();
      }
    });
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function argsFromFlags(f: FinetuneFlags): FinetuneArgs {
  const opt = optimizerFromFlags(f);
  return {
    from: required(f.from, '--from'),
    task: required(f.task, '--task'),
    taskSeed: num(f.taskSeed, '--task-seed', Number.isInteger),
    maxExamples: f.maxExamples ? num(f.maxExamples, '--max-examples', positiveInt) : undefined,
    budget: budgetFromFlags(f),
    maxLen: num(f.maxLen, '--max-len', (x) => Number.isInteger(x) && x >= 4),
    dropout: f.dropout !== undefined ? num(f.dropout, '--dropout', (x) => x >= 0 && x < 1) : undefined,
    patience: num(f.patience, '--patience', positiveInt),
    ...opt,
  };
}
