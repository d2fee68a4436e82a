// `tlc predict <run> --input file|-`: a finetuned classifier's label and label probabilities
// for each input, one JSON object per line on stdout. An input line is a JSON object with
// "text" (and "text_pair" for pair tasks), or else the line itself as the text.
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { readRunConfig } from '../run/pretrained.js';
import { finetunedTask } from '../run/task.js';
import { runFile } from '../run/layout.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { encodeTexts } from '../data/task-batches.js';
import { loadModelDir } from '../infer/load.js';
import { KERNEL_CHOICES } from '../infer/pack.js';
import { InferenceModel } from '../infer/inference-model.js';
import { predictProbabilities } from '../train/classify.js';
import { hfModelDir } from '../import/import.js';
import { exampleLength } from './common.js';
import { inputLines } from '../util/text-lines.js';

export function registerPredict(program: Command): void {
  program
    .command('predict <run>')
    .description("label texts with a finetuned classifier: one JSON line per input with the label and every label's probability")
    .requiredOption('--input <file|->', 'texts: one per line, as plain text or JSON {"text": ..., "text_pair": ...}; - reads stdin')
    .option('--max-len <n>', 'tokens per text (default: as in finetuning, or the model maximum)')
    .option('--kernel <name>', `inference kernels for the linear layers: ${KERNEL_CHOICES}`, 'auto')
    .action((given: string, flags: { input: string; maxLen?: string; kernel: string }) => {
      const run = hfModelDir(given);
      const config = readRunConfig(run);
      if (!config.labels) throw new TlcError(`${run}: not a classifier (no "labels" in config.json); finetune it first with \`tlc finetune\``);
      if (flags.input.trim() === '') throw new TlcError('--input is empty: give a text file (one input per line), or - for stdin');
      if (flags.input !== '-' && existsSync(flags.input) && statSync(flags.input).isDirectory()) {
        throw new TlcError(`--input ${flags.input} is a directory: give a text file (one input per line), or - for stdin`);
      }
      if (flags.input !== '-' && !existsSync(flags.input)) throw new TlcError(`--input ${flags.input}: no such file`);
      const source = flags.input === '-' ? 'stdin' : flags.input;
      const inputs = inputLines(readFileSync(flags.input === '-' ? 0 : flags.input), source).map((line, i) => parseInput(line, source, i + 1));
      const asked = flags.maxLen ? exampleLength(flags.maxLen) : undefined;
      if (asked !== undefined && asked > config.max_len) {
        throw new TlcError(`--max-len ${asked} is beyond the ${config.max_len} positions of ${given}'s model: give at most ${config.max_len}`);
      }
      const maxLen = Math.min(asked ?? finetunedTask(run).maxLen ?? config.max_len, config.max_len);
      const encoded = encodeTexts(inputs, loadTokenizer(runFile(run, 'tokenizer')), { maxLen });
      if (encoded.truncated > 0) warn(`${encoded.truncated} of ${inputs.length} inputs are longer than ${maxLen} tokens: their ends were cut (--max-len)`);
      const { model, tensorBits, tensorKernels } = loadModelDir(run);
      try {
        const served = InferenceModel.byChoice(model, flags.kernel, tensorBits, tensorKernels);
        try {
          const labels = config.labels;
          for (const p of predictProbabilities(served.classifier, encoded)) {
            const best = p.indexOf(Math.max(...p));
            process.stdout.write(JSON.stringify({ label: labels[best], probabilities: Object.fromEntries(labels.map((l, i) => [l, p[i]])) }) + '\n');
          }
        } finally {
          served.dispose();
        }
      } finally {
        model.dispose();
      }
    });
}

function parseInput(line: string, source: string, lineNo: number): { text: string; textPair?: string } {
  if (!line.trimStart().startsWith('{')) return { text: line };
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    throw new TlcError(`${source}:${lineNo}: starts like JSON but does not parse (${(e as Error).message})`);
  }
  const r = o as { text?: unknown; text_pair?: unknown };
  if (typeof r.text !== 'string') throw new TlcError(`${source}:${lineNo}: a JSON input needs a "text" string`);
  if (r.text_pair !== undefined && typeof r.text_pair !== 'string') throw new TlcError(`${source}:${lineNo}: "text_pair" must be a string`);
  return { text: r.text, ...(typeof r.text_pair === 'string' ? { textPair: r.text_pair } : {}) };
}
