// Structured pruning: whole attention heads and FFN neurons, removed so that what is left is
// a smaller dense model (per-block head counts and FFN widths in config.json) that is faster
// on every kernel and every engine, the exported ONNX graph included.
//
// A unit's parameters, in block l (A = heads·Dh attention channels, Dh = d_model/n_heads):
//   head h     rows j·A + h·Dh … +Dh of attn.qkv (weight and bias, j = q, k, v) and columns
//              h·Dh … +Dh of attn.out.weight
//   neuron n   row n of mlp.fc1 (weight and bias) and column n of mlp.fc2.weight
// With those zero the unit adds exactly nothing to the block's output (q = k = v = 0 gives
// the head a zero output; gelu(0) = 0), so zeroing them (a mask while finetuning) and removing
// them (removeUnits) compute the same function.
//
// Scores, lowest removed first, per block (round(f·n) of each kind, at least one kept):
//   magnitude  the L2 norm of the unit's parameters
//   taylor     first-order Taylor importance of a gate ξ on the unit's output, at ξ = 1:
//              ∂L/∂ξ = Σ w·∂L/∂w over its output weights (attn.out columns, fc2 column).
//              Before training, Michel et al. (2019)'s E_x |∂L/∂ξ| over single examples; while
//              training, Molchanov et al. (2019)'s mean over steps of (∂L/∂ξ)², from each step's
//              gradient
import { TlcError } from '../util/errors.js';
import { attentionWidthAt, ffnWidthAt, headSize, headsAt, type ModelConfig } from '../nn/config.js';
import type { HostTensor, StateDict } from '../nn/state-dict.js';
import { PruningMask } from './pruning.js';

export const STRUCTURED_CRITERIA = ['magnitude', 'taylor'] as const;
export type StructuredCriterion = (typeof STRUCTURED_CRITERIA)[number];

/** Per block: which heads and which FFN neurons are kept (1) or removed (0). */
export interface BlockUnits {
  heads: Uint8Array;
  neurons: Uint8Array;
}
export type Units = BlockUnits[];

/** Per block: one score per head and per neuron (higher = more important). */
export interface BlockScores {
  heads: Float64Array;
  neurons: Float64Array;
}

/** Parameter names of block `l`'s pruned tensors, as TransformerBody names them. */
export function blockTensorNames(l: number) {
  const p = `blocks.${l}.`;
  return {
    qkvWeight: `${p}attn.qkv.weight`, qkvBias: `${p}attn.qkv.bias`, outWeight: `${p}attn.out.weight`,
    fc1Weight: `${p}mlp.fc1.weight`, fc1Bias: `${p}mlp.fc1.bias`, fc2Weight: `${p}mlp.fc2.weight`,
  };
}

export function checkStructurable(c: ModelConfig, what: string): void {
  if (c.objective === 'seq2seq') throw new TlcError(`${what}: structured pruning is for masked/causal LMs and their classifiers, not seq2seq models`);
}

/** Every unit kept. */
export function allUnits(c: ModelConfig): Units {
  return Array.from({ length: c.n_layers }, (_, l) => ({
    heads: new Uint8Array(headsAt(c, l)).fill(1), neurons: new Uint8Array(ffnWidthAt(c, l)).fill(1),
  }));
}

function count(m: Uint8Array): number {
  let n = 0;
  for (const x of m) n += x;
  return n;
}

/** Kept heads and neurons per block. */
export function unitCounts(units: Units): { heads: number[]; neurons: number[] } {
  return { heads: units.map((u) => count(u.heads)), neurons: units.map((u) => count(u.neurons)) };
}

/** Reads a parameter's values by name. */
export type ValuesOf = (name: string) => Float32Array;

/** Visits the flat indices of head h's parameters in qkv (rows × C, plus bias) and attn.out (columns). */
function headIndices(c: ModelConfig, l: number, h: number) {
  const C = c.d_model, A = attentionWidthAt(c, l), Dh = headSize(c);
  const qkvRows: number[] = [];
  for (let j = 0; j < 3; j++) for (let d = 0; d < Dh; d++) qkvRows.push(j * A + h * Dh + d);
  const outColumns: number[] = [];
  for (let d = 0; d < Dh; d++) outColumns.push(h * Dh + d);
  return { C, A, qkvRows, outColumns };
}

/** Σ x² over rows of a [rows, cols] matrix, plus over the same entries of a bias. */
function rowsSquares(w: Float32Array, cols: number, rows: number[], bias: Float32Array | null): number {
  let s = 0;
  for (const r of rows) {
    for (let i = r * cols; i < (r + 1) * cols; i++) s += w[i] * w[i];
    if (bias) s += bias[r] * bias[r];
  }
  return s;
}

