// `tlc auto` as a library function: from a corpus (and optionally a task) and budgets to the
// model to ship. Stages, each recorded in auto.json when done and skipped or resumed when the
// same command runs again:
//   prepare   the corpus → train/valid token shards and a tokenizer
//   plan      a throughput probe; candidate sizes around the compute-optimal guess; the split
//             of the budget between exploration and the final training (--dry-run stops here)
//   explore   one wsd trunk per candidate with cooldown branches
//   choose    `tlc plan`'s machinery predicts each candidate's loss at the end of the schedule
//             the rest of the budget buys it; the lowest wins
//   final     the chosen size's trunk goes on and cools down once (all pretraining ≤ --budget)
//   task      finetune, compress by the recipe, choose on the Pareto frontier within the test
//             budget (with --task); a generated sample for a causal LM without one
//   ship      the model to <out>/model, its HF and ONNX export (the report is drawn by the caller)
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { AUTO_FILES, COMPRESS_FILES, RUN_FILES, SWEEP_FILES, runFile } from '../run/layout.js';
import { writePareto } from '../experiment/pareto.js';
import { formatBytes } from '../util/format.js';
import { eventsOf, readMetrics } from '../run/metrics.js';
import { DATA_FILE, readDataMeta } from '../data/shards.js';
import { prepareData } from '../data/prepare.js';
import { checkLabels, loadTask, testDocumentIds } from '../data/tasks.js';
import { loadSweep } from '../experiment/analysis.js';
import { finishedRun } from '../experiment/sweep.js';
import { describePlanBudget, type PlanBudget } from '../experiment/plan-budget.js';
import { exportRun } from '../export/export.js';
import { branchDir, listBranches } from '../train/branches.js';
import { formatSeconds } from '../train/budget.js';
import { DEFAULT_EXPLORE } from './budget-split.js';
import { explorationSpec, explore, finetuneStepSeconds, fittingCandidates, probeMachine, proposeCandidates, PRIOR_REFERENCE, type AutoTraining } from './explore.js';
import { chooseSize } from './choose.js';
import { finalModelDir, finalRunDir, trainFinal } from './final.js';
import {
  compressModelGrid, finetuneModel, largerWorthCompressing, selectCompressed, settingDirOf, describeRow, taskStepShape,
  type FinetunedModel,
} from './task.js';
import { addCosts, continueRecord, readRecord, runCost, writeRecord, type AutoRecord, type Cost } from './record.js';
import { sampleText } from './sample.js';
import { ASSUMED_OVERHEAD, JobClock, settingsPerModel, taskTrainingSeconds, trainingLeft } from './job-clock.js';
import type { AutoIo, AutoOptions, AutoResult } from './options.js';
import { makeDirs } from '../util/make-dirs.js';

