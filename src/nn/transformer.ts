// The Transformer language model: masked LM (RoBERTa-style encoder) or causal LM
// (GPT-2-style decoder), pre-LN by default, post-LN as an option; output layer tied to
// the token embedding. Read it top to bottom: embeddings → blocks → final norm → head.
import { TlcError } from '../util/errors.js';
import { Rng } from '../engine/random.js';
import { Tensor, tensor } from '../engine/tensor.js';
import { add } from '../engine/ops/elementwise.js';
import { linear } from '../engine/ops/linear.js';
import { dropout, DropoutRng } from '../engine/ops/dropout.js';
import { selfAttention } from '../engine/ops/attention.js';
import { gatherRows } from '../engine/ops/embedding.js';
import { crossEntropy } from '../engine/ops/crossentropy.js';
import { PackedLinear } from '../engine/ops/packed-linear.js';
import { Module, constantParam } from './module.js';
import { Embedding, LayerNorm, Linear, NO_DROPOUT } from './layers.js';
import { preferredInputDtypeFor } from '../engine/mixed.js';
import { ffnWidthAt, headSize, headsAt, type ModelConfig } from './config.js';

export const IGNORE_INDEX = -100;

/** A batch as plain arrays, row-major [batchSize, seqLen]. */
export interface LMBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  /** Token to predict at each position, or IGNORE_INDEX. */
  targets?: Int32Array;
  /** 1 for real tokens, 0 for padding; omitted means no padding. */
  attentionMask?: Uint8Array;
}

export interface ForwardOptions {
  /** Apply dropout (training). Default: the model's `training` flag. */
  training?: boolean;
}

/** How a stack builds its attention and MLP layers. */
export interface LayerOptions {
  /** Causal self-attention (default: the config's objective is clm). */
  causal?: boolean;
  /** Init std of the projections into the residual stream (default 0.02/√(2·n_layers)). */
  residualStd?: number;
  /** Index of the block, whose head count and FFN width structured pruning may have cut (default: the full widths). */
  layer?: number;
}

/** GPT-2's scaled init of residual projections keeps the residual stream's variance flat in depth. */
function residualStd(cfg: ModelConfig, opts: LayerOptions): number {
  return opts.residualStd ?? 0.02 / Math.sqrt(2 * cfg.n_layers);
}

export class Attention extends Module {
  readonly qkv: Linear;
  readonly out: Linear;
  readonly causal: boolean;
  /** Heads of this layer; q, k and v are each heads × d_model/n_heads wide. */
  readonly heads: number;

  constructor(readonly cfg: ModelConfig, rng: Rng, opts: LayerOptions = {}) {
    super();
    const C = cfg.d_model;
    this.causal = opts.causal ?? cfg.objective === 'clm';
    this.heads = opts.layer === undefined ? cfg.n_heads : headsAt(cfg, opts.layer);
    const A = this.heads * headSize(cfg);
    this.qkv = this.addChild('qkv', new Linear(C, 3 * A, rng));
    this.out = this.addChild('out', new Linear(A, C, rng, { std: residualStd(cfg, opts) }));
  }

  /** residual + drop(attention(x)) */
  forward(x: Tensor, padMask: Tensor | null, residual: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    const a = selfAttention(this.qkv.forward(x), this.heads, { causal: this.causal, keyPaddingMask: padMask });
    return this.out.forwardResidual(a, residual, drop);
  }
}

export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(readonly cfg: ModelConfig, rng: Rng, opts: LayerOptions = {}) {
    super();
    const F = opts.layer === undefined ? cfg.d_ff : ffnWidthAt(cfg, opts.layer);
    this.fc1 = this.addChild('fc1', new Linear(cfg.d_model, F, rng));
    this.fc2 = this.addChild('fc2', new Linear(F, cfg.d_model, rng, { std: residualStd(cfg, opts) }));
  }

  /** residual + drop(mlp(x)) */
  forward(x: Tensor, residual: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    const approximate = this.cfg.activation === 'gelu_tanh' ? 'tanh' : 'none';
    const [p1, p2] = [this.fc1.packed, this.fc2.packed];
    if (p1?.kind === 'int8' && p2?.kind === 'int8' && drop === NO_DROPOUT) {
      return PackedLinear.mlp(p1, p2, x, approximate === 'tanh' ? 'gelu_tanh' : 'gelu', residual);
    }
    return this.fc2.forwardResidual(this.fc1.forwardGelu(x, approximate, this.fc2.preferredInputDtype()), residual, drop);
  }
}

