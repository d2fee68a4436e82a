// Reading and writing the safetensors format (Hugging Face), used for checkpoints and for
// exchanging weights and reference results with PyTorch.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the raw
// little-endian tensor data. The JSON maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the start of the
// data) and may hold "__metadata__": {string: string}.
//
// Every malformed file gives a TlcError naming the file and what is wrong. Tensors must lie
// inside the data section without sharing bytes; unused gaps and trailing bytes are tolerated.
//
// Checksum: every file tlc writes records in its metadata (key CHECKSUM_KEY, 8 hex digits)
// the CRC-32 of its data section up to the end of the last tensor. Every read of the tensors
// checks it; a file without the key (written by another tool) is accepted as it is. The key
// is not part of the metadata a reader is given back, and writers replace it.
//
// One file for the format's reader and writer (and its checksum), so that the byte layout lives
// in one place; it is longer than most modules for that reason.
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { endianness } from 'node:os';
import { TlcError, fmtShape } from '../util/errors.js';
import { fsyncDirectory, temporaryPathFor } from '../util/atomic.js';
import { crc32 } from '../util/crc32.js';
import { Tensor, bytesPerElement, empty, shapeSize, type DType } from './tensor.js';

/** The dtypes of the safetensors specification and their element sizes in bytes. */
const ELEMENT_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  F64: 8, I64: 8, U64: 8,
};

const TO_SAFETENSORS: Record<DType, string> = { f32: 'F32', i32: 'I32', u8: 'U8', bf16: 'BF16', i8: 'I8' };
const FROM_SAFETENSORS: Record<string, DType> = { F32: 'f32', I32: 'i32', U8: 'u8', BF16: 'bf16', I8: 'i8' };

/** Headers larger than this are rejected before being read (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;
/** Reads and writes move at most this many bytes per system call. */
const IO_CHUNK_BYTES = 1 << 30;
/** The metadata key of the data section's CRC-32. */
export const CHECKSUM_KEY = 'tlc_crc32';
/** Checksums are computed over reads of this many bytes. */
const CHECKSUM_CHUNK_BYTES = 1 << 24;

export type SafetensorsArray = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array
  | Uint16Array | Int8Array | Uint8Array | BigInt64Array | BigUint64Array;

export interface SafetensorsTensorInfo {
  /** The safetensors dtype name, e.g. "F32". */
  dtype: string;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Tensors by name, in name order. */
  tensors: Map<string, SafetensorsTensorInfo>;
  metadata: Record<string, string>;
  /** The CRC-32 the file records for its data (CHECKSUM_KEY), or null when it records none. */
  checksum: number | null;
  /** Bytes of the data section that hold tensors: up to the end of the last one. */
  tensorBytes: number;
  /** Byte position in the file where the data section starts (8 + header length). */
  dataStart: number;
  /** Bytes in the file after the header. */
  dataBytes: number;
}

export interface SafetensorsRawTensor {
  dtype: string;
  shape: number[];
  /** The elements in a typed array matching the dtype (BF16/F16 as raw Uint16, BOOL and F8 as Uint8). */
  data: SafetensorsArray;
}

// ---- reading --------------------------------------------------------------------------

function fail(path: string, problem: string): never {
  throw new TlcError(`safetensors file ${path}: ${problem}`);
}

function checkLittleEndianHost(): void {
  // The format is little-endian and typed arrays use the host order.
  if (endianness() !== 'LE') throw new TlcError('safetensors: big-endian hosts are not supported');
}

/** Opens `path`, runs `fn` and closes it; system errors become TlcErrors naming the file. */
function withFile<T>(path: string, fn: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    fail(path, code === 'ENOENT' ? 'not found' : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory, not a .safetensors file' : `cannot open: ${(e as Error).message}`);
  }
  try {
    if (!fstatSync(fd).isFile()) fail(path, 'is not a regular file');
    return fn(fd);
  } catch (e) {
    if (e instanceof TlcError) throw e;
    fail(path, (e as Error).message);
  } finally {
    closeSync(fd);
  }
}

