// A line-oriented input (one input per line), read as text or refused: a binary file (NUL
// bytes) and text that is not UTF-8 are named, never fed on as replacement characters.
import { TlcError } from './errors.js';

/** `bytes` decoded as UTF-8; invalid text is refused, naming `source` and the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // where it goes wrong: the bytes before the first replacement character
    const lenient = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
    const at = Buffer.byteLength(lenient.slice(0, Math.max(0, lenient.indexOf('\uFFFD'))));
    throw new TlcError(`${source}: not valid UTF-8 text (at byte ${at}); save it as UTF-8`);
  }
}

/**
 * The lines of a line-oriented input, one output each: a byte-order mark and a \r before each
 * \n are dropped, a blank line is an (empty) input, the newline ending the last line ends no
 * further one. Text with NUL bytes is refused as binary, and text that is not UTF-8 as such.
 */
export function inputLines(input: Uint8Array | string, source: string): string[] {
  const binary = typeof input === 'string' ? input.includes('\u0000') : input.includes(0);
  if (binary) throw new TlcError(`${source}: holds NUL bytes — a binary file, not text with one input per line`);
  const text = typeof input === 'string' ? input : decodeUtf8(input, source);
  const lines = text.replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}
