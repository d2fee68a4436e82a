// The encoder–decoder Transformer for translation (Vaswani et al. 2017, with pre-LN
// blocks): the encoder is the language models' body run over the source; each decoder
// block attends causally to the target prefix, then across to the encoder's output, then
// runs its MLP. One BPE vocabulary serves both languages, and its token embedding is the
// encoder's input, the decoder's input and the output layer (tied). Positions are learned,
// one table per stack. Read it top to bottom: source → encoder → decoder blocks → logits;
// IncrementalDecoder at the end runs the decoder one token at a time for search.
import { TlcError } from '../util/errors.js';
import { Rng } from '../engine/random.js';
import { Tensor, keep, outsideScopes, tensor, tidy, zeros } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { add } from '../engine/ops/elementwise.js';
import { linear } from '../engine/ops/linear.js';
import { crossAttention } from '../engine/ops/attention.js';
import { gatherRows } from '../engine/ops/embedding.js';
import { crossEntropyWithCount } from '../engine/ops/crossentropy.js';
import { Module } from './module.js';
import { Embedding, LayerNorm, Linear, NO_DROPOUT } from './layers.js';
import { Attention, MLP, TransformerBody, targetRows, type ForwardOptions, type LayerOptions, type SelfAttention } from './transformer.js';
import { decoderLayers, type ModelConfig } from './config.js';

/** A batch of translation pairs as plain arrays, row-major. */
export interface Seq2SeqBatch {
  batchSize: number;
  sourceLen: number;
  /** [B, S]: each row `x… </s>`, then padding. */
  sourceIds: Int32Array;
  /** [B, S]: 1 for real source tokens, 0 for padding. */
  sourceMask: Uint8Array;
  targetLen: number;
  /** [B, T]: each row `<s> y…`, then padding. */
  decoderInputIds: Int32Array;
  /** [B, T]: the next token at each position, `y… </s>`, then IGNORE_INDEX. */
  targets?: Int32Array;
}

/** The source side of a batch: what the encoder reads. */
export type SourceBatch = Pick<Seq2SeqBatch, 'batchSize' | 'sourceLen' | 'sourceIds' | 'sourceMask'>;

export interface Seq2SeqLossOptions extends ForwardOptions {
  /** ε of label-smoothed cross-entropy (default 0: the plain negative log-likelihood). */
  labelSmoothing?: number;
}

class CrossAttention extends Module {
  readonly q: Linear;
  /** Keys and values of the encoder output, packed [k | v] (one matmul). */
  readonly kv: Linear;
  readonly out: Linear;

  constructor(readonly cfg: ModelConfig, rng: Rng, residualStd: number) {
    super();
    const C = cfg.d_model;
    this.q = this.addChild('q', new Linear(C, C, rng));
    this.kv = this.addChild('kv', new Linear(C, 2 * C, rng));
    this.out = this.addChild('out', new Linear(C, C, rng, { std: residualStd }));
  }

  /** x [B, Tq, C] over memoryKv [B, S, 2C] (from `kv`); sourceMask u8 [B, S] or null. */
  forward(x: Tensor, memoryKv: Tensor, sourceMask: Tensor | null): Tensor {
    return this.out.forward(crossAttention(this.q.forward(x), memoryKv, this.cfg.n_heads, { keyPaddingMask: sourceMask }));
  }
}

class DecoderBlock extends Module {
  readonly ln1: LayerNorm;
  readonly selfAttn: Attention;
  readonly ln2: LayerNorm;
  readonly crossAttn: CrossAttention;
  readonly ln3: LayerNorm;
  readonly mlp: MLP;

  constructor(readonly cfg: ModelConfig, rng: Rng) {
    super();
    // three residual branches per block, so the scaled init divides by √(3·layers)
    const layerOpts: LayerOptions = { causal: true, residualStd: 0.02 / Math.sqrt(3 * decoderLayers(cfg)) };
    const eps = cfg.layer_norm_eps;
    this.ln1 = this.addChild('ln1', new LayerNorm(cfg.d_model, eps));
    this.selfAttn = this.addChild('self_attn', new Attention(cfg, rng, layerOpts));
    this.ln2 = this.addChild('ln2', new LayerNorm(cfg.d_model, eps));
    this.crossAttn = this.addChild('cross_attn', new CrossAttention(cfg, rng, layerOpts.residualStd!));
    this.ln3 = this.addChild('ln3', new LayerNorm(cfg.d_model, eps));
    this.mlp = this.addChild('mlp', new MLP(cfg, rng, layerOpts));
  }