export async function runAuto(o: AutoOptions, given: AutoIo): Promise<AutoResult> {
  // every training loop's progress line also says how far the whole job is
  const clock: { job: JobClock | null } = { job: null };
  const io: AutoIo = {
    ...given,
    events: (label, validKey) => given.events(label, validKey, (trained) => {
      clock.job?.trained(trained);
      return clock.job?.status() ?? null;
    }),
  };
  // a task no classifier can learn is refused now, not after the pretraining
  if (o.task) checkLabels(await loadTask(o.task, { seed: 0 }));
  makeDirs(o.out);
  const asked: AutoRecord = {
    version: 1, corpus: o.corpus, task: o.task, objective: o.objective,
    budget: { text: o.budgetText, kind: o.budget.kind, value: budgetValue(o.budget) }, explore: o.explore ?? DEFAULT_EXPLORE,
    settings: {
      '--sizes': o.sizes ?? null, '--vocab-size': o.vocabSize ?? 8192, '--seq-len': o.seqLen ?? 128, '--batch-size': o.batchSize ?? 32,
      '--finetune-budget': o.task ? o.finetuneBudget : null, '--compress-budget': o.task ? o.compressBudget : null,
      '--max-bytes': o.maxBytes ?? null, '--max-latency': o.maxLatencyMs ?? null, '--task-examples': o.taskExamples ?? null,
    },
    data_dir: resolve(o.out, AUTO_FILES.data), stages: {},
  };
  const previous = readRecord(o.out);
  const record = previous ? continueRecord(previous, asked, o.out) : asked;
  const stage = stageRunner(o.out, record, io, o, clock);
  const t: AutoTraining = {
    dataDir: record.data_dir, objective: o.objective, seqLen: o.seqLen ?? 128, batchSize: o.batchSize ?? 32, probe: o.probe ?? '20s',
  };

  // a larger budget before the exploration started: plan the split again (once it has started,
  // its runs keep their plan, and the larger budget goes to the final training)
  const exploring = existsSync(join(o.out, AUTO_FILES.explore, SWEEP_FILES.spec));
  if (previous && previous.budget.value !== record.budget.value && !record.stages.explore?.done && !exploring) delete record.stages.plan;
  if (io.worker && io.worker.index !== 0) {
    // one worker prepares and plans; the others explore their share of its plan
    const planned = await waitForPlan(o.out, io);
    if (!planned) return { interrupted: true, record };
    Object.assign(record, planned);
  } else {
    if (!(await stage('prepare', () => prepare(o, record)))) return { interrupted: true, record };
    if (!(await stage('plan', () => planStage(o, record, t, io)))) return { interrupted: true, record };
  }
  printPlan(o, record, io);
  if (o.dryRun) return { interrupted: false, record, dryRun: true };
  if (!(await stage('explore', () => exploreStage(o, record, t, io)))) return { interrupted: true, record };
  if (io.worker && io.worker.index !== 0) return { interrupted: false, record, dryRun: false }; // rank 0 goes on alone
  // a larger budget on a rerun reopens the stages it changes
  if (record.plan && (record.plan.budget_value as number) < record.budget.value) reopenForLargerBudget(o.out, record);
  if (!(await stage('choose', () => chooseStage(o.out, record, t, io)))) return { interrupted: true, record };
  if (!(await stage('final', () => finalStage(o, record, io)))) return { interrupted: true, record };
  if (!(await stage('task', () => taskStage(o, record, io)))) return { interrupted: true, record };
  if (!(await stage('ship', () => shipStage(o, record, io)))) return { interrupted: true, record };
  return { interrupted: false, record, dryRun: false };
}

/**
 * A rerun with a larger budget: the chosen size trains on, so what was made from its model
 * before (its finetuning and compression, the shipped model) is made again.
 */
function reopenForLargerBudget(out: string, record: AutoRecord): void {
  for (const s of ['choose', 'final', 'task', 'ship']) delete record.stages[s];
  writeRecord(out, record); // before anything is deleted, so a kill in between cannot leave stages marked done without their outputs
  const preset = record.chosen?.preset;
  if (preset) for (const dir of [join(out, AUTO_FILES.finetune, preset), join(out, AUTO_FILES.compress, preset)]) rmSync(dir, { recursive: true, force: true });
  for (const dir of [AUTO_FILES.model, AUTO_FILES.export]) rmSync(join(out, dir), { recursive: true, force: true });
}

function budgetValue(b: PlanBudget): number {
  return b.kind === 'time' ? b.seconds : b.kind === 'tokens' ? b.tokens : b.flops;
}

/** Runs a stage unless auto.json says it is done; false if it was interrupted. */
export const STAGES = ['prepare', 'plan', 'explore', 'choose', 'final', 'task', 'ship'] as const;

