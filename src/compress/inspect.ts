// What is in a model file: per tensor its shape, encoding, bits, sparsity and bytes, for a
// tlc-compressed file or a plain safetensors file (model.safetensors of a run directory).
import { runFile } from '../run/layout.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { readSafetensorsHeader, readSafetensorsRaw, verifySafetensorsChecksum, type SafetensorsArray } from '../engine/safetensors.js';
import { FORMAT_NAME, inspectCompressed, readCompressedArrays, type InspectResult, type InspectRow } from './format.js';

const ELEMENT_BITS: Record<string, number> = {
  BOOL: 8, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, I16: 16, U16: 16, F16: 16, BF16: 16,
  I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, U64: 64,
};

/** A file, or a directory holding model.safetensors (a run directory) or exactly one .safetensors file. */
export function resolveModelFile(path: string): string {
  if (!existsSync(path)) throw new TlcError(`${path}: no such file or directory`);
  const stat = statSync(path);
  // a model is read by offsets: a FIFO or a device would block or stream, not seek
  if (!stat.isDirectory() && !stat.isFile()) throw new TlcError(`${path}: not a regular file (a model is a .safetensors file or a run directory)`);
  if (!stat.isDirectory()) return path;
  const standard = runFile(path, 'weights');
  if (existsSync(standard)) return standard;
  const files = readdirSync(path).filter((f) => f.endsWith('.safetensors'));
  if (files.length === 1) return join(path, files[0]);
  throw new TlcError(files.length === 0
    ? `${path}: the directory holds no model.safetensors (nor any .safetensors file)`
    : `${path}: the directory holds no model.safetensors but ${files.length} .safetensors files (${files.join(', ')}); name one`);
}

function isZero(dtype: string, data: SafetensorsArray, i: number): boolean {
  // Floats: ±0. BF16/F16 are raw 16-bit patterns; ignoring the sign bit leaves zero only for ±0.
  if (dtype === 'BF16' || dtype === 'F16') return ((data[i] as number) & 0x7fff) === 0;
  if (dtype === 'F8_E5M2' || dtype === 'F8_E4M3') return ((data[i] as number) & 0x7f) === 0;
  return data[i] === 0 || data[i] === 0n;
}

/**
 * Inspects a model file, verifying what loading it verifies: the data checksum first, then a
 * compressed file's every tensor decoded (its own checksum, its scales), a plain file's float
 * weights finite. A failure is an error, as it is for `evaluate`.
 */
export function inspectModel(path: string): InspectResult {
  const file = resolveModelFile(path);
  const checksum = verifySafetensorsChecksum(file);
  return { ...inspectFile(file), checksum };
}

function inspectFile(file: string): InspectResult {
  const header = readSafetensorsHeader(file);
  if (header.metadata.format === FORMAT_NAME) {
    readCompressedArrays(file);
    return inspectCompressed(file);
  }
  const { tensors } = readSafetensorsRaw(file);
  const rows: InspectRow[] = [];
  for (const [name, t] of tensors) {
    let zeros = 0;
    for (let i = 0; i < t.data.length; i++) if (isZero(t.dtype, t.data, i)) zeros++;
    if (t.dtype === 'F32' || t.dtype === 'F64') {
      const bad = (t.data as Float32Array | Float64Array).findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new TlcError(`${file}: tensor ${name} holds a non-finite value (${t.data[bad]}) at flat index ${bad}; model weights must be finite`);
    }
    const info = header.tensors.get(name)!;
    rows.push({
      name, shape: t.shape, encoding: t.dtype, bits: ELEMENT_BITS[t.dtype] ?? 0,
      sparsity: t.data.length ? zeros / t.data.length : 0, bytes: info.dataOffsets[1] - info.dataOffsets[0],
    });
  }
  return { path: file, format: 'safetensors', rows, headerBytes: header.dataStart, totalBytes: statSync(file).size, settings: null };
}
