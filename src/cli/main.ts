#!/usr/bin/env node
// The `tlc` command: parses argv with the command tree (program.ts) and turns user-facing
// errors into one clear line and a non-zero exit. The tree is imported here, inside the
// handler, so that an error while the native kernels load (a CPU below x86-64-v2, a bad
// TLC_MAX_ISA) is reported the same way.
import { readFileSync } from 'node:fs';
import { TlcError } from '../util/errors.js';
import { outputProblem, systemProblem } from '../util/read-error.js';
import { withShownNames } from '../util/display-names.js';

function report(e: unknown): void {
  if ((e as NodeJS.ErrnoException | null)?.code === 'EMFILE' || (e instanceof Error && /\bEMFILE\b/.test(e.message))) {
    process.stderr.write(`tlc: error: too many open files: ${openFilesLimit()}raise the limit (e.g. ulimit -n 4096) and run it again\n`);
    process.exitCode = 1;
    return;
  }
  const system = process.env.TLC_DEBUG ? null : systemProblem(e);
  if (system) {
    process.stderr.write(`tlc: error: ${withShownNames(system)}\n`);
  } else if (e instanceof TlcError || (e instanceof Error && e.constructor === Error && !process.env.TLC_DEBUG)) {
    process.stderr.write(`tlc: error: ${withShownNames(e.message)}\n`);
  } else {
    process.stderr.write(`tlc: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  }
  process.exitCode = 1;
}

/** "this process may open N (ulimit -n); " from /proc, or nothing where it cannot be read. */
function openFilesLimit(): string {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return limit ? `this process may open ${limit} (ulimit -n); ` : '';
  } catch {
    return '';
  }
}

// A reader that stops reading (`tlc predict ... | head -1`) ends the command quietly, as it ends
// `cat`; output that cannot be written (a full disk, a closed descriptor) is one line and exit 1,
// since what was asked for is lost; a stderr that cannot be written loses only the messages.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  try {
    process.stderr.write(`tlc: error: cannot write the output: ${outputProblem(e)}\n`);
  } finally {
    process.exit(1);
  }
});
process.stderr.on('error', () => {});

try {
  const [{ buildProgram, checkCommandWord }, { dataParallel }] = await Promise.all([import('./program.js'), import('../train/data-parallel.js')]);
  const program = await buildProgram(process.argv.slice(2));
  checkCommandWord(program, process.argv.slice(2));
  await program.parseAsync(process.argv).catch((e: unknown) => {
    report(e);
    // one rank of a data-parallel job that stops must end the others, whatever the launcher
    dataParallel()?.abort(1);
  });
} catch (e) {
  report(e);
}
