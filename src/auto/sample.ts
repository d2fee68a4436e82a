// A causal LM's first words, for auto.json and the report: what the model writes after an
// empty prompt, greedily (deterministic), so a reader sees what the loss means.
import { loadTokenizer } from '../data/tokenizer-json.js';
import { loadModelDir } from '../infer/load.js';
import { runFile } from '../run/layout.js';
import type { TransformerLM } from '../nn/transformer.js';
import { generateTokens } from '../generate/generate.js';
import { DEFAULT_SAMPLING } from '../generate/sampling.js';

export const SAMPLE_TOKENS = 40;

export function sampleText(modelDir: string): string {
  const tokenizer = loadTokenizer(runFile(modelDir, 'tokenizer'));
  const { model } = loadModelDir(modelDir);
  const ids = [...generateTokens(model as TransformerLM, [], { ...DEFAULT_SAMPLING, maxNewTokens: SAMPLE_TOKENS, greedy: true, seed: 0, repetitionPenalty: 1.3 })];
  return tokenizer.decode(ids);
}
