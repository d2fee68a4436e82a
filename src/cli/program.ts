// The `tlc` command tree: the subcommands registered on one commander program, with the
// global --threads flag and one help grammar (help.ts). main.ts parses argv with it. A command
// line that names a command loads only that command's module: loading all of them (and what they
// import) is most of a short command's start-up.
import { Command, Option } from 'commander';
import { TlcError } from '../util/errors.js';
import { availableParallelism } from 'node:os';
import { MAX_THREADS, setThreads, threadsEnvironmentProblem } from '../engine/threads.js';
import { warn } from '../util/warn.js';
import { configureHelp } from './help.js';

type Register = (program: Command) => void;

/** Every command, in the order help lists them, and the module that registers it (some register two). */
interface CommandModule { names: string[]; load: () => Promise<Register> }
const COMMANDS: readonly CommandModule[] = [
  { names: ['bench'], load: async () => (await import('./bench.js')).registerBench },
  { names: ['pretrain'], load: async () => (await import('./pretrain.js')).registerPretrain },
  { names: ['data'], load: async () => (await import('./data.js')).registerData },
  { names: ['auto'], load: async () => (await import('./auto.js')).registerAuto },
  { names: ['demo'], load: async () => (await import('./demo.js')).registerDemo },
  { names: ['finetune', 'evaluate'], load: async () => (await import('./finetune.js')).registerFinetune },
  { names: ['predict'], load: async () => (await import('./predict.js')).registerPredict },
  { names: ['import'], load: async () => (await import('./import.js')).registerImport },
  { names: ['generate'], load: async () => (await import('./generate.js')).registerGenerate },
  { names: ['inspect'], load: async () => (await import('./inspect.js')).registerInspect },
  { names: ['compress', 'pareto'], load: async () => (await import('./compress.js')).registerCompress },
  { names: ['sweep'], load: async () => (await import('./sweep.js')).registerSweep },
  { names: ['report'], load: async () => (await import('./report.js')).registerReport },
  { names: ['plan'], load: async () => (await import('./plan.js')).registerPlan },
  { names: ['bleu'], load: async () => (await import('./bleu.js')).registerBleu },
  { names: ['export'], load: async () => (await import('./export.js')).registerExport },
  { names: ['translate'], load: async () => (await import('./translate.js')).registerTranslate },
  { names: ['info'], load: async () => (await import('./info.js')).registerInfo },
];

/**
 * The commands a command line needs: the one it names where only --threads comes before it, none
 * for a bare --version, and all of them otherwise (the general help, `help <command>`, `-h plan`,
 * which commander answers with the general help, and an unknown word or flag, answered with the
 * names there are).
 */
function commandsFor(args: string[] | undefined): readonly CommandModule[] {
  if (args === undefined) return COMMANDS;
  const i = commandWordIndex(args);
  const before = args.slice(0, i);
  const onlyThreads = before.every((a, j) => a === '--threads' || a.startsWith('--threads=') || before[j - 1] === '--threads');
  const named = COMMANDS.find((c) => c.names.includes(args[i]));
  if (named && onlyThreads) return [named];
  const version = before.some((a) => a === '--version' || a === '-V');
  return args[i] === undefined && version ? [] : COMMANDS;
}

/** Where the command word is: after the global flags (--threads takes a value). */
function commandWordIndex(args: string[]): number {
  let i = 0;
  while (i < args.length && args[i].startsWith('-')) i += args[i] === '--threads' ? 2 : 1;
  return i;
}

