// Which parameters are compressed. By default: the Transformer's linear weight matrices
// (attention qkv/out, FFN fc1/fc2, head matrices: every rank-2 `*.weight` that is not an
// embedding). Embeddings (`*emb*.weight`, rank 2) are a separate group: not pruned by
// default, quantized with their own bit width. LayerNorm weights and biases (rank 1) are
// never selected unless a pattern names them.
import { TlcError } from '../util/errors.js';

/**
 * A name pattern: a RegExp (tested against the full name), or a glob where `*` matches
 * within one dotted segment, `**` matches across segments and `?` matches one character,
 * e.g. `blocks.*.mlp.*.weight` or `**.attn.**`.
 */
export type NamePattern = string | RegExp;

export interface SelectionOptions {
  /** Replaces the default selection: exactly the tensors matching one of these. */
  include?: NamePattern[];
  /** Removed from the selection (default or `include`). */
  exclude?: NamePattern[];
}

/** Token and position embeddings: rank-2 tables whose last name segment before `.weight` mentions `emb`. */
export function isEmbedding(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && /(^|\.)[^.]*emb[^.]*\.weight$/.test(name);
}

/** The default compression targets: weight matrices of Linear layers. */
export function isLinearWeight(name: string, shape: readonly number[]): boolean {
  return shape.length === 2 && /(^|\.)weight$/.test(name) && !isEmbedding(name, shape);
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') {
      re += '[^.]*';
    } else if (ch === '?') {
      re += '.';
    } else {
      re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

/** Compiles patterns once; a bad pattern is an error naming it. */
export function compilePatterns(patterns: NamePattern[] | undefined, what: string): RegExp[] {
  if (patterns === undefined) return [];
  if (!Array.isArray(patterns)) throw new TlcError(`${what}: expected an array of name patterns, got ${JSON.stringify(patterns)}`);
  return patterns.map((p) => {
    if (p instanceof RegExp) return new RegExp(p.source, p.flags.replace(/[gy]/g, ''));
    if (typeof p !== 'string' || p.length === 0) throw new TlcError(`${what}: a name pattern must be a non-empty string or a RegExp, got ${JSON.stringify(p)}`);
    return globToRegExp(p);
  });
}

function matchesAny(name: string, patterns: RegExp[]): boolean {
  return patterns.some((re) => re.test(name));
}

/**
 * Names of the tensors to prune/quantize, in the order given. `shapes` maps every
 * parameter name to its shape.
 */
export function selectTensors(shapes: Iterable<[string, readonly number[]]>, opts: SelectionOptions = {}): string[] {
  const include = compilePatterns(opts.include, 'include');
  const exclude = compilePatterns(opts.exclude, 'exclude');
  const out: string[] = [];
  for (const [name, shape] of shapes) {
    const selected = opts.include !== undefined ? matchesAny(name, include) : isLinearWeight(name, shape);
    if (selected && !matchesAny(name, exclude)) out.push(name);
  }
  return out;
}
