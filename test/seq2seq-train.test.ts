// Training the encoder–decoder: bucketed pair batches (every pair once per epoch, little
// padding, a pure function of seed and position), and `tlc pretrain --objective seq2seq`
// killed with SIGKILL and resumed ending bit-identical to an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/engine/random.js';
import { getThreads, setThreads } from '../src/engine/threads.js';
import { readSweepSpec, runSweep } from '../src/experiment/sweep.js';
import { Tokenizer, baseVocab } from '../src/data/tokenizer.js';
import { IGNORE_INDEX } from '../src/nn/transformer.js';
import { readMetrics } from '../src/run/metrics.js';
import { PairBatcher, encodePairs, evaluationPairBatches, makeBatch, type EncodedPairs } from '../src/train/seq2seq-batches.js';
import { toyPairs, writeTranslationDir } from './translation-fixture.js';
import { preparedSyntheticData } from './corpus-fixture.js';
import { runAndKill, runToEnd } from './processes.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** 200 pairs of random token rows, sources of 1..30 tokens ending in </s> = 2, targets about as long. */
function randomPairs(seed: number): EncodedPairs {
  const rng = new Rng(seed);
  const row = (n: number): Int32Array => Int32Array.from({ length: n }, () => 5 + rng.int(50));
  const sources: Int32Array[] = [], targets: Int32Array[] = [];
  for (let i = 0; i < 200; i++) {
    const s = row(1 + rng.int(30));
    s[s.length - 1] = 2;
    sources.push(s);
    targets.push(row(Math.max(0, s.length - 3 + rng.int(7))));
  }
  return { sources, targets };
}

function padding(batches: ReturnType<typeof makeBatch>[]): number {
  let pad = 0, all = 0;
  for (const b of batches) {
    for (const m of b.sourceMask) pad += 1 - m;
    for (const t of b.targets!) pad += t === IGNORE_INDEX ? 1 : 0;
    all += b.sourceMask.length + b.targets!.length;
  }
  return pad / all;
}

test('a batch is padded per side: <s> y… in, y… </s> out, sources as given', () => {
  const b = makeBatch({ sources: [Int32Array.from([7, 8, 2]), Int32Array.from([9, 2])], targets: [Int32Array.from([10]), Int32Array.from([11, 12, 13])] }, [0, 1]);
  assert.deepEqual({ ...b, sourceIds: [...b.sourceIds], sourceMask: [...b.sourceMask], decoderInputIds: [...b.decoderInputIds], targets: [...b.targets!] }, {
    batchSize: 2, sourceLen: 3, targetLen: 4,
    sourceIds: [7, 8, 2, 9, 2, 1], sourceMask: [1, 1, 1, 1, 1, 0],
    decoderInputIds: [0, 10, 1, 1, 0, 11, 12, 13],
    targets: [10, 2, -100, -100, 11, 12, 13, 2],
  });
  // truncation keeps </s> on the source and leaves room for <s> on the target
  const tokenizer = new Tokenizer(baseVocab(), []);
  const enc = encodePairs([{ source: 'abcdefgh', target: 'ABCDEFGH' }], tokenizer, 4);
  assert.deepEqual([...enc.sources[0]], [...tokenizer.encode('abc'), 2]);
  assert.deepEqual([...enc.targets[0]], [...tokenizer.encode('ABC')]);
});

test('bucketed batches: every pair once per epoch, far less padding than random batches, resumable at any position', () => {
  const data = randomPairs(1);
  const batcher = new PairBatcher(data, 8, 3);
  const epoch = Array.from({ length: batcher.epochBatches }, () => batcher.next());
  assert.equal(batcher.epochBatches, 25);
  const seen = epoch.flatMap((b) => Array.from({ length: b.batchSize }, (_, r) => [...b.sourceIds.subarray(r * b.sourceLen, (r + 1) * b.sourceLen)].filter((_, j) => b.sourceMask[r * b.sourceLen + j]).join(',')));
  assert.deepEqual(seen.sort(), data.sources.map((s) => [...s].join(',')).sort());
  const rng = new Rng(4);
  const order = rng.shuffle(Array.from({ length: 200 }, (_, i) => i));
  const random = Array.from({ length: 25 }, (_, b) => makeBatch(data, order.slice(b * 8, b * 8 + 8)));
  assert.ok(padding(epoch) < 0.5 * padding(random), `padding ${padding(epoch)} bucketed vs ${padding(random)} random`);

  // the next epoch is a different order; a batcher set to any position continues identically
  const again = new PairBatcher(data, 8, 3);
  for (let i = 0; i < 37; i++) again.next();
  const position = again.position;
  assert.deepEqual(position, { epoch: 1, batch: 12 });
  const resumed = new PairBatcher(data, 8, 3);
  resumed.position = JSON.parse(JSON.stringify(position));
  for (let i = 0; i < 30; i++) assert.deepEqual(resumed.next(), again.next());
  assert.notDeepEqual(new PairBatcher(data, 8, 4).next(), new PairBatcher(data, 8, 3).next(), 'the seed changes the order');
  assert.throws(() => { resumed.position = { epoch: 0, batch: 99 }; }, /an epoch has 25 batches/);
});

test('evaluation batches are the first pairs up to a token count, the same every time', () => {
  const data = randomPairs(2);
  const a = evaluationPairBatches(data, 300, 4), b = evaluationPairBatches(data, 300, 4);
  assert.deepEqual(a, b);
  const tokens = a.reduce((n, x) => n + x.sourceMask.reduce((s, m) => s + m, 0) + x.targets!.filter((t) => t !== IGNORE_INDEX).length, 0);
  assert.ok(tokens <= 300 && tokens > 300 - 62, `${tokens} tokens`);
});