class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: Attention;
  readonly ln2: LayerNorm;
  readonly mlp: MLP;

  constructor(readonly cfg: ModelConfig, rng: Rng, layer: number) {
    super();
    this.ln1 = this.addChild('ln1', new LayerNorm(cfg.d_model, cfg.layer_norm_eps));
    this.attn = this.addChild('attn', new Attention(cfg, rng, { layer }));
    this.ln2 = this.addChild('ln2', new LayerNorm(cfg.d_model, cfg.layer_norm_eps));
    this.mlp = this.addChild('mlp', new MLP(cfg, rng, { layer }));
  }

  forward(x: Tensor, padMask: Tensor | null, drop: (t: Tensor) => Tensor): Tensor {
    return this.forwardWith(x, (h, residual) => this.attn.forward(h, padMask, residual, drop), drop);
  }

  /**
   * The block's one forward (pre- or post-LN wiring, then the MLP) around a self-attention:
   * over the whole sequence in training and evaluation, one step against a KV cache in decoding
   * (src/nn/causal-decoder.ts).
   */
  forwardWith(x: Tensor, selfAttention: SelfAttention, drop: (t: Tensor) => Tensor): Tensor {
    if (this.cfg.norm === 'pre') {
      x = selfAttention(this.ln1.forward(x, this.attn.qkv.preferredInputDtype()), x);
      return this.mlp.forward(this.ln2.forward(x, this.mlp.fc1.preferredInputDtype()), x, drop);
    }
    x = this.ln1.forward(selfAttention(x, x));
    return this.ln2.forward(this.mlp.forward(x, x, drop));
  }
}

/** residual + the self-attention of h (a block's normalised input): what Block.forwardWith wires in. */
export type SelfAttention = (h: Tensor, residual: Tensor) => Tensor;

class MaskedLMHead extends Module {
  readonly dense: Linear;
  readonly ln: LayerNorm;
  readonly bias: Tensor;

  constructor(readonly cfg: ModelConfig, rng: Rng) {
    super();
    this.dense = this.addChild('dense', new Linear(cfg.d_model, cfg.d_model, rng));
    this.ln = this.addChild('ln', new LayerNorm(cfg.d_model, cfg.layer_norm_eps));
    this.bias = this.addParam('bias', constantParam([cfg.vocab_size], 0));
  }

  forward(h: Tensor, tokenEmbedding: Tensor): Tensor {
    const act = this.cfg.activation === 'gelu_tanh' ? 'tanh' : 'none';
    return linear(this.ln.forward(this.dense.forwardGelu(h, act), preferredInputDtypeFor(tokenEmbedding)), tokenEmbedding, this.bias);
  }
}

/**
 * Embeddings and Transformer blocks, shared by the language model and the classifier:
 * its parameter names (tok_emb, pos_emb, emb_ln, blocks.N, ln_f) are the same in both,
 * so a classifier loads a pretrained LM's weights by name.
 */
export abstract class TransformerBody extends Module {
  readonly tokEmb: Embedding;
  readonly posEmb: Embedding;
  readonly embLn: LayerNorm | null;
  readonly blocks: Block[];
  readonly lnF: LayerNorm | null;
  /** Whether forward passes apply dropout by default. */
  training = false;
  readonly dropoutRng: DropoutRng;

  constructor(readonly config: ModelConfig, protected readonly rng: Rng, seed: number) {
    super();
    const c = config;
    this.tokEmb = this.addChild('tok_emb', new Embedding(c.vocab_size, c.d_model, rng));
    this.posEmb = this.addChild('pos_emb', new Embedding(c.max_len, c.d_model, rng));
    this.embLn = c.norm === 'post' ? this.addChild('emb_ln', new LayerNorm(c.d_model, c.layer_norm_eps)) : null;
    this.blocks = [];
    for (let i = 0; i < c.n_layers; i++) this.blocks.push(this.addChild(`blocks.${i}`, new Block(c, rng, i)));
    this.lnF = c.norm === 'pre' ? this.addChild('ln_f', new LayerNorm(c.d_model, c.layer_norm_eps)) : null;
    this.dropoutRng = new DropoutRng(seed ^ 0x5eed);
  }

  /** Gives every parameter its dotted name (used in error messages); call once built. */
  protected nameParameters(): void {
    for (const [name, t] of this.namedParameters()) t.name = name;
  }

  /** Dropout as configured, or the identity when not training. */
  protected dropper(opts: ForwardOptions): (t: Tensor) => Tensor {
    const p = (opts.training ?? this.training) ? this.config.dropout : 0;
    if (p === 0) return NO_DROPOUT;
    return (t: Tensor): Tensor => {
      const { seed, offset } = this.dropoutRng.next(t.size);
      return dropout(t, p, seed, offset);
    };
  }

