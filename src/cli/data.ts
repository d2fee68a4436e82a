// `tlc data prepare`: text in, tokenizer and token shards out (see src/data/prepare.ts); with
// --task translation, parallel text in, a shared tokenizer and split TSV files out
// (src/data/prepare-translation.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA_FILE } from '../data/shards.js';
import { checkOutputDir, withOutputDir } from '../run/ownership.js';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { DEFAULT_SEED, DEFAULT_VALID_FRACTION, DEFAULT_VOCAB_SIZE, prepareData } from '../data/prepare.js';
import { EXAMPLE_NAMES, EXAMPLE_PREFIX } from '../data/examples.js';
import { PARALLEL_EXAMPLE_NAMES } from '../data/parallel.js';
import { TRANSLATION_META_FILE, prepareTranslation } from '../data/prepare-translation.js';
import { formatBytes } from '../util/progress.js';
import { loadTask, testDocumentIds } from '../data/tasks.js';
import { seedFlag } from './common.js';
import { removeAtomicTemporaries } from '../util/atomic.js';

type PrepareTask = 'lm' | 'translation';

interface PrepareFlags {
  task: PrepareTask;
  input: string[];
  out: string;
  force?: boolean;
  vocabSize?: number;
  validFraction: number;
  seed: number;
  tokenizer?: string;
  excludeTestOf?: string;
  taskSeed: number;
  json?: boolean;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('corpora, tokenizers and token shards');
  data
    .command('prepare')
    .description('split documents into train/valid, train a byte-level BPE tokenizer on train, write token shards and data.json; '
      + 'with --task translation, split sentence pairs into train/valid/test, train one tokenizer on both sides of train, write TSV files and prepare.json')
    .option('--task <lm|translation>', 'what the data is for: language-model pretraining (documents) or translation (sentence pairs)', parseTask, 'lm' as PrepareTask)
    .requiredOption('--input <path...>', `a .txt or .jsonl file ("text" per line), .gz of either, a directory of them, or ${EXAMPLE_NAMES.map((n) => EXAMPLE_PREFIX + n).join(' / ')}; several allowed. `
      + `For translation: one source<TAB>target .tsv file, a directory of train/valid/test.tsv, or ${PARALLEL_EXAMPLE_NAMES.map((n) => EXAMPLE_PREFIX + n).join(' / ')}`)
    .requiredOption('--out <dir>', 'output directory (an existing one must be empty or hold prepared data)')
    .option('--force', 'write into an existing --out directory that holds something other than prepared data')
    .option('--vocab-size <n>', `vocabulary size, special tokens and bytes included (default: ${DEFAULT_VOCAB_SIZE})`, parseIntFlag('--vocab-size'))
    .option('--valid-fraction <f>', 'share of documents held out for validation', parseFraction, DEFAULT_VALID_FRACTION)
    .option('--seed <n>', 'seed of the train/valid(/test) split', (v: string) => seedFlag(v), DEFAULT_SEED)
    .option('--tokenizer <tokenizer.json>', 'reuse this tokenizer (a tokenizer.json, or a directory holding one) instead of training one')
    .option('--exclude-test-of <task>', "leave out the documents a labelled task's test split comes from (e.g. example:brown-genre), so pretraining never reads them")
    .option('--task-seed <n>', 'seed of that task\'s split (as `tlc finetune --task-seed`)', (v: string) => seedFlag(v, '--task-seed'), 0)
    .option('--json', 'print data.json and the timings as one JSON object on stdout')
    .action(async (flags: PrepareFlags, cmd: Command) => {
      if (flags.task === 'translation') {
        if (cmd.getOptionValueSource('validFraction') === 'cli') {
          throw new TlcError('--valid-fraction does not apply to --task translation: a single file is split 80/10/10, example:de-en holds out 1,000 valid and 1,000 test pairs');
        }
        if (flags.input.length !== 1) throw new TlcError(`--task translation takes one --input (a .tsv file, a directory or example:NAME), got ${flags.input.length}`);
        if (!flags.force) refuseOtherSources(flags.out, 'translation', flags.input);
        await withOutputDir(flags.out, 'dataset', { force: flags.force, lock: true }, () => {
          removeAtomicTemporaries(flags.out);
          prepareTranslationCommand(flags);
        });
        return;
      }
      checkOutputDir(flags.out, 'dataset', { force: flags.force });
      if (!flags.force) refuseOtherSources(flags.out, 'lm', flags.input);
      if (!flags.excludeTestOf && cmd.getOptionValueSource('taskSeed') === 'cli') {
        throw new TlcError('--task-seed picks the split of --exclude-test-of, which is not given: add --exclude-test-of <task>, or leave --task-seed out');
      }
      const exclude = flags.excludeTestOf ? testDocumentIds(await loadTask(flags.excludeTestOf, { seed: flags.taskSeed })) : undefined;
      // a preparation killed part-way (SIGINT, SIGTERM: it stops at once) leaves unfinished files, dropped here under the lock
      const r = await withOutputDir(flags.out, 'dataset', { force: flags.force, lock: true }, () => {
        removeAtomicTemporaries(flags.out);
        return prepareData({
          inputs: flags.input, outDir: flags.out, vocabSize: flags.vocabSize,
          validFraction: flags.validFraction, seed: flags.seed, tokenizerPath: flags.tokenizer, exclude,
        });
      });
      const { meta } = r;
      if (flags.json) {
        process.stdout.write(JSON.stringify({
          out: flags.out, ...meta, train_bytes: r.trainBytes, valid_bytes: r.validBytes, tokenizer_seconds: r.trainingSeconds, encoding_seconds: r.encodingSeconds,
        }) + '\n');
        return;
      }
      if (meta.excluded_documents !== undefined) console.log(`left out:  ${meta.excluded_documents} documents of ${flags.excludeTestOf}'s test split`);
      const rate = (bytes: number, seconds: number) => (seconds > 0 ? `${(bytes / 1e6 / seconds).toFixed(1)} MB/s` : '-');
      console.log(`documents: ${meta.train.documents} train (${formatBytes(r.trainBytes)}), ${meta.valid.documents} valid (${formatBytes(r.validBytes)})`);
      console.log(`tokens:    ${meta.train.tokens.toLocaleString('en-US')} train, ${meta.valid.tokens.toLocaleString('en-US')} valid (${meta.dtype}, vocabulary ${meta.vocab_size})`);
      if (r.trainingSeconds !== null) {
        console.log(`tokenizer: trained on ${formatBytes(r.trainBytes)} in ${r.trainingSeconds.toFixed(1)} s (${rate(r.trainBytes, r.trainingSeconds)})`);
      } else {
        console.log(`tokenizer: reused ${flags.tokenizer}`);
      }
      console.log(`encoding:  ${formatBytes(meta.bytes_of_text)} in ${r.encodingSeconds.toFixed(1)} s (${rate(meta.bytes_of_text, r.encodingSeconds)})`);
      console.log(`wrote ${flags.out}: tokenizer.json, tokenizer_config.json, ${meta.train.file}, ${meta.valid.file}, data.json`);
    });
}

