// The compressed model file: a safetensors file whose tensors are the parts of compressed
// tensors (packed codes, scales, bitmasks, gap streams, values) and whose `__metadata__`
// says how to put them back together. The byte layout is specified in
// docs/compressed-format.md; this module writes and reads exactly that.
//
// The size of a compressed model is the length of this file, nothing else: the writer
// picks, per tensor, the encoding whose bytes (data plus header entries) are fewest.
//
// One file for the writer and reader of every encoding, so that each encoding's bytes are defined
// in one place next to their inverse; it is longer than most modules for that reason.
import { statSync } from 'node:fs';
import { TlcError, fmtShape } from '../util/errors.js';
import { Tensor, shapeSize, tensor } from '../engine/tensor.js';
import { quantRows } from '../engine/ops/quantize.js';
import {
  readSafetensorsHeader, readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsArray, type SafetensorsRawTensor,
} from '../engine/safetensors.js';
import { crc32 } from '../util/crc32.js';
import { FLOAT_BITS, checkBits, maxCode, roundHalfEven } from './quantize.js';
import { packBits, packCodes, packedBytes, unpackBits, unpackCodes } from './packing.js';
import { decodeGaps, encodeGaps, gapWords, type GapWidth } from './gaps.js';

export const FORMAT_NAME = 'tlc-compressed';
export const FORMAT_VERSION = '1';

export type Encoding = 'dense' | 'bitmask' | 'delta8' | 'delta16';
export const ENCODINGS: readonly Encoding[] = ['dense', 'bitmask', 'delta8', 'delta16'];

/** How one tensor was compressed: its bit width and, when quantized, its per-row scales. */
export interface TensorPlan {
  /** 2…8: integer codes times a per-row scale; 32: float32 values (pruned, not quantized). */
  bits: number;
  /** One scale per row (dim 0), required when bits < 32. */
  scales: Float32Array | null;
  /** Use this encoding instead of the smallest one (for tests and experiments). */
  encoding?: Encoding;
}

export interface CompressionPlan {
  /** Compressed tensors. Every other tensor is stored as plain float32. */
  tensors: Map<string, TensorPlan>;
  /** Settings recorded in the file's metadata ("compression"), e.g. the target sparsity. */
  settings?: Record<string, unknown>;
}

/** The metadata of one tensor (an entry of the "tensors" JSON). */
export interface TensorEntry {
  shape: number[];
  bits: number;
  encoding: Encoding;
  /** Stored (nonzero) elements. */
  nnz: number;
  /** 1 − nnz/size. */
  sparsity: number;
  /** CRC-32 of the tensor's parts, concatenated in part order. */
  crc32: number;
}

export interface InspectRow {
  name: string;
  shape: number[];
  /** 'dense' | 'bitmask' | 'delta8' | 'delta16', or the safetensors dtype of a plain file. */
  encoding: string;
  bits: number;
  sparsity: number;
  /** Data bytes of the tensor's parts (its header entries are counted in headerBytes). */
  bytes: number;
}

export interface InspectResult {
  path: string;
  format: 'tlc-compressed' | 'safetensors';
  rows: InspectRow[];
  /** 8-byte length plus the JSON header. */
  headerBytes: number;
  /** File size: headerBytes + Σ rows.bytes + any unused bytes. */
  totalBytes: number;
  settings: Record<string, unknown> | null;
  /** The file's data checksum: 'verified', or 'absent' when the file records none (written by another tool). */
  checksum?: 'verified' | 'absent';
}

// ---- parts -----------------------------------------------------------------------------

type Role = 'mask' | 'gaps' | 'values' | 'codes' | 'scales';

interface PartSpec {
  role: Role | null;
  /** Name of the safetensors entry. */
  name: string;
  dtype: 'F32' | 'U8' | 'U16';
}