  forward(x: Tensor, memoryKv: Tensor, sourceMask: Tensor | null, drop: (t: Tensor) => Tensor): Tensor {
    return this.forwardWith(x, (h, residual) => this.selfAttn.forward(h, null, residual, drop),
      (h) => this.crossAttn.forward(h, memoryKv, sourceMask), drop);
  }

  /**
   * The decoder block's one forward (pre-LN) around its two attentions: over the whole target in
   * training, one step against the caches in decoding (IncrementalDecoder).
   */
  forwardWith(x: Tensor, selfAttention: SelfAttention, attendToSource: (h: Tensor) => Tensor, drop: (t: Tensor) => Tensor): Tensor {
    x = selfAttention(this.ln1.forward(x, this.selfAttn.qkv.preferredInputDtype()), x);
    x = add(x, drop(attendToSource(this.ln2.forward(x, this.crossAttn.q.preferredInputDtype()))));
    return this.mlp.forward(this.ln3.forward(x, this.mlp.fc1.preferredInputDtype()), x, drop);
  }
}

/**
 * Parameter names: the encoder keeps the language models' (tok_emb, pos_emb, blocks.N,
 * ln_f); the decoder adds dec_pos_emb, dec_blocks.N.{ln1, self_attn, ln2, cross_attn,
 * ln3, mlp} and dec_ln_f. There is no separate output layer: logits = h · tok_embᵀ.
 */
export class Seq2SeqTransformer extends TransformerBody {
  readonly decPosEmb: Embedding;
  readonly decBlocks: DecoderBlock[];
  readonly decLnF: LayerNorm;

  constructor(config: ModelConfig, opts: { seed?: number } = {}) {
    if (config.objective !== 'seq2seq') throw new TlcError(`an encoder–decoder needs a seq2seq config, got objective "${config.objective}"`);
    const seed = opts.seed ?? 0;
    super(config, new Rng(seed), seed);
    const c = config;
    this.decPosEmb = this.addChild('dec_pos_emb', new Embedding(c.max_len, c.d_model, this.rng));
    this.decBlocks = [];
    for (let i = 0; i < decoderLayers(c); i++) this.decBlocks.push(this.addChild(`dec_blocks.${i}`, new DecoderBlock(c, this.rng)));
    this.decLnF = this.addChild('dec_ln_f', new LayerNorm(c.d_model, c.layer_norm_eps));
    this.nameParameters();
  }

  /** Encoder output [B, S, C] of the batch's sources. */
  encodeSource(batch: SourceBatch, opts: ForwardOptions = {}): Tensor {
    return this.encode({ batchSize: batch.batchSize, seqLen: batch.sourceLen, inputIds: batch.sourceIds, attentionMask: batch.sourceMask }, opts);
  }

  /** Decoder hidden states [B, T, C] for the batch's decoder inputs (teacher forcing). */
  decode(memory: Tensor, batch: Seq2SeqBatch, opts: ForwardOptions = {}): Tensor {
    checkSeq2SeqBatch(batch, this.config);
    const { batchSize: B, targetLen: T } = batch;
    const drop = this.dropper(opts);
    const positions = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) positions[i] = i % T;
    let x = add(this.tokEmb.forward(tensor(batch.decoderInputIds, [B, T], 'i32')), this.decPosEmb.forward(tensor(positions, [B, T], 'i32')));
    x = drop(x);
    const mask = sourceMaskTensor(batch.sourceMask, B, batch.sourceLen);
    for (const block of this.decBlocks) x = block.forward(x, block.crossAttn.kv.forward(memory), mask, drop);
    return this.decLnF.forward(x);
  }

  /** Output logits [M, V] for decoder hidden states [M, C] (the tied embedding). */
  head(hidden: Tensor): Tensor {
    return linear(hidden, this.tokEmb.weight);
  }

  /** Logits for every target position, [B, T, V]. */
  logits(batch: Seq2SeqBatch, opts: ForwardOptions = {}): Tensor {
    checkSeq2SeqBatch(batch, this.config);
    return this.head(this.decode(this.encodeSource(batch, opts), batch, opts));
  }

  /**
   * Mean (label-smoothed) cross-entropy over the target tokens, and their number. As in
   * the language model, the output layer runs only at positions with a target, padded
   * to a multiple of 64 rows so that a few shapes recur.
   */
  loss(batch: Seq2SeqBatch, opts: Seq2SeqLossOptions = {}): { loss: Tensor; tokens: number } {
    if (!batch.targets) throw new TlcError('loss: the batch has no targets');
    checkSeq2SeqBatch(batch, this.config);
    const { batchSize: B, targetLen: T } = batch;
    const hidden = this.decode(this.encodeSource(batch, opts), batch, opts).reshape([B * T, this.config.d_model]);
    const ce = { labelSmoothing: opts.labelSmoothing ?? 0 };
    const { rows } = targetRows(batch.targets);
    const r = rows
      ? crossEntropyWithCount(this.head(gatherRows(hidden, rows.index)), rows.targets, ce)
      : crossEntropyWithCount(this.head(hidden), tensor(batch.targets, [B * T], 'i32'), ce);
    return { loss: r.loss, tokens: r.count };
  }
}

