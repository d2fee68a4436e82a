// A trained model's directory as other stages read it: config.json, tokenizer.json and
// model.safetensors, checked against each other.
import { existsSync } from 'node:fs';
import { TlcError } from '../util/errors.js';
import { readModelConfig, type ModelConfig } from '../nn/config.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { runFile } from './layout.js';

export interface PretrainedFiles {
  config: ModelConfig;
  configPath: string;
  tokenizerPath: string;
  weightsPath: string;
}

export function readPretrained(dir: string): PretrainedFiles {
  const configPath = runFile(dir, 'config'), tokenizerPath = runFile(dir, 'tokenizer'), weightsPath = runFile(dir, 'weights');
  for (const p of [configPath, tokenizerPath, weightsPath]) {
    if (!existsSync(p)) throw new TlcError(`${dir}: not a tlc run directory (${p} is missing)`);
  }
  const config = readModelConfig(configPath);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new TlcError(`${tokenizerPath} has ${tokenizer.vocabSize} tokens but ${configPath} has vocab_size ${config.vocab_size}: ` +
      'the tokenizer does not belong to this model');
  }
  return { config, configPath, tokenizerPath, weightsPath };
}

/** The model config of a run or model directory. */
export function readRunConfig(dir: string): ModelConfig {
  const path = runFile(dir, 'config');
  if (!existsSync(path)) throw new TlcError(`${dir}: not a tlc run directory (${path} is missing)`);
  return readModelConfig(path);
}
