// tlc's causal LM (pre-LN, tanh GELU) as Hugging Face's GPT2LMHeadModel. GPT-2 computes the
// same thing: pre-LN blocks, a final ln_f, q|k|v from one packed projection, tanh GELU
// (gelu_new), positions 0..T−1, and an output layer tied to the token embedding, without bias.
// Its linear layers are Conv1D, whose weight is [in, out]: the transpose of tlc's [out, in].
//
//   tlc                        GPT-2
//   tok_emb.weight             transformer.wte.weight
//   pos_emb.weight             transformer.wpe.weight
//   blocks.i.ln1 / ln2         transformer.h.i.ln_1 / ln_2
//   blocks.i.attn.qkv          transformer.h.i.attn.c_attn   (weight transposed)
//   blocks.i.attn.out          transformer.h.i.attn.c_proj   (weight transposed)
//   blocks.i.mlp.fc1 / fc2     transformer.h.i.mlp.c_fc / c_proj (weights transposed)
//   ln_f                       transformer.ln_f
import { TlcError } from '../util/errors.js';
import { BOS_ID, EOS_ID } from '../data/tokenizer.js';
import { attentionWidthAt, ffnWidthAt, type ModelConfig } from '../nn/config.js';
import { take, transpose, type HostTensor, type StateDict } from '../nn/state-dict.js';

export function gpt2StateDict(tlc: StateDict, c: ModelConfig, source = 'weights'): StateDict {
  if (c.objective !== 'clm' || c.labels) throw new TlcError('gpt2StateDict: only causal language models are GPT-2 models');
  const C = c.d_model;
  const out: StateDict = new Map();
  const get = (name: string, shape: number[]): HostTensor => take(tlc, name, shape, source);
  const conv1d = (from: string, to: string, outDim: number, inDim: number): void => {
    out.set(`${to}.weight`, transpose(get(`${from}.weight`, [outDim, inDim])));
    out.set(`${to}.bias`, get(`${from}.bias`, [outDim]));
  };
  const norm = (from: string, to: string): void => {
    out.set(`${to}.weight`, get(`${from}.weight`, [C]));
    out.set(`${to}.bias`, get(`${from}.bias`, [C]));
  };
  out.set('transformer.wte.weight', get('tok_emb.weight', [c.vocab_size, C]));
  out.set('transformer.wpe.weight', get('pos_emb.weight', [c.max_len, C]));
  for (let i = 0; i < c.n_layers; i++) {
    const from = `blocks.${i}.`, to = `transformer.h.${i}.`;
    const A = attentionWidthAt(c, i), F = ffnWidthAt(c, i);
    norm(`${from}ln1`, `${to}ln_1`);
    conv1d(`${from}attn.qkv`, `${to}attn.c_attn`, 3 * A, C);
    conv1d(`${from}attn.out`, `${to}attn.c_proj`, C, A);
    norm(`${from}ln2`, `${to}ln_2`);
    conv1d(`${from}mlp.fc1`, `${to}mlp.c_fc`, F, C);
    conv1d(`${from}mlp.fc2`, `${to}mlp.c_proj`, C, F);
  }
  norm('ln_f', 'transformer.ln_f');
  return out;
}

export function gpt2Config(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    vocab_size: c.vocab_size,
    n_positions: c.max_len,
    n_embd: c.d_model,
    n_layer: c.n_layers,
    n_head: c.n_heads,
    n_inner: c.d_ff,
    activation_function: 'gelu_new',
    resid_pdrop: c.dropout,
    embd_pdrop: c.dropout,
    attn_pdrop: c.dropout,
    layer_norm_epsilon: c.layer_norm_eps,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    bos_token_id: BOS_ID,
    eos_token_id: EOS_ID,
    pad_token_id: c.pad_id,
    tie_word_embeddings: true,
    use_cache: true,
    torch_dtype: 'float32',
  };
}
