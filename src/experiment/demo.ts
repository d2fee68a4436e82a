// The demo: `tlc auto` on the bundled corpora (State of the Union addresses and the Brown
// corpus) and the Brown genre task, with budgets small enough to watch. Its pretraining leaves
// out the documents the task's test split comes from (docs/data.md).
import { loadTask, testDocumentIds } from '../data/tasks.js';

export const DEMO_CORPORA = ['example:sotu', 'example:brown'];
export const DEMO_TASK = 'example:brown-genre';
const DEMO_TASK_SEED = 0;

/** The demo's defaults, as `tlc demo` flags. */
export const DEMO_DEFAULTS = { budget: '10m', finetuneBudget: '2m', compressBudget: '30s', maxBytes: '2MB', probe: '10s' } as const;

/** The documents the demo's pretraining leaves out: those the Brown genre task's test split comes from. */
export async function demoPretrainingExclusion(): Promise<Set<string>> {
  return testDocumentIds(await loadTask(DEMO_TASK, { seed: DEMO_TASK_SEED }));
}
