// Writes the inputs of the PyTorch parity check: for each model variant, tlc's seeded
// initial weights (model.safetensors), a batch with padding (batch.safetensors), the
// config and the optimizer settings. tools/torch_reference.py then adds
// reference.safetensors. Regenerate everything with `npm run parity:regen`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, tensor, tidy } from '../src/engine/index.js';
import { writeSafetensors } from '../src/engine/safetensors.js';
import { IGNORE_INDEX, TransformerLM, parseModelConfig, saveWeights, type ModelConfig } from '../src/nn/index.js';

export const PARITY_VARIANTS: { name: string; config: Partial<ModelConfig> & { objective: 'mlm' | 'clm' } }[] = [
  { name: 'mlm-pre', config: { objective: 'mlm', norm: 'pre', activation: 'gelu' } },
  { name: 'clm-pre', config: { objective: 'clm', norm: 'pre', activation: 'gelu_tanh' } },
  { name: 'mlm-post', config: { objective: 'mlm', norm: 'post', activation: 'gelu' } },
];

export const PARITY_SHAPE = { batchSize: 4, seqLen: 32, vocab: 512, dModel: 64, layers: 2, heads: 4 };
export const PARITY_TRAIN = { lr: 1e-3, betas: [0.9, 0.98], eps: 1e-6, weight_decay: 0.01, max_grad_norm: 0.5, steps: 10 };

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

function main(outRoot: string): void {
  PARITY_VARIANTS.forEach(({ name, config }, k) => {
    const dir = join(outRoot, `parity-${name}`);
    mkdirSync(dir, { recursive: true });
    const cfg = parityConfig(config);
    const model = new TransformerLM(cfg, { seed: 100 + k });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    writeFileSync(join(dir, 'train.json'), JSON.stringify(PARITY_TRAIN, null, 2) + '\n');
    saveWeights(model, join(dir, 'model.safetensors'));
    const batch = parityBatch(config.objective, 200 + k);
    tidy(() => {
      writeSafetensors(join(dir, 'batch.safetensors'), new Map([
        ['input_ids', tensor(batch.inputIds, [batch.batchSize, batch.seqLen], 'i32')],
        ['targets', tensor(batch.targets, [batch.batchSize, batch.seqLen], 'i32')],
        ['attention_mask', tensor(batch.attentionMask, [batch.batchSize, batch.seqLen], 'u8')],
      ]));
    });
    model.dispose();
    console.log(`wrote ${dir}`);
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(process.argv[2] ?? 'test/fixtures');
}
