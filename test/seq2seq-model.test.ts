// The encoder–decoder: its cross-attention op, config, parameter and FLOP counts,
// gradients (finite differences through the whole model), and cached one-token-at-a-time
// decoding against the teacher-forced forward pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attention, crossAttention, backward, gradcheckLeaves, noGrad, tapeLength, tensor, tidy, memoryStats, Rng, getThreads, setThreads,
} from '../src/engine/index.js';
import { IGNORE_INDEX, TransformerLM, countParams, parseModelConfig, presetConfig, trainingFlopsPerToken, type ModelConfig } from '../src/nn/index.js';
import { seq2seqTrainingFlops } from '../src/nn/config.js';
import { IncrementalDecoder, Seq2SeqTransformer, type Seq2SeqBatch } from '../src/nn/seq2seq.js';
import { assertGradcheck, maxAbsDiff, randn } from './helpers.js';

function tinyConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return parseModelConfig({
    objective: 'seq2seq', vocab_size: 40, d_model: 16, n_layers: 1, n_decoder_layers: 2, n_heads: 2, d_ff: 32, max_len: 12, dropout: 0, ...over,
  });
}

/** Three pairs with source and target padding (lengths 6/4/2 and 5/3/7 tokens, targets ending in </s> = 2). */
function paddedBatch(seed: number, V: number): Seq2SeqBatch {
  const rng = new Rng(seed);
  const B = 3, S = 6, T = 7, srcLens = [6, 4, 2], tgtLens = [5, 3, 7];
  const sourceIds = new Int32Array(B * S).fill(1), sourceMask = new Uint8Array(B * S);
  const decoderInputIds = new Int32Array(B * T).fill(1), targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < srcLens[b]; j++) {
      sourceIds[b * S + j] = j === srcLens[b] - 1 ? 2 : 5 + rng.int(V - 5);
      sourceMask[b * S + j] = 1;
    }
    const y = Array.from({ length: tgtLens[b] - 1 }, () => 5 + rng.int(V - 5));
    [0, ...y].forEach((id, j) => { decoderInputIds[b * T + j] = id; });
    [...y, 2].forEach((id, j) => { targets[b * T + j] = id; });
  }
  return { batchSize: B, sourceLen: S, sourceIds, sourceMask, targetLen: T, decoderInputIds, targets };
}

test('crossAttention on packed [k | v] equals attention on separate k and v, forward and backward', () => {
  tidy(() => {
    const B = 2, Tq = 3, Tk = 5, C = 8, H = 2;
    const q = randn([B, Tq, C], 1), kv = randn([B, Tk, 2 * C], 2);
    const kvData = kv.toFloat32Array();
    const k = new Float32Array(B * Tk * C), v = new Float32Array(B * Tk * C);
    for (let r = 0; r < B * Tk; r++) {
      k.set(kvData.subarray(r * 2 * C, r * 2 * C + C), r * C);
      v.set(kvData.subarray(r * 2 * C + C, (r + 1) * 2 * C), r * C);
    }
    const mask = tensor(Uint8Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), [B, Tk], 'u8');
    const ks = tensor(k, [B, Tk, C]), vs = tensor(v, [B, Tk, C]);
    for (const t of [q, kv, ks, vs]) t.requiresGrad = true;
    const dOut = randn([B, Tq, C], 3);
    const packed = crossAttention(q, kv, H, { keyPaddingMask: mask });
    const out = packed.toFloat32Array();
    backward(packed, dOut);
    const dqPacked = q.grad!.toFloat32Array(), dkv = kv.grad!.toFloat32Array();
    q.gradStale = true;
    const separate = attention(q, ks, vs, H, { keyPaddingMask: mask });
    assert.equal(maxAbsDiff(out, separate.toFloat32Array()), 0);
    backward(separate, dOut);
    assert.ok(maxAbsDiff(dqPacked, q.grad!.toFloat32Array()) < 1e-6);
    const dk = ks.grad!.toFloat32Array(), dv = vs.grad!.toFloat32Array();
    for (let r = 0; r < B * Tk; r++) {
      assert.ok(maxAbsDiff(dkv.subarray(r * 2 * C, r * 2 * C + C), dk.subarray(r * C, (r + 1) * C)) < 1e-6);
      assert.ok(maxAbsDiff(dkv.subarray(r * 2 * C + C, (r + 1) * 2 * C), dv.subarray(r * C, (r + 1) * C)) < 1e-6);
    }
    assertGradcheck('crossAttention', (a, b) => crossAttention(a, b, H, { keyPaddingMask: mask }), [randn([B, Tq, C], 4), randn([B, Tk, 2 * C], 5)]);
  });
  assert.throws(() => tidy(() => crossAttention(randn([1, 2, 8], 1), randn([1, 3, 8], 2), 2)), /kv \[1, 3, 8\] does not match q \[1, 2, 8\]: expected \[1, Tk, 16\]/);
});

