// Running tlc as a real process in tests: to the end, or killed part-way (for resume tests).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../src/run/metrics.js';

/** Runs `node args…` to the end; fails the test on a non-zero exit. Returns stdout. */
export function runToEnd(args: string[]): string {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `tlc exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** A running `node args…` whose stderr is kept, for the failure messages. */
export interface Running {
  child: ChildProcess;
  /** Resolves when the process has exited and its stderr is read to the end. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

export function start(args: string[]): Running {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (stderr += d));
  // 'close' comes after 'exit' and after the stdio streams ended: all of stderr is in
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

/**
 * Polls until `ready()` holds; fails the test at once, with the child's stderr, if the child
 * exits first (a crash, or a run that finished before the moment a test wanted).
 */
export async function waitUntil(p: Running, what: string, ready: () => boolean, pollMs = 2): Promise<void> {
  const seen: { exit: { code: number | null; signal: NodeJS.Signals | null } | null } = { exit: null };
  void p.exited.then((e) => (seen.exit = e));
  for (;;) {
    await new Promise((r) => setTimeout(r, pollMs));
    if (ready()) return;
    if (seen.exit !== null) {
      const { code, signal } = seen.exit;
      assert.fail(`tlc exited (code ${code}, signal ${signal}) before ${what}; stderr:\n${p.stderr()}`);
    }
  }
}

/** The training steps logged in `run`/metrics.jsonl. */
export function loggedSteps(run: string): number[] {
  const metrics = join(run, 'metrics.jsonl');
  return existsSync(metrics) ? readMetrics(metrics).filter((e) => e.event === 'train').map((e) => e.step) : [];
}

export interface Killed {
  /** The last step logged in metrics.jsonl when the process died. */
  step: number;
  /** The step of the checkpoint state.json pointed at then (null: none yet). */
  checkpointStep: number | null;
}

/**
 * Starts the command and SIGKILLs it once `run`/metrics.jsonl shows step ≥ `killAt`. Fails the
 * test if the process exits before (with its stderr), or if it was not the kill that ended it,
 * or if the run had already logged its end. Returns where the run stood when it died.
 */
export async function runAndKill(args: string[], run: string, killAt: number): Promise<Killed> {
  const p = start(args);
  await waitUntil(p, `step ${killAt} of ${run}`, () => loggedSteps(run).some((s) => s >= killAt));
  p.child.kill('SIGKILL');
  const { code, signal } = await p.exited;
  assert.equal(signal, 'SIGKILL', `tlc exited with code ${code} before it could be killed; stderr:\n${p.stderr()}`);
  const events = readMetrics(join(run, 'metrics.jsonl'));
  assert.ok(!events.some((e) => e.event === 'end'), `${run} had logged its end when it was killed`);
  const state = join(run, 'state.json');
  return {
    step: Math.max(...loggedSteps(run)),
    checkpointStep: existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')) as { step: number }).step : null,
  };
}
