export { linear, matmul } from './linear.js';
export type { MatmulOptions } from './linear.js';
export { add, scale } from './elementwise.js';
export { embedding, gatherRows } from './embedding.js';
export { crossEntropy, crossEntropyWithCount, countTargets } from './crossentropy.js';
export type { CrossEntropyOptions, CrossEntropyResult } from './crossentropy.js';
