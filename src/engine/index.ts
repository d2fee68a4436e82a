// The engine's public face: tensors, autodiff, ops, threads.
export { TlcError } from '../util/errors.js';
export { Tensor, tensor, empty, zeros, full, tidy, keep, outsideScopes, memoryStats, resetPeakMemory, trimMemory, shapeSize, bytesPerElement } from './tensor.js';
export type { DType } from './tensor.js';
export { backward, noGrad, isGradEnabled, zeroGrad, gradOf, tapeLength } from './autograd.js';
export { setCheckNumerics, assertFinite, firstNonFinite } from './numerics.js';
export { Rng } from './random.js';
export { gradcheck, gradcheckLeaves } from './gradcheck.js';
export type { GradcheckOptions, GradcheckResult } from './gradcheck.js';
export { setThreads, getThreads } from './threads.js';
export { Bf16Weights, setBf16Weights, activeBf16Weights, cpuFeatures, resolvePrecision, autoPrecision, PRECISIONS } from './mixed.js';
export type { Precision, PrecisionChoice, CpuFeatures, AutoPrecision } from './mixed.js';
export * from './ops/index.js';
export { readSafetensors, readSafetensorsRaw, readSafetensorsHeader, verifySafetensorsChecksum, writeSafetensors, writeSafetensorsRaw } from './safetensors.js';
export type { SafetensorsHeader, SafetensorsTensorInfo, SafetensorsRawTensor, SafetensorsArray } from './safetensors.js';
export { AdamW, gradNormsSquared } from './optim.js';
export type { AdamWOptions, AdamWStepResult, AdamWState } from './optim.js';
