// Parity with PyTorch: tlc's Transformer LMs and encoder–decoder against
// tools/torch_reference.py's dump (PyTorch 1.13, float32) from the same weights and batch:
// loss, logits, every parameter's gradient, and every parameter after 10 AdamW steps with
// clipping (the encoder–decoder with label smoothing 0.1).
// Error measure per tensor: max|tlc − torch| / max|torch|.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backward, noGrad, tidy, type Tensor } from '../src/engine/index.js';
import { readSafetensors } from '../src/engine/safetensors.js';
import { AdamW } from '../src/engine/optim.js';
import { TransformerLM, loadWeights, readModelConfig, type LMBatch, type ModelConfig } from '../src/nn/index.js';
import { Seq2SeqTransformer, type Seq2SeqBatch } from '../src/nn/seq2seq.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

function relError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

function loadBatch(dir: string): LMBatch {
  const { tensors } = readSafetensors(join(dir, 'batch.safetensors'));
  const ids = tensors.get('input_ids')!;
  const batch: LMBatch = {
    batchSize: ids.shape[0], seqLen: ids.shape[1],
    inputIds: ids.toArray() as Int32Array,
    targets: tensors.get('targets')!.toArray() as Int32Array,
    attentionMask: tensors.get('attention_mask')!.toArray() as Uint8Array,
  };
  for (const t of tensors.values()) t.dispose();
  return batch;
}

function loadSeq2SeqBatch(dir: string): Seq2SeqBatch {
  const { tensors } = readSafetensors(join(dir, 'batch.safetensors'));
  const src = tensors.get('source_ids')!, dec = tensors.get('decoder_input_ids')!;
  const batch: Seq2SeqBatch = {
    batchSize: src.shape[0], sourceLen: src.shape[1], targetLen: dec.shape[1],
    sourceIds: src.toArray() as Int32Array,
    sourceMask: tensors.get('source_mask')!.toArray() as Uint8Array,
    decoderInputIds: dec.toArray() as Int32Array,
    targets: tensors.get('targets')!.toArray() as Int32Array,
  };
  for (const t of tensors.values()) t.dispose();
  return batch;
}

/** The variant's model with its logits and training loss on the fixture's batch. */
function openVariant(dir: string, config: ModelConfig, labelSmoothing: number) {
  if (config.objective === 'seq2seq') {
    const model = new Seq2SeqTransformer(config, { seed: 0 });
    const batch = loadSeq2SeqBatch(dir);
    return { model, logits: () => model.logits(batch), loss: () => model.loss(batch, { labelSmoothing }).loss };
  }
  const model = new TransformerLM(config, { seed: 0 });
  const batch = loadBatch(dir);
  return { model, logits: () => model.logits(batch), loss: () => model.loss(batch).loss };
}

for (const variant of ['mlm-pre', 'clm-pre', 'mlm-post', 'seq2seq-pre']) {
  test(`parity with PyTorch: ${variant}`, (t) => {
    const worst = { logits: 0, loss: 0, grad: 0, final: 0 };
    const dir = join(FIXTURES, `parity-${variant}`);
    const config = readModelConfig(join(dir, 'config.json'));
    const train = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8'));
    const { model, logits: forward, loss: lossOf } = openVariant(dir, config, train.label_smoothing ?? 0);
    loadWeights(model, join(dir, 'model.safetensors'));
    const ref = readSafetensors(join(dir, 'reference.safetensors')).tensors;
    const expected = (name: string): Float32Array => {
      const t = ref.get(name);
      assert.ok(t, `reference.safetensors lacks ${name}`);
      return t.toFloat32Array();
    };
    const params = model.namedParameters();
    try {
      tidy(() => {
        const logits = noGrad(() => forward());
        const eLogits = relError(logits.toFloat32Array(), expected('logits'));
        assert.ok(eLogits <= 1e-4, `logits rel. error ${eLogits}`);
        worst.logits = eLogits;

        const loss = lossOf();
        const eLoss = relError(loss.toFloat32Array(), expected('loss'));
        assert.ok(eLoss <= 1e-4, `loss ${loss.item()} vs ${expected('loss')[0]}: rel. error ${eLoss}`);
        worst.loss = eLoss;
        backward(loss);
      });
      for (const [name, p] of params) {
        assert.ok(p.grad, `no gradient for ${name}`);
        const e = relError(p.grad.toFloat32Array(), expected(`grad.${name}`));
        assert.ok(e <= 1e-3, `gradient of ${name}: rel. error ${e}`);
        worst.grad = Math.max(worst.grad, e);
      }

      const opt = new AdamW(params.map(([, p]) => p), {
        lr: train.lr, betas: train.betas, eps: train.eps, weightDecay: train.weight_decay,
        maxGradNorm: train.max_grad_norm, noDecay: (p: Tensor) => p.shape.length < 2,
      });
      const losses: number[] = [];
      for (let step = 0; step < train.steps; step++) {
        opt.zeroGrad();
        tidy(() => {
          const loss = lossOf();
          losses.push(loss.item());
          backward(loss);
        });
        opt.step();
      }
      const eLosses = relError(Float32Array.from(losses), expected('losses'));
      assert.ok(eLosses <= 1e-3, `losses over ${train.steps} steps: rel. error ${eLosses}`);
      for (const [name, p] of params) {
        const e = relError(p.toFloat32Array(), expected(`final.${name}`));
        assert.ok(e <= 1e-3, `${name} after ${train.steps} steps: rel. error ${e}`);
        worst.final = Math.max(worst.final, e);
      }
      t.diagnostic(`max rel. error: loss ${worst.loss.toExponential(1)}, logits ${worst.logits.toExponential(1)}, ` +
        `gradients ${worst.grad.toExponential(1)}, parameters after ${train.steps} steps ${worst.final.toExponential(1)}`);
    } finally {
      for (const t of ref.values()) t.dispose();
      model.dispose();
    }
  });
}
