// CRC-32 (IEEE 802.3, as zlib and PNG): zlib's native implementation where Node has it
// (20.15+), otherwise a table-driven one. `previous` continues a running checksum.
import * as zlib from 'node:zlib';

const nativeCrc32 = (zlib as unknown as { crc32?: (data: ArrayBufferView, value?: number) => number }).crc32;

let table: Uint32Array | null = null;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

export function crc32(data: ArrayBufferView, previous = 0): number {
  return nativeCrc32 ? nativeCrc32(data, previous) : crc32Portable(data, previous);
}

/** The table-driven implementation, always (for tests against the native one). */
export function crc32Portable(data: ArrayBufferView, previous = 0): number {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const t = crcTable();
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
