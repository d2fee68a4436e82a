// Text generation from a causal LM: the prompt is fed through the key/value cache token by
// token, then each new token is chosen (src/generate/sampling.ts) and fed back, until
// maxNewTokens, </s>, or the model's last position. Training streams documents each followed
// by </s>, so a prompt starts after a </s>, as a document does.
import { Rng } from '../engine/random.js';
import { EOS_ID } from '../data/tokenizer.js';
import { CausalDecoder } from '../nn/causal-decoder.js';
import type { TransformerLM } from '../nn/transformer.js';
import { TlcError } from '../util/errors.js';
import { checkSampling, chooseToken, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Told when the context leaves room for fewer new tokens than asked for. */
  onLimit?: (message: string) => void;
  seed: number;
  /** Stop at </s> (default true). */
  stopAtEos?: boolean;
}

/** The new tokens, one at a time (</s> not included). */
export function* generateTokens(model: TransformerLM, prompt: readonly number[], o: GenerateOptions): Generator<number> {
  checkSampling(o);
  if (!(Number.isInteger(o.maxNewTokens) && o.maxNewTokens >= 0)) throw new TlcError(`--max-new-tokens must be a non-negative integer, got ${o.maxNewTokens}`);
  const context = [EOS_ID, ...prompt];
  const room = model.config.max_len;
  if (context.length > room) throw new TlcError(`the prompt is ${prompt.length} tokens; the model reads at most ${room - 1} after the leading </s>`);
  const steps = Math.min(o.maxNewTokens, room - context.length + 1);
  if (steps < o.maxNewTokens) {
    o.onLimit?.(`the model reads at most ${room} positions: after the prompt (${prompt.length} tokens) there is room for ${steps} new tokens, not ${o.maxNewTokens}`);
  }
  const decoder = new CausalDecoder(model, 1, Math.min(room, context.length + steps));
  const rng = new Rng(o.seed);
  try {
    let logits: Float32Array = new Float32Array(0);
    for (const id of context) logits = decoder.next(Int32Array.of(id));
    const seen = [...context];
    for (let i = 0; i < steps; i++) {
      const next = chooseToken(logits, seen, o, rng);
      if (next === EOS_ID && (o.stopAtEos ?? true)) return;
      yield next;
      seen.push(next);
      if (i + 1 < steps) logits = decoder.next(Int32Array.of(next));
    }
  } finally {
    decoder.dispose();
  }
}
