// `tlc auto` end to end on tiny budgets, as real processes: with a task (killed in each stage
// and rerun, it must end where an uninterrupted run ends), and without one (a causal LM, its
// sample; --dry-run; a larger budget extends; a changed corpus and a foreign --out are refused).
// Token budgets, step-count finetuning and fixed candidate sizes keep every number repeatable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { syntheticDocuments, writeTask } from './corpus-fixture.js';
import { loggedSteps, start, waitUntil } from './processes.js';
import type { AutoRecord } from '../src/auto/record.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const BUDGET = 240_000;

function fixtures(): { root: string; corpus: string; task: string } {
  const root = tempDir('tlc-auto-');
  const corpus = join(root, 'corpus.jsonl');
  writeFileSync(corpus, syntheticDocuments(120, 7).map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const task = join(root, 'animals.jsonl');
  writeTask(task, 300, 5);
  return { root, corpus, task };
}

const common = ['--sizes', 'L1-D32,L1-D64,L2-D64', '--vocab-size', '320', '--seq-len', '32', '--batch-size', '8', '--probe', '1s'];

function autoArgs(out: string, corpus: string, task: string | null, budget = BUDGET): string[] {
  // a token count: a plain number would be seconds
  return [CLI, 'auto', '--corpus', corpus, ...(task ? ['--task', task, '--finetune-budget', '40steps', '--compress-budget', '10steps', '--max-bytes', '60kB'] : ['--objective', 'clm']),
    '--budget', `${budget / 1000}k`, ...common, '--out', out, '--json'];
}

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runToRecord(args: string[]): AutoRecord {
  const r = run(args);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as AutoRecord;
}

/** The train steps logged by any run directory matching `dirs()`. */
function stepsIn(dirs: () => string[]): number {
  return Math.max(0, ...dirs().flatMap((d) => loggedSteps(d)));
}

function children(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).map((n) => join(dir, n)) : [];
}

