export { linear, matmul } from './linear.js';
export type { MatmulOptions } from './linear.js';
export { add, scale } from './elementwise.js';
