// The names of the files tlc writes. Every stage and every outside tool reads these, so
// they are spelled here and nowhere else; keep them stable.
import { join } from 'node:path';

/** A run directory (pretraining, finetuning, a compression setting's finetuning). */
export const RUN_FILES = {
  /** The model's shape (src/nn/config.ts), Hugging Face-style. */
  config: 'config.json',
  /** The tokenizer, Hugging Face tokenizers format. */
  tokenizer: 'tokenizer.json',
  /** The latest (pretraining) or best (finetuning) weights. */
  weights: 'model.safetensors',
  /** The trainer state and the checkpoint that holds it. */
  state: 'state.json',
  /** One JSON object per event. */
  metrics: 'metrics.jsonl',
  /** The command and arguments the run was started with. */
  args: 'run.json',
  /** A finetuned classifier's validation and test scores. */
  results: 'results.json',
  checkpoints: 'checkpoints',
  /** A wsd run's cooldown branches, one run directory each: branches/<fraction>/. */
  branches: 'branches',
  /** In a branch's directory: where it forked from the trunk. */
  branch: 'branch.json',
  /** Written by the process that holds the run open. */
  lock: '.lock',
  /** While a budget extension renames a wsd run's fractions: what it renames (src/train/extend.ts). */
  extension: 'extension.json',
} as const;

/** Inside one checkpoint directory. */
export const CHECKPOINT_FILES = {
  weights: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  trainer: 'trainer.json',
  /** A finetuning run's best weights so far. */
  best: 'best.safetensors',
  /** A pruning run's mask. */
  mask: 'mask.safetensors',
  /** A structured pruning run's kept heads and neurons (and Taylor sums). */
  units: 'units.safetensors',
} as const;

/** The output of `tlc compress`: one folder per setting, and a summary. */
export const COMPRESS_FILES = {
  /** The compressed weights (docs/compressed-format.md). */
  model: 'model.tlcz.safetensors',
  /** A setting's settings and result row. */
  result: 'result.json',
  /** Every setting's row. */
  summary: 'compress.json',
  /** The finetuning run of a setting (finetune and gradual modes). */
  finetuneRun: 'finetune',
  /** The settings the setting's finetuning run was started for (written before it starts). */
  finetuneSettings: 'finetune-settings.json',
} as const;

/** The output of `tlc sweep`. */
export const SWEEP_FILES = {
  summary: 'sweep.json',
  spec: 'sweep.spec.json',
  /** Throughput probes of a `time_in_tokens` sweep, one run per point. */
  probes: 'probes',
  runs: 'runs',
} as const;

/** The output of `tlc auto`. */
export const AUTO_FILES = {
  /** Every stage, its cost and its outputs. */
  record: 'auto.json',
  data: 'data',
  /** The throughput probe that sizes the candidates. */
  prior: 'prior-probe',
  explore: 'explore',
  /** The chosen size, its exploration trunk continued. */
  final: 'final',
  finetune: 'finetune',
  compress: 'compress',
  /** The model to ship. */
  model: 'model',
  export: 'export',
} as const;

/** The output of `tlc pareto`. */
export const PARETO_FILES = {
  json: 'pareto.json',
  csv: 'pareto.csv',
} as const;

/** The report of `tlc report`. */
export const REPORT_FILES = {
  page: 'index.html',
} as const;

/**
 * In every output directory a command made (src/run/ownership.ts): which command's output it
 * is and, for an export, of which source.
 */
export const OUTPUT_MARKER = '.tlc-output.json';

export type RunFile = keyof typeof RUN_FILES;

/** `<dir>/<name of file>`. */
export function runFile(dir: string, file: RunFile): string {
  return join(dir, RUN_FILES[file]);
}