test('seq2seq configs: the decoder depth defaults to the encoder depth; other configs are unchanged', () => {
  const preset = presetConfig('L3-D64', { vocab_size: 100, objective: 'seq2seq' });
  assert.equal(preset.n_decoder_layers, 3);
  assert.equal(tinyConfig({ n_decoder_layers: 4 }).n_decoder_layers, 4);
  const mlm = presetConfig('L2-D64', { vocab_size: 100 });
  assert.ok(!('n_decoder_layers' in mlm), 'a masked-LM config gains no decoder field');
  assert.throws(() => parseModelConfig({ ...mlm, n_decoder_layers: 2 }), /n_decoder_layers: only seq2seq models have a decoder/);
  assert.throws(() => tinyConfig({ norm: 'post' }), /norm: seq2seq models are pre-LN only/);
  assert.throws(() => new TransformerLM(tinyConfig()), /seq2seq config describes an encoder–decoder/);
  assert.throws(() => new Seq2SeqTransformer(mlm), /needs a seq2seq config, got objective "mlm"/);
  // the language models' count is Kaplan's formula, as before
  const C = 64, F = 256, L = 2, V = 100;
  assert.equal(trainingFlopsPerToken(mlm, 128), 6 * (L * (12 * C * C + 13 * C) + 2 * C + (C * C + 3 * C + V)) + 12 * L * 128 * C);
  assert.equal(F, mlm.d_ff);
});

test('parameter and FLOP counts cover every tensor of the encoder–decoder', () => {
  for (const cfg of [tinyConfig(), tinyConfig({ n_layers: 2, n_decoder_layers: 1, d_model: 24, n_heads: 3, d_ff: 40 })]) {
    const model = new Seq2SeqTransformer(cfg);
    try {
      const named = model.namedParameters();
      const size = (pred: (n: string) => boolean): number => named.filter(([n]) => pred(n)).reduce((a, [, t]) => a + t.size, 0);
      const counts = countParams(cfg);
      assert.equal(counts.total, size(() => true));
      const embedding = (n: string): boolean => /^(tok_emb|pos_emb|dec_pos_emb)\./.test(n);
      assert.equal(counts.embedding, size(embedding));
      assert.equal(counts.nonEmbedding, size((n) => !embedding(n)));
      // 6 FLOPs per parameter per token it runs on: the encoder and the cross-attention K/V over
      // the source, the rest of the decoder over the target; plus 12·d per attended query–key pair
      const onSource = size((n) => /^(blocks|ln_f)\./.test(n) || /\.cross_attn\.kv\./.test(n));
      const onTarget = size((n) => /^(dec_blocks|dec_ln_f)\./.test(n) && !/\.cross_attn\.kv\./.test(n));
      const S = 7, T = 5, d = cfg.d_model, L = cfg.n_layers, Ld = cfg.n_decoder_layers!;
      assert.equal(seq2seqTrainingFlops(cfg, S, T), 6 * (onSource * S + onTarget * T) + 12 * d * (L * S * S + Ld * (T * T + T * S)));
      assert.equal(trainingFlopsPerToken(cfg, 10), seq2seqTrainingFlops(cfg, 10, 10) / 20);
    } finally {
      model.dispose();
    }
  }
});

