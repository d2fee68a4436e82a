// Inference benchmark: the same model on every kernel variant, measured in one run.
//
// Latency: one sequence of seqLen tokens (batch 1); throughput: a batch of 32 sequences.
// Variants are timed in interleaved rounds (every variant once per round, medians over
// rounds), so a change in machine load shifts all of them alike. Sparse variants prune
// every linear weight matrix by magnitude (one-shot, no finetuning): their speed is what
// a pruned model gets; the accuracy of pruned *and finetuned* models comes from `tlc compress`.
// Structured variants (struct50) remove half of every block's heads and FFN neurons by
// magnitude and run the smaller dense model (f32, or int8 for struct50-int8).
import { TlcError } from '../src/util/errors.js';
import { getThreads } from '../src/engine/threads.js';
import { waitPolicy } from '../src/engine/native.js';
import { bf16Unavailable } from '../src/engine/mixed.js';
import type { PackedLinear } from '../src/engine/ops/packed-linear.js';
import { Linear } from '../src/nn/layers.js';
import { countParams, presetConfig } from '../src/nn/config.js';
import type { TransformerBody } from '../src/nn/transformer.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { pruneArrays } from '../src/compress/pruning.js';
import { magnitudeScores, selectUnits } from '../src/compress/structured.js';
import { buildModel, loadModelDir, withoutUnits } from '../src/infer/load.js';
import { describeKernel, packLayer, unpackLinears, type KernelSpec } from '../src/infer/pack.js';
import { forwardOnce, syntheticBatch } from '../src/infer/latency.js';
import { evaluateClassifier } from '../src/train/classify.js';
import type { EncodedExamples } from '../src/data/task-batches.js';

export const INFER_VARIANTS = ['fp32', 'bf16', 'int8', 'w4', 'w4a8', 'sparse50', 'sparse70', 'sparse90', 'struct50', 'struct50-int8'] as const;
export type InferVariant = (typeof INFER_VARIANTS)[number];

interface VariantSpec {
  kernel: KernelSpec;
  sparsity: number;
  /** Fraction of every block's heads and FFN neurons removed. */
  structured: number;
}

function variantSpec(v: InferVariant): VariantSpec {
  const struct = /^struct(\d+)(-int8)?$/.exec(v);
  if (struct) return { kernel: { kind: struct[2] ? 'int8' : 'f32' }, sparsity: 0, structured: Number(struct[1]) / 100 };
  return { ...unstructuredSpec(v), structured: 0 };
}

function unstructuredSpec(v: InferVariant): Omit<VariantSpec, 'structured'> {
  if (v.startsWith('sparse')) return { kernel: { kind: 'sparse' }, sparsity: Number(v.slice(6)) / 100 };
  if (v === 'w4') return { kernel: { kind: 'kbit', bits: 4 }, sparsity: 0 };
  if (v === 'w4a8') return { kernel: { kind: 'int8', bits: 4 }, sparsity: 0 };
  return { kernel: { kind: v === 'fp32' ? 'f32' : v }, sparsity: 0 } as Omit<VariantSpec, 'structured'>;
}

export interface InferRow {
  variant: InferVariant;
  batch: number;
  /** null when the variant cannot run on this CPU (`unavailable` says why) */
  latency_ms: number | null;
  seq_per_s: number | null;
  accuracy?: number;
  unavailable?: string;
}

/** Why a variant cannot run on this CPU, or null. */
export function variantUnavailable(v: InferVariant): string | null {
  return variantSpec(v).kernel.kind === 'bf16' ? bf16Unavailable(`the ${v} variant`) : null;
}

export interface InferBenchResult {
  model: { source: string; layers: number; d_model: number; params: number; seq_len: number };
  /** Parameters of each variant's model (smaller for structured variants). */
  params: Record<string, number>;
  threads: number;
  /** Bytes of each variant's packed linear weights. */
  packed_bytes: Record<string, number>;
  /** Variants this CPU cannot run, and why (their rows hold nulls). */
  unavailable: Record<string, string>;
  kernels: Record<string, string>;
  rows: InferRow[];
}

export interface InferBenchOptions {
  /** A run or compressed-model directory; default: a random L4-D512 classifier. */
  model?: string;
  seqLen?: number;
  batch?: number;
  rounds?: number;
  variants?: InferVariant[];
  /** Test split to score each variant on (classifiers). */
  test?: EncodedExamples;
  log?: (line: string) => void;
}

/**
 * Packs every Linear of `model` for one variant into `packs`, kept for later swaps: the
 * layers only borrow them, the caller disposes them.
 */
function packVariant(model: TransformerBody, spec: VariantSpec, packs: Map<Linear, PackedLinear>): void {
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof Linear)) continue;
    let values = m.weight.toArray() as Float32Array;
    if (spec.sparsity > 0) {
      const [mask] = pruneArrays([{ name: 'w', values, previous: null }], spec.sparsity, 'layer');
      values = values.map((v, i) => (mask[i] ? v : 0));
    }
    packs.set(m, packLayer(m, spec.kernel, values));
  }
}

/** The model with `fraction` of every block's heads and FFN neurons removed, by magnitude. */
function structurallyPruned(model: TransformerBody, fraction: number): TransformerBody {
  const params = new Map(model.namedParameters());
  const units = selectUnits(magnitudeScores(model.config, (n) => params.get(n)!.toFloat32Array()), { heads: fraction, neurons: fraction });
  return withoutUnits(model, units, 1);
}