function sourceMaskTensor(mask: Uint8Array, B: number, S: number): Tensor | null {
  return mask.some((m) => m === 0) ? tensor(mask, [B, S], 'u8') : null;
}

export function checkSeq2SeqBatch(b: Seq2SeqBatch, c: ModelConfig): void {
  const { batchSize: B, sourceLen: S, targetLen: T } = b;
  if (!(B >= 1 && S >= 1 && T >= 1)) throw new TlcError(`batch: invalid shape: ${B} pairs, source length ${S}, target length ${T}`);
  for (const [what, len] of [['source', S], ['target', T]] as const) {
    if (len > c.max_len) throw new TlcError(`batch: ${what} length ${len} exceeds the model's max_len ${c.max_len}`);
  }
  if (b.sourceIds.length !== B * S || b.sourceMask.length !== B * S) {
    throw new TlcError(`batch: ${b.sourceIds.length} source ids and ${b.sourceMask.length} mask entries for shape [${B}, ${S}]`);
  }
  if (b.decoderInputIds.length !== B * T) throw new TlcError(`batch: ${b.decoderInputIds.length} decoder inputs for shape [${B}, ${T}]`);
  if (b.targets && b.targets.length !== B * T) throw new TlcError(`batch: ${b.targets.length} targets for shape [${B}, ${T}]`);
}

/**
 * The decoder run one token at a time, for search. Rows are hypotheses, in `groups` of
 * `rowsPerGroup` that share one source sentence (the beams of a sentence). Nothing is
 * recomputed: each layer keeps its self-attention keys and values of the tokens so far
 * in a cache [rows, capacity, 2C], and the cross-attention keys and values of the
 * encoder output once per group [groups, S, 2C] — a group's rows are that sentence's
 * queries, so beams share them. Runs without the tape; call dispose() when done.
 */
export class IncrementalDecoder {
  private readonly selfKv: Tensor[];
  private crossKv: Tensor[];
  private sourceMask: Uint8Array;
  private sourceMaskT: Tensor | null;
  private readonly S: number;
  private groupCount: number;
  /** Tokens fed so far (the position of the next one). */
  length = 0;

  /**
   * memory: encoder output [G, S, C] of G sentences with their source mask [G·S];
   * capacity: the most tokens any row will be fed (at most the model's max_len).
   */
  constructor(private readonly model: Seq2SeqTransformer, memory: Tensor, sourceMask: Uint8Array,
    readonly rowsPerGroup: number, readonly capacity: number) {
    const [G, S] = memory.shape;
    const C = model.config.d_model;
    if (!(capacity >= 1 && capacity <= model.config.max_len)) {
      throw new TlcError(`decoding: capacity ${capacity} must be in [1, max_len ${model.config.max_len}]`);
    }
    this.S = S;
    this.groupCount = G;
    this.sourceMask = sourceMask;
    this.sourceMaskT = null;
    this.crossKv = noGrad(() => outsideScopes(() => model.decBlocks.map((b) => b.crossAttn.kv.forward(memory))));
    this.selfKv = outsideScopes(() => model.decBlocks.map(() => zeros([G * rowsPerGroup, capacity, 2 * C])));
    this.updateMaskTensor();
  }

  get rows(): number {
    return this.groupCount * this.rowsPerGroup;
  }

  get groups(): number {
    return this.groupCount;
  }

