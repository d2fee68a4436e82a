// Writes the inputs of the PyTorch parity check: for each model variant, weights far from
// tlc's near-linear initialisation (model.safetensors: see perturbWeights), a batch with
// padding (batch.safetensors), the config, the optimizer settings (train.json; the
// encoder–decoder trains with label smoothing) and the gradients tlc computed at each of
// its own training steps with the optimizer the training loop builds (grads.safetensors).
// tools/torch_reference.py then adds reference.safetensors: its own loss, logits and
// gradients at these weights, and its AdamW applied to tlc's gradient sequence.
// Regenerate everything with `npm run parity:regen`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, backward, tensor, tidy, type Tensor } from '../src/engine/index.js';
import { writeSafetensors } from '../src/engine/safetensors.js';
import { IGNORE_INDEX, TransformerLM, parseModelConfig, saveWeights, type ModelConfig } from '../src/nn/index.js';
import type { Module } from '../src/nn/module.js';
import { Seq2SeqTransformer, type Seq2SeqBatch } from '../src/nn/seq2seq.js';
import { BOS_ID, EOS_ID, PAD_ID } from '../src/data/tokenizer.js';
import type { OptimizerArgs } from '../src/train/loop.js';
import { buildOptimizer } from '../src/train/optimizer.js';

export const PARITY_VARIANTS: { name: string; config: Partial<ModelConfig> & Pick<ModelConfig, 'objective'> }[] = [
  { name: 'mlm-pre', config: { objective: 'mlm', norm: 'pre', activation: 'gelu' } },
  { name: 'clm-pre', config: { objective: 'clm', norm: 'pre', activation: 'gelu_tanh' } },
  { name: 'mlm-post', config: { objective: 'mlm', norm: 'post', activation: 'gelu' } },
  { name: 'seq2seq-pre', config: { objective: 'seq2seq', norm: 'pre', activation: 'gelu', n_decoder_layers: 3 } },
];

export const PARITY_SHAPE = { batchSize: 4, seqLen: 32, vocab: 128, dModel: 32, layers: 2, heads: 4 };
/**
 * The CLI's betas, eps and clipping (--clip 1.0), with a weight decay (0.1, the CLI's
 * default is 0.01) and learning rate large enough that 10 steps of decay move the weights
 * by ~0.5 %, far above the parity tolerance.
 */
export const PARITY_TRAIN = { lr: 5e-3, betas: [0.9, 0.98] as [number, number], eps: 1e-6, weight_decay: 0.1, max_grad_norm: 1.0, steps: 10 };

export type ParityTrain = typeof PARITY_TRAIN & { label_smoothing?: number };

/** train.json as the training loop's optimizer arguments (constant learning rate). */
export function parityOptimizerArgs(train: ParityTrain): OptimizerArgs {
  return {
    schedule: { peakLr: train.lr, warmup: 0, decay: 'constant' }, weightDecay: train.weight_decay,
    betas: train.betas, eps: train.eps, maxGradNorm: train.max_grad_norm,
  };
}

/**
 * Replaces the initial weights with ones far from linear, so that the comparison sees
 * every op's nonlinearity: embeddings ~ N(0, 0.5²); weight matrices ~ N(0, (1.2/√fan_in)²)
 * (0.21 for fan-in 32, so linear outputs and GELU inputs are of order 1, in GELU's curved
 * region; attention scores of order 1); LayerNorm gains uniform in [0.7, 1.3]; every
 * bias (LayerNorm's included) ~ N(0, 0.2²), the masked-LM output bias ~ N(0, 0.5²).
 * Drawn in parameter-name order.
 */
export function perturbWeights(model: Module, seed: number): void {
  const rng = new Rng(seed);
  const named = [...model.namedParameters()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, p] of named) {
    const values = new Float32Array(p.size);
    const draw = (f: () => number) => { for (let i = 0; i < values.length; i++) values[i] = f(); };
    if (p.shape.length === 2 && /(^|\.)(tok_emb|pos_emb|dec_pos_emb)\.weight$/.test(name)) draw(() => 0.5 * rng.normal());
    else if (p.shape.length === 2) draw(() => (1.2 / Math.sqrt(p.shape[1])) * rng.normal());
    else if (name.endsWith('.weight')) draw(() => 0.7 + 0.6 * rng.uniform());  // only LayerNorm has a 1-D weight
    else if (name === 'lm_head.bias') draw(() => 0.5 * rng.normal());
    else draw(() => 0.2 * rng.normal());
    tidy(() => p.copyFrom(tensor(values, p.shape)));
  }
}

export function parityConfig(variant: Partial<ModelConfig>): ModelConfig {
  const s = PARITY_SHAPE;
  return parseModelConfig({
    vocab_size: s.vocab, d_model: s.dModel, n_layers: s.layers, n_heads: s.heads, d_ff: 4 * s.dModel,
    max_len: s.seqLen, dropout: 0, layer_norm_eps: 1e-5, ...variant,
  });
}

