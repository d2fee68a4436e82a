// Checkpoints: everything needed to continue a run exactly where it stopped.
//
//   <run>/checkpoints/step-00000120/  model.safetensors, optimizer.safetensors, trainer.json
//   <run>/model.safetensors           copy of the latest weights, for other tools
//   <run>/state.json                  the trainer state + which checkpoint holds it
//
// A checkpoint directory is assembled under a temporary name and renamed into place;
// state.json is replaced atomically afterwards. So a crash at any instant leaves
// state.json pointing at a complete checkpoint. Should that checkpoint still be unreadable
// (a damaged disk, a truncated copy: its weights carry checksums), resume falls back to the
// newest other checkpoint that loads and verifies.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Precision } from '../engine/mixed.js';
import { TlcError } from '../util/errors.js';
import { CHECKPOINT_FILES, RUN_FILES, runFile } from '../run/layout.js';
import { readSafetensors, writeSafetensors } from '../engine/safetensors.js';
import { tidy, type Tensor } from '../engine/tensor.js';
import type { AdamW } from '../engine/optim.js';
import { loadWeights, saveWeights } from '../nn/weights.js';
import type { Module } from '../nn/module.js';
import { copyFileAtomic, fsyncDirectory, removeAtomicTemporaries, writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { BudgetUsage } from './budget.js';
import type { NoiseScaleState } from './noise-scale.js';
import { makeDirs } from '../util/make-dirs.js';

export interface TrainerState {
  format_version: 1;
  step: number;
  usage: BudgetUsage;
  eval_seconds: number;
  checkpoint_seconds: number;
  /** Where the data stream stands (the task's own format). */
  batcher: unknown;
  dropout_rng: unknown;
  /** Budget fractions already passed for evaluation/checkpoint triggers. */
  triggers: Record<string, number>;
  last_lr: number;
  done: boolean;
  /** Stopped before the budget ended because validation stopped improving. */
  stopped_early: boolean;
  /** The best evaluation so far (finetuning keeps that model). */
  best: ({ step: number } & Record<string, number>) | null;
  /** Evaluations since the best one (early-stopping patience). */
  evals_since_best: number;
  /** Running gradient-noise-scale estimate (src/train/noise-scale.ts). */
  noise: NoiseScaleState;
  /** The precision the run resolved when it started (absent in runs from before bf16 training: f32). */
  precision?: Precision;
  /** What was due after this step when a signal stopped its evaluation: done first on resume. */
  pending?: DueAfterStep;
}

/** What is due after a step. */
export interface DueAfterStep {
  evaluate: boolean;
  /** The budget ended at this step. */
  finished: boolean;
  /** Budget fractions whose tagged checkpoints are written at this step. */
  tagged: number[];
  /** The periodic checkpoint. */
  save: boolean;
}

export interface StateFile extends TrainerState {
  checkpoint: string;
}

/** The tagged checkpoint kept at budget fraction f: budget-0.50, budget-0.125. */
export function budgetCheckpointName(f: number): string {
  const decimals = (String(f).split('.')[1] ?? '').length;
  return `budget-${f.toFixed(Math.max(2, decimals))}`;
}

export function checkpointName(step: number, tag?: string): string {
  return tag ?? `step-${String(step).padStart(8, '0')}`;
}

/**
 * Writes checkpoint `name` and points state.json at it. With `publish`, the run's
 * model.safetensors becomes these weights too (pretraining: the latest weights are the
 * result; finetuning publishes its best evaluation instead).
 */
export function saveCheckpoint(runDir: string, name: string, model: Module, optimizer: AdamW, state: TrainerState,
  publish = true, addExtras?: (dir: string) => void): string {
  const root = join(runDir, RUN_FILES.checkpoints);
  makeDirs(root);
  const tmp = join(root, `${TEMP_CHECKPOINT_PREFIX}${name}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const final = join(root, name);
  try {
    saveWeights(model, join(tmp, CHECKPOINT_FILES.weights), { step: String(state.step) });
    const opt = optimizer.exportState();
    const names = model.namedParameters().map(([n]) => n);
    const tensors = new Map<string, Tensor>();
    opt.moments.forEach((mv, i) => {
      tensors.set(`m.${names[i]}`, mv.m);
      tensors.set(`v.${names[i]}`, mv.v);
    });
    writeSafetensors(join(tmp, CHECKPOINT_FILES.optimizer), tensors, { step: String(opt.step) });
    writeJsonAtomic(join(tmp, CHECKPOINT_FILES.trainer), state);
    addExtras?.(tmp);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncDirectory(root);
  if (publish) copyFileAtomic(join(final, CHECKPOINT_FILES.weights), runFile(runDir, 'weights'));
  const pointer: StateFile = { ...state, checkpoint: `${RUN_FILES.checkpoints}/${name}` };
  writeJsonAtomic(runFile(runDir, 'state'), pointer);
  return final;
}

export function readStateFile(runDir: string): StateFile {
  const path = runFile(runDir, 'state');
  if (!existsSync(path)) throw new TlcError(`${runDir}: no ${RUN_FILES.state} — not a tlc run directory, or no checkpoint was written yet`);
  let s: StateFile;
  try {
    s = JSON.parse(readFileSync(path, 'utf8')) as StateFile;
  } catch (e) {
    throw new TlcError(`${path}: corrupted trainer state (${(e as Error).message})`);
  }
  if (s.format_version !== 1 || typeof s.checkpoint !== 'string' || typeof s.step !== 'number' || !s.usage || !s.batcher) {
    throw new TlcError(`${path}: not a tlc trainer state (missing or invalid fields)`);
  }
  return s;
}

/** A checkpoint being assembled: checkpoints/.tmp-<name>-<pid>. */
const TEMP_CHECKPOINT_PREFIX = '.tmp-';

/**
 * Removes what a writer killed mid-write left in a run directory: half-assembled checkpoint
 * directories and the temporary files of atomic writes. Only for the process that holds the
 * run's lock (no other process is writing there).
 */
export function removeStaleTemporaries(runDir: string): string[] {
  const removed = removeAtomicTemporaries(runDir);
  const root = join(runDir, RUN_FILES.checkpoints);
  if (!existsSync(root)) return removed;
  for (const n of readdirSync(root)) {
    const path = join(root, n);
    if (n.startsWith(TEMP_CHECKPOINT_PREFIX)) {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } else if (statSync(path).isDirectory()) {
      removed.push(...removeAtomicTemporaries(path));
    }
  }
  return removed;
}

function loadCheckpoint(runDir: string, pointer: string, model: Module, optimizer: AdamW, extras?: (dir: string) => void): void {
  const dir = join(runDir, pointer);
  for (const f of [CHECKPOINT_FILES.weights, CHECKPOINT_FILES.optimizer, CHECKPOINT_FILES.trainer]) {
    if (!existsSync(join(dir, f))) throw new TlcError(`${dir}: checkpoint is incomplete (${f} is missing)`);
  }
  loadWeights(model, join(dir, CHECKPOINT_FILES.weights));
  tidy(() => {
    const { tensors, metadata } = readSafetensors(join(dir, CHECKPOINT_FILES.optimizer));
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new TlcError(`${dir}/optimizer.safetensors: missing optimizer step in metadata`);
    const moments = model.namedParameters().map(([n, p]) => {
      const m = tensors.get(`m.${n}`), v = tensors.get(`v.${n}`);
      if (!m || !v) throw new TlcError(`${dir}/optimizer.safetensors: no optimizer state for ${n}`);
      if (m.size !== p.size || v.size !== p.size) throw new TlcError(`${dir}/optimizer.safetensors: optimizer state for ${n} has the wrong size`);
      return { m, v };
    });
    optimizer.importState({ step, moments });
  });
  extras?.(dir);
}

/** A checkpoint's own trainer.json as a state pointing at it, or null when it is unreadable. */
function checkpointState(runDir: string, name: string): StateFile | null {
  try {
    const s = JSON.parse(readFileSync(join(runDir, RUN_FILES.checkpoints, name, CHECKPOINT_FILES.trainer), 'utf8')) as TrainerState;
    if (s.format_version !== 1 || typeof s.step !== 'number' || !s.usage || !s.batcher) return null;
    return { ...s, checkpoint: `${RUN_FILES.checkpoints}/${name}` };
  } catch {
    return null;
  }
}

export interface RestoredCheckpoint {
  state: StateFile;
  /** The checkpoints tried before and passed over, with why ("" when state.json pointed at the one restored). */
  skipped: { checkpoint: string; reason: string }[];
}

/**
 * Restores model weights, optimizer moments and the task's extras from the checkpoint
 * state.json points at. When that one (or state.json itself) cannot be read or fails its
 * checksums, the other checkpoints of the run no later than it are tried, newest first;
 * what was passed over is returned. None loading is an error listing why each failed.
 */
export function restoreCheckpoint(runDir: string, model: Module, optimizer: AdamW, extras?: (dir: string) => void): RestoredCheckpoint {
  const skipped: { checkpoint: string; reason: string }[] = [];
  let pointed: StateFile | null = null;
  try {
    pointed = readStateFile(runDir);
    loadCheckpoint(runDir, pointed.checkpoint, model, optimizer, extras);
    return { state: pointed, skipped };
  } catch (e) {
    if (!(e instanceof TlcError)) throw e;
    skipped.push({ checkpoint: pointed?.checkpoint ?? RUN_FILES.state, reason: e.message });
  }
  const root = join(runDir, RUN_FILES.checkpoints);
  const candidates = (existsSync(root) ? readdirSync(root) : [])
    .filter((n) => !n.startsWith('.') && `${RUN_FILES.checkpoints}/${n}` !== pointed?.checkpoint)
    .map((n) => checkpointState(runDir, n))
    .filter((s): s is StateFile => s !== null && (pointed === null || s.step <= pointed.step))
    // newest first; at one step, periodic checkpoints before tagged ones
    .sort((a, b) => b.step - a.step || Number(!/\/step-\d+$/.test(a.checkpoint)) - Number(!/\/step-\d+$/.test(b.checkpoint)));
  for (const candidate of candidates) {
    try {
      loadCheckpoint(runDir, candidate.checkpoint, model, optimizer, extras);
      return { state: candidate, skipped };
    } catch (e) {
      if (!(e instanceof TlcError)) throw e;
      skipped.push({ checkpoint: candidate.checkpoint, reason: e.message });
    }
  }
  throw new TlcError(`${runDir}: no checkpoint can be restored — ` + skipped.map((s) => `${s.checkpoint}: ${s.reason}`).join('; ') +
    '; start the run again in a new directory');
}

/** Deletes periodic checkpoints beyond the newest `keep` (tagged ones are kept). */
export function pruneCheckpoints(runDir: string, keep: number, protect: string): void {
  const root = join(runDir, RUN_FILES.checkpoints);
  if (!existsSync(root)) return;
  const periodic = readdirSync(root).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const n of periodic.slice(0, Math.max(0, periodic.length - keep))) {
    if (`${RUN_FILES.checkpoints}/${n}` !== protect) rmSync(join(root, n), { recursive: true, force: true });
  }
}

export { writeFileAtomic };