/** Σ a·b over columns of [rows, cols] matrices a and b (a = b for Σ a²). */
function columnsDot(a: Float32Array, b: Float32Array, rows: number, cols: number, columns: number[]): number {
  let s = 0;
  for (let r = 0; r < rows; r++) for (const col of columns) s += a[r * cols + col] * b[r * cols + col];
  return s;
}

/** L2 norm of every unit's parameters. */
export function magnitudeScores(c: ModelConfig, values: ValuesOf): BlockScores[] {
  checkStructurable(c, 'magnitudeScores');
  const out: BlockScores[] = [];
  for (let l = 0; l < c.n_layers; l++) {
    const n = blockTensorNames(l);
    const [qkvW, qkvB, outW, fc1W, fc1B, fc2W] = [n.qkvWeight, n.qkvBias, n.outWeight, n.fc1Weight, n.fc1Bias, n.fc2Weight].map(values);
    const H = headsAt(c, l), F = ffnWidthAt(c, l);
    const heads = new Float64Array(H), neurons = new Float64Array(F);
    for (let h = 0; h < H; h++) {
      const { C, A, qkvRows, outColumns } = headIndices(c, l, h);
      heads[h] = Math.sqrt(rowsSquares(qkvW, C, qkvRows, qkvB) + columnsDot(outW, outW, C, A, outColumns));
    }
    for (let f = 0; f < F; f++) {
      neurons[f] = Math.sqrt(rowsSquares(fc1W, c.d_model, [f], fc1B) + columnsDot(fc2W, fc2W, c.d_model, F, [f]));
    }
    out.push({ heads, neurons });
  }
  return out;
}

/**
 * Taylor importance, accumulated batch by batch: after each backward pass, add(values, grads)
 * adds |∂L/∂ξ| ('abs', one example per batch: Michel et al.) or (∂L/∂ξ)² ('squared', a
 * minibatch: Molchanov et al.) of every unit; scores() is the mean over the batches seen.
 */
export class TaylorScores {
  readonly sums: BlockScores[];
  batches = 0;

  constructor(readonly config: ModelConfig, readonly reduce: 'abs' | 'squared' = 'abs') {
    checkStructurable(config, 'TaylorScores');
    this.sums = allUnits(config).map((u) => ({ heads: new Float64Array(u.heads.length), neurons: new Float64Array(u.neurons.length) }));
  }

  add(values: ValuesOf, grads: (name: string) => Float32Array | null): void {
    const c = this.config;
    for (let l = 0; l < c.n_layers; l++) {
      const n = blockTensorNames(l);
      const outG = grads(n.outWeight), fc2G = grads(n.fc2Weight);
      if (!outG || !fc2G) throw new TlcError(`Taylor importance needs the gradients of ${n.outWeight} and ${n.fc2Weight}`);
      const outW = values(n.outWeight), fc2W = values(n.fc2Weight);
      const A = attentionWidthAt(c, l), F = ffnWidthAt(c, l), C = c.d_model;
      const s = this.sums[l];
      const r = this.reduce === 'abs' ? Math.abs : (x: number) => x * x;
      for (let h = 0; h < s.heads.length; h++) s.heads[h] += r(columnsDot(outW, outG, C, A, headIndices(c, l, h).outColumns));
      for (let f = 0; f < F; f++) s.neurons[f] += r(columnsDot(fc2W, fc2G, C, F, [f]));
    }
    this.batches++;
  }

  scores(): BlockScores[] {
    const k = Math.max(1, this.batches);
    return this.sums.map((s) => ({ heads: s.heads.map((x) => x / k), neurons: s.neurons.map((x) => x / k) }));
  }
}

function checkFraction(what: string, f: number): void {
  if (typeof f !== 'number' || !(f >= 0 && f < 1)) throw new TlcError(`${what}: the fraction of units removed must be in [0, 1), got ${f}`);
}

/** The kept mask after removing the lowest-scored kept units until round(f·n) are removed (at least one kept). */
function selectKept(scores: Float64Array, fraction: number, previous: Uint8Array | null): Uint8Array {
  const n = scores.length;
  const kept = previous ? Uint8Array.from(previous) : new Uint8Array(n).fill(1);
  const target = Math.min(n - 1, Math.round(fraction * n));
  let removed = n - count(kept);
  if (removed >= target) return kept;
  const order = [...Array(n).keys()].filter((i) => kept[i]).sort((a, b) => scores[a] - scores[b] || a - b);
  for (const i of order) {
    if (removed >= target) break;
    kept[i] = 0;
    removed++;
  }
  return kept;
}

