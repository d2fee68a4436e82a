// A trained translation run, opened for decoding: its config (checked to be an
// encoder–decoder), its tokenizer and its weights.
import { TlcError } from '../util/errors.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { Seq2SeqTransformer } from '../nn/seq2seq.js';
import { loadWeights } from '../nn/weights.js';
import { readPretrained } from '../run/pretrained.js';

export interface TranslationModel {
  model: Seq2SeqTransformer;
  tokenizer: Tokenizer;
}

/** Opens `dir` (config.json, tokenizer.json, model.safetensors) as a translation model; dispose the model when done. */
export function loadTranslationModel(dir: string): TranslationModel {
  const { config, tokenizerPath, weightsPath } = readPretrained(dir);
  if (config.objective !== 'seq2seq') {
    const kind = config.labels ? 'classifier' : config.objective === 'clm' ? 'causal language model' : 'masked language model';
    throw new TlcError(`${dir} holds a ${kind}, not a translation model (train one with \`tlc pretrain --objective seq2seq\`)`);
  }
  const model = new Seq2SeqTransformer(config);
  try {
    loadWeights(model, weightsPath);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, tokenizer: loadTokenizer(tokenizerPath) };
}
