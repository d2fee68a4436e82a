// Which size `tlc auto` trains on: `tlc plan`'s machinery (the plateau rule, effective tokens,
// the law and its bands) fitted on the exploration's cooldown branches predicts each
// candidate's loss at the end of the schedule it would get — its exploration trunk extended
// with the rest of the budget, then one cooldown — and the lowest prediction wins. Where the
// law cannot predict any candidate, the measurements decide: the lowest loss at the end of
// the exploration.
import { trainingFlopsPerToken } from '../nn/config.js';
import type { SweepRun } from '../experiment/analysis.js';
import { configFor, fitPoints, sizeLabels, sweepRegime } from '../experiment/plan.js';
import { predictInRegime } from '../experiment/plan-regime.js';
import type { PlanBudget } from '../experiment/plan-budget.js';
import { COOLDOWN, finalTrunk } from './budget-split.js';

export interface CandidateOutlook {
  preset: string;
  /** The final trunk in the budget's unit. */
  trunkUnits: number;
  /** The final trunk in the candidate's tokens (time and FLOP budgets converted with its throughput and FLOPs per token). */
  trunkTokens: number;
  /** Tokens at the end of the final cooldown: the loss predicted is there. */
  endTokens: number;
  predicted: number | null;
  low: number | null;
  high: number | null;
  unpredictable: string | null;
  /** The candidate's loss at the end of its exploration (its last cooldown branch). */
  explored: number;
}

export interface Choice {
  preset: string;
  outlook: CandidateOutlook[];
  /** 'law' when the prediction chose, 'measured' when the law could not, 'kept' for a size trained on before. */
  by: 'law' | 'measured' | 'kept';
  notes: string[];
}

export interface ChoiceInputs {
  runs: SweepRun[];
  budget: PlanBudget;
  /** A candidate's exploration trunk as it trained, in the budget's unit. */
  trunkOf: (preset: string) => number;
  /** One training step of a candidate, in the budget's unit (two are held back for the final segments). */
  stepOf: (preset: string) => number;
  /** The budget not spent yet (all of it but the exploration and any earlier final cooldowns). */
  remaining: number;
  vocabSize: number;
  seqLen: number;
  objective: 'mlm' | 'clm';
  corpusTokens: number;
  /** A size already trained on past its exploration (a rerun with a larger budget): it stays chosen. */
  keep?: string;
}

export function chooseSize(x: ChoiceInputs): Choice {
  const notes: string[] = [];
  const lastLoss = (r: SweepRun) => r.points.reduce((a, p) => (p.fraction > a.fraction ? p : a), r.points[0])?.validLoss ?? r.valid_loss;
  const unitsOf = (r: SweepRun): number => finalTrunk(x.trunkOf(r.preset), x.remaining - 2 * x.stepOf(r.preset));
  const tokensOf = (r: SweepRun, units: number): number => {
    if (x.budget.kind === 'tokens') return units;
    if (x.budget.kind === 'flops') return units / trainingFlopsPerToken(configFor(r.preset, x), x.seqLen);
    return units * (r.probe_tokens_per_s ?? r.tokens_per_s);
  };
  let predict: (r: SweepRun, tokens: number) => { loss: number | null; low: number | null; high: number | null; unpredictable: string | null };
  try {
    const unigramLoss = x.runs.find((r) => r.unigramLoss !== null)?.unigramLoss ?? null;
    const regime = sweepRegime(fitPoints(x.runs), { corpusTokens: x.corpusTokens, unigramLoss });
    notes.push(...regime.notes);
    if (regime.plateau.active && !regime.plateauApplied) {
      // a law fitted across the plateaus extrapolates them: the measurements are the better guide
      predict = () => ({ loss: null, low: null, high: null, unpredictable: 'the law is fitted across plateaus' });
    } else {
      const sizeOf = sizeLabels(x.runs);
      predict = (r, tokens) => predictInRegime(regime, sizeOf(r), r.non_embedding_params, tokens);
    }
  } catch (e) {
    notes.push(`the law could not be fitted on the exploration (${(e as Error).message}): the measurements decide`);
    predict = () => ({ loss: null, low: null, high: null, unpredictable: 'no law' });
  }
  const outlook = x.runs.map((r): CandidateOutlook => {
    const trunkUnits = unitsOf(r);
    const trunkTokens = tokensOf(r, trunkUnits);
    const endTokens = trunkTokens * (1 + COOLDOWN);
    const p = predict(r, endTokens);
    return { preset: r.preset, trunkUnits, trunkTokens, endTokens, predicted: p.loss, low: p.low, high: p.high, unpredictable: p.unpredictable, explored: lastLoss(r) };
  });
  if (x.keep !== undefined && outlook.some((o) => o.preset === x.keep)) return { preset: x.keep, outlook, by: 'kept', notes };
  const predicted = outlook.filter((o) => o.predicted !== null);
  if (predicted.length > 0) {
    const best = predicted.reduce((a, o) => (o.predicted! < a.predicted! ? o : a));
    const unknown = outlook.filter((o) => o.predicted === null);
    if (unknown.length > 0) notes.push(`cannot say for ${unknown.map((o) => o.preset).join(', ')}: ${unknown[0].unpredictable}`);
    return { preset: best.preset, outlook, by: 'law', notes };
  }
  const best = outlook.reduce((a, o) => (o.explored < a.explored ? o : a));
  notes.push(`no candidate could be predicted at the final budget; ${best.preset} reached the lowest loss in the exploration`);
  return { preset: best.preset, outlook, by: 'measured', notes };
}