function stageRunner(out: string, record: AutoRecord, io: AutoIo, o: AutoOptions, clock: { job: JobClock | null }) {
  return async (name: (typeof STAGES)[number], body: () => Promise<boolean>): Promise<boolean> => {
    if (record.stages[name]?.done) return true;
    const left = trainingLeft(record, o);
    if (left !== null) {
      clock.job ??= new JobClock(record.budget.value + (o.task ? taskTrainingSeconds(o, record.task_step_seconds ?? null) : 0), left);
      clock.job.stageStarted(left);
    }
    io.say(`[${STAGES.indexOf(name) + 1}/${STAGES.length}] ${name}` + (left !== null && left > 0
      ? ` (about ${formatSeconds(left)} of training left in the job, finishing near ${clock.job!.finishing()})` : ''));
    const start = Date.now();
    const ok = await body();
    const seconds = (record.stages[name]?.seconds ?? 0) + (Date.now() - start) / 1000;
    record.stages[name] = { done: ok, seconds };
    if (!io.worker || io.worker.index === 0) writeRecord(out, record);
    return ok;
  };
}

async function prepare(o: AutoOptions, record: AutoRecord): Promise<boolean> {
  if (existsSync(join(record.data_dir, DATA_FILE))) return true;
  // the documents a task's test examples come from are never pretrained on
  const exclude = o.task ? testDocumentIds(await loadTask(o.task, { seed: 0 })) : new Set<string>();
  await prepareData({ inputs: o.corpus, outDir: record.data_dir, vocabSize: o.vocabSize ?? 8192, exclude });
  return true;
}

async function planStage(o: AutoOptions, record: AutoRecord, t: AutoTraining, io: AutoIo): Promise<boolean> {
  io.say(`measuring this machine: a ${t.probe} probe of ${PRIOR_REFERENCE}`);
  const gflops = await probeMachine(o.out, t, io.signal);
  if (gflops === null) return false;
  const proposal = proposeCandidates(t, gflops, o.budget);
  record.prior = { reference: PRIOR_REFERENCE, gflops, centre: proposal.centre };
  let fitted;
  try {
    fitted = fittingCandidates(t, o.sizes ?? proposal.candidates, gflops, o.budget, record.budget.value, record.explore, o.sizes !== undefined);
  } catch (e) {
    throw new TlcError(`--budget ${o.budgetText} is too small to explore ${(o.sizes ?? proposal.candidates).join(', ')}: ${(e as Error).message}`);
  }
  record.candidates = fitted.candidates;
  if (o.task) {
    // a finetuning step of the middle candidate (the likely choice) and of the largest (the larger one compressed)
    const shape = await taskStepShape(o.task, record.data_dir, o.taskExamples);
    const sizes = [fitted.candidates[Math.floor((fitted.candidates.length - 1) / 2)], fitted.candidates[fitted.candidates.length - 1]];
    record.task_step_seconds = sizes.map((preset) => finetuneStepSeconds(t, preset, gflops, shape));
  }
  const split = fitted.split;
  record.split = { total: split.total, explore: split.explore, trunk: split.trunk, final: split.final };
  return true;
}

