// Hugging Face models in tlc's terms: config.json and model.safetensors of RoBERTa masked LMs
// and sequence classifiers and of GPT-2 causal LMs, mapped onto a tlc config and tlc's
// parameter names — the inverse of src/export/roberta.ts and src/export/gpt2.ts. A model is
// imported only where tlc computes exactly what the Hugging Face model computes; every reason
// one does not map names the config field or tensor at fault.
import { z } from 'zod';
import { TlcError } from '../util/errors.js';
import { describeIssues } from '../util/validation.js';
import { parseModelConfig, type ModelConfig } from '../nn/config.js';
import { concatRows, sliceRows, take, transpose, type HostTensor, type StateDict } from '../nn/state-dict.js';

export type ImportedArchitecture = 'RobertaForMaskedLM' | 'RobertaForSequenceClassification' | 'GPT2LMHeadModel';

export interface ImportedModel {
  architecture: ImportedArchitecture;
  config: ModelConfig;
  /** Every parameter of the tlc model, by tlc name. */
  weights: StateDict;
}

const robertaConfigSchema = z.looseObject({
  model_type: z.literal('roberta'),
  architectures: z.array(z.string()).min(1),
  vocab_size: z.number().int(),
  hidden_size: z.number().int(),
  num_hidden_layers: z.number().int(),
  num_attention_heads: z.number().int(),
  intermediate_size: z.number().int(),
  hidden_act: z.string().default('gelu'),
  hidden_dropout_prob: z.number().default(0.1),
  max_position_embeddings: z.number().int(),
  type_vocab_size: z.number().int().default(1),
  layer_norm_eps: z.number().default(1e-12),
  position_embedding_type: z.string().default('absolute'),
  pad_token_id: z.number().int().default(1),
  tie_word_embeddings: z.boolean().default(true),
  id2label: z.record(z.string(), z.string()).optional(),
  is_decoder: z.boolean().default(false),
  add_cross_attention: z.boolean().default(false),
});

const gpt2ConfigSchema = z.looseObject({
  model_type: z.literal('gpt2'),
  architectures: z.array(z.string()).min(1).default(['GPT2LMHeadModel']),
  vocab_size: z.number().int(),
  n_positions: z.number().int(),
  n_embd: z.number().int(),
  n_layer: z.number().int(),
  n_head: z.number().int(),
  n_inner: z.number().int().nullable().default(null),
  activation_function: z.string().default('gelu_new'),
  resid_pdrop: z.number().default(0.1),
  layer_norm_epsilon: z.number().default(1e-5),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  reorder_and_upcast_attn: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
  pad_token_id: z.number().int().nullable().optional(),
});

const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'];

/** The tlc model of a Hugging Face config.json and its weights; refuses, naming every reason, what does not map. */
export function modelFromHf(hfConfig: unknown, hf: StateDict, source: string): ImportedModel {
  if (hfConfig === null || typeof hfConfig !== 'object' || Array.isArray(hfConfig)) {
    throw new TlcError(`${source}: a Hugging Face config.json is a JSON object with a model_type; this holds ${Array.isArray(hfConfig) ? 'an array' : JSON.stringify(hfConfig)}`);
  }
  const type = (hfConfig as { model_type?: unknown }).model_type;
  const read = new ReadTensors(hf);
  if (type === 'roberta') return read.allUsed(fromRoberta(parse(robertaConfigSchema, hfConfig, source), read, source), source);
  if (type === 'gpt2') return read.allUsed(fromGpt2(parse(gpt2ConfigSchema, hfConfig, source), read, source), source);
  const why = type === 'roberta-prelayernorm'
    ? ": RoBERTa-PreLayerNorm normalizes the embedding sum (embeddings.LayerNorm) before its pre-LN blocks, which tlc's pre-LN model does not"
    : '';
  throw new TlcError(`${source}: model_type ${JSON.stringify(type)} does not map onto a tlc model${why}; ` +
    'tlc imports RoBERTa (RobertaForMaskedLM, RobertaForSequenceClassification) and GPT-2 (GPT2LMHeadModel)');
}

