// tlc's masked-LM bodies in RoBERTa's terms: Hugging Face parameter names and shapes
// (RobertaForMaskedLM, RobertaForSequenceClassification), config.json, and the way back from
// those names to the encoder whose ONNX graph tlc writes. Building the graph from the
// Hugging Face names means the ONNX model checks the mapping: a tensor put under the wrong
// name computes something else, and the logits no longer match tlc's.
//
//   tlc                          Hugging Face (post-LN: RoBERTa)
//   tok_emb.weight               roberta.embeddings.word_embeddings.weight
//   pos_emb.weight [T, C]        roberta.embeddings.position_embeddings.weight [pad_id + 1 + T, C]
//                                (RoBERTa's positions start at padding_idx + 1; the leading rows are zeros)
//   —                            roberta.embeddings.token_type_embeddings.weight [1, C], zeros
//   emb_ln                       roberta.embeddings.LayerNorm
//   blocks.i.attn.qkv [3C, C]    roberta.encoder.layer.i.attention.self.{query, key, value} (rows 0..C, C..2C, 2C..3C)
//   blocks.i.attn.out            roberta.encoder.layer.i.attention.output.dense
//   blocks.i.ln1                 roberta.encoder.layer.i.attention.output.LayerNorm
//   blocks.i.mlp.fc1 / fc2       roberta.encoder.layer.i.intermediate.dense / output.dense
//   blocks.i.ln2                 roberta.encoder.layer.i.output.LayerNorm
//   lm_head.{dense, ln, bias}    lm_head.{dense, layer_norm, bias} (the decoder is tied to the word embeddings)
//   cls_head.{dense, out}        classifier.{dense, out_proj}
//
// A pre-LN body keeps its norms under the names RoBERTa-PreLayerNorm gives them
// (attention.LayerNorm, intermediate.LayerNorm, and roberta.LayerNorm after the last
// layer); it has no Hugging Face equivalent (see architecture.ts), so these names only
// feed the ONNX graph.
import { TlcError } from '../util/errors.js';
import { BOS_ID, EOS_ID } from '../data/tokenizer.js';
import { attentionWidthAt, ffnWidthAt, headsAt, type ModelConfig } from '../nn/config.js';
import type { HfArchitecture } from './architecture.js';
import type { EncoderLayerWeights, EncoderModel, NormWeights } from './onnx-encoder.js';
import type { LinearWeights } from './onnx-weights.js';
import { concatRows, sliceRows, take, zeros, type HostTensor, type StateDict } from '../nn/state-dict.js';

const LAYER = (i: number): string => `roberta.encoder.layer.${i}.`;

/** The model's weights under RoBERTa's parameter names. `tlc` must hold the parameters of the model `c` describes. */
export function robertaStateDict(tlc: StateDict, c: ModelConfig, source = 'weights'): StateDict {
  if (c.objective !== 'mlm') throw new TlcError('robertaStateDict: only masked-LM bodies are RoBERTa models');
  const C = c.d_model, V = c.vocab_size;
  const out: StateDict = new Map();
  const get = (name: string, shape: number[]): HostTensor => take(tlc, name, shape, source);
  const copyLinear = (from: string, to: string, outDim: number, inDim: number): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [outDim, inDim]));
    out.set(`${to}.bias`, get(`${from}.bias`, [outDim]));
  };
  const copyNorm = (from: string, to: string): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [C]));
    out.set(`${to}.bias`, get(`${from}.bias`, [C]));
  };

  out.set('roberta.embeddings.word_embeddings.weight', get('tok_emb.weight', [V, C]));
  out.set('roberta.embeddings.position_embeddings.weight', concatRows([zeros([c.pad_id + 1, C]), get('pos_emb.weight', [c.max_len, C])]));
  out.set('roberta.embeddings.token_type_embeddings.weight', zeros([1, C]));
  if (c.norm === 'post') copyNorm('emb_ln', 'roberta.embeddings.LayerNorm');
  for (let i = 0; i < c.n_layers; i++) {
    const from = `blocks.${i}.`, to = LAYER(i);
    const A = attentionWidthAt(c, i), F = ffnWidthAt(c, i);
    const qkvW = get(`${from}attn.qkv.weight`, [3 * A, C]), qkvB = get(`${from}attn.qkv.bias`, [3 * A]);
    ['query', 'key', 'value'].forEach((part, j) => {
      out.set(`${to}attention.self.${part}.weight`, sliceRows(qkvW, j * A, (j + 1) * A));
      out.set(`${to}attention.self.${part}.bias`, sliceRows(qkvB, j * A, (j + 1) * A));
    });
    copyLinear(`${from}attn.out`, `${to}attention.output.dense`, C, A);
    copyLinear(`${from}mlp.fc1`, `${to}intermediate.dense`, F, C);
    copyLinear(`${from}mlp.fc2`, `${to}output.dense`, C, F);
    if (c.norm === 'post') {
      copyNorm(`${from}ln1`, `${to}attention.output.LayerNorm`);
      copyNorm(`${from}ln2`, `${to}output.LayerNorm`);
    } else {
      copyNorm(`${from}ln1`, `${to}attention.LayerNorm`);
      copyNorm(`${from}ln2`, `${to}intermediate.LayerNorm`);
    }
  }
  if (c.norm === 'pre') copyNorm('ln_f', 'roberta.LayerNorm');
  if (c.labels) {
    copyLinear('cls_head.dense', 'classifier.dense', C, C);
    copyLinear('cls_head.out', 'classifier.out_proj', c.labels.length, C);
  } else {
    copyLinear('lm_head.dense', 'lm_head.dense', C, C);
    copyNorm('lm_head.ln', 'lm_head.layer_norm');
    out.set('lm_head.bias', get('lm_head.bias', [V]));
  }
  return out;
}

