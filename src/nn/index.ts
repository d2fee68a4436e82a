// Modules and models.
export { Module } from './module.js';
export { Linear, LayerNorm, Embedding } from './layers.js';
export { TransformerLM, IGNORE_INDEX } from './transformer.js';
export type { LMBatch, ForwardOptions } from './transformer.js';
export { parseModelConfig, readModelConfig, presetConfig, countParams, trainingFlopsPerToken, PRESETS, modelConfigSchema } from './config.js';
export type { ModelConfig, ParamCounts } from './config.js';
export { saveWeights, loadWeights } from './weights.js';