function use(packs: Map<Linear, PackedLinear>): void {
  for (const [layer, p] of packs) layer.packed = p;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The benchmarks' model (a run or compressed-model directory, or a random L4-D512 classifier) and shape. */
export function inferBenchSetup(opts: { model?: string; seqLen?: number; batch?: number; rounds?: number }):
  { model: TransformerBody; seqLen: number; batch: number; rounds: number } {
  const model = opts.model
    ? loadModelDir(opts.model).model
    : buildModel(presetConfig('L4-D512', { vocab_size: 8192, max_len: 128, labels: ['negative', 'positive'] }), 1);
  const seqLen = Math.min(opts.seqLen ?? 128, model.config.max_len);
  const batch = opts.batch ?? 32, rounds = opts.rounds ?? 7;
  if (!(rounds >= 1 && batch >= 1 && seqLen >= 1)) {
    model.dispose();
    throw new TlcError('bench infer: rounds, batch and sequence length must be positive');
  }
  return { model, seqLen, batch, rounds };
}

export function benchInference(opts: InferBenchOptions = {}): InferBenchResult {
  const log = opts.log ?? (() => {});
  const asked = opts.variants ?? [...INFER_VARIANTS];
  const unavailable = new Map(asked.flatMap((v) => {
    const why = variantUnavailable(v);
    return why ? [[v, why] as const] : [];
  }));
  for (const why of unavailable.values()) log(`skipped: ${why}`);
  const variants = asked.filter((v) => !unavailable.has(v));
  const { model, seqLen, batch, rounds } = inferBenchSetup(opts);
  const cfg = model.config;
  const packs = new Map<InferVariant, Map<Linear, PackedLinear>>();
  /** The model each variant runs: the loaded one, or a structurally pruned copy. */
  const models = new Map<InferVariant, TransformerBody>();
  const pruned = new Map<number, TransformerBody>();
  try {
    log(`packing ${variants.length} variants of L${cfg.n_layers}-D${cfg.d_model} (${(countParams(cfg).total / 1e6).toFixed(1)}M params); ` +
      `OpenMP wait policy ${waitPolicy.policy}: ${waitPolicy.why}`);
    for (const v of variants) {
      const spec = variantSpec(v);
      if (spec.structured > 0 && !pruned.has(spec.structured)) pruned.set(spec.structured, structurallyPruned(model, spec.structured));
      const m = spec.structured > 0 ? pruned.get(spec.structured)! : model;
      models.set(v, m);
      packs.set(v, new Map());
      packVariant(m, spec, packs.get(v)!);
    }
    const one = syntheticBatch(model, 1, seqLen), many = syntheticBatch(model, batch, seqLen);
    const latency = new Map<InferVariant, number[]>(variants.map((v) => [v, []]));
    const throughput = new Map<InferVariant, number[]>(variants.map((v) => [v, []]));
    for (const v of variants) { // warm-up: primitives, caches, allocator classes
      use(packs.get(v)!);
      forwardOnce(models.get(v)!, one);
      forwardOnce(models.get(v)!, many);
    }
    const time = (fn: () => void): number => {
      const t0 = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) {
        use(packs.get(v)!);
        const m = models.get(v)!;
        for (let i = 0; i < 3; i++) latency.get(v)!.push(time(() => forwardOnce(m, one)));
        throughput.get(v)!.push(time(() => forwardOnce(m, many)));
      }
      log(`round ${r + 1}/${rounds}: ` + variants.map((v) => `${v} ${(1e3 * median(latency.get(v)!)).toFixed(1)} ms`).join(', '));
    }
    const accuracy = new Map<InferVariant, number>();
    if (opts.test && model instanceof TransformerClassifier) {
      for (const v of variants) {
        use(packs.get(v)!);
        accuracy.set(v, evaluateClassifier(models.get(v)! as TransformerClassifier, opts.test).accuracy);
        log(`${v}: test accuracy ${(100 * accuracy.get(v)!).toFixed(2)}%`);
      }
    }
    const rows: InferRow[] = [];
    for (const v of asked) {
      const why = unavailable.get(v);
      if (why) {
        for (const b of [1, batch]) rows.push({ variant: v, batch: b, latency_ms: null, seq_per_s: null, unavailable: why });
        continue;
      }
      const acc = accuracy.has(v) ? { accuracy: accuracy.get(v)! } : {};
      const l = median(latency.get(v)!), t = median(throughput.get(v)!);
      rows.push({ variant: v, batch: 1, latency_ms: 1e3 * l, seq_per_s: 1 / l, ...acc });
      rows.push({ variant: v, batch, latency_ms: 1e3 * t, seq_per_s: batch / t, ...acc });
    }
    const sum = (m: Map<Linear, PackedLinear>): number => [...m.values()].reduce((a, p) => a + p.bytes, 0);
    return {
      model: { source: opts.model ?? 'random L4-D512 classifier', layers: cfg.n_layers, d_model: cfg.d_model, params: countParams(cfg).total, seq_len: seqLen },
      params: Object.fromEntries(variants.map((v) => [v, countParams(models.get(v)!.config).total])),
      unavailable: Object.fromEntries(unavailable),
      threads: getThreads(),
      packed_bytes: Object.fromEntries(variants.map((v) => [v, sum(packs.get(v)!)])),
      kernels: Object.fromEntries(variants.map((v) => [v, describeKernel(variantSpec(v).kernel)])),
      rows,
    };
  } finally {
    unpackLinears(model);
    for (const m of pruned.values()) unpackLinears(m);
    for (const variant of packs.values()) for (const p of variant.values()) p.dispose();
    model.dispose();
    for (const m of pruned.values()) m.dispose();
  }
}