/**
 * Tensors Hugging Face checkpoints hold that carry nothing the model computes with: buffers
 * (position ids, GPT-2's causal masks), RoBERTa's pooler (unused by its masked-LM and
 * classification heads) and the output bias tied to lm_head.bias.
 */
const NOT_PARAMETERS = [/(^|\.)position_ids$/, /(^|\.)attn\.(masked_)?bias$/, /^roberta\.pooler\./, /^lm_head\.decoder\.bias$/];

/** A checkpoint's tensors, remembering which were read: one left unread would be a part of the model silently dropped. */
class ReadTensors extends Map<string, HostTensor> {
  private readonly seen = new Set<string>();

  override get(name: string): HostTensor | undefined {
    this.seen.add(name);
    return super.get(name);
  }

  /** `model`, unless a tensor that is a parameter was not read; then a TlcError naming them. */
  allUsed(model: ImportedModel, source: string): ImportedModel {
    const unread = [...this.keys()].filter((n) => !this.seen.has(n) && !NOT_PARAMETERS.some((p) => p.test(n)));
    if (unread.length > 0) {
      throw new TlcError(`${source}: tensors that no part of a tlc ${model.architecture} holds: ${unread.slice(0, 5).join(', ')}` +
        `${unread.length > 5 ? `, … ${unread.length - 5} more` : ''}; importing would drop them`);
    }
    return model;
  }
}

function parse<S extends z.ZodType>(schema: S, raw: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new TlcError(`${source}: not a config.json tlc can read — ${describeIssues(r.error)}`);
  return r.data;
}

function refuse(source: string, problems: string[]): void {
  if (problems.length > 0) throw new TlcError(`${source} does not map onto a tlc model: ${problems.join('; ')}`);
}

