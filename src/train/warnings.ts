// Warnings about a run that a person should see: on the terminal and as a metrics event.
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
