// The ONNX graph of a causal LM with a key/value cache — GPT-2's computation (pre-LN blocks, a
// final ln_f, the output layer tied to the token embeddings) — with the inputs and outputs
// transformers.js's text-generation expects of a "gpt2" model:
//
//   input_ids, position_ids            int64 [batch_size, sequence_length]
//   attention_mask                     int64 [batch_size, total_sequence_length]  (past + new)
//   past_key_values.{i}.key / .value   float [batch_size, heads, past_sequence_length, head_dim]
//   logits                             float [batch_size, sequence_length, vocab]
//   present.{i}.key / .value           float [batch_size, heads, total_sequence_length, head_dim]
//
// The first call passes an empty past (length 0); each later one the previous presents. A
// new token at absolute position past + t attends to keys 0..past + t that the attention
// mask keeps. Built from the GPT-2 parameter names (src/export/gpt2.ts), so the graph checks
// that mapping too.
import { DataType, encodeModel, type ModelProto, type ValueInfo } from './onnx-proto.js';
import { GraphBuilder, attr } from './onnx-graph.js';
import { IR_VERSION, OPSET, gelu, layerNorm, type Activation, type NormWeights } from './onnx-encoder.js';
import { weightScheme, type LinearWeights, type OnnxPrecision } from './onnx-weights.js';
import { take, transpose, zeros, type HostTensor, type StateDict } from '../nn/state-dict.js';
import { attentionWidthAt, ffnWidthAt, type ModelConfig } from '../nn/config.js';

/** The most negative float32: the additive score of a key a query may not see. */
const FLOAT32_LOWEST = -3.4028234663852886e38;