test('gradients of the label-smoothed loss through encoder and decoder match finite differences', () => {
  const cfg = tinyConfig();
  const model = new Seq2SeqTransformer(cfg, { seed: 3 });
  // larger weights than the 0.02 init, so that attention and the MLPs are far from linear
  tidy(() => {
    const rng = new Rng(9);
    for (const [name, p] of model.namedParameters()) {
      if (name.endsWith('.weight') && p.shape.length === 2) p.write(Float32Array.from({ length: p.size }, () => rng.normal() * 0.3));
    }
  });
  const batch = paddedBatch(4, cfg.vocab_size);
  // hundreds of tiny forward passes: one thread avoids OpenMP's per-op synchronisation
  const threads = getThreads();
  setThreads(1);
  try {
    const r = gradcheckLeaves(() => model.loss(batch, { labelSmoothing: 0.1 }).loss, model.parameters(), { samples: 6, eps: 1e-2, seed: 5 });
    assert.ok(r.probes > 100, `only ${r.probes} probes`);
    assert.ok(r.ok, `gradient mismatch ${JSON.stringify(r.worst)} (ratio ${r.worstRatio.toFixed(2)}) at ${model.namedParameters()[r.worst!.input][0]}`);
    assert.equal(tapeLength(), 0);
  } finally {
    setThreads(threads);
    model.dispose();
  }
});

test('cached decoding, one token at a time, gives the teacher-forced logits, also after re-ranking and dropping rows', () => {
  const cfg = tinyConfig();
  const model = new Seq2SeqTransformer(cfg, { seed: 7 });
  const V = cfg.vocab_size;
  const batch = paddedBatch(11, V);
  const live0 = memoryStats().liveBytes;
  try {
    const full = noGrad(() => tidy(() => model.logits(batch).toFloat32Array())); // [B, T, V]
    const { targetLen: T } = batch;
    const fullRow = (b: number, t: number): Float32Array => full.subarray((b * T + t) * V, (b * T + t + 1) * V);
    // two rows per sentence; row 2b+1 starts as a copy of row 2b, and at step 3 the rows of
    // sentence 0 swap and sentence 1 leaves
    const K = 2;
    const decoder = noGrad(() => tidy(() => new IncrementalDecoder(model, model.encodeSource(batch), batch.sourceMask, K, T)));
    try {
      let sentences = [0, 1, 2];
      for (let t = 0; t < T; t++) {
        if (t === 3) {
          decoder.select(Int32Array.from([1, 0, 4, 5]));
          sentences = [0, 2];
        }
        const tokens = Int32Array.from(sentences.flatMap((b) => [batch.decoderInputIds[b * T + t], batch.decoderInputIds[b * T + t]]));
        const logits = decoder.next(tokens);
        sentences.forEach((b, g) => {
          for (let k = 0; k < K; k++) {
            const d = maxAbsDiff(logits.subarray((g * K + k) * V, (g * K + k + 1) * V), fullRow(b, t));
            assert.ok(d < 1e-5, `sentence ${b}, row ${k}, step ${t}: logits differ by ${d}`);
          }
        });
      }
      assert.throws(() => decoder.next(new Int32Array(4)), /no room for another/);
      assert.throws(() => decoder.select(Int32Array.from([0, 2])), /row 2 cannot continue group 0/);
    } finally {
      decoder.dispose();
    }
    assert.equal(memoryStats().liveBytes, live0, 'the decoder frees its caches');
  } finally {
    model.dispose();
  }
});
