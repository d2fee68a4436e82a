#!/usr/bin/env node
// The `tlc` command: parses argv with the command tree (program.ts) and turns user-facing
// errors into one clear line and a non-zero exit.
import { dataParallel } from '../train/data-parallel.js';
import { TlcError } from '../engine/errors.js';
import { buildProgram } from './program.js';

buildProgram().parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof TlcError || (e instanceof Error && e.constructor === Error && !process.env.TLC_DEBUG)) {
    process.stderr.write(`tlc: error: ${e.message}\n`);
  } else {
    process.stderr.write(`tlc: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  }
  process.exitCode = 1;
  // one rank of a data-parallel job that stops must end the others, whatever the launcher
  const dp = dataParallel();
  if (dp) dp.abort(1);
});