interface DecoderLayer {
  ln1: NormWeights;
  qkv: LinearWeights;
  attnOut: LinearWeights;
  ln2: NormWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export interface DecoderModel {
  heads: number;
  layerNormEps: number;
  activation: Activation;
  wordEmbeddings: HostTensor;
  positionEmbeddings: HostTensor;
  layers: DecoderLayer[];
  finalNorm: NormWeights;
}

/** The decoder from GPT-2-named weights (Conv1D weights [in, out], turned back into [out, in]). */
export function decoderFromGpt2(dict: StateDict, c: ModelConfig, source = 'weights'): DecoderModel {
  const C = c.d_model;
  const get = (name: string, shape: number[]): HostTensor => take(dict, `transformer.${name}`, shape, source);
  const conv1d = (name: string, outDim: number, inDim: number): LinearWeights => ({
    weight: transpose(get(`${name}.weight`, [inDim, outDim])), bias: get(`${name}.bias`, [outDim]),
  });
  const norm = (name: string): NormWeights => ({ weight: get(`${name}.weight`, [C]), bias: get(`${name}.bias`, [C]) });
  const layers: DecoderLayer[] = [];
  for (let i = 0; i < c.n_layers; i++) {
    const p = `h.${i}.`;
    const A = attentionWidthAt(c, i), F = ffnWidthAt(c, i);
    layers.push({
      ln1: norm(`${p}ln_1`), qkv: conv1d(`${p}attn.c_attn`, 3 * A, C), attnOut: conv1d(`${p}attn.c_proj`, C, A),
      ln2: norm(`${p}ln_2`), fc1: conv1d(`${p}mlp.c_fc`, F, C), fc2: conv1d(`${p}mlp.c_proj`, C, F),
    });
  }
  return {
    heads: c.layer_heads?.[0] ?? c.n_heads, layerNormEps: c.layer_norm_eps, activation: c.activation,
    wordEmbeddings: get('wte.weight', [c.vocab_size, C]), positionEmbeddings: get('wpe.weight', [c.max_len, C]),
    layers, finalNorm: norm('ln_f'),
  };
}

export function decoderOnnxModel(m: DecoderModel, precision: OnnxPrecision): ModelProto {
  const g = new GraphBuilder();
  const w = weightScheme(precision);
  const [V] = m.wordEmbeddings.shape;
  // every layer has m.heads heads (transformers.js sizes one cache for all); attention may be narrower than C after pruning
  const H = m.heads, Dh = m.layers[0].qkv.weight.shape[0] / (3 * H);
  const A = H * Dh;
  const ids = g.input('input_ids');
  const mask = g.input('attention_mask');
  const positions = g.input('position_ids');
  const past = m.layers.map((_, i) => ({ key: g.input(`past_key_values.${i}.key`), value: g.input(`past_key_values.${i}.value`) }));

  let x = g.scoped('embeddings', () => {
    const table = w.storedTable(m.positionEmbeddings);
    const positionRows = g.op('Gather', [g.initializer('transformer.wpe.weight', table.shape, table.data), positions]);
    return g.op('Add', [w.embed(g, ids, m.wordEmbeddings, 'transformer.wte'), positionRows]);
  });

  // additive bias [batch, 1, new, total]: 0 where key j ≤ past + t and the mask keeps j, else the lowest float
  const bias = g.scoped('attention_bias', () => {
    const shape = (v: string, axis: number) => g.op('Gather', [g.op('Shape', [v]), g.int64s(axis)]);
    const total = shape(mask, 1), fresh = shape(ids, 1);
    const keys = g.op('Unsqueeze', [g.op('Range', [g.int64s(0), total, g.int64s(1)]), g.int64s([0])]);
    const queries = g.op('Unsqueeze', [g.op('Range', [g.op('Sub', [total, fresh]), total, g.int64s(1)]), g.int64s([1])]);
    const causal = g.op('LessOrEqual', [keys, queries]); // [new, total]
    const kept = g.op('Unsqueeze', [g.op('Cast', [mask], [attr.int('to', DataType.BOOL)]), g.int64s([1, 2])]); // [batch, 1, 1, total]
    return g.op('Where', [g.op('And', [causal, kept]), g.floats(0), g.floats(FLOAT32_LOWEST)]);
  });

  const presents: ValueInfo[] = [];
  m.layers.forEach((layer, i) => {
    x = g.scoped(`h.${i}`, () => {
      const name = `transformer.h.${i}`;
      const h = layerNorm(g, x, layer.ln1, m.layerNormEps, `${name}.ln_1`);
      const qkv = w.linear(g, h, layer.qkv, `${name}.attn.c_attn`);
      // [B, T, 3C] → [B, T, 3, H, Dh] → [3, B, H, T, Dh]
      const split = g.op('Transpose', [g.op('Reshape', [qkv, g.int64s([0, 0, 3, H, Dh])])], [attr.ints('perm', [2, 0, 3, 1, 4])]);
      const [q, k, v] = [0, 1, 2].map((j) => g.op('Gather', [split, g.int64s(j)], [attr.int('axis', 0)]));
      const keys = g.rename(g.op('Concat', [past[i].key, k], [attr.int('axis', 2)]), `present.${i}.key`);
      const values = g.rename(g.op('Concat', [past[i].value, v], [attr.int('axis', 2)]), `present.${i}.value`);
      for (const n of [keys, values]) presents.push({ name: n, elemType: DataType.FLOAT, shape: ['batch_size', H, 'total_sequence_length', Dh] });
      const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [keys], [attr.ints('perm', [0, 1, 3, 2])])]), g.floats(1 / Math.sqrt(Dh))]), bias]);
      const context = g.op('MatMul', [g.op('Softmax', [scores], [attr.int('axis', -1)]), values]);
      const merged = g.op('Reshape', [g.op('Transpose', [context], [attr.ints('perm', [0, 2, 1, 3])]), g.int64s([0, 0, A])]);
      const attended = g.op('Add', [x, w.linear(g, merged, layer.attnOut, `${name}.attn.c_proj`)]);
      const h2 = layerNorm(g, attended, layer.ln2, m.layerNormEps, `${name}.ln_2`);
      const mlp = w.linear(g, gelu(g, w.linear(g, h2, layer.fc1, `${name}.mlp.c_fc`), m.activation), layer.fc2, `${name}.mlp.c_proj`);
      return g.op('Add', [attended, mlp]);
    });
  });
  const hidden = layerNorm(g, x, m.finalNorm, m.layerNormEps, 'transformer.ln_f');
  g.rename(w.tiedOutput(g, hidden, m.wordEmbeddings, zeros([V]), 'transformer.wte'), 'logits');

  const tokens = ['batch_size', 'sequence_length'];
  const cache = (n: string): ValueInfo => ({ name: n, elemType: DataType.FLOAT, shape: ['batch_size', H, 'past_sequence_length', Dh] });
  const graph = g.build('tlc-decoder', [
    { name: 'input_ids', elemType: DataType.INT64, shape: tokens },
    { name: 'attention_mask', elemType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] },
    { name: 'position_ids', elemType: DataType.INT64, shape: tokens },
    ...m.layers.flatMap((_, i) => [cache(`past_key_values.${i}.key`), cache(`past_key_values.${i}.value`)]),
  ], [{ name: 'logits', elemType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', V] }, ...presents]);
  const opsetImport = [{ domain: '', version: OPSET }];
  if (precision === 'q4') opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return { irVersion: IR_VERSION, opsetImport, producerName: 'tlc', producerVersion: '0.1.0', graph };
}

export function decoderOnnxBytes(m: DecoderModel, precision: OnnxPrecision): Uint8Array {
  return encodeModel(decoderOnnxModel(m, precision));
}
