// `tlc finetune` and `tlc evaluate`: classifiers on pretrained runs.
import { Option, type Command } from 'commander';
import { formatSeconds } from '../train/budget.js';
import { finetune, finetunePlan, resumeFinetune, scoresOf } from '../train/finetune.js';
import { finetuneOptionsSchema, finetuneShape, parseFlags } from '../train/args.js';
import { evaluateClassifier } from '../train/classify.js';
import { readRunConfig } from '../run/pretrained.js';
import { finetunedTask, taskForRun } from '../run/task.js';
import { writeFileAtomic } from '../util/atomic.js';
import { hfModelDir } from '../import/import.js';
import { TlcError } from '../util/errors.js';
import { loadModelDir } from '../infer/load.js';
import { KERNEL_CHOICES } from '../infer/pack.js';
import { InferenceModel } from '../infer/inference-model.js';
import { checkOutputFile, withOutputDir } from '../run/ownership.js';
import { warnIfUnfinished } from '../run/unfinished.js';
import { addTrainingFlags, exampleLength, num, optionsFromFlags, progressEvents, required, trainingRole, withGracefulStop } from './common.js';
import { resumeDir } from './resume-flags.js';
import { markRequired } from './help.js';

const d = finetuneOptionsSchema.parse({ from: '-', task: '-' });

export function registerFinetune(program: Command): void {
  const cmd = program
    .command('finetune')
    .description('finetune a pretrained run as a sequence classifier on a labelled task, under a budget')
    .option('--from <run>', 'pretrained run directory (or a finetuned classifier of the same task, to finetune further)')
    .option('--task <file|dir|example:NAME>', 'labelled data: JSONL/TSV/CSV with text[, text_pair], label; or example:brown-genre, example:spam')
    .option('--out <run>', 'run directory to create (or to resume with --resume)')
    .option('--max-len <n>', `tokens per example including <s> and </s>; longer texts are truncated (default: ${d.max_len})`)
    .option('--task-seed <n>', `seed of the task's train/valid/test split (default: ${d.task_seed})`)
    .option('--max-examples <n>', 'use at most this many examples (all splits together)')
    .option('--patience <n>', `stop after this many evaluations without a better validation accuracy (default: ${d.patience})`);
  addTrainingFlags(cmd, 'finetune');
  markRequired(cmd, ['--from', '--task', '--out'], '--resume');
  cmd.option('--force', 'start the run in an existing --out directory that holds something else');
  cmd.option('--json', 'print the result as one JSON object on stdout');
  cmd.action(async ({ force, json, ...flags }: Record<string, unknown> & { out?: string; resume?: string | boolean; force?: boolean; json?: boolean }) => {
    const dir = resumeDir(flags, finetuneShape, 'finetune');
    const role = trainingRole();
    const events = role.leader ? progressEvents('finetune', 'valid_accuracy') : { finish() {} };
    const r = await withGracefulStop((signal) => {
      if (dir) return resumeFinetune(dir.dir, events, signal, undefined, dir.extend);
      const out = required(flags.out, '--out');
      const { options } = finetunePlan(parseFlags(finetuneOptionsSchema, optionsFromFlags(flags)));
      // the default is cut to the model's positions; a length asked for is not
      const positions = flags.maxLen !== undefined ? readRunConfig(hfModelDir(options.from)).max_len : Infinity;
      if (options.max_len > positions) {
        throw new TlcError(`--max-len ${options.max_len} is beyond the ${positions} positions of ${options.from}'s model: give at most ${positions}`);
      }
      if (!role.leader) return finetune(out, options, events, signal);
      warnIfUnfinished(options.from);
      return withOutputDir(out, 'finetune', { force }, () => finetune(out, options, events, signal));
    });
    events.finish();
    role.leave();
    if (!role.leader) return;
    if (json) {
      process.stdout.write(JSON.stringify({
        run: r.runDir, interrupted: r.interrupted, steps: r.steps, train_seconds: r.usage.trainSeconds, stopped_early: r.stoppedEarly, labels: r.labels,
        valid: r.valid ? scoresOf(r.valid) : null, test: r.test ? scoresOf(r.test) : null,
      }) + '\n');
      return;
    }
    if (r.interrupted || !r.test || !r.valid) {
      console.log(`interrupted after ${r.steps} steps; continue with --resume ${r.runDir}`);
      return;
    }
    console.log(`finished: ${r.steps} steps, ${formatSeconds(r.usage.trainSeconds)} of training${r.stoppedEarly ? ' (stopped early)' : ''}`);
    console.log(`best model on validation: accuracy ${pct(r.valid.accuracy)}, macro-F1 ${pct(r.valid.macroF1)}`);
    console.log(`test (${r.test.examples} examples): accuracy ${pct(r.test.accuracy)}, macro-F1 ${pct(r.test.macroF1)}; run in ${r.runDir}`);
  });

  registerEvaluate(program);
}