function fromRoberta(h: z.infer<typeof robertaConfigSchema>, hf: StateDict, source: string): ImportedModel {
  const architecture = h.architectures[0];
  const problems: string[] = [];
  if (architecture !== 'RobertaForMaskedLM' && architecture !== 'RobertaForSequenceClassification') {
    problems.push(`architecture ${architecture}: tlc imports RobertaForMaskedLM and RobertaForSequenceClassification`);
  }
  const classifier = architecture === 'RobertaForSequenceClassification';
  const activation = h.hidden_act === 'gelu' ? 'gelu' : TANH_GELUS.includes(h.hidden_act) ? 'gelu_tanh' : null;
  if (activation === null) problems.push(`hidden_act "${h.hidden_act}": tlc has the erf GELU ("gelu") and its tanh approximation ("gelu_new")`);
  if (!classifier && activation === 'gelu_tanh') {
    problems.push(`hidden_act "${h.hidden_act}" in a masked LM: RobertaLMHead applies the erf GELU whatever hidden_act says, tlc's head the body's activation`);
  }
  if (h.position_embedding_type !== 'absolute') problems.push(`position_embedding_type "${h.position_embedding_type}": tlc has absolute positions only`);
  if (h.type_vocab_size !== 1) problems.push(`type_vocab_size ${h.type_vocab_size}: tlc has no token types (RoBERTa has one)`);
  if (!h.tie_word_embeddings) problems.push('tie_word_embeddings false: tlc ties the output layer to the token embeddings');
  if (h.is_decoder || h.add_cross_attention) problems.push('a RoBERTa decoder (is_decoder, add_cross_attention): tlc imports encoders');
  if (h.hidden_size % h.num_attention_heads !== 0) problems.push(`hidden_size ${h.hidden_size} is not divisible by num_attention_heads ${h.num_attention_heads}`);
  const maxLen = h.max_position_embeddings - h.pad_token_id - 1;
  if (maxLen < 1) problems.push(`max_position_embeddings ${h.max_position_embeddings} leaves no positions after padding_idx ${h.pad_token_id}`);
  const labels = classifier ? labelsOf(h.id2label, source, problems) : undefined;
  refuse(source, problems);

  const C = h.hidden_size, F = h.intermediate_size, V = h.vocab_size;
  const config = parseModelConfig({
    objective: 'mlm', vocab_size: V, d_model: C, n_layers: h.num_hidden_layers, n_heads: h.num_attention_heads, d_ff: F,
    max_len: maxLen, norm: 'post', activation, layer_norm_eps: h.layer_norm_eps, dropout: h.hidden_dropout_prob,
    pad_id: h.pad_token_id, ...(labels ? { labels } : {}),
  }, source);
  const get = (name: string, shape: number[]): HostTensor => take(hf, name, shape, source);
  const out: StateDict = new Map();
  const linear = (from: string, to: string, outDim: number, inDim: number): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [outDim, inDim]));
    out.set(`${to}.bias`, get(`${from}.bias`, [outDim]));
  };
  const norm = (from: string, to: string): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [C]));
    out.set(`${to}.bias`, get(`${from}.bias`, [C]));
  };
  const words = get('roberta.embeddings.word_embeddings.weight', [V, C]);
  out.set('tok_emb.weight', words);
  // RoBERTa's positions start at padding_idx + 1; its one token type is added to every position
  const positions = sliceRows(get('roberta.embeddings.position_embeddings.weight', [h.max_position_embeddings, C]), h.pad_token_id + 1, h.pad_token_id + 1 + maxLen);
  const type0 = get('roberta.embeddings.token_type_embeddings.weight', [1, C]).data;
  for (let r = 0; r < maxLen; r++) for (let j = 0; j < C; j++) positions.data[r * C + j] += type0[j];
  out.set('pos_emb.weight', positions);
  norm('roberta.embeddings.LayerNorm', 'emb_ln');
  for (let i = 0; i < h.num_hidden_layers; i++) {
    const p = `roberta.encoder.layer.${i}.`, to = `blocks.${i}.`;
    const parts = ['query', 'key', 'value'].map((part) => ({
      weight: get(`${p}attention.self.${part}.weight`, [C, C]), bias: get(`${p}attention.self.${part}.bias`, [C]),
    }));
    out.set(`${to}attn.qkv.weight`, concatRows(parts.map((x) => x.weight)));
    out.set(`${to}attn.qkv.bias`, concatRows(parts.map((x) => x.bias)));
    linear(`${p}attention.output.dense`, `${to}attn.out`, C, C);
    norm(`${p}attention.output.LayerNorm`, `${to}ln1`);
    linear(`${p}intermediate.dense`, `${to}mlp.fc1`, F, C);
    linear(`${p}output.dense`, `${to}mlp.fc2`, C, F);
    norm(`${p}output.LayerNorm`, `${to}ln2`);
  }
  if (labels) {
    linear('classifier.dense', 'cls_head.dense', C, C);
    linear('classifier.out_proj', 'cls_head.out', labels.length, C);
  } else {
    checkTied(hf, 'lm_head.decoder.weight', words, source);
    linear('lm_head.dense', 'lm_head.dense', C, C);
    norm('lm_head.layer_norm', 'lm_head.ln');
    out.set('lm_head.bias', get('lm_head.bias', [V]));
  }
  return { architecture: labels ? 'RobertaForSequenceClassification' : 'RobertaForMaskedLM', config, weights: out };
}

