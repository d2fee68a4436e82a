export { linear, matmul } from './linear.js';
export type { MatmulOptions } from './linear.js';
export { add, scale } from './elementwise.js';
export { attention, selfAttention } from './attention.js';
export type { AttentionOptions } from './attention.js';