/** The command tree, ready to parse `args` (process.argv without node and the script), or every command where no args are given. */
export async function buildProgram(args?: string[]): Promise<Command> {
  const registers = await Promise.all(commandsFor(args).map((c) => c.load()));
  const program = new Command();
  configureHelp(program); // before the commands, which inherit it
  program
    .name('tlc')
    .description('Train large, then compress: budgeted Transformer training and compression on CPUs')
    .version('0.1.0')
    .addOption(new Option('--threads <n>', 'threads for native kernels (default: all cores, or TLC_THREADS)').argParser(parseThreads))
    .hook('preAction', (cmd, action) => {
      refuseEmptyValues(action);
      const threads = cmd.opts().threads as number | undefined;
      const problem = threadsEnvironmentProblem();
      if (problem && threads === undefined) throw new TlcError(problem);
      if (threads !== undefined) setThreads(threads);
      const asked = threads ?? (process.env.TLC_THREADS ? Number(process.env.TLC_THREADS) : undefined);
      if (asked !== undefined && asked > availableParallelism()) {
        warn(`${threads !== undefined ? '--threads' : 'TLC_THREADS'} ${asked} is more than the ${availableParallelism()} cores of this machine; ` +
          'the extra threads compete for the same cores and slow training down');
      }
    })
    .showHelpAfterError();

  for (const register of registers) register(program);
  noteRepeatedFlags(program);
  return program;
}

/**
 * A flag that takes one value, given again, keeps the last value, as in most command lines (a
 * script may append an override to a base command), but says so: the earlier value is dropped.
 * Lists (`--input a b`) are not affected.
 */
function noteRepeatedFlags(cmd: Command): void {
  for (const option of cmd.options) {
    if (option.variadic || (!option.required && !option.optional)) continue;
    let previous: string | undefined;
    cmd.on(`option:${option.name()}`, (value: string) => {
      if (previous !== undefined && previous !== value) {
        warn(`${option.long ?? option.short} is given more than once: using the last value, ${value} (not ${previous})`);
      }
      previous = value;
    });
  }
  for (const sub of cmd.commands) noteRepeatedFlags(sub);
}

/** A flag given an empty value (`--out ""`, an unset shell variable) would name the working folder or nothing at all. */
function refuseEmptyValues(cmd: Command): void {
  for (const option of cmd.options) {
    if (cmd.getOptionValueSource(option.attributeName()) !== 'cli') continue;
    const value: unknown = cmd.getOptionValue(option.attributeName());
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && v.trim() === '')) {
      throw new TlcError(`${option.long ?? option.short} is empty: give a value, or leave the flag out`);
    }
  }
}

/**
 * What commander lets through: an unknown command before --help (it prints the general help and
 * exits 0), `help <unknown>` (the general help again), and words after --version (ignored).
 */
export function checkCommandWord(program: Command, args: string[]): void {
  let i = commandWordIndex(args);
  const asked = args.slice(0, i).find((a) => a === '--version' || a === '-V');
  if (asked && args[i] !== undefined) throw new TlcError(`${asked} takes no arguments, got '${args[i]}'`);
  // each level that has subcommands (tlc, tlc data, tlc bench) names one of them, or help and one of them
  for (let cmd: Command | undefined = program, prefix = 'tlc'; cmd && cmd.commands.length > 0 && args[i] !== undefined; i++) {
    const names: Set<string> = new Set(['help', ...cmd.commands.flatMap((c) => [c.name(), ...c.aliases()])]);
    const unknown = (w: string): TlcError => {
      const near = [...names].find((n) => n !== 'help' && (n === w.toLowerCase() || editDistance(n, w.toLowerCase()) <= 2));
      return new TlcError(`unknown command '${w}'${prefix === 'tlc' ? '' : ` for '${prefix}'`}${near ? ` (did you mean ${near}?)` : ''}: see ${prefix} --help`);
    };
    const word = args[i];
    if (word.startsWith('-')) return;
    if (!names.has(word)) throw unknown(word);
    if (word === 'help') {
      const topic = args[i + 1];
      if (topic !== undefined && !topic.startsWith('-') && !names.has(topic)) throw unknown(topic);
      return;
    }
    cmd = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    prefix = `${prefix} ${word}`;
  }
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function parseThreads(v: string): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) throw new TlcError(`invalid --threads "${v}": expected an integer from 1 to ${MAX_THREADS}`);
  return n;
}
