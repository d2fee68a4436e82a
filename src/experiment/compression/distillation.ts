// Distillation: the compressed model is finetuned against the uncompressed one's soft
// predictions as well as the labels, (1−α)·CE + α·T²·KL(teacher‖student)
// (src/engine/ops/distillation.ts). The teacher is the run's own trained weights.
import { TlcError } from '../../util/errors.js';
import { tensor, tidy } from '../../engine/tensor.js';
import { noGrad } from '../../engine/autograd.js';
import { distillationLoss, type DistillationOptions } from '../../engine/ops/distillation.js';
import { TransformerClassifier } from '../../nn/classifier.js';
import { loadWeights } from '../../nn/weights.js';
import type { CompressionMethod } from './method.js';

export interface DistillationArgs {
  distill?: DistillationOptions;
}

export const distillation: CompressionMethod<DistillationArgs, { alpha: number; temperature: number }> = {
  name: 'distillation',
  flags: [
    { spec: '--distill', value: 'switch', help: 'finetune against the uncompressed model as teacher: (1−α)·CE + α·T²·KL(teacher‖student)' },
    { spec: '--distill-alpha <a>', value: 'number', default: '0.5', accepts: (x) => x >= 0 && x <= 1, shapes: '--distill', help: 'weight α of the teacher term' },
    { spec: '--distill-temperature <t>', value: 'number', default: '2', accepts: (x) => x > 0, shapes: '--distill', help: 'softmax temperature T of the teacher term' },
  ],
  fromFlags: (read) => (read('--distill') === true
    ? { distill: { alpha: read('--distill-alpha') as number, temperature: read('--distill-temperature') as number } }
    : {}),
  shapesTraining: true,
  needsFinetuning: { flag: '--distill', why: 'trains the compressed model on its teacher\'s predictions' },
  settings(a) {
    if (!a.distill) return null;
    const { alpha, temperature } = a.distill;
    if (!(alpha >= 0 && alpha <= 1)) throw new TlcError(`distillation: alpha must be in [0, 1], got ${alpha}`);
    if (!(temperature > 0 && Number.isFinite(temperature))) throw new TlcError(`distillation: the temperature must be positive, got ${temperature}`);
    return { alpha, temperature };
  },
  resolve(s, model) {
    if (!model.config.labels) throw new TlcError(`${model.dir}: distillation is for classifiers (a finetuned run)`);
    return s;
  },
  start: (s, sweep) => ({
    training: () => {
      const teacher = new TransformerClassifier(sweep.config);
      loadWeights(teacher, sweep.weightsPath);
      return {
        // the teacher's logits on the same batch, then the student's loss against them
        loss: (student, b) => {
          const t = noGrad(() => tidy(() => teacher.logits(b, { training: false }).toFloat32Array()));
          return distillationLoss(student.logits(b, { training: true }), tensor(b.labels!, [b.batchSize], 'i32'), t, s);
        },
        dispose: () => teacher.dispose(),
      };
    },
  }),
};
