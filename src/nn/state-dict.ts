// Weights as plain float32 arrays on the host, by name (a state dict): what export reads from
// a run and import from a Hugging Face folder, and rearrange into other layouts (no native
// tensors, no autograd).
import { TlcError, fmtShape } from '../util/errors.js';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export type StateDict = Map<string, HostTensor>;

/** The tensor `name`, checked to have `shape`; a missing or mis-shaped one is a TlcError naming `source`. */
export function take(dict: StateDict, name: string, shape: readonly number[], source: string): HostTensor {
  const t = dict.get(name);
  if (!t) throw new TlcError(`${source}: tensor ${name} is missing`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new TlcError(`${source}: tensor ${name} is ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
  }
  return t;
}

/** The transpose of a [rows, cols] matrix. */
export function transpose(t: HostTensor): HostTensor {
  const [rows, cols] = t.shape;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c];
  }
  return { shape: [cols, rows], data: out };
}

/** Rows [begin, end) of a matrix, or elements [begin, end) of a vector. */
export function sliceRows(t: HostTensor, begin: number, end: number): HostTensor {
  const width = t.shape.length === 1 ? 1 : t.shape[1];
  const shape = t.shape.length === 1 ? [end - begin] : [end - begin, width];
  return { shape, data: t.data.slice(begin * width, end * width) };
}

/** Matrices (or vectors) stacked along dimension 0. */
export function concatRows(parts: HostTensor[]): HostTensor {
  const rows = parts.reduce((a, p) => a + p.shape[0], 0);
  const data = new Float32Array(parts.reduce((a, p) => a + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p.data, at);
    at += p.data.length;
  }
  return { shape: parts[0].shape.length === 1 ? [rows] : [rows, parts[0].shape[1]], data };
}

export function zeros(shape: number[]): HostTensor {
  return { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
}
