// Translation end to end: a tiny encoder–decoder memorises 50 pairs of a toy language
// pair; greedy and beam search translate them back (BLEU), agree with each other where
// they must, score what they output, and do not depend on how sentences are batched;
// `tlc translate` does the same as a real process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getThreads, memoryStats, noGrad, setThreads, tidy } from '../src/engine/index.js';
import { presetConfig } from '../src/nn/config.js';
import { TransformerLM, saveWeights } from '../src/nn/index.js';
import { pretrain } from '../src/train/pretrain.js';
import { pretrainOptions } from './corpus-fixture.js';
import { readMetrics } from '../src/run/metrics.js';
import { encodePairs, makeBatch } from '../src/train/seq2seq-batches.js';
import { corpusBleu } from '../src/translate/bleu.js';
import { beamSearch, decodeSources, greedySearch, translateTexts, type Hypothesis } from '../src/translate/decode.js';
import { loadTranslationModel, type TranslationModel } from '../src/translate/load.js';
import { IGNORE_INDEX } from '../src/nn/transformer.js';
import { toyPairs, writeTranslationDir } from './translation-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const PAIRS = toyPairs(50, 1);

let trained: Promise<{ run: string; data: string }> | null = null;

/** A run trained for 200 steps on the 50 pairs (shared by the tests of this file). */
function trainedRun(): Promise<{ run: string; data: string }> {
  trained ??= (async () => {
    const data = writeTranslationDir(PAIRS);
    const run = join(tempDir('tlc-s2s-'), 'run');
    await pretrain(run, pretrainOptions({
      data, model: presetConfig('L2-D64', { vocab_size: 400, max_len: 32, dropout: 0, objective: 'seq2seq' }),
      steps: 200, batch_size: 10, seq_len: 32, lr: 3e-3, warmup: 0.1, eval_every: 0.5, eval_tokens: 100_000,
      save_every: 1, keep: 1, label_smoothing: 0.1, bleu_pairs: 50,
    }));
    return { run, data };
  })();
  return trained;
}

/** Runs `fn` on the trained model with one thread: small ops on a busy machine are fastest so. */
async function withModel<T>(fn: (m: TranslationModel) => T): Promise<T> {
  const { run } = await trainedRun();
  const m = loadTranslationModel(run);
  try {
    return fn(m);
  } finally {
    m.model.dispose();
  }
}

const threads = getThreads();
test.before(() => setThreads(1));
test.after(() => setThreads(threads));

test('a tiny encoder–decoder memorises 50 pairs: greedy BLEU above 90, logged at every evaluation', async () => {
  const { run } = await trainedRun();
  const evals = readMetrics(join(run, 'metrics.jsonl')).filter((e) => e.event === 'eval');
  assert.equal(evals.length, 3);
  for (const e of evals) assert.equal(typeof e.valid_bleu, 'number');
  const [first, , last] = evals;
  assert.ok((first.valid_bleu as number) < 5, `an untrained model should not translate (BLEU ${first.valid_bleu})`);
  assert.ok((last.valid_bleu as number) > 90, `BLEU after training is ${last.valid_bleu}`);
  assert.ok((last.valid_loss as number) < 0.1 * (first.valid_loss as number));
  // the same, measured here from the saved model rather than by the training loop
  const hyps = await withModel(({ model, tokenizer }) => translateTexts(model, tokenizer, PAIRS.map((p) => p.source), { beamSize: 1 }));
  const bleu = corpusBleu(hyps, [PAIRS.map((p) => p.target)]).score;
  assert.ok(Math.abs(bleu - (last.valid_bleu as number)) < 1e-9, `BLEU ${bleu} here, ${last.valid_bleu} in training`);
});

test('beam search with beam 1 is greedy search; every hypothesis carries its own log-probability', async () => {
  await withModel(({ model, tokenizer }) => {
    const sources = encodePairs(PAIRS, tokenizer, 32).sources;
    const greedy = greedySearch(model, sources.slice(0, 20));
    const beam1 = beamSearch(model, sources.slice(0, 20), { beamSize: 1 });
    greedy.forEach((g, i) => {
      assert.deepEqual([...beam1[i].tokens], [...g.tokens], `sentence ${i}`);
      assert.equal(beam1[i].logProb, g.logProb);
    });
    // each reported log-probability is the model's, by teacher forcing, of the tokens and </s>
    const beam4 = beamSearch(model, sources.slice(0, 20), { beamSize: 4, lengthPenalty: 1 });
    for (const hyps of [greedy, beam4]) {
      const scored = teacherForcedLogProbs(model, sources.slice(0, 20), hyps);
      hyps.forEach((h, i) => assert.ok(Math.abs(h.logProb - scored[i]) < 1e-3, `sentence ${i}: ${h.logProb} reported, ${scored[i]} by scoring`));
      beam4.forEach((h) => assert.ok(Math.abs(h.score - h.logProb / (h.tokens.length + 1)) < 1e-12));
    }
    const texts = beam4.map((h) => tokenizer.decode(h.tokens, { skipSpecialTokens: true }));
    assert.ok(corpusBleu(texts, [PAIRS.slice(0, 20).map((p) => p.target)]).score > 90);
  });
});

