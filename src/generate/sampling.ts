// Choosing the next token from a model's logits, as Hugging Face's generate does it: the
// repetition penalty (CTRL; Keskar et al. 2019), then the temperature, then top-k, then
// top-p (nucleus; Holtzman et al. 2020), then a draw from what is left — or, greedy, the
// highest logit after the penalty.
import { TlcError } from '../util/errors.js';
import type { Rng } from '../engine/random.js';

export interface SamplingOptions {
  greedy: boolean;
  /** > 0; 1 leaves the distribution as it is. */
  temperature: number;
  /** Keep the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all. */
  topP: number;
  /** ≥ 1 (1: none): a token already in the sequence has its logit divided by it (multiplied, if negative). */
  repetitionPenalty: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = { greedy: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

export function checkSampling(o: SamplingOptions): void {
  if (!(o.temperature > 0 && Number.isFinite(o.temperature))) throw new TlcError(`--temperature must be positive, got ${o.temperature}`);
  if (!(Number.isInteger(o.topK) && o.topK >= 0)) throw new TlcError(`--top-k must be a non-negative integer (0: all tokens), got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new TlcError(`--top-p must be in (0, 1], got ${o.topP}`);
  if (!(o.repetitionPenalty >= 1 && Number.isFinite(o.repetitionPenalty))) throw new TlcError(`--repetition-penalty must be at least 1, got ${o.repetitionPenalty}`);
}

/** The next token for one row's logits [V], given the tokens of the sequence so far. */
export function chooseToken(logits: Float32Array, seen: ArrayLike<number>, o: SamplingOptions, rng: Rng): number {
  const scores = Float64Array.from(logits);
  if (o.repetitionPenalty !== 1) {
    for (const id of new Set(Array.from(seen))) scores[id] = scores[id] > 0 ? scores[id] / o.repetitionPenalty : scores[id] * o.repetitionPenalty;
  }
  if (o.greedy) return argmax(scores);
  for (let i = 0; i < scores.length; i++) scores[i] /= o.temperature;
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  let kept = o.topK > 0 ? order.slice(0, o.topK) : order;
  const max = scores[kept[0]];
  let probs = kept.map((i) => Math.exp(scores[i] - max));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    // the smallest prefix whose probability reaches top_p (at least one token)
    let cumulative = 0, n = 0;
    while (n < kept.length && (n === 0 || cumulative < o.topP * total)) cumulative += probs[n++];
    kept = kept.slice(0, n);
    probs = probs.slice(0, n);
    total = cumulative;
  }
  let u = rng.uniform() * total;
  for (let j = 0; j < kept.length; j++) {
    u -= probs[j];
    if (u < 0) return kept[j];
  }
  return kept[kept.length - 1];
}

function argmax(xs: Float64Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}
