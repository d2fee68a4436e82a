// `tlc export <run> --format hf|onnx --out <dir>`: a run (or a `tlc compress` setting) as a
// Hugging Face folder, plus ONNX graphs with --format onnx, for transformers.js and onnxruntime.
import { hfModelDir } from '../import/import.js';
import { Option, type Command } from 'commander';
import { EXPORT_FORMATS, exportRun, type ExportFormat } from '../export/export.js';
import { required } from './common.js';
import { markRequired } from './help.js';
import { warnIfUnfinished } from '../run/unfinished.js';
import { checkNotInsideOutput } from '../run/ownership.js';
import { readRunConfig } from '../run/pretrained.js';
import { TlcError } from '../util/errors.js';

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description('write a run as a Hugging Face folder (--format hf) or as that folder plus ONNX graphs (--format onnx) for transformers.js and onnxruntime')
    .argument('<run>', 'a run directory (config.json, tokenizer.json, model.safetensors) or a compressed setting of `tlc compress`')
    .addOption(new Option('--format <kind>', 'hf: config.json, tokenizer files, model.safetensors; onnx: the same plus onnx/model.onnx, model_quantized.onnx (int8), model_q4.onnx')
      .choices(EXPORT_FORMATS).default('hf'))
    .option('--out <dir>', 'output directory (an existing one must be empty or hold an export of the same run)')
    .option('--force', 'write into an existing directory that holds something else')
    .option('--json', 'print the result as one JSON object on stdout');
  markRequired(cmd, ['--out']);
  cmd.action((given: string, flags: { format: string; out?: string; force?: boolean; json?: boolean }) => {
      const run = hfModelDir(given);
      if (objectiveOf(run) === 'seq2seq') {
        throw new TlcError(`${given} is an encoder–decoder (seq2seq) run: tlc export writes language models and classifiers only; ` +
          `translate with it in tlc (tlc translate ${given})`);
      }
      warnIfUnfinished(run);
      checkNotInsideOutput(required(flags.out, '--out'), 'export', { force: flags.force });
      const result = exportRun(run, { format: flags.format as ExportFormat, out: required(flags.out, '--out'), force: flags.force },
        (line) => process.stderr.write(line + '\n'));
      if (flags.json) {
        process.stdout.write(JSON.stringify({ run, ...result }) + '\n');
        return;
      }
      const what = result.architecture ?? 'ONNX only (no Hugging Face equivalent)';
      process.stdout.write(`exported ${run} to ${result.out} as ${what}: ${result.files.join(', ')}\n`);
    });
}

/** The run's objective, or undefined where its config cannot be read (the export then says why). */
function objectiveOf(run: string): string | undefined {
  try {
    return readRunConfig(run).objective;
  } catch {
    return undefined;
  }
}