/**
 * Units kept when `fraction` of each block's heads and of its neurons are removed, lowest
 * scores first (ties by index). With `previous`, removal is monotone: units removed before
 * stay removed and count towards the target (gradual pruning).
 */
export function selectUnits(scores: BlockScores[], fraction: { heads: number; neurons: number }, previous: Units | null = null): Units {
  checkFraction('heads', fraction.heads);
  checkFraction('neurons', fraction.neurons);
  return scores.map((s, l) => ({
    heads: selectKept(s.heads, fraction.heads, previous?.[l].heads ?? null),
    neurons: selectKept(s.neurons, fraction.neurons, previous?.[l].neurons ?? null),
  }));
}

/**
 * The element mask of `units`: 0 on every parameter of a removed unit. As a PruningMask it
 * zeroes those parameters (apply) and their gradients (maskGradients) while finetuning.
 */
export function unitsMask(c: ModelConfig, units: Units): PruningMask {
  const masks = new Map<string, Uint8Array>(), shapes = new Map<string, readonly number[]>();
  const C = c.d_model;
  units.forEach((u, l) => {
    const n = blockTensorNames(l);
    const A = attentionWidthAt(c, l), F = ffnWidthAt(c, l);
    const qkvW = new Uint8Array(3 * A * C).fill(1), qkvB = new Uint8Array(3 * A).fill(1), outW = new Uint8Array(C * A).fill(1);
    u.heads.forEach((keep, h) => {
      if (keep) return;
      const { qkvRows, outColumns } = headIndices(c, l, h);
      for (const r of qkvRows) {
        qkvW.fill(0, r * C, (r + 1) * C);
        qkvB[r] = 0;
      }
      for (let r = 0; r < C; r++) for (const col of outColumns) outW[r * A + col] = 0;
    });
    const fc1W = new Uint8Array(F * C).fill(1), fc1B = new Uint8Array(F).fill(1), fc2W = new Uint8Array(C * F).fill(1);
    u.neurons.forEach((keep, f) => {
      if (keep) return;
      fc1W.fill(0, f * C, (f + 1) * C);
      fc1B[f] = 0;
      for (let r = 0; r < C; r++) fc2W[r * F + f] = 0;
    });
    const add = (name: string, m: Uint8Array, shape: number[]): void => {
      masks.set(name, m);
      shapes.set(name, shape);
    };
    add(n.qkvWeight, qkvW, [3 * A, C]);
    add(n.qkvBias, qkvB, [3 * A]);
    add(n.outWeight, outW, [C, A]);
    add(n.fc1Weight, fc1W, [F, C]);
    add(n.fc1Bias, fc1B, [F]);
    add(n.fc2Weight, fc2W, [C, F]);
  });
  return new PruningMask(masks, shapes, 'layer');
}

function allZero(xs: Float32Array, indices: Iterable<number>): boolean {
  for (const i of indices) if (xs[i] !== 0) return false;
  return true;
}

function* range(begin: number, end: number, step = 1): Generator<number> {
  for (let i = begin; i < end; i += step) yield i;
}

/**
 * The units that add exactly nothing to their block's output: heads whose attn.out columns
 * (or whose value rows and biases) are all zero, neurons whose fc2 column (or fc1 row and
 * bias) is all zero. At least one unit of each kind stays in every block.
 */
export function silentUnits(c: ModelConfig, values: ValuesOf): Units {
  checkStructurable(c, 'silentUnits');
  const units = allUnits(c);
  const C = c.d_model;
  units.forEach((u, l) => {
    const n = blockTensorNames(l);
    const [qkvW, qkvB, outW, fc1W, fc1B, fc2W] = [n.qkvWeight, n.qkvBias, n.outWeight, n.fc1Weight, n.fc1Bias, n.fc2Weight].map(values);
    const A = attentionWidthAt(c, l), F = ffnWidthAt(c, l), Dh = headSize(c);
    u.heads.forEach((_, h) => {
      const cols = [...range(h * Dh, (h + 1) * Dh)];
      const outZero = cols.every((col) => allZero(outW, range(col, C * A, A)));
      const vRows = cols.map((col) => 2 * A + col);
      const vZero = vRows.every((r) => allZero(qkvW, range(r * C, (r + 1) * C)) && qkvB[r] === 0);
      if (outZero || vZero) u.heads[h] = 0;
    });
    u.neurons.forEach((_, f) => {
      const fc2Zero = allZero(fc2W, range(f, C * F, F));
      const fc1Zero = allZero(fc1W, range(f * C, (f + 1) * C)) && fc1B[f] === 0;
      if (fc2Zero || fc1Zero) u.neurons[f] = 0;
    });
    if (count(u.heads) === 0) u.heads[0] = 1;
    if (count(u.neurons) === 0) u.neurons[0] = 1;
  });
  return units;
}

