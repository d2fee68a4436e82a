// Runs every native kernel family once on small shapes (training forward and backward, AdamW,
// bf16 where it runs, fake quantization, every inference kernel) and prints one JSON object:
// the build and tier that ran, and a summary of each result. Run on an emulated CPU of a lower
// tier (qemu-user -cpu ...) and natively with TLC_MAX_ISA of that tier, it shows that the build
// holds no instruction that CPU lacks and computes the same numbers there (test/isa.test.ts).
//
//   node dist/tools/kernel-tour.js
import { backward, noGrad, tidy, setThreads, zeroGrad, Bf16Weights, setBf16Weights, type Tensor, AdamW } from '../src/engine/index.js';
import { fakeQuantize } from '../src/engine/ops/quantize.js';
import { isa, native } from '../src/engine/native.js';
import { cpuFeatures } from '../src/engine/mixed.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { presetConfig } from '../src/nn/config.js';
import { packLinears, type KernelSpec } from '../src/infer/pack.js';

// A result in a few numbers: its sum, its sum of squares and its first four values (oneDNN may
// block sums differently on an emulated CPU, which reports other cache sizes: compare these
// with a tolerance, not bit for bit).
function summary(values: ArrayLike<number>): number[] {
  let sum = 0, sq = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    sq += values[i] * values[i];
  }
  return [sum, sq, ...Array.from({ length: Math.min(4, values.length) }, (_, i) => values[i])];
}

function batchOf(B: number, T: number, vocab: number): { batchSize: number; seqLen: number; inputIds: Int32Array; targets: Int32Array; attentionMask: Uint8Array } {
  const inputIds = new Int32Array(B * T), targets = new Int32Array(B * T), attentionMask = new Uint8Array(B * T);
  for (let i = 0; i < B * T; i++) {
    inputIds[i] = (i * 7 + 3) % vocab;
    targets[i] = i % 3 === 0 ? (i * 5 + 1) % vocab : -100;
    attentionMask[i] = i % T < T - 2 || i < T ? 1 : 0;
  }
  return { batchSize: B, seqLen: T, inputIds, targets, attentionMask };
}

setThreads(1);
const results: Record<string, number[]> = {};
const model = new TransformerLM(presetConfig('L2-D64', { vocab_size: 61, max_len: 24, dropout: 0.1 }), { seed: 5 });
const batch = batchOf(3, 20, 61);

// training: embedding, layer norm, linear, attention (padding), GELU, dropout, cross-entropy,
// their backward passes and AdamW with clipping; then one step in bf16 where it can run
function trainSteps(tag: string, steps: number): void {
  const params = model.parameters();
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.1, maxGradNorm: 1 });
  for (let step = 0; step < steps; step++) {
    tidy(() => {
      const { loss } = model.loss(batch, { training: true });
      results[`${tag}_loss${step}`] = summary(loss.toFloat32Array());
      backward(loss);
    });
    opt.step();
    zeroGrad(params);
  }
  results[`${tag}_params`] = summary(params.flatMap((p: Tensor) => Array.from(p.toFloat32Array())));
  opt.dispose();
}
trainSteps('f32', 2);
if (cpuFeatures().bf16Matmul) {
  // the bf16 step's weights are put back, so what follows sees the f32 weights on every CPU
  const f32Weights = model.parameters().map((p) => p.toFloat32Array());
  const bf16 = new Bf16Weights(model.parameters().filter((p) => p.shape.length === 2));
  const prev = setBf16Weights(bf16);
  trainSteps('bf16', 1);
  setBf16Weights(prev);
  bf16.dispose();
  model.parameters().forEach((p, i) => p.write(f32Weights[i]));
}
results.fakeQuantize = tidy(() => summary(fakeQuantize(model.parameters()[2], 4).toFloat32Array()));

// inference kernels on the trained weights
const kernels: Record<string, KernelSpec> = {
  f32: { kind: 'f32' }, int8: { kind: 'int8' }, w4a8: { kind: 'int8', bits: 4 }, kbit4: { kind: 'kbit', bits: 4 }, sparse: { kind: 'sparse' },
  ...(cpuFeatures().bf16Matmul ? { bf16: { kind: 'bf16' } as KernelSpec } : {}),
};
for (const [name, spec] of Object.entries(kernels)) {
  packLinears(model, () => spec);
  results[`infer_${name}`] = noGrad(() => tidy(() => summary(model.logits(batch).toFloat32Array())));
}
model.dispose();

process.stdout.write(JSON.stringify({ tier: isa.tier, build: isa.build.name, onednn: native.onednnInfo().isa, results }) + '\n');