function registerEvaluate(program: Command): void {
  program
    .command('evaluate <run>')
    .description('score a finetuned classifier on a labelled task (accuracy, macro-F1)')
    .option('--task <file|dir|example:NAME>', 'labelled data (default: the task the run was finetuned on)')
    .addOption(new Option('--split <name>', 'which split to score').choices(['test', 'valid', 'train']).default('test'))
    .option('--task-seed <n>', "seed of the task's split (default: as in finetuning)")
    .option('--max-len <n>', 'tokens per example (default: as in finetuning, or the model maximum)')
    .option('--kernel <name>', `inference kernels for the linear layers: ${KERNEL_CHOICES}`, 'auto')
    .option('--predictions <file.jsonl>', "also write each example's gold and predicted label, one JSON object per line")
    .option('--json', 'print one JSON object')
    .action(async (given: string, flags: { task?: string; predictions?: string; split: 'test' | 'valid' | 'train'; taskSeed?: string; maxLen?: string; kernel: string; json?: boolean }) => {
      const run = hfModelDir(given);
      warnIfUnfinished(run);
      const config = readRunConfig(run);
      const taskSpec = flags.task ?? finetunedTask(run).task;
      if (taskSpec === undefined) throw new TlcError(`${run} does not record the task it was finetuned on: name it with --task`);
      // checked before anything is computed: the predictions never land on the run's files or the task's
      if (flags.predictions) checkOutputFile(flags.predictions, '--predictions', [taskSpec]);
      const { task, data } = await taskForRun(run, config, taskSpec, {
        taskSeed: flags.taskSeed !== undefined ? num(flags.taskSeed, '--task-seed', Number.isInteger) : undefined,
        maxLen: flags.maxLen ? exampleLength(flags.maxLen) : undefined,
      });
      const { model, tensorBits, tensorKernels } = loadModelDir(run);
      try {
        const served = InferenceModel.byChoice(model, flags.kernel, tensorBits, tensorKernels);
        const kernels = served.kernels;
        let e;
        try {
          e = evaluateClassifier(served.classifier, data[flags.split]);
        } finally {
          served.dispose();
        }
        const labels = config.labels!;
        if (flags.predictions) {
          const examples = task.splits[flags.split];
          writeFileAtomic(flags.predictions, examples.map((x, i) => JSON.stringify({
            ...(x.id !== undefined ? { id: x.id } : {}), gold: x.label, predicted: labels[e.predictions[i]],
          }) + '\n').join(''));
        }
        if (flags.json) {
          const scores = scoresOf(e);
          process.stdout.write(JSON.stringify({
            run, task: task.name, split: flags.split, labels, kernels, ...scores,
            // label names beside the numbers: per_label[i] and confusion row and column i are labels[i]
            per_label: scores.per_label.map((l, i) => ({ label: labels[i], ...l })),
            confusion_labels: labels,
          }) + '\n');
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
