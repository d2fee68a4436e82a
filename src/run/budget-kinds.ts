// What a training budget can count (src/train/budget.ts), as every file of a run records it.
export const BUDGET_KINDS = ['time', 'tokens', 'steps', 'flops'] as const;
export type BudgetKind = (typeof BUDGET_KINDS)[number];
