// `tlc bleu <hypotheses> <references>...`: corpus BLEU of a file of translations against one or
// more reference files, one segment per line, computed and printed as the sacrebleu command does
// (src/translate/bleu.ts); the signature leaves out sacreBLEU's version field.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { readProblem } from '../util/read-error.js';
import {
  BLEU_TOKENIZERS, SMOOTH_METHODS, bleuJson, corpusBleu, formatBleu,
} from '../translate/bleu.js';

interface BleuFlags {
  tokenize: string;
  lowercase?: boolean;
  smoothMethod: string;
  smoothValue?: string;
  width: string;
  json?: boolean;
}

export function registerBleu(program: Command): void {
  program
    .command('bleu')
    .description('corpus BLEU of translations against reference translations, as sacreBLEU 2.x computes and prints it')
    .argument('<hypotheses>', 'the translations, one segment per line (.gz allowed)')
    .argument('<references...>', 'one or more reference files, each line for line with the hypotheses')
    .option('--tokenize <13a|none>', 'tokenizer applied before counting n-grams', '13a')
    .option('--lowercase', 'compare lowercased text')
    .option('--smooth-method <exp|floor|add-k|none>', 'smoothing of zero n-gram matches', 'exp')
    .option('--smooth-value <x>', 'the value of floor (default: 0.1) or add-k (default: 1) smoothing')
    .option('--width <n>', 'decimals of the score', '1')
    .option('--json', 'print sacreBLEU\'s JSON object instead of its text line')
    .action((hypothesesPath: string, referencePaths: string[], flags: BleuFlags) => {
      const tokenize = oneOf(flags.tokenize, BLEU_TOKENIZERS, '--tokenize');
      const smoothMethod = oneOf(flags.smoothMethod, SMOOTH_METHODS, '--smooth-method');
      const smoothValue = flags.smoothValue === undefined ? undefined : number(flags.smoothValue, '--smooth-value', (x) => x >= 0);
      if (smoothValue !== undefined && smoothMethod !== 'floor' && smoothMethod !== 'add-k') {
        throw new TlcError(`--smooth-value sets floor or add-k smoothing; --smooth-method ${smoothMethod} takes no value: choose floor or add-k, or leave --smooth-value out`);
      }
      const width = number(flags.width, '--width', (x) => Number.isInteger(x) && x >= 0 && x <= 20);
      const hypotheses = readSegments(hypothesesPath);
      const references = referencePaths.map((path) => {
        const lines = readSegments(path);
        if (lines.length !== hypotheses.length) {
          throw new TlcError(`${path} has ${lines.length} lines but ${hypothesesPath} has ${hypotheses.length}: references and hypotheses must match line for line`);
        }
        return lines;
      });
      const result = corpusBleu(hypotheses, references, { tokenize, lowercase: flags.lowercase ?? false, smoothMethod, smoothValue });
      for (const warning of result.warnings) process.stderr.write(`tlc bleu: warning: ${warning}\n`);
      process.stdout.write((flags.json ? bleuJson(result, width) : formatBleu(result, { signature: true, width })) + '\n');
    });
}

/** Lines as sacreBLEU reads a file: split at \n only (a \r stays, until trailing whitespace is stripped when scoring). */
export function readSegments(path: string): string[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
    if (path.endsWith('.gz')) bytes = gunzipSync(bytes);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TlcError(err.code === 'ENOENT' ? `${path}: file not found` : readProblem(path, err, 'a text'));
  }
  let text: string;
  try {
    // A byte order mark stays, as sacreBLEU reads files with plain utf-8.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new TlcError(`${path}: not valid UTF-8 text`);
  }
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new TlcError(`${flag}: expected ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function number(v: string, flag: string, check: (x: number) => boolean): number {
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new TlcError(`invalid ${flag} "${v}"`);
  return x;
}