function printPlan(o: AutoOptions, record: AutoRecord, io: AutoIo): void {
  const split = record.split!;
  const unit = (v: number) => (o.budget.kind === 'time' ? formatSeconds(v) : o.budget.kind === 'tokens' ? `${(v / 1e6).toFixed(2)}M tokens` : `${v.toExponential(2)} FLOPs`);
  io.say(`plan for ${describePlanBudget(o.budget)} in all, exploration included (${record.prior!.gflops.toFixed(1)} GFLOP/s measured on ${PRIOR_REFERENCE}):`);
  io.say(`  candidates ${record.candidates!.join(', ')} (around ${record.prior!.centre}, about ${20} tokens per parameter in the whole budget)`);
  io.say(`  explore: ${unit(split.explore)} (${Math.round(100 * record.explore)}%): a trunk of ${unit(split.trunk)} per candidate, cooldowns at 1/4, 1/2 and the end`);
  io.say(`  final: ${unit(split.final)} for the chosen size, its trunk continued, one cooldown at the end`);
  if (o.task) {
    io.say(`  task ${o.task}: finetune up to 2 models (${o.finetuneBudget} each), compress each over ${settingsPerModel(o)} settings ` +
      `(${o.compressBudget} of finetuning each), choose within ${[o.maxBytes !== undefined ? formatBytes(o.maxBytes) : null, o.maxLatencyMs !== undefined ? `${o.maxLatencyMs} ms` : null].filter(Boolean).join(' and ') || 'no test budget (the most accurate)'}`);
  }
  if (o.budget.kind === 'time') {
    const training = o.budget.seconds + (o.task ? taskTrainingSeconds(o, record.task_step_seconds ?? null) : 0);
    io.say(`  expected: about ${formatSeconds(training * ASSUMED_OVERHEAD)} in all (training plus evaluation and checkpoints), ` +
      `finishing near ${new Date(Date.now() + training * ASSUMED_OVERHEAD * 1000).toLocaleTimeString()}`);
  }
}

async function exploreStage(o: AutoOptions, record: AutoRecord, t: AutoTraining, io: AutoIo): Promise<boolean> {
  const spec = explorationSpec(t, record.candidates!, o.budget, record.split!.trunk);
  io.say(`exploring ${record.candidates!.join(', ')}`);
  const r = await explore(o.out, spec, { events: (name) => io.events(`explore ${name}`, 'valid_loss'), log: io.detail, signal: io.signal, worker: io.worker ?? null });
  if (r.interrupted) return false;
  if (r.pending.length > 0 && (!io.worker || io.worker.index === 0)) {
    if (!(await waitForOtherWorkers(o.out, r.pending, io))) return false;
  }
  const sweepDir = join(o.out, AUTO_FILES.explore);
  record.exploration = {
    sweep_dir: resolve(sweepDir),
    // each candidate's loss at the end of its exploration: its last cooldown branch
    rows: loadSweep(sweepDir).map((run) => {
      const last = run.points.reduce<(typeof run.points)[number] | null>((a, p) => (a === null || p.fraction > a.fraction ? p : a), null);
      return { preset: run.preset, tokens: last?.tokens ?? run.tokens, valid_loss: last?.validLoss ?? run.valid_loss, probe_tokens_per_s: run.probe_tokens_per_s ?? null };
    }),
  };
  return true;
}

