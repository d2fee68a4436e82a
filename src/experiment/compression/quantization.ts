// Post-training quantization: every selected weight (and the embeddings) is rounded per row to
// k bits (src/compress/quantize.ts) when the file is written, after any finetuning. Each bit
// width is crossed with every pruning setting; 32 keeps the weights float.
import { TlcError } from '../../util/errors.js';
import { FLOAT_BITS } from '../../compress/quantize.js';
import type { CompressionMethod } from './method.js';

export interface QuantizationArgs {
  /** Bits per weight, each a setting: 2…8, or 32 for none (default: 32). */
  bits?: number[];
  /** Bits of the embeddings (default: max(bits, 4); 32 keeps them float). */
  embeddingBits?: number;
}

function checkBitsList(bits: readonly number[], flag = '--bits'): void {
  for (const b of bits) {
    if (!(b === FLOAT_BITS || (Number.isInteger(b) && b >= 2 && b <= 8))) throw new TlcError(`${flag}: bits must be 2…8 or 32 (no quantization), got ${b}`);
  }
}

export const quantization: CompressionMethod<QuantizationArgs, { embedding_bits: number | null }> = {
  name: 'quantization',
  flags: [
    { spec: '--bits <list>', value: 'list', default: '32,8,4', help: 'bits per weight: 2…8, or 32 for no quantization' },
    { spec: '--embedding-bits <n>', value: 'number', help: 'bits for embeddings (default: max(bits, 4); 32 keeps them float)' },
  ],
  fromFlags: (read) => ({ bits: read('--bits') as number[] | undefined, embeddingBits: read('--embedding-bits') as number | undefined }),
  axis: { group: 'bits', flag: '--bits', values: (a) => a.bits ?? [FLOAT_BITS] },
  shapesTraining: false,
  settings(a) {
    checkBitsList(a.bits ?? []);
    if (a.embeddingBits !== undefined) checkBitsList([a.embeddingBits], '--embedding-bits');
    return { embedding_bits: a.embeddingBits ?? null };
  },
  dirPart: (_s, v) => `b${v.bits}`,
  describe: (v) => `${v.bits} bits`,
  start: (s) => ({
    encoding: (v) => ({ bits: v.bits!, ...(s.embedding_bits !== null ? { embeddingBits: s.embedding_bits } : {}) }),
  }),
};
