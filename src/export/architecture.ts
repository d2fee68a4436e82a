// Which outside architecture computes exactly what a tlc model computes. tlc writes a
// Hugging Face model only where the computation is the same, never an approximation; every
// reason a model does not map names the config field at fault and what the other side does.
//
//   masked LM, post-LN, GELU (erf)            → RobertaForMaskedLM
//   masked-LM classifier, post-LN, any GELU   → RobertaForSequenceClassification
//   causal LM, pre-LN, GELU (tanh)            → GPT2LMHeadModel
//
// The ONNX graph is written by tlc itself from the model's own computation, so it covers
// every masked-LM body (pre- or post-LN, either GELU), which transformers.js runs as
// "roberta", and every pre-LN causal LM, a decoder with a key/value cache that it runs as "gpt2".
import { isStructurallyPruned, type ModelConfig } from '../nn/config.js';

export type HfArchitecture = 'RobertaForMaskedLM' | 'RobertaForSequenceClassification' | 'GPT2LMHeadModel';

export interface ArchitectureMapping {
  /** The Hugging Face architecture with the same computation, or null. */
  hf: HfArchitecture | null;
  /** Why there is none: one sentence per thing that does not map. */
  hfProblems: string[];
  /** Why tlc cannot write an ONNX graph for this model (empty when it can). */
  onnxProblems: string[];
}

export function mapArchitecture(c: ModelConfig): ArchitectureMapping {
  const hfProblems: string[] = [];
  const onnxProblems: string[] = [];
  let hf: HfArchitecture | null = null;
  if (isStructurallyPruned(c)) {
    const fields = [c.layer_heads ? 'layer_heads' : null, c.layer_d_ff ? 'layer_d_ff' : null].filter(Boolean).join(' and ');
    hfProblems.push(`per-block widths (${fields}, from structured pruning) have no place in a ${c.objective === 'mlm' ? 'RoBERTa' : 'GPT-2'} ` +
      'config, whose blocks all share num_attention_heads and intermediate_size (and whose head size is hidden_size / num_attention_heads)');
  }
  if (c.objective === 'clm' && c.layer_heads && c.layer_heads.some((h) => h !== c.n_heads)) {
    onnxProblems.push('structured pruning removed attention heads: transformers.js sizes one key/value cache of n_head × n_embd/n_head '
      + 'for every layer of a decoder (export the unpruned model, or prune FFN neurons only: tlc compress --structured-units neurons)');
  }
  if (c.objective === 'mlm') {
    if (c.norm === 'pre') {
      hfProblems.push('norm "pre" (pre-LN) has no Hugging Face equivalent: RoBERTa is post-LN, and RoBERTa-PreLayerNorm, '
        + "though pre-LN with a final LayerNorm like tlc, also normalizes the embedding sum (embeddings.LayerNorm), which tlc's pre-LN model does not; "
        + 'pretrain with --norm post for a masked LM that exports as RoBERTa');
    }
    if (!c.labels && c.activation === 'gelu_tanh') {
      hfProblems.push('activation "gelu_tanh" has no RoBERTa masked-LM equivalent: RobertaLMHead applies the erf GELU whatever hidden_act says');
    }
    if (hfProblems.length === 0) hf = c.labels ? 'RobertaForSequenceClassification' : 'RobertaForMaskedLM';
  } else {
    if (c.labels) {
      hfProblems.push('a classifier on a causal LM (dense → tanh → out on the last real token) has no Hugging Face equivalent: '
        + 'GPT2ForSequenceClassification scores with one bias-free linear layer');
    }
    if (c.norm === 'post') {
      hfProblems.push('norm "post" (post-LN) has no GPT-2 equivalent: GPT-2 normalizes before attention and MLP (pre-LN) and after the last block (ln_f)');
    }
    if (c.activation === 'gelu') {
      hfProblems.push('activation "gelu" (erf) has no GPT-2 equivalent: GPT-2 uses the tanh approximation (gelu_new)');
    }
    if (hfProblems.length === 0) hf = 'GPT2LMHeadModel';
    // the ONNX graph is GPT-2's decoder with a key/value cache (onnx-decoder.ts), either GELU
    if (c.labels) onnxProblems.push('a classifier on a causal LM has no ONNX graph in tlc (only the language model exports)');
    if (c.norm === 'post') onnxProblems.push("norm \"post\": tlc's ONNX decoder graph is GPT-2's pre-LN computation");
  }
  return { hf, hfProblems, onnxProblems };
}
