// One help grammar for every command: required flags marked "required" (or "required unless
// --resume"), closed sets as "choices: a, b", defaults as "default: x" — never quoted, whether
// commander applies them or a schema fills them in later (then the text says so itself).
import { writeSync } from 'node:fs';
import { Option, type Command, type Help } from 'commander';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { outputProblem } from '../util/read-error.js';

const requiredNotes = new WeakMap<Option, string>();

/** Marks flags of `cmd` as required in its help; `unless` names what makes them optional. */
export function markRequired(cmd: Command, flags: string[], unless?: string): Command {
  for (const flag of flags) {
    const option = cmd.options.find((o) => o.long === flag);
    if (!option) throw new Error(`markRequired: ${cmd.name()} has no ${flag}`);
    requiredNotes.set(option, unless ? `required unless ${unless}` : 'required');
  }
  return cmd;
}

/**
 * A flag kept for scripts written against an older name: it parses as before but is not
 * shown in help, which names `current` instead. Read it with `renamed`.
 */
export function aliasOption(flags: string, current: string): Option {
  return new Option(flags, `the same as ${current}`).hideHelp();
}

const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The value of a renamed flag (option keys `current` and `old` of `cmd`); both given at once is an error. */
export function renamed<T>(cmd: Command, current: string, old: string): T {
  const options = cmd.opts();
  const oldGiven = options[old] !== undefined;
  if (oldGiven && cmd.getOptionValueSource(current) === 'cli') {
    throw new TlcError(`${flagOf(old)} is the old name of ${flagOf(current)}: give one of them`);
  }
  if (oldGiven) warn(`${flagOf(old)} is now ${flagOf(current)} (the old name still works)`);
  return (oldGiven ? options[old] : options[current]) as T;
}

function optionDescription(option: Option): string {
  const extra: string[] = [];
  const required = requiredNotes.get(option) ?? (option.mandatory ? 'required' : undefined);
  if (required) extra.push(required);
  if (option.argChoices) extra.push(`choices: ${option.argChoices.join(', ')}`);
  const shownDefault = option.defaultValue !== undefined && !(option.isBoolean() && option.defaultValue === false);
  if (shownDefault) extra.push(`default: ${option.defaultValueDescription ?? String(option.defaultValue)}`);
  return extra.length > 0 ? `${option.description} (${extra.join('; ')})` : option.description;
}

/**
 * Applies the grammar to `program` and to every command created from it afterwards; commander's
 * own errors (an unknown flag, a missing value) read like tlc's: "tlc: error: …".
 */
export function configureHelp(program: Command): void {
  program.configureHelp({ optionDescription } satisfies Partial<Help>);
  program.configureOutput({
    outputError: (text, write) => write(text.startsWith('error:') ? `tlc: ${text}` : text),
    // help and the version, written at once: commander exits right after, before a stream could report a failed write
    writeOut: (text) => {
      const bytes = Buffer.from(text, 'utf8');
      try {
        // a pipe takes what fits: the rest is written as it drains
        for (let done = 0; done < bytes.length;) {
          try {
            done += writeSync(1, bytes, done);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
          }
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0);
        process.stderr.write(`tlc: error: cannot write the output: ${outputProblem(e)}\n`);
        process.exit(1);
      }
    },
  });
}