/** The plan of the first worker, once auto.json has it (null if interrupted while waiting). */
async function waitForPlan(out: string, io: AutoIo): Promise<AutoRecord | null> {
  for (;;) {
    const r = readRecord(out);
    if (r?.stages.plan?.done) return r;
    if (io.signal?.aborted) return null;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Rank 0 waits until the other workers' exploration runs have ended, branches included. */
async function waitForOtherWorkers(out: string, pending: string[], io: AutoIo): Promise<boolean> {
  io.detail(`waiting for the other workers: ${pending.join(', ')}`);
  for (;;) {
    const ended = pending.filter((name) => finishedRun(join(out, AUTO_FILES.explore, SWEEP_FILES.runs, name)));
    if (ended.length === pending.length) return true;
    if (io.signal?.aborted) return false;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function chooseStage(out: string, record: AutoRecord, t: AutoTraining, io: AutoIo): Promise<boolean> {
  const runs = loadSweep(record.exploration!.sweep_dir);
  const meta = readDataMeta(t.dataDir);
  // what the exploration spent as it trained (a run passes its share by up to a step), and, on a
  // rerun with a larger budget, the final cooldowns already paid for; a size trained on stays chosen
  const trainedOn = existsSync(finalRunDir(out)) && record.chosen !== undefined;
  const remaining = record.budget.value - explorationSpent(record) - (trainedOn ? finalCooldownsSpent(out, record) : 0);
  const unitsOf = (preset: string, c: Cost) => inBudgetUnits(record, preset, c);
  const runsDir = join(record.exploration!.sweep_dir, SWEEP_FILES.runs);
  const trunkOf = (preset: string) => {
    const end = eventsOf(readMetrics(runFile(join(runsDir, preset), 'metrics')), 'end').pop()!;
    return unitsOf(preset, { seconds: end.train_seconds, tokens: end.tokens, flops: end.flops });
  };
  const stepOf = (preset: string) => {
    const end = eventsOf(readMetrics(runFile(join(runsDir, preset), 'metrics')), 'end').pop()!;
    return unitsOf(preset, { seconds: end.train_seconds / end.step, tokens: end.tokens / end.step, flops: end.flops / end.step });
  };
  const choice = chooseSize({
    runs, budget: budgetOf(record), trunkOf, stepOf, remaining, keep: trainedOn ? record.chosen?.preset : undefined,
    vocabSize: meta.vocab_size, seqLen: t.seqLen, objective: t.objective, corpusTokens: meta.train.tokens,
  });
  const mine = choice.outlook.find((c) => c.preset === choice.preset)!;
  record.plan = { by: choice.by, outlook: choice.outlook, notes: choice.notes, budget_value: record.budget.value };
  record.chosen = {
    preset: choice.preset, valid_loss: null, model_dir: resolve(finalModelDir(out)), predicted_loss: mine.predicted,
    final_trunk: { kind: record.budget.kind === 'flops' ? 'flops' : 'tokens', value: Math.round(record.budget.kind === 'flops' ? mine.trunkUnits : mine.trunkTokens) },
  };
  io.say(`chose ${choice.preset} (${choice.by === 'law' ? `predicted ${mine.predicted!.toFixed(3)} at the end of its schedule` : choice.by === 'kept' ? 'trained on before' : 'the lowest measured loss'})` +
    (choice.notes.length ? `; ${choice.notes.join('; ')}` : ''));
  return true;
}

/** What the final run's cooldown branches cost, in the budget's unit. */
function finalCooldownsSpent(out: string, record: AutoRecord): number {
  const trunkEnd = eventsOf(readMetrics(runFile(join(record.exploration!.sweep_dir, SWEEP_FILES.runs, record.chosen!.preset), 'metrics')), 'end').pop()!;
  const rate = record.exploration!.rows.find((r) => r.preset === record.chosen!.preset)?.probe_tokens_per_s ?? null;
  let spent = 0;
  for (const { dir, info } of listBranches(finalRunDir(out))) {
    if (info.fork_usage.tokens <= trunkEnd.tokens) continue;
    // a branch that forked trains to its end whether or not it has ended yet: count all of it
    const end = eventsOf(readMetrics(runFile(dir, 'metrics')), 'end').pop();
    const planned = info.budget.limit - (info.budget.kind === 'flops' ? info.fork_usage.flops : info.fork_usage.tokens);
    const tokens = end ? end.tokens - info.fork_usage.tokens : info.budget.kind === 'tokens' ? planned : planned / flopsPerTokenOf(record);
    const flops = end ? end.flops - info.fork_usage.flops : info.budget.kind === 'flops' ? planned : planned * flopsPerTokenOf(record);
    spent += record.budget.kind === 'tokens' ? tokens : record.budget.kind === 'flops' ? flops : tokens / (rate ?? 1);
  }
  return spent;
}

/** The chosen run's FLOPs per token, from its exploration trunk's counters. */
function flopsPerTokenOf(record: AutoRecord): number {
  const end = eventsOf(readMetrics(runFile(join(record.exploration!.sweep_dir, SWEEP_FILES.runs, record.chosen!.preset), 'metrics')), 'end').pop()!;
  return end.flops / end.tokens;
}

function budgetOf(record: AutoRecord): PlanBudget {
  const v = record.budget.value;
  return record.budget.kind === 'time' ? { kind: 'time', seconds: v } : record.budget.kind === 'tokens' ? { kind: 'tokens', tokens: v } : { kind: 'flops', flops: v };
}

async function finalStage(o: AutoOptions, record: AutoRecord, io: AutoIo): Promise<boolean> {
  const chosen = record.chosen!;
  const from = join(record.exploration!.sweep_dir, SWEEP_FILES.runs, chosen.preset);
  const length = chosen.final_trunk;
  io.say(`training ${chosen.preset} on to ${length.kind === 'tokens' ? `${(length.value / 1e6).toFixed(2)}M tokens` : `${length.value.toExponential(2)} FLOPs`}, then one cooldown`);
  const events = io.events(`final ${chosen.preset}`, 'valid_loss');
  const r = await trainFinal(o.out, from, length, events, io.signal);
  events.finish();
  if (r.interrupted) return false;
  const end = eventsOf(readMetrics(runFile(finalModelDir(o.out), 'metrics')), 'end').pop();
  chosen.valid_loss = end?.valid_loss ?? null;
  const cost = pretrainCost(o.out, record, from);
  record.pretrain_cost = { ...cost, budget_units: costInBudgetUnits(record, o.out, from) };
  return true;
}

/** All pretraining: every exploration run with its branches, and the final run past its exploration trunk. */
function pretrainCost(out: string, record: AutoRecord, chosenExploration: string): Cost {
  const runs = join(record.exploration!.sweep_dir, SWEEP_FILES.runs);
  const explored = readdirSync(runs).map((name) => runCost(join(runs, name)));
  const trunkEnd = eventsOf(readMetrics(runFile(chosenExploration, 'metrics')), 'end').pop()!;
  const final = runCost(finalRunDir(out), { seconds: trunkEnd.train_seconds, tokens: trunkEnd.tokens, flops: trunkEnd.flops });
  return addCosts(...explored, final);
}

/**
 * All pretraining in the budget's unit: tokens or FLOPs as counted, or for a time budget the
 * seconds each run's tokens take at its size's probed throughput — what the token budgets were
 * computed from, so that a busy machine does not make a run look over (or under) its budget.
 */
function costInBudgetUnits(record: AutoRecord, out: string, chosenExploration: string): number {
  const trunkEnd = eventsOf(readMetrics(runFile(chosenExploration, 'metrics')), 'end').pop()!;
  const final = runCost(finalRunDir(out), { seconds: trunkEnd.train_seconds, tokens: trunkEnd.tokens, flops: trunkEnd.flops });
  return explorationSpent(record) + inBudgetUnits(record, record.chosen!.preset, final);
}

/** Every exploration run with its branches, in the budget's unit. */
function explorationSpent(record: AutoRecord): number {
  const runs = join(record.exploration!.sweep_dir, SWEEP_FILES.runs);
  return readdirSync(runs).reduce((s, name) => s + inBudgetUnits(record, name, runCost(join(runs, name))), 0);
}

/** A cost of a size's training in the budget's unit: tokens, FLOPs, or seconds at its probed throughput. */
function inBudgetUnits(record: AutoRecord, preset: string, c: Cost): number {
  if (record.budget.kind === 'tokens') return c.tokens;
  if (record.budget.kind === 'flops') return c.flops;
  const rate = record.exploration!.rows.find((r) => r.preset === preset)?.probe_tokens_per_s ?? null;
  return c.tokens / (rate ?? c.tokens / Math.max(c.seconds, 1e-9));
}

async function taskStage(o: AutoOptions, record: AutoRecord, io: AutoIo): Promise<boolean> {
  if (!o.task) {
    if (o.objective === 'clm') record.sample = sampleText(finalModelDir(o.out));
    return true;
  }
  const chosen = record.chosen!;
  const explored = record.candidates!.map((preset) => ({ preset, dir: branchDir(join(record.exploration!.sweep_dir, SWEEP_FILES.runs, preset), 1) }));
  const larger = largerWorthCompressing(chosen.preset, explored, o.maxBytes);
  const sources = [{ preset: chosen.preset, dir: finalModelDir(o.out) }, ...(larger ? [{ preset: `${larger.preset}-explored`, dir: larger.dir }] : [])];
  const taskIo = { events: (label: string) => io.events(label, 'valid_accuracy'), log: io.detail, signal: io.signal };
  const finetuned: FinetunedModel[] = [];
  for (const s of sources) {
    io.say(`finetuning ${s.preset} on ${o.task} for ${o.finetuneBudget}`);
    const f = await finetuneModel(o.out, s.preset, s.dir, o.task, o.finetuneBudget, taskIo, o.taskExamples);
    if (!f) return false;
    finetuned.push(f);
  }
  record.finetune = finetuned.map((f) => ({ preset: f.preset, dir: resolve(f.dir), test_accuracy: f.testAccuracy }));
  const rows = [];
  for (const f of finetuned) {
    io.say(`compressing ${f.preset}: gradual pruning to ${[0.5, 0.9].join(', ')} with quantization-aware finetuning at 8 and 4 bits`);
    const r = await compressModelGrid(o.out, f, o.compressBudget, o.maxLatencyMs, taskIo);
    if (!r) return false;
    rows.push(...r);
  }
  record.compress = { dirs: finetuned.map((f) => resolve(o.out, AUTO_FILES.compress, f.preset)), rows: rows.length };
  const s = selectCompressed(rows, o.maxBytes, o.maxLatencyMs);
  record.selection = {
    model: s.chosen ? describeRow(s.chosen) : 'none', reason: s.reason, runner_up: s.runnerUp ? describeRow(s.runnerUp) : null,
    bytes: s.chosen?.bytes ?? null, accuracy: s.chosen?.accuracy ?? null, latency_ms: s.chosen?.latency_ms ?? null,
  };
  if (s.chosen) record.model_dir = resolve(settingDirOf(s.chosen));
  // where `tlc report` marks the choice, as `tlc pareto` leaves it
  writePareto(o.out, s.table, { row: s.chosen, reason: s.reason },
    { ...(o.maxBytes !== undefined && { max_bytes: o.maxBytes }), ...(o.maxLatencyMs !== undefined && { max_latency_ms: o.maxLatencyMs }) });
  return true;
}

async function shipStage(o: AutoOptions, record: AutoRecord, io: AutoIo): Promise<boolean> {
  const source = o.task ? record.model_dir : finalModelDir(o.out);
  if (!source) {
    record.exports = [];
    io.say(`no compressed model fits the test budget: ${record.selection?.reason ?? ''}`);
    return true;
  }
  const model = join(o.out, AUTO_FILES.model);
  rmSync(model, { recursive: true, force: true });
  makeDirs(model);
  for (const file of [RUN_FILES.config, RUN_FILES.tokenizer, 'tokenizer_config.json', RUN_FILES.weights, COMPRESS_FILES.model, RUN_FILES.results]) {
    if (existsSync(join(source, file))) cpSync(join(source, file), join(model, file));
  }
  record.model_dir = resolve(model);
  record.exports = [];
  for (const format of ['hf', 'onnx'] as const) {
    const dir = join(o.out, AUTO_FILES.export, format);
    try {
      exportRun(model, { format, out: dir, force: true }, io.detail);
      record.exports.push({ format, dir: resolve(dir), error: null });
    } catch (e) {
      if (!(e instanceof TlcError)) throw e;
      record.exports.push({ format, dir: null, error: e.message });
      io.detail(`export ${format}: ${e.message}`);
    }
  }
  return true;
}

export function describeCost(c: Cost): string {
  return `${formatSeconds(c.seconds)} of training, ${(c.tokens / 1e6).toFixed(2)}M tokens, ${c.flops.toExponential(2)} FLOPs`;
}
