// The ONNX graph of a Transformer encoder — RoBERTa's computation, with the layer norms
// after each residual add (post-LN) or before each sublayer plus one at the end (pre-LN) —
// under a masked-LM head or a sequence-classification head. Inputs and outputs are the ones
// transformers.js and onnxruntime expect of a "roberta" model:
//
//   input_ids, attention_mask   int64 [batch_size, sequence_length]
//   logits                      float [batch_size, sequence_length, vocab]   (masked LM)
//                               float [batch_size, num_labels]               (classifier)
//
// Position ids are computed in the graph as RoBERTa does — padding_idx + the running count
// of non-pad tokens, padding_idx at pads — over a position table with padding_idx + 1
// leading rows; for right-padded input this is position t at token t, as in tlc.
import { DataType, encodeModel, type ModelProto } from './onnx-proto.js';
import { GraphBuilder, attr } from './onnx-graph.js';
import { weightScheme, type LinearWeights, type OnnxPrecision, type WeightScheme } from './onnx-weights.js';
import type { HostTensor } from '../nn/state-dict.js';

export interface NormWeights {
  weight: HostTensor;
  bias: HostTensor;
}

export type Activation = 'gelu' | 'gelu_tanh';

export interface EncoderLayerWeights {
  /** Attention heads of this layer (fewer than the model's after structured pruning). */
  heads: number;
  /** Pre-LN: the norm before attention. */
  attentionNorm: NormWeights | null;
  /** q, k and v projections stacked along the output dimension: weight [3A, C], A = heads × head size. */
  qkv: LinearWeights;
  attentionOut: LinearWeights;
  /** Post-LN: the norm after the attention residual add. */
  attentionOutNorm: NormWeights | null;
  /** Pre-LN: the norm before the MLP. */
  ffnNorm: NormWeights | null;
  fc1: LinearWeights;
  fc2: LinearWeights;
  /** Post-LN: the norm after the MLP residual add. */
  ffnOutNorm: NormWeights | null;
}

export type EncoderHead =
  | { kind: 'masked-lm'; dense: LinearWeights; activation: Activation; norm: NormWeights; bias: HostTensor }
  | { kind: 'classifier'; dense: LinearWeights; out: LinearWeights };

export interface EncoderModel {
  /** Heads before pruning: the head size is C / heads. */
  heads: number;
  layerNormEps: number;
  activation: Activation;
  padId: number;
  /** [V, C]; the masked-LM head's output layer is tied to it. */
  wordEmbeddings: HostTensor;
  /** [padId + 1 + max_len, C], RoBERTa's layout. */
  positionEmbeddings: HostTensor;
  /** Post-LN: the norm of the embedding sum. */
  embeddingNorm: NormWeights | null;
  layers: EncoderLayerWeights[];
  /** Pre-LN: the norm after the last layer. */
  finalNorm: NormWeights | null;
  head: EncoderHead;
}

/** ONNX opset 17: the first with LayerNormalization. */
export const OPSET = 17;
/** The IR version that goes with opset 17. */
export const IR_VERSION = 8;
/** The most negative float32, which Hugging Face adds to the scores of padding keys. */
const FLOAT32_LOWEST = -3.4028234663852886e38;

export function encoderOnnxModel(m: EncoderModel, precision: OnnxPrecision): ModelProto {
  const g = new GraphBuilder();
  const w = weightScheme(precision);
  const ids = g.input('input_ids');
  const mask = g.input('attention_mask');

  let x = g.scoped('embeddings', () => {
    const real = g.op('Cast', [g.op('Not', [g.op('Equal', [ids, g.int64s(m.padId)])])], [attr.int('to', DataType.INT64)]);
    const positions = g.op('Add', [g.op('Mul', [g.op('CumSum', [real, g.int64s(1)]), real]), g.int64s(m.padId)]);
    const table = w.storedTable(m.positionEmbeddings);
    const positionRows = g.op('Gather', [g.initializer('embeddings.position_embeddings.weight', table.shape, table.data), positions]);
    const sum = g.op('Add', [w.embed(g, ids, m.wordEmbeddings, 'embeddings.word_embeddings'), positionRows]);
    return m.embeddingNorm ? layerNorm(g, sum, m.embeddingNorm, m.layerNormEps, 'embeddings.LayerNorm') : sum;
  });

  // additive attention bias [batch, 1, 1, keys]: 0 for tokens, the lowest float for padding
  const keyBias = g.scoped('attention_bias', () => {
    const padding = g.op('Sub', [g.floats(1), g.op('Cast', [mask], [attr.int('to', DataType.FLOAT)])]);
    return g.op('Unsqueeze', [g.op('Mul', [padding, g.floats(FLOAT32_LOWEST)]), g.int64s([1, 2])]);
  });

  m.layers.forEach((layer, i) => {
    x = g.scoped(`layer.${i}`, () => encoderLayer(g, w, m, layer, x, keyBias, `encoder.layer.${i}`));
  });
  if (m.finalNorm) x = layerNorm(g, x, m.finalNorm, m.layerNormEps, 'LayerNorm');

  const head = m.head;
  let logits: string;
  let outputShape: (number | string)[];
  if (head.kind === 'masked-lm') {
    logits = g.scoped('lm_head', () => {
      let h = gelu(g, w.linear(g, x, head.dense, 'lm_head.dense'), head.activation);
      h = layerNorm(g, h, head.norm, m.layerNormEps, 'lm_head.layer_norm');
      return w.tiedOutput(g, h, m.wordEmbeddings, head.bias, 'embeddings.word_embeddings');
    });
    outputShape = ['batch_size', 'sequence_length', m.wordEmbeddings.shape[0]];
  } else {
    logits = g.scoped('classifier', () => {
      const first = g.op('Gather', [x, g.int64s(0)], [attr.int('axis', 1)]); // <s>, [batch, C]
      const h = g.op('Tanh', [w.linear(g, first, head.dense, 'classifier.dense')]);
      return w.linear(g, h, head.out, 'classifier.out_proj');
    });
    outputShape = ['batch_size', head.out.weight.shape[0]];
  }
  g.rename(logits, 'logits');

  const tokens = ['batch_size', 'sequence_length'];
  const graph = g.build('tlc-encoder', [
    { name: 'input_ids', elemType: DataType.INT64, shape: tokens },
    { name: 'attention_mask', elemType: DataType.INT64, shape: tokens },
  ], [{ name: 'logits', elemType: DataType.FLOAT, shape: outputShape }]);
  const opsetImport = [{ domain: '', version: OPSET }];
  if (precision === 'q4') opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return { irVersion: IR_VERSION, opsetImport, producerName: 'tlc', producerVersion: '0.1.0', graph };
}