  /** Final hidden states [B, T, C]. */
  encode(batch: LMBatch, opts: ForwardOptions = {}): Tensor {
    const { batchSize: B, seqLen: T } = batch;
    checkBatch(batch, this.config);
    const drop = this.dropper(opts);
    const ids = tensor(batch.inputIds, [B, T], 'i32');
    const positions = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) positions[i] = i % T;
    let x = add(this.tokEmb.forward(ids), this.posEmb.forward(tensor(positions, [B, T], 'i32')));
    if (this.embLn) x = this.embLn.forward(x);
    x = drop(x);
    const mask = batch.attentionMask && batch.attentionMask.some((m) => m === 0)
      ? tensor(batch.attentionMask, [B, T], 'u8') : null;
    for (const block of this.blocks) x = block.forward(x, mask, drop);
    return this.lnF ? this.lnF.forward(x) : x;
  }
}

export class TransformerLM extends TransformerBody {
  readonly lmHead: MaskedLMHead | null;

  constructor(config: ModelConfig, opts: { seed?: number } = {}) {
    if (config.objective === 'seq2seq') throw new TlcError('a seq2seq config describes an encoder–decoder (Seq2SeqTransformer), not a language model');
    const seed = opts.seed ?? 0;
    super(config, new Rng(seed), seed);
    this.lmHead = config.objective === 'mlm' ? this.addChild('lm_head', new MaskedLMHead(config, this.rng)) : null;
    this.nameParameters();
  }

  /** Output logits [M, V] for hidden states [M, C]. */
  head(hidden: Tensor): Tensor {
    return this.lmHead ? this.lmHead.forward(hidden, this.tokEmb.weight) : linear(hidden, this.tokEmb.weight);
  }

  /** Logits for every position, [B, T, V]. */
  logits(batch: LMBatch, opts: ForwardOptions = {}): Tensor {
    return this.head(this.encode(batch, opts));
  }

  /**
   * Mean cross-entropy over the positions whose target is not IGNORE_INDEX. The output
   * layer runs only at those positions (15% of tokens in masked LM), which is where
   * most of a small model's FLOPs would otherwise go. `tokens` is the number of targets.
   */
  loss(batch: LMBatch, opts: ForwardOptions = {}): { loss: Tensor; tokens: number } {
    if (!batch.targets) throw new TlcError('loss: the batch has no targets');
    const { batchSize: B, seqLen: T } = batch;
    const hidden = this.encode(batch, opts).reshape([B * T, this.config.d_model]);
    const { count, rows } = targetRows(batch.targets);
    if (!rows) return { loss: crossEntropy(this.head(hidden), tensor(batch.targets, [B * T], 'i32')), tokens: count };
    return { loss: crossEntropy(this.head(gatherRows(hidden, rows.index)), rows.targets), tokens: count };
  }
}

/**
 * The positions of `targets` that are not IGNORE_INDEX (`count` of them), as row indices
 * into the hidden states and the targets at those rows, padded with ignored rows to a
 * multiple of 64: the number of targets varies from batch to batch, and a few stable
 * shapes keep kernels and memory blocks reused. `rows` is null when all or no positions
 * have a target: then every row goes to the output layer.
 */
export function targetRows(targets: Int32Array): { count: number; rows: { index: Tensor; targets: Tensor } | null } {
  const positions: number[] = [];
  for (let i = 0; i < targets.length; i++) if (targets[i] !== IGNORE_INDEX) positions.push(i);
  if (positions.length === 0 || positions.length === targets.length) return { count: positions.length, rows: null };
  const n = Math.min(targets.length, Math.ceil(positions.length / 64) * 64);
  const index = new Int32Array(n);
  const picked = new Int32Array(n).fill(IGNORE_INDEX);
  positions.forEach((p, k) => {
    index[k] = p;
    picked[k] = targets[p];
  });
  return { count: positions.length, rows: { index: tensor(index, [n], 'i32'), targets: tensor(picked, [n], 'i32') } };
}

export function checkBatch(b: LMBatch, c: ModelConfig): void {
  const n = b.batchSize * b.seqLen;
  if (!(b.batchSize >= 1 && b.seqLen >= 1)) throw new TlcError(`batch: invalid shape [${b.batchSize}, ${b.seqLen}]`);
  if (b.seqLen > c.max_len) throw new TlcError(`batch: sequence length ${b.seqLen} exceeds the model's max_len ${c.max_len}`);
  if (b.inputIds.length !== n) throw new TlcError(`batch: ${b.inputIds.length} input ids for shape [${b.batchSize}, ${b.seqLen}]`);
  if (b.targets && b.targets.length !== n) throw new TlcError(`batch: ${b.targets.length} targets for shape [${b.batchSize}, ${b.seqLen}]`);
  if (b.attentionMask && b.attentionMask.length !== n) {
    throw new TlcError(`batch: attention mask of ${b.attentionMask.length} entries for shape [${b.batchSize}, ${b.seqLen}]`);
  }
}