  /** Feeds one token per row (at position `length`); returns the next-token logits [rows · V]. */
  next(tokens: Int32Array): Float32Array {
    const N = this.rows, K = this.rowsPerGroup, G = this.groupCount, t = this.length;
    if (tokens.length !== N) throw new TlcError(`decoding: ${tokens.length} tokens for ${N} rows`);
    if (t >= this.capacity) throw new TlcError(`decoding: the cache holds ${this.capacity} tokens per row; no room for another`);
    const { model } = this;
    const C = model.config.d_model, H = model.config.n_heads, cap = this.capacity;
    // keys 0..t are visible to the new token; later cache rows are empty
    const visible = new Uint8Array(N * cap);
    for (let n = 0; n < N; n++) visible.fill(1, n * cap, n * cap + t + 1);
    const logits = noGrad(() => tidy(() => {
      const visibleT = tensor(visible, [N, cap], 'u8');
      let x = add(model.tokEmb.forward(tensor(tokens, [N, 1], 'i32')), model.decPosEmb.forward(tensor(new Int32Array(N).fill(t), [N, 1], 'i32')));
      model.decBlocks.forEach((block, l) => {
        const selfAttention = (h: Tensor, residual: Tensor): Tensor => {
          const qkv = block.selfAttn.qkv.forward(h).toFloat32Array();
          const q = new Float32Array(N * C);
          for (let n = 0; n < N; n++) {
            q.set(qkv.subarray(n * 3 * C, n * 3 * C + C), n * C);
            this.selfKv[l].write(qkv.subarray(n * 3 * C + C, (n + 1) * 3 * C), (n * cap + t) * 2 * C);
          }
          const a = crossAttention(tensor(q, [N, 1, C]), this.selfKv[l], H, { keyPaddingMask: visibleT });
          return add(residual, block.selfAttn.out.forward(a));
        };
        // the K rows of a group are K queries of one sentence: [G, K, C] against [G, S, 2C]
        const attendToSource = (h: Tensor): Tensor => block.crossAttn.out.forward(
          crossAttention(block.crossAttn.q.forward(h).reshape([G, K, C]), this.crossKv[l], H, { keyPaddingMask: this.sourceMaskT }).reshape([N, 1, C]));
        x = block.forwardWith(x, selfAttention, attendToSource, NO_DROPOUT);
      });
      return model.head(model.decLnF.forward(x).reshape([N, C])).toFloat32Array();
    }));
    this.length++;
    return logits;
  }

  /**
   * Keeps, in order, the rows `rows` (row i of the new state continues old row rows[i];
   * repeats allowed). The new rows come in groups of rowsPerGroup whose members all
   * continue rows of one old group: beams are re-ranked within their sentence, and
   * finished sentences leave.
   */
  select(rows: Int32Array): void {
    const K = this.rowsPerGroup, N = this.rows, cap = this.capacity, S = this.S;
    if (rows.length === 0 || rows.length % K !== 0) throw new TlcError(`decoding: ${rows.length} rows do not form groups of ${K}`);
    const G2 = rows.length / K;
    const groups = new Int32Array(G2);
    for (let g = 0; g < G2; g++) {
      groups[g] = Math.floor(rows[g * K] / K);
      for (let k = 0; k < K; k++) {
        const r = rows[g * K + k];
        if (!(r >= 0 && r < N && Math.floor(r / K) === groups[g])) throw new TlcError(`decoding: row ${r} cannot continue group ${groups[g]}`);
      }
    }
    if (rows.length !== N || rows.some((r, i) => r !== i)) this.selfKv.forEach((t, l) => { this.selfKv[l] = gatherTokenRows(t, rows, cap); });
    if (G2 !== this.groupCount || groups.some((g, i) => g !== i)) {
      this.crossKv = this.crossKv.map((t) => gatherTokenRows(t, groups, S));
      const mask = new Uint8Array(G2 * S);
      groups.forEach((g, i) => mask.set(this.sourceMask.subarray(g * S, (g + 1) * S), i * S));
      this.sourceMask = mask;
      this.groupCount = G2;
      this.updateMaskTensor();
    }
  }

  dispose(): void {
    for (const t of [...this.selfKv, ...this.crossKv]) t.dispose();
    this.sourceMaskT?.dispose();
  }

  private updateMaskTensor(): void {
    this.sourceMaskT?.dispose();
    this.sourceMaskT = this.sourceMask.some((m) => m === 0)
      ? outsideScopes(() => tensor(this.sourceMask, [this.groupCount, this.S], 'u8')) : null;
  }
}

/** [N, T, D] → [rows.length, T, D] with new item i = old item rows[i]; frees the old tensor. */
function gatherTokenRows(t: Tensor, rows: Int32Array, T: number): Tensor {
  const D = t.shape[2];
  const index = new Int32Array(rows.length * T);
  rows.forEach((r, i) => {
    for (let j = 0; j < T; j++) index[i * T + j] = r * T + j;
  });
  const out = noGrad(() => tidy(() => keep(gatherRows(t.reshape([t.shape[0] * T, D]), tensor(index, [index.length], 'i32')).reshape([rows.length, T, D]))));
  t.dispose();
  return out;
}
