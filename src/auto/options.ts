// What `tlc auto` is asked (its options) and how it talks to its caller (progress, lines, stop).
import type { PlanBudget } from '../experiment/plan-budget.js';
import type { LoopEvents } from '../train/loop.js';
import type { WorkerSlot } from '../util/launch.js';
import type { AutoRecord } from './record.js';

export interface AutoOptions {
  out: string;
  corpus: string[];
  task: string | null;
  budget: PlanBudget;
  budgetText: string;
  explore?: number;
  objective: 'mlm' | 'clm';
  /** Finetuning budget per model (a duration). */
  finetuneBudget: string;
  /** Compression finetuning budget per setting (a duration). */
  compressBudget: string;
  maxBytes?: number;
  maxLatencyMs?: number;
  /** Candidate sizes instead of the probe's proposal. */
  sizes?: string[];
  vocabSize?: number;
  seqLen?: number;
  batchSize?: number;
  /** Each throughput probe's length (default 20s). */
  probe?: string;
  /** Use only this many of the task's examples (a quicker, noisier run). */
  taskExamples?: number;
  dryRun?: boolean;
}

export interface AutoIo {
  say(line: string): void;
  detail(line: string): void;
  /** `job`: told the seconds trained since its last call, says how far the whole job is (shown beside the loop's own progress). */
  events(label: string, validKey: string, job?: (trainedSeconds: number) => string | null): LoopEvents & { finish(): void };
  signal?: AbortSignal;
  worker?: WorkerSlot | null;
}

export type AutoResult = { interrupted: true; record: AutoRecord } | { interrupted: false; record: AutoRecord; dryRun: boolean };
