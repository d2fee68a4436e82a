// Running tlc as a real process in tests: to the end, or killed part-way (for resume tests).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../src/run/metrics.js';

/** Runs `node args…` to the end; fails the test on a non-zero exit. Returns stdout. */
export function runToEnd(args: string[]): string {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `tlc exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Starts the command and SIGKILLs it once `run`/metrics.jsonl shows step ≥ `killAt`. */
export async function runAndKill(args: string[], run: string, killAt: number): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const metrics = join(run, 'metrics.jsonl');
  for (;;) {
    await new Promise((r) => setTimeout(r, 2));
    if (child.exitCode !== null) break;
    const steps = existsSync(metrics) ? readMetrics(metrics).filter((e) => e.event === 'train').map((e) => e.step) : [];
    if (steps.length && Math.max(...steps) >= killAt) {
      child.kill('SIGKILL');
      break;
    }
  }
  await exited;
}