function fromGpt2(h: z.infer<typeof gpt2ConfigSchema>, hf: StateDict, source: string): ImportedModel {
  const problems: string[] = [];
  if (h.architectures[0] !== 'GPT2LMHeadModel') problems.push(`architecture ${h.architectures[0]}: tlc imports GPT2LMHeadModel`);
  if (!TANH_GELUS.includes(h.activation_function)) problems.push(`activation_function "${h.activation_function}": tlc's causal LM uses the tanh GELU (gelu_new)`);
  if (!h.scale_attn_weights) problems.push('scale_attn_weights false: tlc scales attention scores by 1/√head_dim');
  if (h.scale_attn_by_inverse_layer_idx) problems.push('scale_attn_by_inverse_layer_idx true: tlc does not scale attention by layer');
  if (!h.tie_word_embeddings) problems.push('tie_word_embeddings false: tlc ties the output layer to the token embeddings');
  if (h.n_embd % h.n_head !== 0) problems.push(`n_embd ${h.n_embd} is not divisible by n_head ${h.n_head}`);
  refuse(source, problems);

  // checkpoints name the body with or without the "transformer." prefix
  const prefix = hf.has('transformer.wte.weight') ? 'transformer.' : '';
  const C = h.n_embd, F = h.n_inner ?? 4 * h.n_embd, V = h.vocab_size;
  const config = parseModelConfig({
    objective: 'clm', vocab_size: V, d_model: C, n_layers: h.n_layer, n_heads: h.n_head, d_ff: F, max_len: h.n_positions,
    norm: 'pre', activation: 'gelu_tanh', layer_norm_eps: h.layer_norm_epsilon, dropout: h.resid_pdrop,
    ...(typeof h.pad_token_id === 'number' ? { pad_id: h.pad_token_id } : {}),
  }, source);
  const get = (name: string, shape: number[]): HostTensor => take(hf, prefix + name, shape, source);
  const out: StateDict = new Map();
  // Conv1D keeps its weight as [in, out]: the transpose of tlc's [out, in]
  const conv1d = (from: string, to: string, outDim: number, inDim: number): void => {
    out.set(`${to}.weight`, transpose(get(`${from}.weight`, [inDim, outDim])));
    out.set(`${to}.bias`, get(`${from}.bias`, [outDim]));
  };
  const norm = (from: string, to: string): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [C]));
    out.set(`${to}.bias`, get(`${from}.bias`, [C]));
  };
  const words = get('wte.weight', [V, C]);
  out.set('tok_emb.weight', words);
  out.set('pos_emb.weight', get('wpe.weight', [h.n_positions, C]));
  for (let i = 0; i < h.n_layer; i++) {
    const from = `h.${i}.`, to = `blocks.${i}.`;
    norm(`${from}ln_1`, `${to}ln1`);
    conv1d(`${from}attn.c_attn`, `${to}attn.qkv`, 3 * C, C);
    conv1d(`${from}attn.c_proj`, `${to}attn.out`, C, C);
    norm(`${from}ln_2`, `${to}ln2`);
    conv1d(`${from}mlp.c_fc`, `${to}mlp.fc1`, F, C);
    conv1d(`${from}mlp.c_proj`, `${to}mlp.fc2`, C, F);
  }
  norm('ln_f', 'ln_f');
  checkTied(hf, 'lm_head.weight', words, source);
  return { architecture: 'GPT2LMHeadModel', config, weights: out };
}

/** Class names in id order from id2label; ids must be 0..n−1. */
function labelsOf(id2label: Record<string, string> | undefined, source: string, problems: string[]): string[] | undefined {
  if (!id2label) {
    problems.push('a sequence classifier without id2label: tlc needs the class names');
    return undefined;
  }
  const n = Object.keys(id2label).length;
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const l = id2label[String(i)];
    if (l === undefined) {
      problems.push(`id2label has no id ${i}: ids must be 0..${n - 1}`);
      return undefined;
    }
    labels.push(l);
  }
  if (new Set(labels).size !== n) problems.push(`id2label names a class twice (${labels.join(', ')})`);
  if (n < 2) problems.push(`id2label has ${n} class: a classifier needs two or more`);
  return labels;
}

/** A stored output layer must be the token embedding (tlc ties them). */
function checkTied(hf: StateDict, name: string, words: HostTensor, source: string): void {
  const t = hf.get(name);
  if (!t) return;
  const same = t.data.length === words.data.length && t.data.every((v, i) => v === words.data[i]);
  if (!same) throw new TlcError(`${source}: ${name} differs from the token embeddings: an untied output layer, which tlc does not have`);
}
