// Model compression: magnitude pruning, per-row quantization, the compressed file format.
export { isEmbedding, isLinearWeight, selectTensors, compilePatterns } from './selection.js';
export type { NamePattern, SelectionOptions } from './selection.js';
export { PruningMask, magnitudePrune, recomputeMask, pruneArrays, cubicSparsity } from './pruning.js';
export type { PruningMode, PruneOptions, PruningStats, TensorPruningStats, NamedTensors, PruneInput } from './pruning.js';
export { quantizeRows, dequantizeRows, roundHalfEven, maxCode, checkBits, MIN_BITS, MAX_BITS, FLOAT_BITS } from './quantize.js';
export type { QuantizedRows } from './quantize.js';
export { packCodes, unpackCodes, packBits, unpackBits, packedBytes } from './packing.js';
export { encodeGaps, decodeGaps, gapWords } from './gaps.js';
export type { GapWidth } from './gaps.js';
export {
  writeCompressed, readCompressed, readCompressedArrays, inspectCompressed, isCompressedFile,
  FORMAT_NAME, FORMAT_VERSION, ENCODINGS,
} from './format.js';
export type { CompressionPlan, TensorPlan, TensorEntry, Encoding, InspectRow, InspectResult } from './format.js';
export { compressModel, DEFAULT_MIN_EMBEDDING_BITS } from './compress.js';
export type { CompressOptions, CompressedModel } from './compress.js';
export { inspectModel, resolveModelFile } from './inspect.js';
export {
  STRUCTURED_CRITERIA, TaylorScores, allUnits, blockTensorNames, magnitudeScores, removeUnits, selectUnits, silentUnits, unitCounts, unitsMask,
} from './structured.js';
export type { BlockScores, BlockUnits, StructuredCriterion, Units } from './structured.js';
