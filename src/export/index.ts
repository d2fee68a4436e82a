// Export: tlc models as Hugging Face folders and ONNX graphs for transformers.js and onnxruntime.
export { exportRun, EXPORT_FORMATS, ONNX_FILES } from './export.js';
export type { ExportFormat, ExportOptions, ExportResult } from './export.js';
export { mapArchitecture } from './architecture.js';
export type { ArchitectureMapping, HfArchitecture } from './architecture.js';
export { readExportSource } from './source.js';
export type { ExportSource } from './source.js';
export { robertaStateDict, robertaConfig, encoderFromRoberta } from './roberta.js';
export { gpt2StateDict, gpt2Config } from './gpt2.js';
export { encoderOnnxModel, encoderOnnxBytes, OPSET, IR_VERSION } from './onnx-encoder.js';
export type { EncoderModel, EncoderLayerWeights, EncoderHead, NormWeights, Activation } from './onnx-encoder.js';
export { weightScheme, quantizeQ4, dequantizeQ4, Q4_BLOCK_SIZE } from './onnx-weights.js';
export type { OnnxPrecision, LinearWeights, WeightScheme, Q4Weights } from './onnx-weights.js';
export { encodeModel } from './onnx-proto.js';
export type { HostTensor, StateDict } from '../nn/state-dict.js';
