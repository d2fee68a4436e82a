// The readable body of a raw e-mail (RFC 822 / MIME), for text classification: headers
// dropped, quoted-printable and base64 decoded, character sets converted, HTML reduced to
// its text, whitespace collapsed. Good enough for the mail of a spam corpus; not a full
// MIME implementation (no uuencode, no encoded-word headers, since headers are not kept).

/** Nesting deeper than this (multipart in multipart ...) is ignored. */
const MAX_DEPTH = 8;

interface Entity {
  /** Lower-cased header names; the first occurrence wins. */
  headers: Map<string, string>;
  /** The body as a "binary" string: one char per byte (latin1). */
  body: string;
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

/**
 * The text of a message's body: the text/plain part where there is one (the HTML of an
 * HTML-only message otherwise), attachments skipped, whitespace runs collapsed to one space.
 */
export function emailBodyText(raw: Uint8Array): string {
  const binary = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  return collapseWhitespace(entityText(parseEntity(binary), 0));
}

/** Cuts text longer than `maxChars` at the last space before the limit (or at the limit). */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const space = text.lastIndexOf(' ', maxChars);
  return text.slice(0, space > maxChars * 0.9 ? space : maxChars);
}

function parseEntity(binary: string): Entity {
  const blank = /\r?\n\r?\n/.exec(binary);
  const head = blank ? binary.slice(0, blank.index) : binary;
  const body = blank ? binary.slice(blank.index + blank[0].length) : '';
  const headers = new Map<string, string>();
  // Folded header lines continue with whitespace; mbox's "From " line has no colon and is skipped.
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (m && !headers.has(m[1].toLowerCase())) headers.set(m[1].toLowerCase(), m[2].trim());
  }
  return { headers, body };
}

function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (value === undefined) return { type: 'text/plain', params };
  const type = value.split(';')[0].trim().toLowerCase();
  for (const m of value.matchAll(/;\s*([^=\s;]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))/g)) {
    params.set(m[1].toLowerCase(), m[2] ?? m[3]);
  }
  return { type: type.includes('/') ? type : 'text/plain', params };
}

function entityText(entity: Entity, depth: number): string {
  if (depth > MAX_DEPTH) return '';
  const { type, params } = parseContentType(entity.headers.get('content-type'));
  const boundary = params.get('boundary');
  if (type.startsWith('multipart/') && boundary) {
    const parts = splitMultipart(entity.body, boundary).map(parseEntity);
    if (type === 'multipart/alternative') {
      // The same content in several forms: plain text preferred, else the first that has text.
      const ordered = [...parts.filter(isPlainText), ...parts.filter((p) => !isPlainText(p))];
      for (const part of ordered) {
        const text = entityText(part, depth + 1);
        if (text.trim() !== '') return text;
      }
      return '';
    }
    return parts
      .filter((p) => !/^\s*attachment/i.test(p.headers.get('content-disposition') ?? ''))
      .map((p) => entityText(p, depth + 1))
      .join('\n');
  }
  if (type === 'message/rfc822') return entityText(parseEntity(entity.body), depth + 1);
  if (type === 'text/plain') {
    const repaired = repairPlainBody(entity);
    const text = repaired && entityText(repaired, depth + 1);
    if (text) return text;
  }
  if (type.startsWith('multipart/') || type === 'text/plain' || type === 'text/html' || type === 'text/enriched') {
    const bytes = Buffer.from(decodeTransfer(entity.body, entity.headers.get('content-transfer-encoding')), 'latin1');
    const text = decodeCharset(bytes, params.get('charset'));
    // Some mail declares text/plain (or nothing) and sends HTML anyway, or sprinkles a
    // link tag into plain text ("AOL users <a href=...>click here</a>").
    return type !== 'text/plain' || looksLikeHtml(text) ? htmlToText(text) : stripKnownTags(text);
  }
  return ''; // images, applications, vcards, ...
}

/** Header lines that only machines write: a body starting with them is a whole message pasted in. */
const MACHINE_HEADER = /^(Return-Path|Received|Delivered-To|Message-Id|MIME-Version|Content-Type|Content-Transfer-Encoding|X-[A-Za-z0-9-]+):/i;

/**
 * Mail whose body is really a MIME multipart missing its Content-Type header (the body
 * starts with "--boundary" and a part's headers), or a forwarded message pasted with its
 * headers: the entity it should have been, or null when the body is ordinary text.
 */
function repairPlainBody(entity: Entity): Entity | null {
  const lines = entity.body.replace(/^(\s*\r?\n)+/, '').split('\n', 2).map((l) => l.trimEnd());
  if (lines.length === 2 && /^--\S+$/.test(lines[0]) && /^Content-(Type|Transfer-Encoding|Disposition):/i.test(lines[1])) {
    const headers = new Map(entity.headers);
    headers.set('content-type', `multipart/mixed; boundary="${lines[0].slice(2)}"`);
    return { headers, body: entity.body };
  }
  if (MACHINE_HEADER.test(lines[0] ?? '')) return parseEntity(entity.body.trimStart());
  return null;
}