/** RoBERTa's config.json for the model. */
export function robertaConfig(c: ModelConfig, architecture: HfArchitecture): Record<string, unknown> {
  const config: Record<string, unknown> = {
    architectures: [architecture],
    model_type: 'roberta',
    vocab_size: c.vocab_size,
    hidden_size: c.d_model,
    num_hidden_layers: c.n_layers,
    num_attention_heads: c.n_heads,
    intermediate_size: c.d_ff,
    hidden_act: c.activation === 'gelu' ? 'gelu' : 'gelu_new',
    hidden_dropout_prob: c.dropout,
    attention_probs_dropout_prob: c.dropout,
    max_position_embeddings: c.max_len + c.pad_id + 1,
    type_vocab_size: 1,
    initializer_range: 0.02,
    layer_norm_eps: c.layer_norm_eps,
    position_embedding_type: 'absolute',
    pad_token_id: c.pad_id,
    bos_token_id: BOS_ID,
    eos_token_id: EOS_ID,
    tie_word_embeddings: true,
    classifier_dropout: null,
    use_cache: true,
    torch_dtype: 'float32',
  };
  if (c.labels) {
    config.id2label = Object.fromEntries(c.labels.map((label, i) => [String(i), label]));
    config.label2id = Object.fromEntries(c.labels.map((label, i) => [label, i]));
    config.problem_type = 'single_label_classification';
  }
  return config;
}

/** The encoder (for the ONNX graph) from RoBERTa-named weights, read as RoBERTa defines them. */
export function encoderFromRoberta(dict: StateDict, c: ModelConfig, source = 'weights'): EncoderModel {
  const C = c.d_model, V = c.vocab_size;
  const get = (name: string, shape: number[]): HostTensor => take(dict, name, shape, source);
  const linear = (name: string, outDim: number, inDim: number): LinearWeights => ({
    weight: get(`${name}.weight`, [outDim, inDim]), bias: get(`${name}.bias`, [outDim]),
  });
  const norm = (name: string): NormWeights => ({ weight: get(`${name}.weight`, [C]), bias: get(`${name}.bias`, [C]) });
  const post = c.norm === 'post';
  const layers: EncoderLayerWeights[] = [];
  for (let i = 0; i < c.n_layers; i++) {
    const p = LAYER(i);
    const A = attentionWidthAt(c, i), F = ffnWidthAt(c, i);
    const parts = ['query', 'key', 'value'].map((part) => linear(`${p}attention.self.${part}`, A, C));
    layers.push({
      heads: headsAt(c, i),
      attentionNorm: post ? null : norm(`${p}attention.LayerNorm`),
      qkv: { weight: concatRows(parts.map((x) => x.weight)), bias: concatRows(parts.map((x) => x.bias)) },
      attentionOut: linear(`${p}attention.output.dense`, C, A),
      attentionOutNorm: post ? norm(`${p}attention.output.LayerNorm`) : null,
      ffnNorm: post ? null : norm(`${p}intermediate.LayerNorm`),
      fc1: linear(`${p}intermediate.dense`, F, C),
      fc2: linear(`${p}output.dense`, C, F),
      ffnOutNorm: post ? norm(`${p}output.LayerNorm`) : null,
    });
  }
  return {
    heads: c.n_heads,
    layerNormEps: c.layer_norm_eps,
    activation: c.activation,
    padId: c.pad_id,
    wordEmbeddings: get('roberta.embeddings.word_embeddings.weight', [V, C]),
    positionEmbeddings: get('roberta.embeddings.position_embeddings.weight', [c.pad_id + 1 + c.max_len, C]),
    embeddingNorm: post ? norm('roberta.embeddings.LayerNorm') : null,
    layers,
    finalNorm: post ? null : norm('roberta.LayerNorm'),
    head: c.labels
      ? { kind: 'classifier', dense: linear('classifier.dense', C, C), out: linear('classifier.out_proj', c.labels.length, C) }
      : {
        kind: 'masked-lm', dense: linear('lm_head.dense', C, C), activation: c.activation,
        norm: norm('lm_head.layer_norm'), bias: get('lm_head.bias', [V]),
      },
  };
}