test('tlc auto with a task: every stage, within the budget; killed in each stage and rerun, it ends as an uninterrupted run does', async () => {
  const { root, corpus, task } = fixtures();
  const reference = runToRecord(autoArgs(join(root, 'A'), corpus, task));
  // what auto.json promises
  assert.deepEqual(reference.candidates, ['L1-D32', 'L1-D64', 'L2-D64']);
  assert.equal(reference.budget.value, BUDGET);
  assert.ok(existsSync(join(reference.data_dir, 'data.json')));
  assert.ok(reference.candidates!.includes(reference.chosen!.preset));
  assert.ok(Number.isFinite(reference.chosen!.valid_loss) && existsSync(join(reference.chosen!.model_dir, 'model.safetensors')));
  const cost = reference.pretrain_cost!;
  for (const k of ['seconds', 'tokens', 'flops'] as const) assert.ok(cost[k] > 0, k);
  assert.ok(cost.tokens <= BUDGET, `all pretraining, exploration included: ${cost.tokens} tokens of ${BUDGET}`);
  assert.ok(cost.tokens > 0.95 * BUDGET, `the budget is spent, not left over: ${cost.tokens}`);
  // the model to ship: compressed within 60 kB, loadable, exported, and the report opens with the answer
  assert.ok(reference.selection!.bytes! <= 60_000, JSON.stringify(reference.selection));
  assert.ok(existsSync(join(reference.model_dir!, 'model.tlcz.safetensors')));
  const p = spawnSync(process.execPath, [CLI, 'predict', reference.model_dir!, '--input', '-'], { input: 'The old cat sees the moon every morning.\n', encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /cat|dog|bird/);
  assert.ok(reference.exports!.some((e) => e.format === 'onnx' && e.dir !== null && existsSync(join(e.dir, 'onnx', 'model.onnx'))));
  const html = readFileSync(reference.report!, 'utf8');
  assert.match(html, new RegExp(`${reference.chosen!.preset} was chosen for the budget`));

  // the same command, SIGKILLed once in each stage, then run again to the end
  const out = join(root, 'B');
  const args = autoArgs(out, corpus, task);
  const runs = (sub: string) => () => children(join(out, sub, 'runs'));
  const stages: [string, () => boolean][] = [
    ['exploring', () => stepsIn(runs('explore')) >= 3],
    ['training the chosen size on', () => stepsIn(() => [join(out, 'final')]) > stepsIn(runs('explore')) + 20],
    ['finetuning', () => stepsIn(() => children(join(out, 'finetune'))) >= 5],
    ['compressing', () => stepsIn(() => children(join(out, 'compress')).flatMap(children).map((d) => join(d, 'finetune'))) >= 3],
  ];
  for (const [stage, reached] of stages) {
    const proc = start(args);
    await waitUntil(proc, stage, reached);
    proc.child.kill('SIGKILL');
    const { signal } = await proc.exited;
    assert.equal(signal, 'SIGKILL', `it ended before it could be killed while ${stage}`);
  }
  const resumed = runToRecord(args);
  assert.equal(resumed.chosen!.preset, reference.chosen!.preset);
  assert.equal(resumed.chosen!.valid_loss, reference.chosen!.valid_loss, 'the chosen model, resumed after kills, is the same model');
  assert.equal(resumed.pretrain_cost!.tokens, cost.tokens);
  assert.deepEqual(resumed.finetune!.map((f) => f.test_accuracy), reference.finetune!.map((f) => f.test_accuracy));
  assert.equal(resumed.selection!.model, reference.selection!.model);
  assert.equal(resumed.selection!.bytes, reference.selection!.bytes);
});

test('tlc auto without a task: a causal LM and its sample; --dry-run trains nothing; a larger budget extends; other inputs are refused', () => {
  const { root, corpus } = fixtures();
  const out = join(root, 'clm');
  const dry = run([...autoArgs(out, corpus, null), '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout) as AutoRecord;
  assert.deepEqual(plan.candidates, ['L1-D32', 'L1-D64', 'L2-D64']);
  assert.ok(plan.split!.explore > 0 && plan.split!.final > plan.split!.explore);
  assert.ok(!existsSync(join(out, 'explore')), '--dry-run explores nothing');
  assert.match(dry.stderr + dry.stdout, /plan for|candidates/);

  const first = runToRecord(autoArgs(out, corpus, null));
  assert.equal(typeof first.sample, 'string');
  assert.ok(existsSync(join(first.model_dir!, 'model.safetensors')));
  const g = spawnSync(process.execPath, [CLI, 'generate', first.model_dir!, 'The cat', '--max-new-tokens', '5', '--greedy'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);

  // a larger budget: the chosen size trains on, every token kept
  const larger = runToRecord(autoArgs(out, corpus, null, 1.5 * BUDGET));
  assert.equal(larger.chosen!.preset, first.chosen!.preset);
  assert.ok(larger.pretrain_cost!.tokens > first.pretrain_cost!.tokens && larger.pretrain_cost!.tokens <= 1.5 * BUDGET, JSON.stringify(larger.pretrain_cost));
  assert.deepEqual(larger.exploration, first.exploration, 'the exploration is not repeated');

  // not the same inputs, a smaller budget, or a directory of something else
  const other = join(root, 'other.txt');
  writeFileSync(other, 'Some other text entirely.\n');
  const changed = run(autoArgs(out, other, null, 1.5 * BUDGET));
  assert.equal(changed.status, 1);
  assert.match(changed.stderr, /holds a `tlc auto` run with corpus/);
  const smaller = run(autoArgs(out, corpus, null, BUDGET / 2));
  assert.equal(smaller.status, 1);
  assert.match(smaller.stderr, /may extend it, not shrink it/);
  const foreign = join(root, 'mine');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'mine\n');
  const refused = run(autoArgs(foreign, corpus, null));
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /--out .*mine/);
  assert.equal(readFileSync(join(foreign, 'notes.txt'), 'utf8'), 'mine\n');
});