function teacherForcedLogProbs(model: TranslationModel['model'], sources: Int32Array[], hyps: Hypothesis[]): number[] {
  const batch = makeBatch({ sources, targets: hyps.map((h) => h.tokens) }, sources.map((_, i) => i));
  const V = model.config.vocab_size, T = batch.targetLen;
  const logits = noGrad(() => tidy(() => model.logits(batch).toFloat32Array()));
  return hyps.map((_, b) => {
    let sum = 0;
    for (let t = 0; t < T; t++) {
      const target = batch.targets![b * T + t];
      if (target === IGNORE_INDEX) continue;
      const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
      const max = Math.max(...row);
      sum += row[target] - max - Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    }
    return sum;
  });
}

test('translations do not depend on which sentences share a batch', async () => {
  await withModel(({ model, tokenizer }) => {
    const sources = encodePairs(PAIRS, tokenizer, 32).sources.slice(0, 24);
    const live = memoryStats().liveBytes;
    for (const beamSize of [1, 3]) {
      const together = decodeSources(model, sources, { beamSize, batchSize: 24 });
      const alone = decodeSources(model, sources, { beamSize, batchSize: 1 });
      // batches of 5 mixing long and short sentences: reversed order, so other neighbours and padding
      const mixed = decodeSources(model, [...sources].reverse(), { beamSize, batchSize: 5 }).reverse();
      for (const other of [alone, mixed]) {
        together.forEach((h, i) => {
          assert.deepEqual([...other[i].tokens], [...h.tokens], `beam ${beamSize}, sentence ${i}`);
          assert.ok(Math.abs(other[i].logProb - h.logProb) < 1e-4);
        });
      }
    }
    assert.equal(memoryStats().liveBytes, live, 'decoding frees everything it allocates');
  });
});

function tlc(args: string[]): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, '--threads', '1', ...args], { encoding: 'utf8' }) as never;
}

test('tlc translate: a text, and a file line by line into another file, as a real process', async () => {
  const { run } = await trainedRun();
  const expected = await withModel(({ model, tokenizer }) => translateTexts(model, tokenizer, PAIRS.map((p) => p.source), { beamSize: 2 }));
  const memorised = PAIRS.findIndex((p, i) => expected[i] === p.target);
  assert.ok(memorised >= 0, 'the model reproduces some training pair exactly');
  const one = tlc(['translate', run, PAIRS[memorised].source, '--beam', '2']);
  assert.equal(one.status, 0, one.stderr);
  assert.equal(one.stdout, PAIRS[memorised].target + '\n');

  const dir = tempDir('tlc-translate-');
  const input = join(dir, 'in.txt'), output = join(dir, 'out.txt');
  writeFileSync(input, `${PAIRS[0].source}\n\n${PAIRS[1].source}\r\n${PAIRS[2].source}\n`);
  const file = tlc(['translate', run, '--input', input, '--output', output, '--beam', '2', '--batch-size', '2']);
  assert.equal(file.status, 0, file.stderr);
  assert.equal(file.stdout, '');
  assert.match(file.stderr, /translate: 3 sentences/);
  assert.equal(readFileSync(output, 'utf8'), `${expected[0]}\n\n${expected[1]}\n${expected[2]}\n`);
});

test('tlc translate: clear errors for a run that is not a translation model and for empty input', async () => {
  const { run } = await trainedRun();
  const dir = tempDir('tlc-translate-bad-');
  const lm = join(dir, 'lm');
  const lmModel = new TransformerLM(presetConfig('L1-D32', { vocab_size: 400, max_len: 32 }));
  try {
    mkdirSync(lm);
    writeFileSync(join(lm, 'config.json'), JSON.stringify(lmModel.config));
    copyFileSync(join(run, 'tokenizer.json'), join(lm, 'tokenizer.json'));
    saveWeights(lmModel, join(lm, 'model.safetensors'));
  } finally {
    lmModel.dispose();
  }
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '\n \n');
  const source = join(dir, 'source.txt');
  writeFileSync(source, `${PAIRS[0].source}\n`);
  const configBefore = readFileSync(join(run, 'config.json'), 'utf8');
  const cases: [string[], RegExp][] = [
    [['translate', lm, 'hello'], /lm holds a masked language model, not a translation model/],
    [['translate', run, '  '], /nothing to translate: the text is empty/],
    [['translate', run], /nothing to translate: give a text or --input <file>/],
    [['translate', run, '--input', empty], /empty\.txt: nothing to translate/],
    [['translate', run, '--input', join(dir, 'missing.txt')], /missing\.txt: not found/],
    [['translate', run, 'a cat', '--input', empty], /either a text or --input <file>, not both/],
    [['translate', run, 'a cat', '--beam', '0'], /invalid --beam "0"/],
    [['translate', join(dir, 'nowhere'), 'a cat'], /nowhere: not a tlc run directory/],
    [['translate', run, '--input', dir], /--input .* is a directory: give a text file/],
    [['translate', run, '--input', source, '--output', source], /--output .*source\.txt is this command's own input/],
    [['translate', run, '--input', source, '--output', join(run, 'config.json')], /--output .*config\.json is inside .*, which holds a pretraining run/],
  ];
  for (const [args, pattern] of cases) {
    const r = tlc(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  assert.equal(readFileSync(source, 'utf8'), `${PAIRS[0].source}\n`, 'the input is kept');
  assert.equal(readFileSync(join(run, 'config.json'), 'utf8'), configBefore, 'the run is kept');
});
