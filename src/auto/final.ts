// The chosen size trains on: its exploration trunk is copied (the exploration stays as it was
// measured) and extended — a warmup–stable–decay trunk goes on at its peak rate, no token thrown
// away — to the length the rest of the budget buys, then cools down once, at its new end.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AUTO_FILES, runFile } from '../run/layout.js';
import { lockRun } from '../run/lock.js';
import { readRunArgsIfAny, rewriteRunOptions } from '../run/run-args.js';
import { extendRun } from '../train/extend.js';
import { branchDir, listBranches } from '../train/branches.js';
import { readPretrainOptions, resumePretrain, type PretrainResult } from '../train/pretrain.js';
import type { LoopEvents } from '../train/loop.js';

export function finalRunDir(out: string): string {
  return join(out, AUTO_FILES.final);
}

/** The pretrained model at the end of the final schedule: the cooldown branch at the trunk's end. */
export function finalModelDir(out: string): string {
  return branchDir(finalRunDir(out), 1);
}

/**
 * Trains the chosen size to `trunk` (tokens, or FLOPs for a FLOP budget), from its exploration
 * run. Every step is safe to repeat: the copy is made whole before it is used (a half copy is
 * made again), the extension is journaled by the run itself, and the branch list is trimmed
 * to the branches already forked and the new end, so no cooldown is paid for twice.
 */
export async function trainFinal(out: string, explorationRun: string, trunk: { kind: 'tokens' | 'flops'; value: number },
  events: LoopEvents, signal?: AbortSignal): Promise<PretrainResult> {
  const dir = finalRunDir(out);
  const copied = join(dir, '.copied');
  if (!existsSync(copied)) {
    rmSync(dir, { recursive: true, force: true });
    cpSync(explorationRun, dir, { recursive: true, filter: (src) => !src.endsWith('.lock') });
    cpSync(runFile(dir, 'args'), copied);
  }
  const options = readPretrainOptions(dir);
  const limit = Number(options[trunk.kind] ?? 0);
  const target = Math.round(trunk.value);
  if (target > limit) {
    const release = lockRun(dir);
    try {
      extendRun(dir, readRunArgsIfAny(dir)!.options, { [trunk.kind]: String(target) });
    } finally {
      release();
    }
  }
  onlyTheFinalCooldown(dir);
  return resumePretrain(dir, events, signal);
}

/** Keeps the branches that forked already and the one at the end; drops those an extension added ahead of the trunk. */
function onlyTheFinalCooldown(dir: string): void {
  const args = readRunArgsIfAny(dir)!;
  const forked = listBranches(dir).map((b) => b.info.fraction);
  const branches = [...new Set([...forked, 1])].sort((a, b) => a - b);
  const current = (args.options as { branches?: number[] }).branches ?? [1];
  if (JSON.stringify(current) !== JSON.stringify(branches)) rewriteRunOptions(dir, { ...args.options, branches });
}