/** The inputs a dataset in `out` was prepared from, and for which task (null: none there, or unreadable, an unfinished one). */
function preparedFrom(out: string): { task: PrepareTask; inputs: string[] } | null {
  const read = (name: string): Record<string, unknown> | null => {
    try {
      return JSON.parse(readFileSync(join(out, name), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const lm = existsSync(join(out, DATA_FILE)) ? read(DATA_FILE) : null;
  if (Array.isArray(lm?.sources)) return { task: 'lm', inputs: lm.sources.map(String) };
  const translation = existsSync(join(out, TRANSLATION_META_FILE)) ? read(TRANSLATION_META_FILE) : null;
  if (typeof translation?.input === 'string') return { task: 'translation', inputs: [translation.input] };
  return null;
}

/** A dataset prepared from other inputs (or for the other task) is not replaced by preparing these into its folder. */
function refuseOtherSources(out: string, task: PrepareTask, inputs: readonly string[]): void {
  const was = preparedFrom(out);
  if (was === null) return;
  const place = (x: string) => (x.startsWith(EXAMPLE_PREFIX) ? x : resolve(x));
  if (was.task === task && was.inputs.map(place).join('\n') === inputs.map(place).join('\n')) return;
  const what = (t: PrepareTask, xs: readonly string[]) => `${xs.join(', ')}${t === 'translation' ? ' (translation)' : ''}`;
  throw new TlcError(`--out ${out} holds a dataset prepared from ${what(was.task, was.inputs)} (${was.task === 'lm' ? DATA_FILE : TRANSLATION_META_FILE}); ` +
    `preparing ${what(task, inputs)} would replace it: choose another --out, or pass --force to replace it`);
}

function prepareTranslationCommand(flags: PrepareFlags): void {
  const { meta, trainingSeconds } = prepareTranslation({
    input: flags.input[0], outDir: flags.out, vocabSize: flags.vocabSize, seed: flags.seed, tokenizerPath: flags.tokenizer,
  });
  const { train, valid, test } = meta.splits;
  console.log(`pairs:     ${train.pairs.toLocaleString('en-US')} train, ${valid.pairs.toLocaleString('en-US')} valid, ${test.pairs.toLocaleString('en-US')} test`);
  console.log(`tokens:    ${train.source.tokens.toLocaleString('en-US')} source + ${train.target.tokens.toLocaleString('en-US')} target in train (longest sentence ${Math.max(...[train, valid, test].flatMap((s) => [s.source.max_tokens, s.target.max_tokens]))}; vocabulary ${meta.vocab_size})`);
  console.log(trainingSeconds !== null ? `tokenizer: shared by both languages, trained in ${trainingSeconds.toFixed(1)} s` : `tokenizer: reused ${flags.tokenizer}`);
  for (const note of meta.notes) console.log(`note:      ${note}`);
  console.log(`wrote ${flags.out}: tokenizer.json, tokenizer_config.json, train.tsv, valid.tsv, test.tsv, ${TRANSLATION_META_FILE}`);
}

function parseTask(v: string): PrepareTask {
  if (v !== 'lm' && v !== 'translation') throw new TlcError(`--task: expected lm or translation, got "${v}"`);
  return v;
}

function parseIntFlag(flag: string): (v: string) => number {
  return (v) => {
    const n = /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw new TlcError(`${flag}: expected an integer, got "${v}"`);
    return n;
  };
}

function parseFraction(v: string): number {
  const f = Number(v);
  if (v.trim() === '' || !(f >= 0 && f < 1)) throw new TlcError(`--valid-fraction: expected a number from 0 up to (not including) 1, got "${v}"`);
  return f;
}
