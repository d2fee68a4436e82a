// Warnings about a run that a person should see: on the terminal and as a metrics event.
import { describeBudget, formatSeconds, type Budget, type BudgetUsage } from './budget.js';
/** Past this many passes over the corpus, repeated tokens are worth less than new ones (Muennighoff et al. 2023). */
export const EPOCH_WARNING = 4;

/** How far into a time budget its pace is trusted to project the tokens it will buy. */
export const EPOCH_PROJECTION_PROGRESS = 0.02;

/** The warning when a run's budget buys more than EPOCH_WARNING passes over its corpus, or null. */
export function epochWarning(projectedTokens: number, corpusTokens: number): string | null {
  const epochs = projectedTokens / corpusTokens;
  if (!(epochs > EPOCH_WARNING)) return null;
  return `the budget buys about ${epochs.toFixed(1)} passes over the ${corpusTokens.toLocaleString('en-US')}-token training corpus; past ~${EPOCH_WARNING} ` +
    'epochs repeated tokens are worth less than new ones (Muennighoff et al. 2023): more data would help more than more training';
}

/** The warning when the final validation loss is not below the baseline every model must beat, or null. */
export function baselineWarning(validLoss: number, baseline: { name: string; loss: number }): string | null {
  if (!(validLoss >= baseline.loss)) return null;
  return `the final validation loss ${validLoss.toFixed(4)} is not below the ${baseline.name} baseline ${baseline.loss.toFixed(4)}: ` +
    'the model learned nothing a word-frequency table does not know (check the learning rate, the budget and the data)';
}

/** The warning when the budget is less than half of the first step (the run is that one step), or null. */
export function budgetBelowStepWarning(budget: Budget, firstStep: BudgetUsage): string | null {
  if (budget.kind === 'steps') return null;
  const step = budget.kind === 'tokens' ? firstStep.tokens : budget.kind === 'flops' ? firstStep.flops : firstStep.trainSeconds;
  if (step < 2 * budget.limit) return null;
  const seconds = (x: number) => (x < 1 ? `${Number((x * 1000).toPrecision(2))} ms` : formatSeconds(x));
  const size = budget.kind === 'time' ? seconds(step) : `${step.toExponential(2)} ${budget.kind === 'tokens' ? 'tokens' : 'FLOPs'}`;
  const given = budget.kind === 'time' ? `${seconds(budget.limit)} of training time` : describeBudget(budget);
  return `the budget, ${given}, is less than half of one step (${size}): the run is that one step; give a larger budget or a smaller batch`;
}
