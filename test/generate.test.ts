// `tlc generate`: the key/value cache computes what the full forward pass computes, greedy
// decoding is the argmax chain of the full model, sampling follows its stated rules and is
// reproducible under a seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { preparedSyntheticData } from './corpus-fixture.js';
import { loadModelDir } from '../src/infer/load.js';
import { noGrad } from '../src/engine/autograd.js';
import { tidy } from '../src/engine/tensor.js';
import { Rng } from '../src/engine/random.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { CausalDecoder } from '../src/nn/causal-decoder.js';
import { chooseToken, DEFAULT_SAMPLING } from '../src/generate/sampling.js';
import { EOS_ID } from '../src/data/tokenizer.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

function tlc(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

let runs: Promise<{ pre: string; post: string; mlm: string }> | null = null;
function trainedRuns(): Promise<{ pre: string; post: string; mlm: string }> {
  runs ??= (async () => {
    const data = await preparedSyntheticData();
    const root = tempDir('tlc-generate-');
    const train = (name: string, flags: string[]) => {
      const out = join(root, name);
      const r = tlc(['pretrain', '--data', data, '--model', 'L2-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '40',
        '--eval-tokens', '512', '--lr', '3e-3', '--out', out, ...flags]);
      assert.equal(r.status, 0, r.stderr);
      return out;
    };
    return { pre: train('pre', ['--objective', 'clm']), post: train('post', ['--objective', 'clm', '--norm', 'post']), mlm: train('mlm', []) };
  })();
  return runs;
}

function fullLogits(model: TransformerLM, ids: number[]): Float32Array {
  return noGrad(() => tidy(() => model.logits({ batchSize: 1, seqLen: ids.length, inputIds: Int32Array.from(ids) }, { training: false }).toFloat32Array()));
}

test('the key/value cache gives the logits of the full forward pass at every position, pre- and post-LN', async () => {
  for (const run of Object.values(await trainedRuns()).slice(0, 2)) {
    const { model } = loadModelDir(run);
    try {
      const lm = model as TransformerLM;
      const V = lm.config.vocab_size;
      const rng = new Rng(4);
      const ids = [EOS_ID, ...Array.from({ length: 23 }, () => 5 + rng.int(V - 5))];
      const full = fullLogits(lm, ids);
      const decoder = new CausalDecoder(lm, 1, ids.length);
      let worst = 0;
      try {
        ids.forEach((id, t) => {
          const step = decoder.next(Int32Array.of(id));
          for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(step[v] - full[t * V + v]));
        });
      } finally {
        decoder.dispose();
      }
      // observed: 0 (the same kernels in the same order); a wrong mask or position is off by far more
      assert.ok(worst < 1e-6, `${run}: cached logits differ from the full pass by ${worst}`);
      assert.throws(() => new CausalDecoder(lm, 1, lm.config.max_len + 1), /capacity/);
    } finally {
      model.dispose();
    }
  }
});

test('generate --greedy is the argmax chain of the full model; sampling is reproducible under a seed', async () => {
  const { pre, mlm } = await trainedRuns();
  const greedy = tlc(['generate', pre, 'the', '--greedy', '--max-new-tokens', '12', '--json']);
  assert.equal(greedy.status, 0, greedy.stderr);
  const g = JSON.parse(greedy.stdout) as { prompt_ids: number[]; ids: number[]; text: string };
  const { model } = loadModelDir(pre);
  try {
    const lm = model as TransformerLM, V = lm.config.vocab_size;
    const seq = [EOS_ID, ...g.prompt_ids];
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) {
      const logits = fullLogits(lm, seq).subarray((seq.length - 1) * V, seq.length * V);
      const next = logits.indexOf(Math.max(...logits));
      if (next === EOS_ID) break;
      expected.push(next);
      seq.push(next);
    }
    assert.deepEqual(g.ids, expected);
  } finally {
    model.dispose();
  }
  // more new tokens than the context holds: generated up to it, and said
  const long = tlc(['generate', pre, 'the', '--greedy', '--max-new-tokens', '1000000', '--json']);
  assert.equal(long.status, 0, long.stderr);
  assert.match(long.stderr, /--max-new-tokens: the model reads at most \d+ positions: .* room for \d+ new tokens, not 1000000/);
  assert.doesNotMatch(greedy.stderr, /--max-new-tokens/, 'no word when the context has room');
  // streaming prints the same text
  const streamed = tlc(['generate', pre, 'the', '--greedy', '--max-new-tokens', '12']);
  assert.equal(streamed.stdout, g.text + '\n');
  const sample = (seed: number, more: string[] = []) => JSON.parse(tlc(['generate', pre, 'the', '--seed', String(seed), '--temperature', '1.5',
    '--max-new-tokens', '20', '--json', ...more]).stdout).ids as number[];
  assert.deepEqual(sample(1), sample(1));
  assert.notDeepEqual(sample(1), sample(2));
  assert.deepEqual(JSON.parse(tlc(['generate', pre, 'the', '--top-k', '1', '--max-new-tokens', '12', '--json']).stdout).ids, g.ids);

  for (const [flags, message] of [
    [['--temperature', '0'], /--temperature must be positive/],
    [['--top-p', '1.5'], /--top-p must be in \(0, 1\]/],
    [['--repetition-penalty', '0.5'], /--repetition-penalty must be at least 1/],
  ] as [string[], RegExp][]) {
    const r = tlc(['generate', pre, 'x', ...flags]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, message);
  }
  const notCausal = tlc(['generate', mlm, 'x']);
  assert.equal(notCausal.status, 1);
  assert.match(notCausal.stderr, /generate needs a causal language model/);
});

test('sampling: top-k, top-p and the repetition penalty keep and reweigh the tokens they should', () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  const draw = (o: Partial<typeof DEFAULT_SAMPLING>, seen: number[] = [], n = 20000): number[] => {
    const rng = new Rng(9), counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[chooseToken(logits, seen, { ...DEFAULT_SAMPLING, ...o }, rng)]++;
    return counts.map((c) => c / n);
  };
  // plain sampling follows the softmax (within the noise of 20,000 draws)
  draw({}).forEach((p, i) => assert.ok(Math.abs(p - [0.5, 0.3, 0.15, 0.05][i]) < 0.015, `token ${i}: ${p}`));
  // top-k 2 renormalizes over the two most likely
  const k2 = draw({ topK: 2 });
  assert.ok(k2[2] === 0 && k2[3] === 0 && Math.abs(k2[0] - 0.625) < 0.015);
  // top-p 0.75: 0.5 + 0.3 reaches it, the rest is cut
  const p75 = draw({ topP: 0.75 });
  assert.ok(p75[2] === 0 && p75[3] === 0 && Math.abs(p75[1] - 0.375) < 0.015);
  assert.deepEqual(draw({ topP: 0.4 }), [1, 0, 0, 0]);
  // the penalty: token 0's logit (negative) is multiplied, so greedy moves to token 1
  assert.equal(chooseToken(logits, [], { ...DEFAULT_SAMPLING, greedy: true }, new Rng(0)), 0);
  assert.equal(chooseToken(logits, [0], { ...DEFAULT_SAMPLING, greedy: true, repetitionPenalty: 2 }, new Rng(0)), 1);
  // a low temperature sharpens toward the most likely token
  assert.ok(draw({ temperature: 0.25 })[0] > 0.85);
});
