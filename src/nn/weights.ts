// Model weights <-> model.safetensors, by parameter name. Loading is strict: a missing,
// unexpected or mis-shaped tensor is an error naming it, never a silently partial model.
import { TlcError, fmtShape } from '../util/errors.js';
import { readSafetensors, writeSafetensors } from '../engine/safetensors.js';
import { tidy } from '../engine/tensor.js';
import { firstNonFinite } from '../engine/numerics.js';
import type { Module } from './module.js';

export function saveWeights(model: Module, path: string, metadata: Record<string, string> = {}): void {
  writeSafetensors(path, new Map(model.namedParameters()), { format: 'pt', ...metadata });
}

export interface LoadOptions {
  /** Parameters the file may lack (they keep their current values). */
  allowMissing?: (name: string) => boolean;
  /** Tensors in the file that the model does not have and that are skipped. */
  allowUnexpected?: (name: string) => boolean;
}

export function loadWeights(model: Module, path: string, opts: LoadOptions = {}): void {
  tidy(() => {
    const { tensors } = readSafetensors(path);
    const params = new Map(model.namedParameters());
    const missing = [...params.keys()].filter((k) => !tensors.has(k) && !opts.allowMissing?.(k));
    const unexpected = [...tensors.keys()].filter((k) => !params.has(k) && !opts.allowUnexpected?.(k));
    if (missing.length || unexpected.length) {
      const parts = [];
      if (missing.length) parts.push(`missing ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected ${unexpected.join(', ')}`);
      throw new TlcError(`${path}: weights do not match the model: ${parts.join('; ')}`);
    }
    for (const [name, p] of params) {
      const t = tensors.get(name);
      if (!t) continue;
      if (t.dtype !== p.dtype || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new TlcError(`${path}: tensor ${name} is ${fmtShape(t.shape)} ${t.dtype}, the model expects ${fmtShape(p.shape)} ${p.dtype}`);
      }
    }
    // a file without a checksum (imported, written by hand) is checked for what one would catch late
    for (const [name, t] of tensors) {
      const bad = params.has(name) ? firstNonFinite(t) : null;
      if (bad) throw new TlcError(`${path}: tensor ${name} holds a non-finite value (${bad.value}) at flat index ${bad.index}; model weights must be finite`);
    }
    for (const [name, p] of params) {
      const t = tensors.get(name);
      if (t) p.copyFrom(t);
    }
  });
}

/** Loads a pretrained language model's body into a classifier: its own head stays as initialised. */
export function loadPretrainedBody(model: Module, lmWeightsPath: string): void {
  loadWeights(model, lmWeightsPath, {
    allowMissing: (n) => n.startsWith('cls_head.'),
    allowUnexpected: (n) => n.startsWith('lm_head.'),
  });
}
