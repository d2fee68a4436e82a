// How an ONNX graph stores and multiplies by the model's weights, at three precisions:
//
//   fp32  float32 weights, MatMul + Add.
//   int8  onnxruntime's dynamic quantization scheme: weights int8, symmetric, one scale per
//         output channel (the codes and scales of tlc's own 8-bit quantization, compress/
//         quantize.ts, so both models compute with the same weights); activations quantized
//         to uint8 per tensor at run time (DynamicQuantizeLinear), multiplied in integers
//         (MatMulInteger) and rescaled to float. Embedding tables are int8 per row too.
//   q4    linear layers as com.microsoft MatMulNBits: 4-bit codes, one scale per block of
//         32 input features of each output channel, zero point 8; embeddings as in int8.
import { quantizeRows, dequantizeRows, roundHalfEven } from '../compress/quantize.js';
import { DataType } from './onnx-proto.js';
import { attr, type GraphBuilder } from './onnx-graph.js';
import type { HostTensor } from '../nn/state-dict.js';
import { transpose } from '../nn/state-dict.js';

export type OnnxPrecision = 'fp32' | 'int8' | 'q4';

/** A linear layer in PyTorch's layout: y = x·Wᵀ + b, weight [out, in], bias [out]. */
export interface LinearWeights {
  weight: HostTensor;
  bias: HostTensor;
}

/** Features per scale in MatMulNBits (a power of two ≥ 16). */
export const Q4_BLOCK_SIZE = 32;
const INT8_BITS = 8;

export interface WeightScheme {
  readonly precision: OnnxPrecision;
  /** y = x·Wᵀ + b for x [..., in]; `name` names the stored weights. */
  linear(g: GraphBuilder, x: string, w: LinearWeights, name: string): string;
  /** The rows of `table` [V, C] at `ids`: the token embedding lookup. */
  embed(g: GraphBuilder, ids: string, table: HostTensor, name: string): string;
  /** y = x·tableᵀ + bias: an output layer tied to the embedding table stored by `embed` under `name`. */
  tiedOutput(g: GraphBuilder, x: string, table: HostTensor, bias: HostTensor, name: string): string;
  /** A table that is only looked up (position embeddings): the values this precision stores. */
  storedTable(table: HostTensor): HostTensor;
}

export function weightScheme(precision: OnnxPrecision): WeightScheme {
  return precision === 'fp32' ? new Float32Scheme() : new Int8Scheme(precision);
}

class Float32Scheme implements WeightScheme {
  readonly precision = 'fp32' as const;
  private readonly tables = new Map<string, string>();

  linear(g: GraphBuilder, x: string, w: LinearWeights, name: string): string {
    const weight = g.initializer(`${name}.weight_t`, [w.weight.shape[1], w.weight.shape[0]], transpose(w.weight).data);
    return g.op('Add', [g.op('MatMul', [x, weight]), g.initializer(`${name}.bias`, w.bias.shape, w.bias.data)]);
  }

  embed(g: GraphBuilder, ids: string, table: HostTensor, name: string): string {
    const stored = g.initializer(`${name}.weight`, table.shape, table.data);
    this.tables.set(name, stored);
    return g.op('Gather', [stored, ids]);
  }

  tiedOutput(g: GraphBuilder, x: string, table: HostTensor, bias: HostTensor, name: string): string {
    const stored = this.tables.get(name) ?? g.initializer(`${name}.weight`, table.shape, table.data);
    // a Transpose of a weight: onnxruntime folds it once when the session loads
    const weightT = g.op('Transpose', [stored], [attr.ints('perm', [1, 0])]);
    return g.op('Add', [g.op('MatMul', [x, weightT]), g.initializer(`${name}.output_bias`, bias.shape, bias.data)]);
  }

  storedTable(table: HostTensor): HostTensor {
    return table;
  }
}

interface Int8Table {
  codes: string;
  scales: string;
}

class Int8Scheme implements WeightScheme {
  private readonly tables = new Map<string, Int8Table>();
  /** DynamicQuantizeLinear outputs per activation, so an activation is quantized once. */
  private readonly quantized = new Map<string, [string, string, string]>();

  constructor(readonly precision: 'int8' | 'q4') {}

  linear(g: GraphBuilder, x: string, w: LinearWeights, name: string): string {
    const [out, inFeatures] = w.weight.shape;
    const bias = g.initializer(`${name}.bias`, w.bias.shape, w.bias.data);
    if (this.precision === 'q4') return g.op('Add', [matMulNBits(g, x, w.weight, name), bias]);
    const { codes, scales } = quantizeRows(w.weight.data, out, inFeatures, INT8_BITS);
    const codesT = transposeInt8(codes, out, inFeatures);
    const weight = g.initializer(`${name}.weight_t_int8`, [inFeatures, out], codesT);
    const scale = g.initializer(`${name}.weight_scale`, [out], scales);
    return g.op('Add', [this.integerMatMul(g, x, weight, scale), bias]);
  }

  embed(g: GraphBuilder, ids: string, table: HostTensor, name: string): string {
    const t = this.table(g, table, name);
    const rows = g.op('Cast', [g.op('Gather', [t.codes, ids])], [attr.int('to', DataType.FLOAT)]);
    const rowScales = g.op('Unsqueeze', [g.op('Gather', [t.scales, ids]), g.int64s([-1])]);
    return g.op('Mul', [rows, rowScales]);
  }

