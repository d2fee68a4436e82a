// The ONNX decoder of a causal LM: onnxruntime computes tlc's logits over a whole sequence
// and step by step on the key/value cache, and transformers.js's generate, loading the export
// offline, decodes greedily the tokens `tlc generate --greedy` does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AutoModelForCausalLM, Tensor as TjsTensor, env } from '@huggingface/transformers';
import { EOS_ID } from '../src/data/tokenizer.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { exportRun, ONNX_FILES } from '../src/export/export.js';
import { generateTokens } from '../src/generate/generate.js';
import { DEFAULT_SAMPLING } from '../src/generate/sampling.js';
import { maxDiffAtTokens, paddedBatch, randomRun, tinyConfig, tlcLogits } from './export-fixture.js';
import { tempDir } from './temp-dir.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const int64 = (values: ArrayLike<number>, dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values as number[], (x) => BigInt(x)), dims);

function exported(activation: 'gelu' | 'gelu_tanh', seed: number): { run: string; out: string; model: TransformerLM } {
  const { dir, model } = randomRun(tinyConfig({ objective: 'clm', norm: 'pre', activation, max_len: 32 }), seed);
  const out = join(tempDir('tlc-onnx-decoder-'), 'export');
  exportRun(dir, { format: 'onnx', out });
  return { run: dir, out, model: model as TransformerLM };
}

test('onnxruntime runs the decoder: the logits of a padded batch, and the same logits step by step on the cache', async () => {
  for (const [activation, seed] of [['gelu_tanh', 70], ['gelu', 71]] as const) {
    const { out, model } = exported(activation, seed);
    try {
      const c = model.config, H = c.n_heads, Dh = c.d_model / H, L = c.n_layers, V = c.vocab_size;
      if (activation === 'gelu') {
        // no GPT-2 equivalent: ONNX only, and config.json says why
        const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { tlc_onnx_only?: string[] };
        assert.match(config.tlc_onnx_only!.join(' '), /activation "gelu" \(erf\) has no GPT-2 equivalent/);
      }
      const session = await ort.InferenceSession.create(join(out, ONNX_FILES.fp32));
      const batch = paddedBatch([12, 9], V, seed);
      const B = batch.batchSize, T = batch.seqLen;
      const emptyPast = (): Record<string, ort.Tensor> => Object.fromEntries(Array.from({ length: L }, (_, i) => [
        [`past_key_values.${i}.key`, new ort.Tensor('float32', new Float32Array(0), [B, H, 0, Dh])],
        [`past_key_values.${i}.value`, new ort.Tensor('float32', new Float32Array(0), [B, H, 0, Dh])],
      ]).flat());
      const positions = Array.from({ length: B * T }, (_, i) => i % T);
      const whole = await session.run({
        input_ids: int64(batch.inputIds, [B, T]), attention_mask: int64(batch.attentionMask, [B, T]), position_ids: int64(positions, [B, T]), ...emptyPast(),
      });
      const expected = tlcLogits(model, batch);
      const d = maxDiffAtTokens(whole.logits.data as Float32Array, expected, V, batch.attentionMask);
      assert.ok(d < 1e-4, `${activation}: whole-sequence logits differ from tlc's by ${d}`);
      assert.deepEqual(whole['present.0.key'].dims, [B, H, T, Dh]);

      // the first 5 tokens at once, then one token per call with the presents fed back
      const P = 5;
      const slice = (t0: number, t1: number) => Array.from({ length: B * (t1 - t0) }, (_, i) => batch.inputIds[Math.floor(i / (t1 - t0)) * T + t0 + (i % (t1 - t0))]);
      const maskTo = (t1: number) => Array.from({ length: B * t1 }, (_, i) => batch.attentionMask[Math.floor(i / t1) * T + (i % t1)]);
      const posOf = (t0: number, t1: number) => Array.from({ length: B * (t1 - t0) }, (_, i) => t0 + (i % (t1 - t0)));
      let past = emptyPast();
      let worst = 0;
      for (const [t0, t1] of [[0, P], ...Array.from({ length: T - P }, (_, k) => [P + k, P + k + 1])]) {
        const r = await session.run({
          input_ids: int64(slice(t0, t1), [B, t1 - t0]), attention_mask: int64(maskTo(t1), [B, t1]), position_ids: int64(posOf(t0, t1), [B, t1 - t0]), ...past,
        });
        const logits = r.logits.data as Float32Array;
        for (let b = 0; b < B; b++) {
          for (let t = t0; t < t1; t++) {
            if (!batch.attentionMask[b * T + t]) continue;
            for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[(b * (t1 - t0) + t - t0) * V + v] - expected[(b * T + t) * V + v]));
          }
        }
        past = Object.fromEntries(Array.from({ length: L }, (_, i) => [
          [`past_key_values.${i}.key`, r[`present.${i}.key`]], [`past_key_values.${i}.value`, r[`present.${i}.value`]],
        ]).flat());
      }
      assert.ok(worst < 1e-4, `${activation}: cached logits differ from tlc's by ${worst}`);
    } finally {
      model.dispose();
    }
  }
});

test("transformers.js's generate decodes greedily the tokens tlc generate --greedy does", async () => {
  const { out, model } = exported('gelu_tanh', 72);
  try {
    const lm = await AutoModelForCausalLM.from_pretrained(out, { dtype: 'fp32' });
    for (const prompt of [[17, 42, 99], [250], [5, 6, 7, 8, 9, 10]]) {
      const expected = [...generateTokens(model, prompt, { ...DEFAULT_SAMPLING, greedy: true, maxNewTokens: 12, seed: 0 })];
      const ids = [EOS_ID, ...prompt];
      const result = await lm.generate({
        input_ids: new TjsTensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
        attention_mask: new TjsTensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
        max_new_tokens: 12, do_sample: false,
      }) as TjsTensor;
      const generated = Array.from(result.data as BigInt64Array, Number).slice(ids.length).filter((t) => t !== EOS_ID);
      assert.equal(expected.length, 12, 'the random model runs the whole budget without </s>: the comparison is not vacuous');
      assert.deepEqual(generated, expected, `prompt ${prompt.join(' ')}`);
    }
    await lm.dispose();
  } finally {
    model.dispose();
  }
});
