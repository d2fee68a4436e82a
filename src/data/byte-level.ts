// The byte-level pieces shared by GPT-2, RoBERTa and Hugging Face's ByteLevel
// pre-tokenizer: the regex that splits text into words, and the reversible map from
// the 256 byte values to printable characters in which vocab and merges are written.

/** GPT-2's pre-tokenization pattern, exactly as Hugging Face's ByteLevel pre-tokenizer uses it. */
export const GPT2_SPLIT_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * bytes_to_unicode: printable Latin-1 bytes map to themselves; the others (control
 * characters, space, a few more) map to U+0100 onwards, so every token is visible text.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCharCode(printable(b) ? b : next++);
  return chars;
})();

/** The inverse of BYTE_TO_CHAR, indexed by char code; -1 for characters that are no byte. */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => { table[c.charCodeAt(0)] = b; });
  return table;
})();

/** Maps a byte-level token string (e.g. "Ġthe") back to its bytes; null if it holds a non-byte character. */
export function tokenStringToBytes(token: string): Uint8Array | null {
  const bytes = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i);
    const b = code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code] : -1;
    if (b < 0) return null;
    bytes[i] = b;
  }
  return bytes;
}

/** Calls `visit` with each pre-tokenized word of `text`, in order. */
export function forEachWord(text: string, visit: (word: string) => void): void {
  const re = new RegExp(GPT2_SPLIT_PATTERN);
  for (let m = re.exec(text); m !== null; m = re.exec(text)) visit(m[0]);
}
