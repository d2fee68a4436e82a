export { linear, matmul } from './linear.js';
export type { MatmulOptions } from './linear.js';
export { add, scale } from './elementwise.js';
export { layerNorm } from './layernorm.js';
export { gelu, tanh } from './activation.js';
export type { GeluApproximate } from './activation.js';
export { dropout, DropoutRng } from './dropout.js';
export type { DropoutRngState } from './dropout.js';
