// Which directories a command may write into. A command writes its output only into a
// directory that does not exist, is empty, or already holds its own kind of output (a rerun
// that continues or reuses it; for an export, one of the same source). Anything else — another
// run, a prepared dataset, an export of another model, files of the user — is refused, naming
// what is there, unless the user passes --force. Each command marks the directory it claims
// (OUTPUT_MARKER: its kind and source); directories written before markers existed are
// recognised by their main files.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { warn } from '../util/warn.js';
import { isAtomicTemporary, writeJsonAtomic } from '../util/atomic.js';
import { AUTO_FILES, COMPRESS_FILES, OUTPUT_MARKER, PARETO_FILES, REPORT_FILES, RUN_FILES, SWEEP_FILES } from './layout.js';
import { lockRun } from './lock.js';
import { makeDirs } from '../util/make-dirs.js';

export type OutputKind = 'pretrain' | 'finetune' | 'dataset' | 'export' | 'compress' | 'sweep' | 'pareto' | 'report' | 'import' | 'auto';

const DESCRIPTIONS: Record<OutputKind, string> = {
  pretrain: 'a pretraining run', finetune: 'a finetuning run', dataset: 'a prepared dataset', export: 'an export',
  compress: 'a `tlc compress` output', sweep: 'a `tlc sweep` output', pareto: 'a `tlc pareto` output', report: 'a `tlc report` report',
  import: 'an imported Hugging Face model', auto: 'a `tlc auto` output',
};

interface Marker {
  kind: OutputKind;
  /** What the output was made from (an export: the absolute path of the run or setting). */
  source?: string;
}

/** Main files of each kind's output, for directories without a marker. */
const MAIN_FILES: [OutputKind, string[]][] = [
  ['dataset', ['data.json', 'prepare.json', 'train.bin', 'train.tsv']],
  ['compress', [COMPRESS_FILES.summary]],
  ['sweep', [SWEEP_FILES.summary, SWEEP_FILES.spec]],
  ['pareto', [PARETO_FILES.json]],
  ['report', [REPORT_FILES.page]],
  ['auto', [AUTO_FILES.record]],
];

function readMarker(dir: string): Marker | null {
  try {
    const m = JSON.parse(readFileSync(resolve(dir, OUTPUT_MARKER), 'utf8')) as Partial<Marker>;
    return typeof m.kind === 'string' && m.kind in DESCRIPTIONS ? { kind: m.kind, ...(typeof m.source === 'string' ? { source: m.source } : {}) } : null;
  } catch {
    return null;
  }
}

/** What `dir` (an existing, non-empty directory) holds: the kind of tlc output, if any, and a description. */
export function identifyOutput(dir: string): { kind: OutputKind | null; source?: string; description: string } {
  const marker = readMarker(dir);
  if (marker) {
    return { ...marker, description: DESCRIPTIONS[marker.kind] + (marker.source ? ` of ${marker.source}` : '') + ` (${OUTPUT_MARKER})` };
  }
  const runArgs = resolve(dir, RUN_FILES.args);
  if (existsSync(runArgs)) {
    let command: unknown;
    try {
      command = (JSON.parse(readFileSync(runArgs, 'utf8')) as { command?: unknown }).command;
    } catch { /* described below as a run of unknown kind */ }
    const kind = command === 'pretrain' || command === 'finetune' ? command : null;
    return { kind, description: `${kind ? DESCRIPTIONS[kind] : 'a tlc run'} (${RUN_FILES.args})` };
  }
  for (const [kind, files] of MAIN_FILES) {
    const found = files.find((f) => existsSync(resolve(dir, f)));
    if (found) return { kind, description: `${DESCRIPTIONS[kind]} (${found})` };
  }
  const entries = readdirSync(dir).sort();
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, … ${entries.length - 5} more` : '');
  if (existsSync(resolve(dir, RUN_FILES.weights)) && existsSync(resolve(dir, RUN_FILES.config))) {
    return { kind: null, description: `a model folder (${shown})` };
  }
  return { kind: null, description: `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'} not written by this command (${shown})` };
}

export interface ClaimOptions {
  /** Write into a directory holding something else anyway. */
  force?: boolean;
  /** What the output is made from; a directory holding the same kind of output from another source is refused. */
  source?: string;
  /** The flag that named the directory, for messages. */
  flag?: string;
  /** Other kinds of output this command may also write into (pareto: beside the compression output it reads). */
  alsoAccept?: OutputKind[];
  /** Lock the directory while writing, so that a second process writing it at once is refused (commands that are one writer). */
  lock?: boolean;
}

/**
 * Checks that `kind`'s command may write into `dir` (see the top of this file); throws a
 * TlcError naming what is there otherwise. Writes nothing.
 */
export function checkOutputDir(dir: string, kind: OutputKind, options: ClaimOptions = {}): void {
  const flag = options.flag ?? '--out';
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new TlcError(`${flag} ${dir}: exists and is not a directory`);
  // a lock, or another process of the same launch writing its marker this instant, is not content
  const content = readdirSync(dir).filter((n) => n !== RUN_FILES.lock && !(n.startsWith(`.${OUTPUT_MARKER}.`) && isAtomicTemporary(n)));
  if (content.length === 0) return;
  const found = identifyOutput(dir);
  const source = options.source !== undefined ? resolve(options.source) : undefined;
  const sameKind = found.kind === kind || (found.kind !== null && (options.alsoAccept ?? []).includes(found.kind));
  const sameSource = source === undefined || found.source === undefined || found.source === source;
  if (sameKind && sameSource) return;
  if (options.force) {
    warn(`${dir} holds ${found.description}; writing ${DESCRIPTIONS[kind]} into it anyway (--force)`);
    return;
  }
  throw new TlcError(`${flag} ${dir} already holds ${found.description}, which this command did not create; ` +
    'choose another directory, or pass --force to write into it anyway');
}