/** The parts of a tensor, in CRC order: index (mask/gaps), payload (values/codes), scales. */
function partSpecs(name: string, encoding: Encoding, bits: number): PartSpec[] {
  const part = (role: Role, dtype: PartSpec['dtype']): PartSpec => ({ role, name: `${name}:${role}`, dtype });
  const quantized = bits !== FLOAT_BITS;
  const payload = quantized ? [part('codes', 'U8'), part('scales', 'F32')] : [part('values', 'F32')];
  switch (encoding) {
    case 'dense': return quantized ? payload : [{ role: null, name, dtype: 'F32' }];
    case 'bitmask': return [part('mask', 'U8'), ...payload];
    case 'delta8': return [part('gaps', 'U8'), ...payload];
    case 'delta16': return [part('gaps', 'U16'), ...payload];
  }
}

/** Bytes of one safetensors header entry (offsets assumed to have 7 digits each). */
function headerEntryBytes(name: string, dtype: string, shape: readonly number[]): number {
  return JSON.stringify(name).length + `:{"dtype":"${dtype}","shape":${JSON.stringify(shape)},"data_offsets":[0000000,0000000]},`.length;
}

// ---- encoding --------------------------------------------------------------------------

interface EncodedTensor {
  entry: TensorEntry;
  parts: { spec: PartSpec; shape: number[]; data: SafetensorsArray }[];
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Integer codes of values that lie on the per-row grid q·scale; anything else is an error. */
function codesOnGrid(what: string, values: Float32Array, rows: number, cols: number, plan: TensorPlan): Int8Array {
  const bits = plan.bits, qmax = maxCode(bits), scales = plan.scales;
  if (!(scales instanceof Float32Array) || scales.length !== rows) {
    throw new TlcError(`${what}: the plan needs ${rows} float32 scales (one per row) for ${bits}-bit codes, got ${scales ? scales.length : 'none'}`);
  }
  const raw = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const codes = new Int8Array(values.length);
  const check = new Float32Array(1);
  for (let r = 0; r < rows; r++) {
    const s = scales[r];
    if (!(s >= 0 && s < Infinity)) throw new TlcError(`${what}: scale of row ${r} is ${s}, expected a finite number >= 0`);
    for (let i = r * cols, end = i + cols; i < end; i++) {
      if (raw[i] === 0) continue; // +0: code 0
      const v = values[i];
      const q = s > 0 ? roundHalfEven(Math.fround(v / s)) : 0;
      check[0] = q * s;
      if (q === 0 || q > qmax || q < -qmax || check[0] !== v) {
        throw new TlcError(`${what}: element ${i} (row ${r}) is ${Object.is(v, -0) ? '-0' : v}, which is not a nonzero multiple of the row's scale ${s} `
          + `with a ${bits}-bit code (nor +0); pass the values and plan returned by compressModel`);
      }
      codes[i] = q;
    }
  }
  return codes;
}

function encodeTensor(name: string, t: Tensor, plan: TensorPlan | null): EncodedTensor {
  const what = `writeCompressed: tensor '${name}' ${fmtShape(t.shape)}`;
  if (t.dtype !== 'f32') throw new TlcError(`${what} has dtype ${t.dtype}; only f32 tensors can be stored`);
  const shape = [...t.shape];
  const values = t.toFloat32Array();
  const n = values.length;
  const bits = plan ? checkBits(what, plan.bits, true) : FLOAT_BITS;
  const quantized = bits !== FLOAT_BITS;
  const { rows, cols } = quantRows(shape);
  const codes = quantized ? codesOnGrid(what, values, rows, cols, plan!) : null;

  // Stored elements: nonzero codes, or float values whose bit pattern is not +0 (a −0 is stored, so it survives).
  const raw = new Uint32Array(values.buffer, values.byteOffset, n);
  let nnz = 0;
  for (let i = 0; i < n; i++) if (codes ? codes[i] !== 0 : raw[i] !== 0) nnz++;
  const positions = new Uint32Array(nnz);
  for (let i = 0, j = 0; i < n; i++) if (codes ? codes[i] !== 0 : raw[i] !== 0) positions[j++] = i;

  const entryShape = (spec: PartSpec, encoding: Encoding): number[] => {
    switch (spec.role) {
      case null: return shape;
      case 'mask': return [packedBytes(n, 1)];
      case 'gaps': return [gapWords(positions, encoding === 'delta8' ? 8 : 16)];
      case 'values': return [nnz];
      case 'codes': return [packedBytes(encoding === 'dense' ? n : nnz, bits)];
      case 'scales': return [rows];
    }
  };
  const elementBytes = { F32: 4, U16: 2, U8: 1 } as const;
  if (plan?.encoding !== undefined && !ENCODINGS.includes(plan.encoding)) {
    throw new TlcError(`${what}: unknown encoding ${JSON.stringify(plan.encoding)} (known: ${ENCODINGS.join(', ')})`);
  }
  const candidates: Encoding[] = plan ? (plan.encoding ? [plan.encoding] : [...ENCODINGS]) : ['dense'];
  let best: Encoding = 'dense', bestBytes = Infinity;
  for (const encoding of candidates) {
    let bytes = 0;
    for (const spec of partSpecs(name, encoding, bits)) {
      const s = entryShape(spec, encoding);
      bytes += shapeSize(s) * elementBytes[spec.dtype] + headerEntryBytes(spec.name, spec.dtype, s);
    }
    if (bytes < bestBytes) {
      best = encoding;
      bestBytes = bytes;
    }
  }

  const payloadCodes = (): Int8Array => {
    const out = new Int8Array(nnz);
    for (let j = 0; j < nnz; j++) out[j] = codes![positions[j]];
    return out;
  };
  const parts = partSpecs(name, best, bits).map((spec) => {
    let data: SafetensorsArray;
    switch (spec.role) {
      case null: data = values; break;
      case 'mask': {
        const keep = new Uint8Array(n);
        for (let j = 0; j < nnz; j++) keep[positions[j]] = 1;
        data = packBits(keep);
        break;
      }
      case 'gaps': data = encodeGaps(positions, best === 'delta8' ? 8 : 16); break;
      case 'values': {
        const v = new Float32Array(nnz);
        for (let j = 0; j < nnz; j++) v[j] = values[positions[j]];
        data = v;
        break;
      }
      case 'codes': data = packCodes(best === 'dense' ? codes! : payloadCodes(), bits); break;
      case 'scales': data = Float32Array.from(plan!.scales!); break;
    }
    return { spec, shape: entryShape(spec, best), data };
  });
  let crc = 0;
  for (const p of parts) crc = crc32(bytesOf(p.data), crc);
  const entry: TensorEntry = { shape, bits, encoding: best, nnz, sparsity: n ? 1 - nnz / n : 0, crc32: crc };
  return { entry, parts };
}

/**
 * Writes `params` to `path` (atomically) in the tlc-compressed format. Tensors in
 * `plan.tensors` are compressed with their plan, each in its smallest encoding; their
 * values must be exactly those compressModel produced (pruned zeros and, when quantized,
 * code·scale per row), which is checked. Every other tensor is stored as float32.
 * Returns the file's size and one row per tensor.
 */
export function writeCompressed(path: string, params: Map<string, Tensor>, plan: CompressionPlan): InspectResult {
  if (!(params instanceof Map)) throw new TlcError('writeCompressed: params must be a Map of name to tensor');
  if (!plan || !(plan.tensors instanceof Map)) throw new TlcError('writeCompressed: plan must have a "tensors" Map (see compressModel)');
  for (const name of plan.tensors.keys()) {
    if (!params.has(name)) throw new TlcError(`writeCompressed: the plan names '${name}', which is not among the tensors`);
  }
  const entries: Record<string, TensorEntry> = {};
  const parts = new Map<string, SafetensorsRawTensor>();
  for (const name of [...params.keys()].sort()) {
    if (name.includes(':')) throw new TlcError(`writeCompressed: tensor name '${name}' contains ':', which the format reserves for parts`);
    const encoded = encodeTensor(name, params.get(name)!, plan.tensors.get(name) ?? null);
    entries[name] = encoded.entry;
    for (const p of encoded.parts) parts.set(p.spec.name, { dtype: p.spec.dtype, shape: p.shape, data: p.data });
  }
  const metadata: Record<string, string> = {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tensors: JSON.stringify(entries),
  };
  if (plan.settings) metadata.compression = JSON.stringify(plan.settings);
  writeSafetensorsRaw(path, parts, metadata);
  return inspectCompressed(path);
}

// ---- reading ---------------------------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

interface ParsedFile {
  entries: Map<string, TensorEntry>;
  settings: Record<string, unknown> | null;
}

/** Validates the metadata of a tlc-compressed file. */
function parseMetadata(path: string, metadata: Record<string, string>): ParsedFile {
  const fail = (problem: string): never => {
    throw new TlcError(`compressed file ${path}: ${problem}`);
  };
  if (metadata.format !== FORMAT_NAME) {
    fail(`not a tlc-compressed file (its __metadata__ "format" is ${JSON.stringify(metadata.format ?? null)}, expected "${FORMAT_NAME}")`);
  }
  if (metadata.version !== FORMAT_VERSION) fail(`format version ${JSON.stringify(metadata.version ?? null)} is not supported (this tlc reads version ${FORMAT_VERSION})`);
  let raw: unknown;
  try {
    raw = JSON.parse(metadata.tensors ?? '');
  } catch (e) {
    fail(`the "tensors" metadata is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(raw)) fail('the "tensors" metadata is not a JSON object');
  const entries = new Map<string, TensorEntry>();
  for (const [name, e] of Object.entries(raw as Record<string, unknown>)) {
    const where = `tensor '${name}'`;
    if (!isRecord(e)) fail(`${where}: metadata entry is not an object`);
    const { shape, bits, encoding, nnz, sparsity, crc32: crc } = e as Record<string, unknown>;
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    const size = shapeSize(shape as number[]);
    if (!Number.isSafeInteger(size)) fail(`${where}: shape ${fmtShape(shape as number[])} is too large`);
    if (typeof encoding !== 'string' || !(ENCODINGS as readonly string[]).includes(encoding)) {
      fail(`${where}: unknown encoding ${JSON.stringify(encoding)} (known: ${ENCODINGS.join(', ')})`);
    }
    if (!(typeof bits === 'number' && Number.isInteger(bits) && ((bits >= 2 && bits <= 8) || bits === FLOAT_BITS))) {
      fail(`${where}: "bits" must be 2 to 8 or 32, got ${JSON.stringify(bits)}`);
    }
    if (!isCount(nnz) || nnz > size) fail(`${where}: "nnz" must be an integer from 0 to ${size}, got ${JSON.stringify(nnz)}`);
    if (typeof sparsity !== 'number' || Math.abs(sparsity - (size ? 1 - (nnz as number) / size : 0)) > 1e-9) {
      fail(`${where}: "sparsity" ${JSON.stringify(sparsity)} does not match nnz ${nnz} of ${size} elements`);
    }
    if (!isCount(crc) || crc > 0xffffffff) fail(`${where}: "crc32" must be an unsigned 32-bit integer, got ${JSON.stringify(crc)}`);
    entries.set(name, { shape: shape as number[], bits: bits as number, encoding: encoding as Encoding, nnz: nnz as number, sparsity: sparsity as number, crc32: crc as number });
  }
  let settings: Record<string, unknown> | null = null;
  if (metadata.compression !== undefined) {
    try {
      const s: unknown = JSON.parse(metadata.compression);
      if (isRecord(s)) settings = s;
    } catch {
      fail('the "compression" metadata is not valid JSON');
    }
  }
  return { entries, settings };
}

/** Reassembles one tensor's dense float32 values from its parts. */
function decodeTensor(path: string, name: string, entry: TensorEntry, parts: Map<string, SafetensorsRawTensor>,
  used: Set<string>): Float32Array {
  const fail = (problem: string): never => {
    throw new TlcError(`compressed file ${path}: tensor '${name}' (${entry.encoding}, ${entry.bits} bits): ${problem}`);
  };
  const n = shapeSize(entry.shape), { nnz, bits, encoding } = entry;
  const { rows, cols } = quantRows(entry.shape);
  const got = new Map<Role | null, SafetensorsArray>();
  let crc = 0;
  for (const spec of partSpecs(name, encoding, bits)) {
    const part = parts.get(spec.name);
    if (!part) fail(`part '${spec.name}' is missing`);
    if (part!.dtype !== spec.dtype) fail(`part '${spec.name}' has dtype ${part!.dtype}, expected ${spec.dtype}`);
    const expectedShape = spec.role === null ? entry.shape : null;
    if (expectedShape && fmtShape(part!.shape) !== fmtShape(expectedShape)) fail(`part '${spec.name}' has shape ${fmtShape(part!.shape)}, expected ${fmtShape(expectedShape)}`);
    if (!expectedShape && part!.shape.length !== 1) fail(`part '${spec.name}' has shape ${fmtShape(part!.shape)}, expected a vector`);
    used.add(spec.name);
    got.set(spec.role, part!.data);
    crc = crc32(bytesOf(part!.data), crc);
  }
  if (crc !== entry.crc32) fail(`its data is corrupted (CRC-32 ${crc} does not match ${entry.crc32} in the metadata)`);

  if (encoding === 'dense' && bits === FLOAT_BITS) return got.get(null) as Float32Array;

  const quantized = bits !== FLOAT_BITS;
  let scales: Float32Array | null = null;
  if (quantized) {
    scales = got.get('scales') as Float32Array;
    if (scales.length !== rows) fail(`${scales.length} scales for ${rows} rows`);
    for (let r = 0; r < rows; r++) if (!(scales[r] >= 0 && scales[r] < Infinity)) fail(`scale of row ${r} is ${scales[r]}`);
  }
  const stored = encoding === 'dense' ? n : nnz;
  let codes: Int8Array | null = null;
  if (quantized) {
    const blob = got.get('codes') as Uint8Array;
    codes = unpackCodes(blob, stored, bits);
    if (!codes) fail(`${blob.length} bytes of codes do not hold exactly ${stored} ${bits}-bit codes (or padding bits are set)`);
    const qmax = maxCode(bits);
    for (let j = 0; j < stored; j++) {
      if (codes![j] > qmax || codes![j] < -qmax) fail(`code ${codes![j]} at ${j} is outside [−${qmax}, ${qmax}]`);
    }
  }
  const values = quantized ? null : (got.get('values') as Float32Array);
  if (values && values.length !== nnz) fail(`${values.length} values for nnz ${nnz}`);

  const out = new Float32Array(n);
  if (encoding === 'dense') {
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const s = scales![r];
      for (let i = r * cols, end = i + cols; i < end; i++) {
        const q = codes![i];
        if (q !== 0) {
          if (!(s > 0)) fail(`row ${r} has scale 0 but a nonzero code at ${i}`);
          out[i] = q * s;
          count++;
        }
      }
    }
    if (count !== nnz) fail(`${count} nonzero codes, the metadata says nnz ${nnz}`);
    return out;
  }

  let positions: Uint32Array;
  if (encoding === 'bitmask') {
    const mask = unpackBits(got.get('mask') as Uint8Array, n);
    if (!mask) fail(`the bitmask does not have exactly ${packedBytes(n, 1)} bytes with zero padding bits`);
    positions = new Uint32Array(nnz);
    let j = 0;
    for (let i = 0; i < n; i++) {
      if (mask![i]) {
        if (j === nnz) fail(`the bitmask marks more than nnz ${nnz} elements`);
        positions[j++] = i;
      }
    }
    if (j !== nnz) fail(`the bitmask marks ${j} elements, the metadata says nnz ${nnz}`);
  } else {
    const width: GapWidth = encoding === 'delta8' ? 8 : 16;
    const decoded = decodeGaps(got.get('gaps') as Uint8Array | Uint16Array, width, nnz, n);
    if (typeof decoded === 'string') fail(`bad gap stream: ${decoded}`);
    positions = decoded as Uint32Array;
  }
  for (let j = 0; j < nnz; j++) {
    const p = positions[j];
    if (codes) {
      if (codes[j] === 0) fail(`stored element ${j} has code 0`);
      const s = scales![Math.floor(p / cols)];
      if (!(s > 0)) fail(`stored element at ${p} lies in a row with scale 0`);
      out[p] = codes[j] * s;
    } else {
      out[p] = values![j];
    }
  }
  return out;
}

/** Decodes every tensor of a compressed file into dense float32 arrays. */
export function readCompressedArrays(path: string): { arrays: Map<string, { shape: number[]; values: Float32Array }>; entries: Map<string, TensorEntry>; settings: Record<string, unknown> | null } {
  const { tensors: parts, metadata } = readSafetensorsRaw(path);
  const { entries, settings } = parseMetadata(path, metadata);
  const used = new Set<string>();
  const arrays = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, entry] of entries) {
    arrays.set(name, { shape: entry.shape, values: decodeTensor(path, name, entry, parts, used) });
  }
  for (const partName of parts.keys()) {
    if (!used.has(partName)) throw new TlcError(`compressed file ${path}: tensor entry '${partName}' is not a part of any tensor in the metadata`);
  }
  return { arrays, entries, settings };
}

/**
 * Reads a compressed file back as dense float32 tensors: exactly the values the
 * compressed model had in memory when it was written. Tensors join the current tidy scope.
 */
export function readCompressed(path: string): Map<string, Tensor> {
  const { arrays } = readCompressedArrays(path);
  const out = new Map<string, Tensor>();
  for (const [name, { shape, values }] of arrays) {
    const t = tensor(values, shape);
    t.name = name;
    out.set(name, t);
  }
  return out;
}

/** True when the safetensors file at `path` declares the tlc-compressed format. */
export function isCompressedFile(path: string): boolean {
  return readSafetensorsHeader(path).metadata.format === FORMAT_NAME;
}

/**
 * Per-tensor layout of a compressed file from its header alone (no data is decoded):
 * shape, encoding, bits, sparsity and the bytes of its parts. The total is the file size.
 */
export function inspectCompressed(path: string): InspectResult {
  const header = readSafetensorsHeader(path);
  const { entries, settings } = parseMetadata(path, header.metadata);
  const rows: InspectRow[] = [];
  let dataBytes = 0;
  for (const [name, e] of entries) {
    let bytes = 0;
    for (const spec of partSpecs(name, e.encoding, e.bits)) {
      const info = header.tensors.get(spec.name);
      if (!info) throw new TlcError(`compressed file ${path}: tensor '${name}': part '${spec.name}' is missing`);
      bytes += info.dataOffsets[1] - info.dataOffsets[0];
    }
    rows.push({ name, shape: e.shape, encoding: e.encoding, bits: e.bits, sparsity: e.sparsity, bytes });
    dataBytes += bytes;
  }
  const totalBytes = statSync(path).size;
  if (header.dataStart + dataBytes > totalBytes) throw new TlcError(`compressed file ${path}: parts overlap or exceed the file`);
  return { path, format: FORMAT_NAME, rows, headerBytes: header.dataStart, totalBytes, settings };
}

/**
 * Loads a compressed file into a model's parameters (every one must be in the file, with its
 * size); returns each tensor's bits (32: float32).
 */
export function loadCompressedInto(model: { namedParameters(): [string, Tensor][] }, path: string):
  { bits: Map<string, number>; settings: Record<string, unknown> | null } {
  const { arrays, entries, settings } = readCompressedArrays(path);
  const bits = new Map<string, number>();
  for (const [n, p] of model.namedParameters()) {
    const a = arrays.get(n);
    if (!a) throw new TlcError(`${path}: tensor ${n} is missing`);
    if (a.values.length !== p.size) throw new TlcError(`${path}: tensor ${n} has ${a.values.length} values, the model expects ${p.size}`);
    const bad = a.values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new TlcError(`${path}: tensor ${n} decodes to a non-finite value (${a.values[bad]}) at flat index ${bad}; model weights must be finite`);
    p.write(a.values);
    bits.set(n, entries.get(n)!.bits);
  }
  return { bits, settings };
}