/** The .onnx bytes of the encoder at a precision. */
export function encoderOnnxBytes(m: EncoderModel, precision: OnnxPrecision): Uint8Array {
  return encodeModel(encoderOnnxModel(m, precision));
}

function encoderLayer(g: GraphBuilder, w: WeightScheme, m: EncoderModel, layer: EncoderLayerWeights, x: string, keyBias: string, name: string): string {
  const eps = m.layerNormEps;
  const attnIn = layer.attentionNorm ? layerNorm(g, x, layer.attentionNorm, eps, `${name}.attention.LayerNorm`) : x;
  x = g.op('Add', [x, g.scoped('attention', () => selfAttention(g, w, m, layer, attnIn, keyBias, name))]);
  if (layer.attentionOutNorm) x = layerNorm(g, x, layer.attentionOutNorm, eps, `${name}.attention.output.LayerNorm`);
  const ffnIn = layer.ffnNorm ? layerNorm(g, x, layer.ffnNorm, eps, `${name}.intermediate.LayerNorm`) : x;
  const ffn = g.scoped('mlp', () => {
    const h = gelu(g, w.linear(g, ffnIn, layer.fc1, `${name}.intermediate.dense`), m.activation);
    return w.linear(g, h, layer.fc2, `${name}.output.dense`);
  });
  x = g.op('Add', [x, ffn]);
  return layer.ffnOutNorm ? layerNorm(g, x, layer.ffnOutNorm, eps, `${name}.output.LayerNorm`) : x;
}

/** softmax(q·kᵀ/√d + bias)·v per head, then the output projection. x: [B, T, C]. */
function selfAttention(g: GraphBuilder, w: WeightScheme, m: EncoderModel, layer: EncoderLayerWeights, x: string, keyBias: string, name: string): string {
  const [C, A] = layer.attentionOut.weight.shape;
  const H = layer.heads, Dh = C / m.heads;
  const qkv = w.linear(g, x, layer.qkv, `${name}.attention.self.qkv`);
  // [B, T, 3A] → [B, T, 3, H, Dh] → [3, B, H, T, Dh]
  const split = g.op('Transpose', [g.op('Reshape', [qkv, g.int64s([0, 0, 3, H, Dh])])], [attr.ints('perm', [2, 0, 3, 1, 4])]);
  const [q, k, v] = [0, 1, 2].map((j) => g.op('Gather', [split, g.int64s(j)], [attr.int('axis', 0)]));
  const kT = g.op('Transpose', [k], [attr.ints('perm', [0, 1, 3, 2])]);
  const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, kT]), g.floats(1 / Math.sqrt(Dh))]), keyBias]);
  const context = g.op('MatMul', [g.op('Softmax', [scores], [attr.int('axis', -1)]), v]);
  const merged = g.op('Reshape', [g.op('Transpose', [context], [attr.ints('perm', [0, 2, 1, 3])]), g.int64s([0, 0, A])]);
  return w.linear(g, merged, layer.attentionOut, `${name}.attention.output.dense`);
}

export function layerNorm(g: GraphBuilder, x: string, n: NormWeights, eps: number, name: string): string {
  const scale = g.initializer(`${name}.weight`, n.weight.shape, n.weight.data);
  const bias = g.initializer(`${name}.bias`, n.bias.shape, n.bias.data);
  return g.op('LayerNormalization', [x, scale, bias], [attr.int('axis', -1), attr.float('epsilon', eps)]);
}

/** GELU: x·Φ(x) with the exact erf, or its tanh approximation. */
export function gelu(g: GraphBuilder, x: string, activation: Activation): string {
  const half = g.op('Mul', [x, g.floats(0.5)]);
  if (activation === 'gelu') {
    return g.op('Mul', [half, g.op('Add', [g.floats(1), g.op('Erf', [g.op('Mul', [x, g.floats(Math.SQRT1_2)])])])]);
  }
  const cube = g.op('Mul', [x, g.op('Mul', [x, x])]);
  const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.floats(0.044715)])]), g.floats(Math.sqrt(2 / Math.PI))]);
  return g.op('Mul', [half, g.op('Add', [g.floats(1), g.op('Tanh', [inner])])]);
}
