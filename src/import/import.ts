// `tlc import <hf folder> --out <run>`: a Hugging Face model folder (config.json,
// model.safetensors, tokenizer.json) written as a tlc run directory (config.json in tlc's
// format, the tokenizer byte for byte, the weights under tlc's names, import.json saying where
// they came from) that every command taking a run accepts. Commands also take the folder
// itself: it is imported on the fly into a cache keyed by the folder's files (hfModelDir).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { TlcError } from '../util/errors.js';
import { copyFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../engine/safetensors.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { buildModel } from '../infer/load.js';
import { loadWeights } from '../nn/weights.js';
import { RUN_FILES } from '../run/layout.js';
import { modelFromHf, type ImportedArchitecture } from './hf-model.js';
import type { StateDict } from '../nn/state-dict.js';
import { makeDirs } from '../util/make-dirs.js';
import { showPathAs } from '../util/display-names.js';

export const IMPORT_FILE = 'import.json';
const HF_CONFIG = 'config.json', HF_WEIGHTS = 'model.safetensors', HF_TOKENIZER = 'tokenizer.json';

export interface ImportResult {
  out: string;
  architecture: ImportedArchitecture;
  params: number;
}

/** Whether `dir` is a Hugging Face model folder (its config.json has a Hugging Face model_type). */
export function isHfFolder(dir: string): boolean {
  const path = join(dir, HF_CONFIG);
  if (!existsSync(path)) return false;
  try {
    const type = (JSON.parse(readFileSync(path, 'utf8')) as { model_type?: unknown }).model_type;
    return typeof type === 'string' && type !== 'tlc-transformer';
  } catch {
    return false;
  }
}

/** Reads, maps and checks the folder, then writes the run into `out` (which the caller has claimed). */
export function importHfFolder(folder: string, out: string): ImportResult {
  const configPath = join(folder, HF_CONFIG), weightsPath = join(folder, HF_WEIGHTS), tokenizerPath = join(folder, HF_TOKENIZER);
  if (!existsSync(configPath)) throw new TlcError(`${folder}: not a Hugging Face model folder (${configPath} is missing)`);
  let hfConfig: unknown;
  try {
    hfConfig = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new TlcError(`${configPath}: not JSON (${(e as Error).message})`);
  }
  const onnxOnly = (hfConfig as { tlc_onnx_only?: unknown } | null)?.tlc_onnx_only;
  if (Array.isArray(onnxOnly)) {
    throw new TlcError(`${configPath}: written by \`tlc export\` for ONNX only, since the model has no Hugging Face equivalent ` +
      `(${onnxOnly.join('; ')}); use the tlc run it was exported from instead`);
  }
  if (!existsSync(weightsPath)) {
    const bin = existsSync(join(folder, 'pytorch_model.bin'));
    throw new TlcError(`${folder}: ${HF_WEIGHTS} is missing` + (bin
      ? ' (the folder has pytorch_model.bin, a pickle tlc does not read: convert it with transformers, model.save_pretrained(dir, safe_serialization=True))'
      : ''));
  }
  if (!existsSync(tokenizerPath)) throw new TlcError(`${folder}: ${HF_TOKENIZER} is missing (tlc needs the fast tokenizer's file)`);
  const imported = modelFromHf(hfConfig, readFloatWeights(weightsPath), configPath);
  const tokenizer = loadTokenizer(tokenizerPath);
  if (tokenizer.vocabSize > imported.config.vocab_size) {
    throw new TlcError(`${tokenizerPath} has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${imported.config.vocab_size}`);
  }
  makeDirs(out);
  const tensors = new Map<string, SafetensorsRawTensor>();
  for (const [name, t] of imported.weights) tensors.set(name, { dtype: 'F32', shape: t.shape, data: t.data });
  const metadata: Record<string, string> = imported.config.labels ? { labels: JSON.stringify(imported.config.labels) } : {};
  writeSafetensorsRaw(join(out, RUN_FILES.weights), tensors, metadata);
  // the model tlc builds from the config must take exactly these tensors
  const model = buildModel(imported.config);
  try {
    loadWeights(model, join(out, RUN_FILES.weights));
  } finally {
    model.dispose();
  }
  writeJsonAtomic(join(out, RUN_FILES.config), imported.config);
  copyFileAtomic(tokenizerPath, join(out, RUN_FILES.tokenizer));
  writeJsonAtomic(join(out, IMPORT_FILE), { source: resolve(folder), architecture: imported.architecture, imported_at: new Date().toISOString() });
  const params = [...imported.weights.values()].reduce((n, t) => n + t.data.length, 0);
  return { out, architecture: imported.architecture, params };
}

/** Every tensor as float32 (F16 and BF16 widened exactly); other dtypes are refused. */
function readFloatWeights(path: string): StateDict {
  const { tensors } = readSafetensorsRaw(path);
  const out: StateDict = new Map();
  for (const [name, t] of tensors) {
    if (t.dtype === 'F32') out.set(name, { shape: t.shape, data: t.data as Float32Array });
    else if (t.dtype === 'BF16') out.set(name, { shape: t.shape, data: widenBf16(t.data as Uint16Array) });
    else if (t.dtype === 'F16') out.set(name, { shape: t.shape, data: widenF16(t.data as Uint16Array) });
    // integer buffers (position ids, GPT-2's attention masks) are not parameters
    else if (!name.endsWith('position_ids') && !name.endsWith('.attn.bias') && !name.endsWith('.attn.masked_bias')) {
      throw new TlcError(`${path}: tensor ${name} is ${t.dtype}; tlc imports F32, F16 and BF16 weights`);
    }
  }
  return out;
}

function widenBf16(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

function widenF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i], sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    out[i] = exp === 0 ? sign * 2 ** -14 * (frac / 1024) : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}

/**
 * The tlc run directory for `dir`: `dir` itself, or for a Hugging Face folder its import in
 * the cache (made on first use; keyed by the folder's path and its files' sizes and times, so
 * a changed folder is imported again).
 */
export function hfModelDir(dir: string): string {
  if (!isHfFolder(dir)) return dir;
  const key = createHash('sha256').update(resolve(dir));
  for (const f of [HF_CONFIG, HF_WEIGHTS, HF_TOKENIZER]) {
    const p = join(dir, f);
    if (existsSync(p)) {
      const s = statSync(p);
      key.update(`${f}:${s.size}:${s.mtimeMs}`);
    }
  }
  const root = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tlc', 'hf-imports');
  const cached = join(root, key.digest('hex').slice(0, 24));
  showPathAs(cached, dir);
  if (existsSync(join(cached, IMPORT_FILE))) return cached;
  // imported beside the cache entry, then renamed into place: a crash leaves no half entry, and
  // of processes importing at once (ranks of a job) the first rename wins, the others use it
  const partial = `${cached}.${hostname()}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  try {
    importHfFolder(dir, partial);
    try {
      renameSync(partial, cached);
    } catch (e) {
      if (!existsSync(join(cached, IMPORT_FILE))) throw e;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return cached;
}
