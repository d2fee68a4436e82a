// Modules and models.
export { Module } from './module.js';
export { Linear, LayerNorm, Embedding } from './layers.js';
export { TransformerLM, IGNORE_INDEX } from './transformer.js';
export type { LMBatch, ForwardOptions } from './transformer.js';
export { parseModelConfig, readModelConfig, presetConfig, countParams, trainingFlopsPerToken, seq2seqTrainingFlops, decoderLayers, PRESETS, modelConfigSchema } from './config.js';
export type { ModelConfig, ParamCounts } from './config.js';
export { saveWeights, loadWeights, loadPretrainedBody } from './weights.js';
export type { LoadOptions } from './weights.js';
export { TransformerBody, checkBatch } from './transformer.js';
export { TransformerClassifier, argmaxRows } from './classifier.js';
export type { ClassificationBatch } from './classifier.js';
export { Seq2SeqTransformer, IncrementalDecoder, checkSeq2SeqBatch } from './seq2seq.js';
export type { Seq2SeqBatch, SourceBatch, Seq2SeqLossOptions } from './seq2seq.js';