  tiedOutput(g: GraphBuilder, x: string, table: HostTensor, bias: HostTensor, name: string): string {
    const t = this.table(g, table, name);
    // rows of the table are output channels of this product: its per-row scales are per-column scales here
    const codesT = g.op('Transpose', [t.codes], [attr.ints('perm', [1, 0])]);
    return g.op('Add', [this.integerMatMul(g, x, codesT, t.scales), g.initializer(`${name}.output_bias`, bias.shape, bias.data)]);
  }

  storedTable(table: HostTensor): HostTensor {
    const [rows, cols] = table.shape;
    const { codes, scales } = quantizeRows(table.data, rows, cols, INT8_BITS);
    return { shape: table.shape, data: dequantizeRows(codes, scales, rows, cols) };
  }

  private table(g: GraphBuilder, table: HostTensor, name: string): Int8Table {
    let t = this.tables.get(name);
    if (!t) {
      const [rows, cols] = table.shape;
      const { codes, scales } = quantizeRows(table.data, rows, cols, INT8_BITS);
      t = { codes: g.initializer(`${name}.weight_int8`, table.shape, codes), scales: g.initializer(`${name}.weight_scale`, [rows], scales) };
      this.tables.set(name, t);
    }
    return t;
  }

  /** x·B for int8 B [in, out] with per-column scales: uint8 activations, int32 products, float result. */
  private integerMatMul(g: GraphBuilder, x: string, weightInt8: string, weightScale: string): string {
    let q = this.quantized.get(x);
    if (!q) {
      const [xq, xScale, xZero] = g.node('DynamicQuantizeLinear', [x], [], { outputs: 3 });
      q = [xq, xScale, xZero];
      this.quantized.set(x, q);
    }
    const [xq, xScale, xZero] = q;
    const product = g.op('Cast', [g.op('MatMulInteger', [xq, weightInt8, xZero])], [attr.int('to', DataType.FLOAT)]);
    return g.op('Mul', [product, g.op('Mul', [xScale, weightScale])]);
  }
}

function transposeInt8(codes: Int8Array, rows: number, cols: number): Int8Array {
  const out = new Int8Array(codes.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = codes[r * cols + c];
  }
  return out;
}

export interface Q4Weights {
  /** [N, blocks, Q4_BLOCK_SIZE / 2]: two codes per byte, low nibble first. */
  packed: Uint8Array;
  /** [N, blocks] */
  scales: Float32Array;
  blocks: number;
}

/**
 * W [N, K] quantized to 4 bits in blocks of Q4_BLOCK_SIZE along K, as MatMulNBits reads it:
 * per block scale = max|w| / 7, code = round(w / scale) + 8 ∈ [1, 15] (zero point 8); the
 * last block is padded with code 8 (zero) when K is not a multiple of the block size.
 */
export function quantizeQ4(weight: HostTensor): Q4Weights {
  const [N, K] = weight.shape;
  const blocks = Math.ceil(K / Q4_BLOCK_SIZE);
  const blobBytes = Q4_BLOCK_SIZE / 2;
  const packed = new Uint8Array(N * blocks * blobBytes).fill(0x88);
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const begin = n * K + b * Q4_BLOCK_SIZE, end = n * K + Math.min(K, (b + 1) * Q4_BLOCK_SIZE);
      let maxAbs = 0;
      for (let i = begin; i < end; i++) maxAbs = Math.max(maxAbs, Math.abs(weight.data[i]));
      const scale = Math.fround(maxAbs / 7);
      scales[n * blocks + b] = scale;
      const blob = (n * blocks + b) * blobBytes;
      for (let i = begin; i < end; i++) {
        const code = scale > 0 ? Math.max(-8, Math.min(7, roundHalfEven(weight.data[i] / scale))) + 8 : 8;
        const k = i - begin;
        const at = blob + (k >> 1);
        packed[at] = k & 1 ? (packed[at] & 0x0f) | (code << 4) : (packed[at] & 0xf0) | code;
      }
    }
  }
  return { packed, scales, blocks };
}

/** The float32 weights [N, K] that quantizeQ4's codes stand for. */
export function dequantizeQ4(q: Q4Weights, N: number, K: number): Float32Array {
  const out = new Float32Array(N * K);
  const blobBytes = Q4_BLOCK_SIZE / 2;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / Q4_BLOCK_SIZE), j = k % Q4_BLOCK_SIZE;
      const byte = q.packed[(n * q.blocks + b) * blobBytes + (j >> 1)];
      const code = j & 1 ? byte >> 4 : byte & 0x0f;
      out[n * K + k] = (code - 8) * q.scales[n * q.blocks + b];
    }
  }
  return out;
}

/** x·Wᵀ for W [N, K] through com.microsoft MatMulNBits. */
function matMulNBits(g: GraphBuilder, x: string, weight: HostTensor, name: string): string {
  const [N, K] = weight.shape;
  const q = quantizeQ4(weight);
  const b = g.initializer(`${name}.weight_q4`, [N, q.blocks, Q4_BLOCK_SIZE / 2], q.packed);
  const s = g.initializer(`${name}.weight_q4_scale`, [N, q.blocks], q.scales);
  return g.op('MatMulNBits', [x, b, s], [
    attr.int('K', K), attr.int('N', N), attr.int('bits', 4), attr.int('block_size', Q4_BLOCK_SIZE),
  ], 'com.microsoft');
}
