// A causal language model run one token at a time, for generation. Nothing is recomputed:
// each layer keeps the keys and values of the tokens so far in a cache [rows, capacity, 2C]
// (k | v), and a new token's query attends to the cached keys 0..t. Pre- and post-LN blocks
// compute as in TransformerBody.encode. Runs without the tape; call dispose() when done.
import { TlcError } from '../util/errors.js';
import { Tensor, outsideScopes, tensor, tidy, zeros } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { add } from '../engine/ops/elementwise.js';
import { crossAttention } from '../engine/ops/attention.js';
import { NO_DROPOUT } from './layers.js';
import type { TransformerLM } from './transformer.js';
import { attentionWidthAt } from './config.js';

export class CausalDecoder {
  private readonly kv: Tensor[];
  /** Tokens fed so far (the position of the next one). */
  length = 0;

  /** rows: sequences decoded side by side; capacity: the most tokens any row will be fed (at most max_len). */
  constructor(private readonly model: TransformerLM, readonly rows: number, readonly capacity: number) {
    const c = model.config;
    if (c.objective !== 'clm') throw new TlcError(`decoding needs a causal language model (objective clm), not objective ${c.objective}`);
    if (!(Number.isInteger(capacity) && capacity >= 1 && capacity <= c.max_len)) {
      throw new TlcError(`decoding: capacity ${capacity} must be in [1, max_len ${c.max_len}]`);
    }
    this.kv = outsideScopes(() => model.blocks.map((_, l) => zeros([rows, capacity, 2 * attentionWidthAt(c, l)])));
  }

  /** Feeds one token per row (at position `length`); returns the next-token logits [rows · V]. */
  next(tokens: Int32Array): Float32Array {
    const N = this.rows, t = this.length, cap = this.capacity;
    if (tokens.length !== N) throw new TlcError(`decoding: ${tokens.length} tokens for ${N} rows`);
    if (t >= cap) throw new TlcError(`decoding: the cache holds ${cap} tokens per row; no room for another`);
    const { model } = this;
    const C = model.config.d_model;
    const visible = new Uint8Array(N * cap);
    for (let n = 0; n < N; n++) visible.fill(1, n * cap, n * cap + t + 1);
    const logits = noGrad(() => tidy(() => {
      const visibleT = tensor(visible, [N, cap], 'u8');
      let x = add(model.tokEmb.forward(tensor(tokens, [N, 1], 'i32')), model.posEmb.forward(tensor(new Int32Array(N).fill(t), [N, 1], 'i32')));
      if (model.embLn) x = model.embLn.forward(x);
      model.blocks.forEach((block, l) => {
        // the new token's query against the cached keys and values, its own key and value cached first
        x = block.forwardWith(x, (h, residual) => {
          const qkv = block.attn.qkv.forward(h).toFloat32Array();
          const A = attentionWidthAt(model.config, l); // C, unless structured pruning removed heads
          const q = new Float32Array(N * A);
          for (let n = 0; n < N; n++) {
            q.set(qkv.subarray(n * 3 * A, n * 3 * A + A), n * A);
            this.kv[l].write(qkv.subarray(n * 3 * A + A, (n + 1) * 3 * A), (n * cap + t) * 2 * A);
          }
          const a = crossAttention(tensor(q, [N, 1, A]), this.kv[l], block.attn.heads, { keyPaddingMask: visibleT });
          return block.attn.out.forwardResidual(a, residual, NO_DROPOUT);
        }, NO_DROPOUT);
      });
      const h = model.lnF ? model.lnF.forward(x) : x;
      return model.head(h.reshape([N, C])).toFloat32Array();
    }));
    this.length++;
    return logits;
  }

  dispose(): void {
    for (const t of this.kv) t.dispose();
  }
}