function cliArgs(data: string, out: string): string[] {
  return [CLI, '--threads', '1', 'pretrain', '--objective', 'seq2seq', '--data', data, '--model', 'L1-D32', '--out', out, '--steps', '30',
    '--batch-size', '8', '--micro-batch-size', '4', '--seq-len', '24', '--seed', '3', '--dropout', '0.1', '--save-every', '1',
    '--eval-every', '10', '--eval-tokens', '400', '--bleu-pairs', '4', '--precision', 'f32'];
}

test('tlc pretrain --objective seq2seq killed with SIGKILL and resumed ends bit-identical to an uninterrupted run', async () => {
  const data = writeTranslationDir(toyPairs(60, 2));
  const root = tempDir('tlc-s2s-resume-');
  const straight = join(root, 'straight'), killed = join(root, 'killed');
  const summary = runToEnd(cliArgs(data, straight));
  assert.match(summary, /finished: 30 steps, .* validation loss \d+\.\d+ \(perplexity \d+\.\d+\), BLEU \d+\.\d+; run in /);
  const first = await runAndKill(cliArgs(data, killed), killed, 7);
  assert.ok(first.step >= 7 && first.step < 30 && first.checkpointStep! > 0, `first kill at step ${first.step}, checkpoint ${first.checkpointStep}`);
  const second = await runAndKill([CLI, '--threads', '1', 'pretrain', '--resume', killed], killed, 19);
  assert.ok(second.step >= 19 && second.step < 30 && second.checkpointStep! >= first.checkpointStep!,
    `second kill at step ${second.step}, checkpoint ${second.checkpointStep}`);
  runToEnd([CLI, '--threads', '1', 'pretrain', '--resume', killed]);
  const a = readFileSync(join(straight, 'model.safetensors')), b = readFileSync(join(killed, 'model.safetensors'));
  assert.ok(a.equals(b), 'final weights differ between the uninterrupted and the killed-and-resumed run');
  const events = (run: string) => readMetrics(join(run, 'metrics.jsonl'));
  const losses = (run: string) => events(run).filter((e) => e.event === 'train').map((e) => [e.step, e.loss, e.tokens, e.flops]);
  assert.deepEqual(losses(killed), losses(straight), 'the per-step losses, tokens and FLOPs differ');
  assert.equal(events(killed).filter((e) => e.event === 'resume').length, 2, 'the run was resumed twice');
  const evals = (run: string) => events(run).filter((e) => e.event === 'eval').map((e) => [e.step, e.valid_loss, e.valid_bleu]);
  assert.deepEqual(evals(killed), evals(straight));
  const config = JSON.parse(readFileSync(join(straight, 'config.json'), 'utf8'));
  assert.equal(config.objective, 'seq2seq');
  assert.equal(config.n_decoder_layers, 1);
  const start = events(straight).find((e) => e.event === 'start')!;
  assert.equal(start.label_smoothing, 0.1);
  assert.equal(start.train_pairs, 60);
});

test('a seq2seq sweep trains each size under one budget and reports BLEU; tlc plan declines it clearly', async () => {
  const data = writeTranslationDir(toyPairs(40, 4));
  const root = tempDir('tlc-s2s-sweep-');
  const file = join(root, 'sweep.yaml');
  writeFileSync(file, [`data: ${data}`, 'objective: seq2seq', 'sizes: [L1-D32, L1-D48]', 'steps: 6', 'seq_len: 32',
    'batch_sizes: [8]', 'eval_every: 1', 'eval_tokens: 400'].join('\n') + '\n');
  const out = join(root, 'out');
  const threads = getThreads();
  setThreads(1);
  try {
    const { rows } = await runSweep(readSweepSpec(file), out);
    assert.deepEqual(rows.map((r) => [r.name, r.steps]), [['L1-D32', 6], ['L1-D48', 6]]);
    for (const r of rows) assert.equal(typeof r.valid_bleu, 'number');
    assert.equal(JSON.parse(readFileSync(join(out, 'runs', 'L1-D48', 'config.json'), 'utf8')).objective, 'seq2seq');
  } finally {
    setThreads(threads);
  }
  const plan = spawnSync(process.execPath, [CLI, 'plan', '--sweep', out, '--budget', '1h'], { encoding: 'utf8' });
  assert.notEqual(plan.status, 0);
  assert.match(plan.stderr, /planning from a seq2seq sweep is not supported/);
});

test('bad seq2seq pretrain flags give one clear line and a non-zero exit', async () => {
  const data = writeTranslationDir(toyPairs(20, 3));
  const lmData = await preparedSyntheticData();
  const out = join(tempDir('tlc-s2s-bad-'), 'run');
  const base = ['pretrain', '--model', 'L1-D32', '--out', out, '--steps', '5'];
  const cases: [string[], RegExp][] = [
    [[...base, '--objective', 'seq2seq', '--data', join(out, 'nowhere')], /nowhere\/prepare\.json: not found; is .* made by "tlc data prepare --task translation"/],
    [[...base, '--objective', 'seq2seq', '--data', data, '--label-smoothing', '1.5'], /invalid --label-smoothing "1\.5"/],
    [[...base, '--objective', 'seq2seq', '--data', data, '--norm', 'post'], /norm: seq2seq models are pre-LN only/],
    [[...base, '--objective', 's2s', '--data', data], /argument 's2s' is invalid\. Allowed choices are mlm, clm, seq2seq/],
    [[...base, '--objective', 'clm', '--data', lmData, '--bleu-pairs', '5'], /--bleu-pairs \(bleu_pairs\) applies to objective seq2seq only/],
  ];
  for (const [args, pattern] of cases) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
});