function isPlainText(entity: Entity): boolean {
  return parseContentType(entity.headers.get('content-type')).type === 'text/plain';
}

/** The parts between "--boundary" lines, up to "--boundary--"; the preamble is dropped. */
function splitMultipart(body: string, boundary: string): string[] {
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of body.split('\n')) {
    const trimmed = line.trimEnd();
    if (trimmed === `--${boundary}--`) break;
    if (trimmed === `--${boundary}`) {
      if (current) parts.push(current.join('\n'));
      current = [];
    } else if (current) {
      current.push(line);
    }
  }
  if (current) parts.push(current.join('\n'));
  return parts;
}

function decodeTransfer(body: string, encoding: string | undefined): string {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body, 'base64').toString('latin1');
    case 'quoted-printable':
      return body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    default:
      return body;
  }
}

/** Bytes → text in the declared charset; unknown or missing charsets read as Windows-1252. */
function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const label = (charset ?? '').trim().toLowerCase();
  try {
    if (label !== '') return new TextDecoder(label).decode(bytes);
  } catch {
    // not a charset this runtime knows (e.g. "default")
  }
  return new TextDecoder('windows-1252').decode(bytes);
}

const HTML_DOCUMENT = /<\s*(html|body|head)\b/i;
const HTML_ELEMENTS = [
  'a', 'abbr', 'address', 'area', 'b', 'base', 'basefont', 'big', 'blockquote', 'body', 'br', 'center', 'code', 'col', 'dd',
  'div', 'dl', 'dt', 'em', 'font', 'form', 'frame', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'head', 'hr', 'html', 'i', 'iframe',
  'img', 'input', 'li', 'link', 'map', 'meta', 'noscript', 'ol', 'option', 'p', 'pre', 's', 'script', 'select', 'small',
  'span', 'strike', 'strong', 'style', 'sub', 'sup', 'table', 'tbody', 'td', 'textarea', 'th', 'thead', 'title', 'tr', 'tt',
  'u', 'ul',
];
/** A tag of a known HTML element; plain text's "<jo@example.com>" or "<g>" is left alone. */
const KNOWN_TAG = new RegExp(`</?(${HTML_ELEMENTS.join('|')})(?=[\\s/>:])[^<>]*>`, 'gi');

function looksLikeHtml(text: string): boolean {
  return HTML_DOCUMENT.test(text) || (text.match(KNOWN_TAG)?.length ?? 0) >= 3;
}

function stripKnownTags(text: string): string {
  return text.replace(KNOWN_TAG, (tag) => (BLOCK_TAGS.has(/^<\/?([a-z0-9]+)/i.exec(tag)![1].toLowerCase()) ? ' ' : ''));
}

/** Tags that break a line (or a cell): they become a space; all other tags vanish. */
const BLOCK_TAGS = new Set([
  'address', 'blockquote', 'body', 'br', 'center', 'dd', 'div', 'dl', 'dt', 'form', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
  'head', 'hr', 'html', 'img', 'input', 'li', 'ol', 'option', 'p', 'pre', 'select', 'table', 'td', 'th', 'title', 'tr', 'ul',
]);

/** The text of an HTML document: scripts, styles, comments and tags removed, entities decoded. */
export function htmlToText(html: string): string {
  return decodeEntities(
    html
      .replace(/<!--[\s\S]*?(-->|$)/g, ' ')
      .replace(/<(script|style|head)\b[\s\S]*?(<\/\1\s*>|$)/gi, ' ')
      .replace(/<\/?([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>|<![^>]*>/g, (_, name: string | undefined) =>
        name !== undefined && !BLOCK_TAGS.has(name.toLowerCase()) ? '' : ' '),
  );
}

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  mdash: '—', ndash: '–', hellip: '…', laquo: '«', raquo: '»', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”',
  bull: '•', middot: '·', deg: '°', pound: '£', euro: '€', cent: '¢', yen: '¥', sect: '§', para: '¶', times: '×',
  eacute: 'é', egrave: 'è', agrave: 'à', aacute: 'á', ccedil: 'ç', ntilde: 'ñ', ouml: 'ö', uuml: 'ü', auml: 'ä', szlig: 'ß',
};

function decodeEntities(text: string): string {
  return text.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : ' ';
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? NAMED_ENTITIES[ref] ?? whole;
  });
}

function collapseWhitespace(text: string): string {
  // \s covers no-break and other Unicode spaces; control characters go too.
  return text.replace(/[\s\u0000-\u001f\u007f-\u009f\u200b\ufeff]+/g, ' ').trim();
}
