// A Hugging Face model folder: config.json, tokenizer.json (the run's, byte for byte),
// tokenizer_config.json and model.safetensors. Each file is written atomically.
import { join } from 'node:path';
import { writeSafetensorsRaw, type SafetensorsRawTensor } from '../engine/safetensors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, tokenizerConfigJson } from '../data/tokenizer-json.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import type { StateDict } from '../nn/state-dict.js';
import { makeDirs } from '../util/make-dirs.js';

export const HF_CONFIG_FILE = 'config.json';
export const HF_WEIGHTS_FILE = 'model.safetensors';

export interface HfFolder {
  config: Record<string, unknown>;
  tokenizerPath: string;
  /** The longest input the tokenizer should let through (the model's positions). */
  modelMaxLength: number;
  /** Weights under Hugging Face names, or null when the model has no Hugging Face equivalent. */
  weights: StateDict | null;
}

/** Writes the folder's files into `dir`; returns the names written. */
export function writeHfFolder(dir: string, folder: HfFolder): string[] {
  makeDirs(dir);
  writeJsonAtomic(join(dir, HF_CONFIG_FILE), folder.config);
  copyFileAtomic(folder.tokenizerPath, join(dir, TOKENIZER_FILE));
  writeJsonAtomic(join(dir, TOKENIZER_CONFIG_FILE), tokenizerConfigJson(folder.modelMaxLength));
  const written = [HF_CONFIG_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE];
  if (folder.weights) {
    const tensors = new Map<string, SafetensorsRawTensor>();
    for (const [name, t] of folder.weights) tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
    writeSafetensorsRaw(join(dir, HF_WEIGHTS_FILE), tensors, { format: 'pt' });
    written.push(HF_WEIGHTS_FILE);
  }
  return written;
}