/** Keeps the rows of a [rows, cols] matrix (or entries of a vector) where keep[r] is 1. */
function keepRows(t: HostTensor, keep: (r: number) => boolean): HostTensor {
  const rows = t.shape[0], cols = t.shape.length === 1 ? 1 : t.shape[1];
  const picked: number[] = [];
  for (let r = 0; r < rows; r++) if (keep(r)) picked.push(r);
  const data = new Float32Array(picked.length * cols);
  picked.forEach((r, i) => data.set(t.data.subarray(r * cols, (r + 1) * cols), i * cols));
  return { shape: t.shape.length === 1 ? [picked.length] : [picked.length, cols], data };
}

/** Keeps the columns of a [rows, cols] matrix where keep[col] is 1. */
function keepColumns(t: HostTensor, keep: (col: number) => boolean): HostTensor {
  const [rows, cols] = t.shape;
  const picked: number[] = [];
  for (let col = 0; col < cols; col++) if (keep(col)) picked.push(col);
  const data = new Float32Array(rows * picked.length);
  for (let r = 0; r < rows; r++) picked.forEach((col, i) => { data[r * picked.length + i] = t.data[r * cols + col]; });
  return { shape: [rows, picked.length], data };
}

/**
 * The smaller model without the removed units: its config (layer_heads where heads went; d_ff,
 * or layer_d_ff when blocks differ) and its parameters, every other tensor unchanged. Heads
 * keep their order, as do neurons.
 */
export function removeUnits(c: ModelConfig, params: StateDict, units: Units): { config: ModelConfig; params: StateDict } {
  checkStructurable(c, 'removeUnits');
  if (units.length !== c.n_layers) throw new TlcError(`removeUnits: ${units.length} blocks of units for a model of ${c.n_layers}`);
  const out: StateDict = new Map(params);
  const Dh = headSize(c);
  const get = (name: string): HostTensor => {
    const t = params.get(name);
    if (!t) throw new TlcError(`removeUnits: tensor ${name} is missing`);
    return t;
  };
  units.forEach((u, l) => {
    const n = blockTensorNames(l);
    const A = attentionWidthAt(c, l);
    if (u.heads.length !== headsAt(c, l) || u.neurons.length !== ffnWidthAt(c, l)) {
      throw new TlcError(`removeUnits: block ${l} has ${headsAt(c, l)} heads and ${ffnWidthAt(c, l)} neurons, the units ${u.heads.length} and ${u.neurons.length}`);
    }
    if (count(u.heads) === 0 || count(u.neurons) === 0) throw new TlcError(`removeUnits: block ${l} must keep at least one head and one neuron`);
    const headOfQkvRow = (r: number): number => Math.floor((r % A) / Dh);
    out.set(n.qkvWeight, keepRows(get(n.qkvWeight), (r) => u.heads[headOfQkvRow(r)] === 1));
    out.set(n.qkvBias, keepRows(get(n.qkvBias), (r) => u.heads[headOfQkvRow(r)] === 1));
    out.set(n.outWeight, keepColumns(get(n.outWeight), (col) => u.heads[Math.floor(col / Dh)] === 1));
    out.set(n.fc1Weight, keepRows(get(n.fc1Weight), (r) => u.neurons[r] === 1));
    out.set(n.fc1Bias, keepRows(get(n.fc1Bias), (r) => u.neurons[r] === 1));
    out.set(n.fc2Weight, keepColumns(get(n.fc2Weight), (col) => u.neurons[col] === 1));
  });
  // only what changed is written; one FFN width in every block is just a smaller d_ff (which a
  // Hugging Face config can say too), while fewer heads always need layer_heads, since n_heads
  // fixes the head size
  const { heads, neurons } = unitCounts(units);
  const { layer_heads: _heads, layer_d_ff: _widths, ...rest } = c;
  const config: ModelConfig = { ...rest };
  if (heads.some((h) => h !== c.n_heads)) config.layer_heads = heads;
  if (neurons.every((n) => n === neurons[0])) config.d_ff = neurons[0];
  else config.layer_d_ff = neurons;
  return { config, params: out };
}
