// The report's opening: what the measurements say, in a few sentences, each computed from
// them — which size won each training budget and by how much, and which compressed model a
// size or latency budget picks (with the runner-up). Nothing here is fixed text.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeBudget } from '../train/budget.js';
import { readJsonFile } from '../util/json-file.js';
import { runLabel } from './figures.js';
import type { RunSummary } from './runs.js';

/** Sentences on which size won each budget shared by two or more finished pretraining runs. */
export function sizeConclusions(runs: RunSummary[]): string[] {
  const byBudget = new Map<string, RunSummary[]>();
  for (const r of runs) {
    if (!r.finished || r.finalValidLoss === null || r.budget === null || r.params === null || r.group.startsWith('finetune-')) continue;
    const key = `${r.group}|${r.budget.kind}|${r.budget.limit}`;
    byBudget.set(key, [...(byBudget.get(key) ?? []), r]);
  }
  const out: string[] = [];
  for (const members of byBudget.values()) {
    if (members.length < 2) continue;
    const ranked = [...members].sort((a, b) => a.finalValidLoss! - b.finalValidLoss!);
    const [win, next] = ranked;
    const bySize = [...members].sort((a, b) => a.params! - b.params!);
    const where = win === bySize[0] ? 'the smallest size measured' : win === bySize.at(-1) ? 'the largest size measured'
      : `between ${runLabel(bySize[0])} and ${runLabel(bySize.at(-1)!)}: the optimum is interior`;
    const tokens = win.tokens > 0 && bySize[0] !== win && bySize[0].tokens > 0
      ? ` ${runLabel(bySize[0])} saw ${(bySize[0].tokens / win.tokens).toFixed(1)}× as many tokens.` : '';
    out.push(`With ${describeBudget(win.budget!)}, ${runLabel(win)} reached the lowest validation loss, ${win.finalValidLoss!.toFixed(3)}, ` +
      `${(next.finalValidLoss! - win.finalValidLoss!).toFixed(3)} below the next, ${runLabel(next)} (${next.finalValidLoss!.toFixed(3)}); ` +
      `it is ${where}.${tokens}`);
  }
  return out;
}

export interface SavedChoice {
  reason: string;
  /** The chosen model's compressed file, when one fits. */
  file: string | null;
  budget: { max_bytes?: number; max_latency_ms?: number };
}

/** The choice `tlc pareto` (or the demo) recorded in <dir>/pareto.json, if any. */
export function readSavedChoice(dir: string): SavedChoice | null {
  const path = join(dir, 'pareto.json');
  if (!existsSync(path)) return null;
  const saved = readJsonFile(path, 'run tlc pareto') as { choice?: { reason?: unknown; row?: { file?: unknown } | null } | null; budget?: SavedChoice['budget'] };
  if (typeof saved.choice?.reason !== 'string') return null;
  // relative to pareto.json's folder (older ones: as given when written)
  const recorded = typeof saved.choice.row?.file === 'string' ? saved.choice.row.file : null;
  const file = recorded === null ? null : existsSync(resolve(dir, recorded)) || !existsSync(recorded) ? resolve(dir, recorded) : resolve(recorded);
  return { reason: saved.choice.reason, file, budget: saved.budget ?? {} };
}

export function choiceConclusion(dir: string): string | null {
  const c = readSavedChoice(dir);
  return c ? `Test-time budget: ${c.reason}.` : null;
}
