// `tlc translate`: a trained translation run translates a text, or a file line by line.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { checkOutputFile } from '../run/ownership.js';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { writeFileAtomic } from '../util/atomic.js';
import { progress } from '../util/progress.js';
import { loadTranslationModel } from '../translate/load.js';
import { translateTexts } from '../translate/decode.js';
import { num, positiveInt } from './common.js';
import { inputLines as readInputLines } from '../util/text-lines.js';

interface TranslateFlags {
  input?: string;
  output?: string;
  beam: string;
  lengthPenalty: string;
  maxLen?: string;
  batchSize: string;
}

export function registerTranslate(program: Command): void {
  program
    .command('translate')
    .description('translate a text, or a file line by line, with a run trained by `tlc pretrain --objective seq2seq`')
    .argument('<run>', 'translation run directory')
    .argument('[text]', 'the text to translate (or --input)')
    .option('--input <file|->', 'translate this file, one sentence per line (empty lines stay empty); - reads stdin')
    .option('--output <file>', 'write the translations to this file, one per line (default: stdout)')
    .option('--beam <n>', 'beam size; 1 is greedy search', '4')
    .option('--length-penalty <x>', 'α: finished hypotheses rank by log-probability / length^α', '1.0')
    .option('--max-len <n>', "most tokens per translation (default: twice the source's plus 10, at most the model's max_len − 1)")
    .option('--batch-size <n>', 'sentences decoded together', '32')
    .action((run: string, text: string | undefined, flags: TranslateFlags) => {
      const opts = {
        beamSize: num(flags.beam, '--beam', positiveInt),
        lengthPenalty: num(flags.lengthPenalty, '--length-penalty', (v) => Number.isFinite(v) && v >= 0),
        maxLen: flags.maxLen === undefined ? undefined : num(flags.maxLen, '--max-len', positiveInt),
        batchSize: num(flags.batchSize, '--batch-size', positiveInt),
      };
      const lines = inputLines(text, flags.input);
      if (flags.output) checkOutputFile(flags.output, '--output', flags.input !== undefined ? [flags.input] : []);
      const { model, tokenizer } = loadTranslationModel(run);
      try {
        const cap = model.config.max_len - 1;
        if (opts.maxLen !== undefined && opts.maxLen > cap) {
          throw new TlcError(`--max-len ${opts.maxLen} is beyond what ${run}'s model can write (${cap} tokens: its max_len less </s>): give at most ${cap}`);
        }
        const todo = lines.map((l, i) => i).filter((i) => lines[i].trim() !== '');
        const long = todo.filter((i) => tokenizer.encode(lines[i]).length > cap).length;
        if (long > 0) warn(`${long} of ${todo.length} sentences are longer than the model's ${cap} source tokens: their ends were cut before translating`);
        const bar = flags.input ? progress({ label: 'translate', total: todo.length, unit: 'sentences' }) : null;
        const translated = translateTexts(model, tokenizer, todo.map((i) => lines[i]), { ...opts, onProgress: (done) => bar?.update(done) });
        bar?.done();
        const out = lines.map(() => '');
        // one translation per line, whatever line breaks the model writes
        todo.forEach((i, k) => { out[i] = translated[k].replace(/\s*[\r\n]+\s*/g, ' ').trim(); });
        const body = out.map((l) => l + '\n').join('');
        if (flags.output) writeFileAtomic(flags.output, body);
        else process.stdout.write(body);
      } finally {
        model.dispose();
      }
    });
}

function inputLines(text: string | undefined, input: string | undefined): string[] {
  if (text !== undefined && input !== undefined) throw new TlcError('give either a text or --input <file>, not both');
  if (input === '-') return readInputLines(readFileSync(0), 'stdin');
  if (input !== undefined) {
    if (input.trim() === '') throw new TlcError('--input is empty: give a text file (one sentence per line)');
    if (!existsSync(input)) throw new TlcError(`${input}: not found`);
    if (statSync(input).isDirectory()) throw new TlcError(`--input ${input} is a directory: give a text file (one sentence per line)`);
    const lines = readInputLines(readFileSync(input), input);
    if (lines.every((l) => l.trim() === '')) throw new TlcError(`${input}: nothing to translate (the file is empty)`);
    return lines;
  }
  if (text === undefined) throw new TlcError('nothing to translate: give a text or --input <file>');
  if (text.trim() === '') throw new TlcError('nothing to translate: the text is empty');
  return [text];
}