/** A batch with two padded sequences; masked-LM targets at ~15% of real tokens, causal-LM targets = next token. */
export function parityBatch(objective: 'mlm' | 'clm', seed: number) {
  const { batchSize: B, seqLen: T, vocab } = PARITY_SHAPE;
  const rng = new Rng(seed);
  const lengths = [T, T, 25, 18];
  const inputIds = new Int32Array(B * T), targets = new Int32Array(B * T).fill(IGNORE_INDEX), attentionMask = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (t >= lengths[b]) { inputIds[i] = 1; continue; }
      attentionMask[i] = 1;
      inputIds[i] = 5 + rng.int(vocab - 5);
    }
    for (let t = 0; t < lengths[b]; t++) {
      const i = b * T + t;
      if (objective === 'clm') {
        if (t + 1 < lengths[b]) targets[i] = inputIds[i + 1];
      } else if (rng.uniform() < 0.15) {
        targets[i] = inputIds[i];
        inputIds[i] = 4; // <mask>
      }
    }
  }
  return { batchSize: B, seqLen: T, inputIds, targets, attentionMask };
}

/**
 * Four pairs with padding on both sides (source lengths 32/20/32/9, target lengths
 * 32/32/14/25 with </s>): the decoder reads <s> y… and predicts y… </s>.
 */
export function paritySeq2SeqBatch(seed: number): Seq2SeqBatch {
  const { batchSize: B, seqLen: T, vocab } = PARITY_SHAPE;
  const rng = new Rng(seed);
  const srcLens = [T, 20, T, 9], tgtLens = [T, T, 14, 25];
  const sourceIds = new Int32Array(B * T).fill(PAD_ID), sourceMask = new Uint8Array(B * T);
  const decoderInputIds = new Int32Array(B * T).fill(PAD_ID), targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < srcLens[b]; t++) {
      sourceIds[b * T + t] = t === srcLens[b] - 1 ? EOS_ID : 5 + rng.int(vocab - 5);
      sourceMask[b * T + t] = 1;
    }
    const y = Array.from({ length: tgtLens[b] - 1 }, () => 5 + rng.int(vocab - 5));
    [BOS_ID, ...y].forEach((id, t) => { decoderInputIds[b * T + t] = id; });
    [...y, EOS_ID].forEach((id, t) => { targets[b * T + t] = id; });
  }
  return { batchSize: B, sourceLen: T, sourceIds, sourceMask, targetLen: T, decoderInputIds, targets };
}

function main(outRoot: string): void {
  PARITY_VARIANTS.forEach(({ name, config }, k) => {
    const dir = join(outRoot, `parity-${name}`);
    mkdirSync(dir, { recursive: true });
    const cfg = parityConfig(config);
    const model = config.objective === 'seq2seq' ? new Seq2SeqTransformer(cfg, { seed: 100 + k }) : new TransformerLM(cfg, { seed: 100 + k });
    perturbWeights(model, 300 + k);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    const train: ParityTrain = config.objective === 'seq2seq' ? { ...PARITY_TRAIN, label_smoothing: 0.1 } : PARITY_TRAIN;
    writeFileSync(join(dir, 'train.json'), JSON.stringify(train, null, 2) + '\n');
    saveWeights(model, join(dir, 'model.safetensors'));
    let lossOf: () => Tensor;
    tidy(() => {
      let tensors: Map<string, Tensor>;
      if (config.objective === 'seq2seq') {
        const b = paritySeq2SeqBatch(200 + k);
        const s2s = model as Seq2SeqTransformer;
        lossOf = () => s2s.loss(b, { labelSmoothing: train.label_smoothing }).loss;
        tensors = new Map([
          ['source_ids', tensor(b.sourceIds, [b.batchSize, b.sourceLen], 'i32')],
          ['source_mask', tensor(b.sourceMask, [b.batchSize, b.sourceLen], 'u8')],
          ['decoder_input_ids', tensor(b.decoderInputIds, [b.batchSize, b.targetLen], 'i32')],
          ['targets', tensor(b.targets!, [b.batchSize, b.targetLen], 'i32')],
        ]);
      } else {
        const batch = parityBatch(config.objective, 200 + k);
        const lm = model as TransformerLM;
        lossOf = () => lm.loss(batch).loss;
        tensors = new Map([
          ['input_ids', tensor(batch.inputIds, [batch.batchSize, batch.seqLen], 'i32')],
          ['targets', tensor(batch.targets, [batch.batchSize, batch.seqLen], 'i32')],
          ['attention_mask', tensor(batch.attentionMask, [batch.batchSize, batch.seqLen], 'u8')],
        ]);
      }
      writeSafetensors(join(dir, 'batch.safetensors'), tensors);
    });

    // tlc's own training run, with the optimizer the training loop builds: the gradient of
    // every parameter at every step, before clipping.
    const params = model.namedParameters();
    const opt = buildOptimizer(params.map(([, p]) => p), parityOptimizerArgs(train));
    const grads = new Map<string, Tensor>();
    const log: string[] = [];
    for (let step = 0; step < train.steps; step++) {
      opt.zeroGrad();
      tidy(() => {
        const loss = lossOf();
        log.push(`step ${step}: loss ${loss.item().toFixed(6)}`);
        backward(loss);
      });
      for (const [n, p] of params) grads.set(`step${step}.${n}`, p.grad!.clone());
      const { gradNorm, clipScale } = opt.step();
      log[step] += `  grad norm ${gradNorm.toFixed(6)}  clip ${clipScale.toFixed(4)}`;
    }
    writeSafetensors(join(dir, 'grads.safetensors'), grads, { steps: String(train.steps) });
    for (const g of grads.values()) g.dispose();
    opt.dispose();
    model.dispose();
    console.log(`wrote ${dir}\n  ${log.join('\n  ')}`);
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(process.argv[2] ?? 'test/fixtures');
}