/** Whether two paths name the same file (through links too); false when either does not exist. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = statSync(a), y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Checks that a command may write the file `path` (named by `flag`): not a directory, not one of
 * the command's own `inputs`, and not inside a tlc output (a run, a dataset, a compression
 * output…), whose files belong to the command that made it. Throws a TlcError naming the
 * conflict; writes nothing.
 */
export function checkOutputFile(path: string, flag: string, inputs: readonly string[] = []): void {
  const target = resolve(path);
  if (existsSync(target) && statSync(target).isDirectory()) throw new TlcError(`${flag} ${path} is a directory: give the name of a file to write`);
  if (inputs.some((input) => sameFile(target, input))) throw new TlcError(`${flag} ${path} is this command's own input: write the output to another file`);
  for (let dir = dirname(target); ; dir = dirname(dir)) {
    const found = claimedBy(dir);
    if (found) throw new TlcError(`${flag} ${path} is inside ${dir}, which holds ${found}: write the file elsewhere`);
    if (dirname(dir) === dir) return;
  }
}

/**
 * What tlc output `dir` is, by what tlc itself wrote there (its marker, or a run's run.json),
 * never by file names a user's folder may hold too; null for anything else, or a folder that
 * cannot be read.
 */
function claimedBy(dir: string): string | null {
  const marker = readMarker(dir);
  if (marker) return DESCRIPTIONS[marker.kind] + ` (${OUTPUT_MARKER})`;
  const json = (name: string): Record<string, unknown> | null => {
    try {
      return JSON.parse(readFileSync(resolve(dir, name), 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const command = json(RUN_FILES.args)?.command;
  if (command === 'pretrain' || command === 'finetune') return `${DESCRIPTIONS[command]} (${RUN_FILES.args})`;
  // a dataset prepared before markers existed, known by its description's tokenizer hash
  if (typeof json('data.json')?.tokenizer_sha256 === 'string') return `${DESCRIPTIONS.dataset} (data.json)`;
  return null;
}

/**
 * Checks that a new output directory `dir` does not lie inside another tlc output (a run, a
 * dataset, a compression output…), whose folders belong to the command that made it; a pareto
 * table, a summary, may sit inside the compression or auto output whose settings it ranks.
 * --force writes there anyway, with a warning.
 */
export function checkNotInsideOutput(dir: string, kind: OutputKind, options: ClaimOptions = {}): void {
  const target = resolve(dir);
  for (let up = dirname(target); dirname(up) !== up; up = dirname(up)) {
    const found = claimedBy(up);
    if (!found) continue;
    const around = readMarker(up)?.kind;
    if (kind === 'pareto' && (around === 'compress' || around === 'auto')) return;
    if (options.force) {
      warn(`${dir} is inside ${up}, which holds ${found}; writing ${DESCRIPTIONS[kind]} there anyway (--force)`);
      return;
    }
    throw new TlcError(`${options.flag ?? '--out'} ${dir} is inside ${up}, which holds ${found}: choose a directory outside it ` +
      '(or pass --force to write there anyway)');
  }
}

/** Creates `dir` if needed and marks it as `kind`'s output. */
export function markOutputDir(dir: string, kind: OutputKind, source?: string): void {
  makeDirs(dir);
  const marker: Marker = { kind, ...(source !== undefined ? { source: resolve(source) } : {}) };
  const current = readMarker(dir);
  if (current && current.kind === marker.kind && current.source === marker.source) return;
  writeJsonAtomic(resolve(dir, OUTPUT_MARKER), marker);
}

/**
 * Checks `dir`, marks it and runs `fn`, the command writing its output there. Should `fn`
 * fail having written nothing into a directory it created, the directory is removed again.
 */
export async function withOutputDir<T>(dir: string, kind: OutputKind, options: ClaimOptions, fn: () => Promise<T> | T): Promise<T> {
  checkNotInsideOutput(dir, kind, options);
  checkOutputDir(dir, kind, options);
  const existed = existsSync(dir);
  const marked = existsSync(resolve(dir, OUTPUT_MARKER));
  markOutputDir(dir, kind, options.source);
  const release = options.lock ? lockRun(dir) : () => {};
  try {
    return await fn();
  } catch (e) {
    release();
    if (!existed && existsSync(dir) && holdsNoFiles(dir)) rmSync(dir, { recursive: true, force: true });
    // a command that failed leaves an existing directory as it found it, without a new marker
    else if (existed && !marked) rmSync(resolve(dir, OUTPUT_MARKER), { force: true });
    throw e;
  } finally {
    release();
  }
}

/** Whether `dir` holds nothing but empty folders, its marker and its lock: what a failed start leaves. */
function holdsNoFiles(dir: string): boolean {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!holdsNoFiles(resolve(dir, entry.name))) return false;
    } else if (entry.name !== OUTPUT_MARKER && entry.name !== RUN_FILES.lock) {
      return false;
    }
  }
  return true;
}
