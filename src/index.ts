// The package's entry point (`import { pretrain } from 'tlc'`): the commands as functions, with
// the same options schemas as the CLI and sweep files (src/train/args.ts). The layers below
// have entry points of their own: tlc/engine (tensors, autodiff, kernels), tlc/nn (models),
// tlc/data (corpora, tokenizers, shards), tlc/compress and tlc/export.
export { TlcError } from './util/errors.js';
export {
  pretrainOptionsSchema, finetuneOptionsSchema, TRAINING_DEFAULTS, SHARED_DEFAULTS, type PretrainOptions, type FinetuneOptions,
} from './train/args.js';
export { pretrain, pretrainPlan, resumePretrain, readPretrainOptions } from './train/pretrain.js';
export type { PretrainEvents, PretrainResult } from './train/outcome.js';
export { finetune, finetunePlan, resumeFinetune } from './train/finetune.js';
export type { LoopEvents } from './train/loop.js';
export { runSweep, readSweepSpec, sweepPoints, type SweepInput, type SweepSpec, type SweepResult } from './experiment/sweep.js';
export { loadSweep, endPoints, type SweepRun } from './experiment/analysis.js';
export { plan, fitPoints, type Plan, type PlanCandidate, type PlanOptions } from './experiment/plan.js';
export { holdout, type Holdout } from './experiment/plan-holdout.js';
export { planPoints, type PointsPlan } from './experiment/plan-points.js';
export { readPointsFile } from './experiment/points-file.js';
export { parsePlanBudget, type PlanBudget } from './experiment/plan-budget.js';
export { approach2, type Approach2 } from './experiment/approach2.js';
export { fitChinchilla, predictLoss, computeOptimalAllocation, type ChinchillaFit, type ScalingPoint } from './experiment/fit.js';
export { runAuto } from './auto/auto.js';
export type { AutoOptions, AutoIo, AutoResult } from './auto/options.js';
export type { AutoRecord } from './auto/record.js';
export { presetConfig, countParams, type ModelConfig } from './nn/config.js';
export { setThreads, getThreads } from './engine/threads.js';