/** Fills `dst` from `position`, failing if the file ends first. */
function readExactly(fd: number, path: string, dst: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < dst.byteLength) {
    const want = Math.min(IO_CHUNK_BYTES, dst.byteLength - done);
    const got = readSync(fd, dst, done, want, position + done);
    if (got === 0) fail(path, `${what} is truncated: expected ${dst.byteLength} bytes at byte ${position}, the file ended after ${done}`);
    done += got;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseEntry(path: string, name: string, raw: unknown): SafetensorsTensorInfo {
  const where = `tensor '${name}'`;
  if (!isRecord(raw)) fail(path, `${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') fail(path, `${where}: "dtype" is missing or not a string`);
  if (!Object.hasOwn(ELEMENT_BYTES, dtype)) fail(path, `${where}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    fail(path, `${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    fail(path, `${where}: "data_offsets" must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(path, `${where}: data offsets [${begin}, ${end}] end before they begin`);
  const expected = shapeSize(shape) * ELEMENT_BYTES[dtype];
  if (!Number.isSafeInteger(expected)) fail(path, `${where}: shape ${fmtShape(shape)} is too large`);
  if (end - begin !== expected) {
    fail(path, `${where}: data offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} ${fmtShape(shape)} needs ${expected}`);
  }
  return { dtype, shape: [...shape] as number[], dataOffsets: [begin, end] };
}

function readHeaderFromFd(fd: number, path: string): SafetensorsHeader {
  const fileBytes = fstatSync(fd).size;
  if (fileBytes < 8) fail(path, `file is ${fileBytes} bytes, shorter than the 8-byte header length`);
  const lengthBytes = new Uint8Array(8);
  readExactly(fd, path, lengthBytes, 0, 'header length');
  const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
  if (headerLength > BigInt(fileBytes - 8)) {
    // a safetensors file opens with a little-endian length, then its JSON header: text from the first byte is another file
    if (lengthBytes.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f))) fail(path, 'not a safetensors file (it starts with text)');
    fail(path, `header length ${headerLength} is beyond the file size (${fileBytes} bytes, so at most ${fileBytes - 8})`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(path, `header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  const headerBytes = new Uint8Array(n);
  readExactly(fd, path, headerBytes, 8, 'header');

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(path, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(json)) fail(path, 'header is not a JSON object');

  const metadata: Record<string, string> = {};
  let checksum: number | null = null;
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const name of Object.keys(json).sort()) {
    const value = json[name];
    if (name === '__metadata__') {
      if (!isRecord(value)) fail(path, '"__metadata__" is not an object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(path, `metadata value for ${JSON.stringify(k)} is not a string`);
        if (k === CHECKSUM_KEY) {
          if (!/^[0-9a-f]{8}$/.test(v)) fail(path, `metadata "${CHECKSUM_KEY}" must be 8 hexadecimal digits, got ${JSON.stringify(v)}`);
          checksum = parseInt(v, 16);
          continue;
        }
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    } else {
      tensors.set(name, parseEntry(path, name, value));
    }
  }

  const dataStart = 8 + n;
  const dataBytes = fileBytes - dataStart;
  // Tensors must lie inside the data section and must not share bytes.
  const byBegin = [...tensors].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let previous: [string, SafetensorsTensorInfo] | null = null;
  for (const entry of byBegin) {
    const [name, info] = entry;
    const [begin, end] = info.dataOffsets;
    if (end > dataBytes) {
      fail(path, `data is truncated: tensor '${name}' needs bytes [${begin}, ${end}) of the data section but the file holds only ${dataBytes} data bytes`);
    }
    if (previous && begin < previous[1].dataOffsets[1] && end > begin) {
      fail(path, `tensors '${previous[0]}' [${previous[1].dataOffsets.join(', ')}] and '${name}' [${begin}, ${end}] have overlapping data offsets`);
    }
    if (end > begin) previous = entry;
  }
  const tensorBytes = byBegin.reduce((m, [, info]) => Math.max(m, info.dataOffsets[1]), 0);
  return { tensors, metadata, checksum, tensorBytes, dataStart, dataBytes };
}

/** The CRC-32 of the data section's tensor bytes, read from the open file. */
function dataChecksum(fd: number, path: string, header: SafetensorsHeader): number {
  const chunk = new Uint8Array(Math.min(CHECKSUM_CHUNK_BYTES, Math.max(1, header.tensorBytes)));
  let crc = 0;
  for (let done = 0; done < header.tensorBytes;) {
    const n = Math.min(chunk.byteLength, header.tensorBytes - done);
    const view = chunk.subarray(0, n);
    readExactly(fd, path, view, header.dataStart + done, 'tensor data');
    crc = crc32(view, crc);
    done += n;
  }
  return crc;
}

const hex8 = (x: number): string => x.toString(16).padStart(8, '0');

/** Fails, naming the file, when its data does not match the checksum it records. */
function verifyChecksum(fd: number, path: string, header: SafetensorsHeader): void {
  if (header.checksum === null) return;
  const actual = dataChecksum(fd, path, header);
  if (actual !== header.checksum) {
    fail(path, `checksum mismatch: its tensor data has CRC-32 ${hex8(actual)} but the file records ${hex8(header.checksum)} — ` +
      'the file is corrupt (damaged on disk, or changed after tlc wrote it)');
  }
}

/**
 * Checks a file's tensor data against the checksum it records: 'verified', or 'absent' when
 * it records none (a file written by another tool). A mismatch is a TlcError naming the file.
 */
export function verifySafetensorsChecksum(path: string): 'verified' | 'absent' {
  return withFile(path, (fd) => {
    const header = readHeaderFromFd(fd, path);
    verifyChecksum(fd, path, header);
    return header.checksum === null ? 'absent' : 'verified';
  });
}

function allocFor(dtype: string, count: number): SafetensorsArray {
  switch (dtype) {
    case 'F32': return new Float32Array(count);
    case 'F64': return new Float64Array(count);
    case 'I32': return new Int32Array(count);
    case 'U32': return new Uint32Array(count);
    case 'I16': return new Int16Array(count);
    case 'U16': case 'F16': case 'BF16': return new Uint16Array(count);
    case 'I8': return new Int8Array(count);
    case 'I64': return new BigInt64Array(count);
    case 'U64': return new BigUint64Array(count);
    default: return new Uint8Array(count); // U8, BOOL, F8_*
  }
}

function readTensorData(fd: number, path: string, header: SafetensorsHeader, name: string, info: SafetensorsTensorInfo): SafetensorsArray {
  // A fresh, aligned array per tensor: offsets in the file need not be aligned to the element size.
  const data = allocFor(info.dtype, shapeSize(info.shape));
  readExactly(fd, path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    header.dataStart + info.dataOffsets[0], `data of tensor '${name}'`);
  return data;
}

/** Reads and validates only the header. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  return withFile(path, (fd) => readHeaderFromFd(fd, path));
}

/** Reads the header and every tensor into typed arrays, without creating native tensors. Any dtype of the format is accepted. */
export function readSafetensorsRaw(path: string): { header: SafetensorsHeader; tensors: Map<string, SafetensorsRawTensor>; metadata: Record<string, string> } {
  checkLittleEndianHost();
  return withFile(path, (fd) => {
    const header = readHeaderFromFd(fd, path);
    verifyChecksum(fd, path, header);
    const tensors = new Map<string, SafetensorsRawTensor>();
    for (const [name, info] of header.tensors) {
      tensors.set(name, { dtype: info.dtype, shape: [...info.shape], data: readTensorData(fd, path, header, name, info) });
    }
    return { header, tensors, metadata: header.metadata };
  });
}

/**
 * Reads a file into tlc tensors (F32, I32, U8, BF16 and I8; other dtypes are an error naming
 * the tensor). Tensors join the current `tidy` scope like any new tensor; each carries its name.
 */
export function readSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  checkLittleEndianHost();
  return withFile(path, (fd) => {
    const header = readHeaderFromFd(fd, path);
    // Check every dtype and the checksum before allocating anything.
    for (const [name, info] of header.tensors) {
      if (!Object.hasOwn(FROM_SAFETENSORS, info.dtype)) {
        fail(path, `tensor '${name}' has dtype ${info.dtype}, which tlc does not support (supported: ${Object.keys(FROM_SAFETENSORS).join(', ')})`);
      }
    }
    verifyChecksum(fd, path, header);
    const tensors = new Map<string, Tensor>();
    try {
      for (const [name, info] of header.tensors) {
        const data = readTensorData(fd, path, header, name, info);
        const t = empty(info.shape, FROM_SAFETENSORS[info.dtype]);
        tensors.set(name, t);
        t.name = name;
        if (data.length > 0) t.write(data);
      }
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    return { tensors, metadata: header.metadata };
  });
}

// ---- writing --------------------------------------------------------------------------

/** Writes all of `bytes`, at the file position (or at `position` when given). */
function writeAll(fd: number, bytes: Uint8Array, position?: number): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, Math.min(IO_CHUNK_BYTES, bytes.byteLength - done), position === undefined ? null : position + done);
  }
}


/** JSON for an object whose keys keep the given order (JS objects would move integer-like keys first). */
function orderedObjectJson(entries: [string, unknown][]): string {
  return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + JSON.stringify(v)).join(',') + '}';
}

/** One tensor to write: its header fields and a way to get its bytes (called once, while writing). */
interface WriteItem {
  name: string;
  dtype: string;
  shape: readonly number[];
  elementBytes: number;
  byteLength: number;
  bytes: () => Uint8Array;
}

/**
 * Writes tensors to `path` atomically: the data goes to a temporary file in the same
 * directory, which is fsynced and renamed over `path`; on any failure `path` is untouched
 * and the temporary file is removed. Header keys are sorted by name; data is laid out by
 * element size (largest first) and then name, so every tensor is aligned to its element size.
 */
export function writeSafetensors(path: string, tensors: Record<string, Tensor> | Map<string, Tensor>,
  metadata: Record<string, string> = {}): void {
  const entries = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  const where = `writeSafetensors ${path}`;
  const items: WriteItem[] = entries.map(([name, t]) => {
    checkName(where, name);
    if (!(t instanceof Tensor)) throw new TlcError(`${where}: '${name}' is not a tensor`);
    if (t.disposed) throw new TlcError(`${where}: tensor '${name}' ${t.describe()} was disposed`);
    const elementBytes = bytesPerElement(t.dtype);
    return {
      name, dtype: TO_SAFETENSORS[t.dtype], shape: t.shape, elementBytes, byteLength: t.size * elementBytes,
      bytes: () => {
        const data = t.toArray();
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      },
    };
  });
  writeItems(path, where, items, metadata);
}

/**
 * Writes typed arrays of any dtype of the format (e.g. U8 and U16 blobs of packed codes),
 * with the same atomicity and layout as writeSafetensors. Each array's byte length must be
 * exactly its shape's element count times the dtype's element size.
 */
export function writeSafetensorsRaw(path: string, tensors: Map<string, SafetensorsRawTensor>,
  metadata: Record<string, string> = {}): void {
  const where = `writeSafetensorsRaw ${path}`;
  const items: WriteItem[] = [...tensors].map(([name, t]) => {
    checkName(where, name);
    if (!Object.hasOwn(ELEMENT_BYTES, t.dtype)) throw new TlcError(`${where}: tensor '${name}' has unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegativeInteger)) {
      throw new TlcError(`${where}: tensor '${name}' has an invalid shape ${JSON.stringify(t.shape)}`);
    }
    const elementBytes = ELEMENT_BYTES[t.dtype];
    const byteLength = shapeSize(t.shape) * elementBytes;
    if (!ArrayBuffer.isView(t.data) || t.data.byteLength !== byteLength) {
      throw new TlcError(`${where}: tensor '${name}' ${t.dtype} ${fmtShape(t.shape)} needs ${byteLength} bytes, its data holds ${ArrayBuffer.isView(t.data) ? t.data.byteLength : 'none'}`);
    }
    return { name, dtype: t.dtype, shape: t.shape, elementBytes, byteLength, bytes: () => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  });
  writeItems(path, where, items, metadata);
}

function checkName(where: string, name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new TlcError(`${where}: tensor names must be non-empty strings`);
  if (name === '__metadata__') throw new TlcError(`${where}: "__metadata__" cannot be a tensor name`);
}

function writeItems(path: string, where: string, items: WriteItem[], metadata: Record<string, string>): void {
  checkLittleEndianHost();
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TlcError(`${where}: metadata value for ${JSON.stringify(k)} is not a string`);
  }
  const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const names = new Set<string>();
  for (const it of items) {
    if (names.has(it.name)) throw new TlcError(`${where}: tensor name '${it.name}' appears twice`);
    names.add(it.name);
  }

  // Data layout: largest elements first keeps each tensor aligned without padding.
  const layout = [...items].sort((a, b) => b.elementBytes - a.elementBytes || byName(a.name, b.name));
  const offsets = new Map<string, [number, number]>();
  let offset = 0;
  for (const it of layout) {
    offsets.set(it.name, [offset, offset + it.byteLength]);
    offset += it.byteLength;
  }

  // The header records the data's checksum, known only once the data is written: it is
  // written with a placeholder of the same length first, and again at the end.
  const userMeta = Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== CHECKSUM_KEY));
  const headerWith = (checksum: number): Uint8Array => {
    const meta: Record<string, string> = { ...userMeta, [CHECKSUM_KEY]: hex8(checksum) };
    const metaKeys = Object.keys(meta).sort(byName);
    const headerJson = '{' + [
      JSON.stringify('__metadata__') + ':' + orderedObjectJson(metaKeys.map((k) => [k, meta[k]])),
      ...[...items].sort((a, b) => byName(a.name, b.name)).map((it) => JSON.stringify(it.name) + ':' + orderedObjectJson([
        ['dtype', it.dtype], ['shape', it.shape], ['data_offsets', offsets.get(it.name)],
      ])),
    ].join(',') + '}';
    const jsonBytes = new TextEncoder().encode(headerJson);
    const padded = Math.ceil(jsonBytes.byteLength / 8) * 8;
    const header = new Uint8Array(8 + padded).fill(0x20);
    new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
    header.set(jsonBytes, 8);
    return header;
  };

  const dir = dirname(path);
  const tmp = temporaryPathFor(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    writeAll(fd, headerWith(0));
    let checksum = 0;
    for (const it of layout) {
      if (it.byteLength === 0) continue;
      const bytes = it.bytes();
      checksum = crc32(bytes, checksum);
      writeAll(fd, bytes);
    }
    writeAll(fd, headerWith(checksum), 0);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) {
      try { closeSync(fd); } catch { /* already failing */ }
    }
    try { unlinkSync(tmp); } catch { /* never created */ }
    if (e instanceof TlcError) throw new TlcError(`${where}: ${e.message}`);
    throw new TlcError(`${where}: ${(e as Error).message}`);
  }
  fsyncDirectory(dir);
}
