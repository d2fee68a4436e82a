// tlc against onnxruntime on the same model: the graph `tlc export --format onnx` writes for it
// (float32, and int8 weights with dynamically quantized activations), run by onnxruntime-node
// with as many intra-op threads as tlc has, against tlc's own fp32 and int8 kernels. Batch-1
// latency and batch-B throughput, timed in interleaved rounds (each engine and variant once
// per round, medians over rounds) so that a change in load shifts both alike; between engines
// the process sleeps briefly, so that neither one's spinning worker threads take the other's
// cores.
import { setTimeout as sleep } from 'node:timers/promises';
import { TlcError } from '../src/util/errors.js';
import { getThreads } from '../src/engine/threads.js';
import { countParams } from '../src/nn/config.js';
import type { TransformerBody } from '../src/nn/transformer.js';
import type { StateDict } from '../src/nn/state-dict.js';
import { inferBenchSetup } from './infer.js';
import { packLinears, unpackLinears, type KernelSpec } from '../src/infer/pack.js';
import { forwardOnce, syntheticBatch } from '../src/infer/latency.js';
import { onnxGraphOfModel } from '../src/export/export.js';
import type { OnnxPrecision } from '../src/export/onnx-weights.js';

export const VERSUS_VARIANTS = ['fp32', 'int8'] as const;
export type VersusVariant = (typeof VERSUS_VARIANTS)[number];

export interface VersusRow {
  variant: VersusVariant;
  batch: number;
  tlc_latency_ms: number;
  onnxruntime_latency_ms: number;
  tlc_seq_per_s: number;
  onnxruntime_seq_per_s: number;
  /** tlc's speed over onnxruntime's (> 1: tlc is faster). */
  speedup: number;
}

export interface VersusResult {
  model: { source: string; layers: number; d_model: number; params: number; vocab: number; seq_len: number };
  threads: number;
  onnxruntime: { package: string; version: string };
  rows: VersusRow[];
}

export interface VersusOptions {
  model?: string;
  seqLen?: number;
  batch?: number;
  rounds?: number;
  log?: (line: string) => void;
}

type Ort = typeof import('onnxruntime-node');

async function loadOnnxruntime(): Promise<{ ort: Ort; version: string }> {
  try {
    const ort = await import('onnxruntime-node');
    const { createRequire } = await import('node:module');
    const version = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
    return { ort, version };
  } catch (e) {
    throw new TlcError(`--versus onnxruntime needs the onnxruntime-node package (npm install onnxruntime-node): ${(e as Error).message}`);
  }
}

const ONNX_PRECISION: Record<VersusVariant, OnnxPrecision> = { fp32: 'fp32', int8: 'int8' };
const TLC_KERNEL: Record<VersusVariant, KernelSpec> = { fp32: { kind: 'f32' }, int8: { kind: 'int8' } };

function stateDictOf(model: TransformerBody): StateDict {
  return new Map(model.namedParameters().map(([name, t]) => [name, { shape: [...t.shape], data: t.toFloat32Array() }]));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function benchVersusOnnxruntime(opts: VersusOptions = {}): Promise<VersusResult> {
  const log = opts.log ?? (() => {});
  const { ort, version } = await loadOnnxruntime();
  const { model, seqLen, batch, rounds } = inferBenchSetup(opts);
  const cfg = model.config;
  const threads = getThreads();
  try {
    const weights = stateDictOf(model);
    const sessions = new Map<VersusVariant, import('onnxruntime-node').InferenceSession>();
    for (const v of VERSUS_VARIANTS) {
      sessions.set(v, await ort.InferenceSession.create(onnxGraphOfModel(cfg, weights, ONNX_PRECISION[v]), {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      }));
    }
    log(`onnxruntime-node ${version}, ${threads} intra-op threads; tlc ${threads} threads; ` +
      `L${cfg.n_layers}-D${cfg.d_model}, ${(countParams(cfg).total / 1e6).toFixed(1)}M params, T=${seqLen}`);
    const one = syntheticBatch(model, 1, seqLen), many = syntheticBatch(model, batch, seqLen);
    const feeds = (b: typeof one): Record<string, import('onnxruntime-node').Tensor> => {
      const dims = [b.batchSize, b.seqLen];
      return {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(b.inputIds, (x) => BigInt(x)), dims),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(b.batchSize * b.seqLen).fill(1n), dims),
      };
    };
    const ortOne = feeds(one), ortMany = feeds(many);
    const seconds = async (fn: () => unknown): Promise<number> => {
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    type Times = { one: number[]; many: number[] };
    const times = new Map<string, Times>();
    const at = (engine: string, v: VersusVariant): Times => {
      const key = `${engine}/${v}`;
      if (!times.has(key)) times.set(key, { one: [], many: [] });
      return times.get(key)!;
    };
    const runTlc = async (v: VersusVariant, record: boolean): Promise<void> => {
      packLinears(model, () => TLC_KERNEL[v]);
      const t = at('tlc', v);
      for (let i = 0; i < 3; i++) {
        const s = await seconds(() => forwardOnce(model, one));
        if (record) t.one.push(s);
      }
      const s = await seconds(() => forwardOnce(model, many));
      if (record) t.many.push(s);
    };
    const runOrt = async (v: VersusVariant, record: boolean): Promise<void> => {
      const session = sessions.get(v)!, t = at('onnxruntime', v);
      for (let i = 0; i < 3; i++) {
        const s = await seconds(() => session.run(ortOne));
        if (record) t.one.push(s);
      }
      const s = await seconds(() => session.run(ortMany));
      if (record) t.many.push(s);
    };
    for (let r = -1; r < rounds; r++) { // round −1 warms up: primitives, sessions, allocators
      for (const v of VERSUS_VARIANTS) {
        await runTlc(v, r >= 0);
        await sleep(30);
        await runOrt(v, r >= 0);
        await sleep(30);
      }
      if (r >= 0) {
        log(`round ${r + 1}/${rounds}: ` + VERSUS_VARIANTS.map((v) =>
          `${v} tlc ${(1e3 * median(at('tlc', v).one)).toFixed(1)} ms, onnxruntime ${(1e3 * median(at('onnxruntime', v).one)).toFixed(1)} ms`).join('; '));
      }
    }
    const rows: VersusRow[] = [];
    for (const v of VERSUS_VARIANTS) {
      const t = at('tlc', v), o = at('onnxruntime', v);
      for (const [b, key] of [[1, 'one'], [batch, 'many']] as const) {
        const tl = median(t[key]), ol = median(o[key]);
        rows.push({
          variant: v, batch: b, tlc_latency_ms: 1e3 * tl, onnxruntime_latency_ms: 1e3 * ol,
          tlc_seq_per_s: b / tl, onnxruntime_seq_per_s: b / ol, speedup: ol / tl,
        });
      }
    }
    for (const s of sessions.values()) await s.release();
    return {
      model: { source: opts.model ?? 'random L4-D512 classifier', layers: cfg.n_layers, d_model: cfg.d_model, params: countParams(cfg).total, vocab: cfg.vocab_size, seq_len: seqLen },
      threads, onnxruntime: { package: 'onnxruntime-node', version }, rows,
    };
  } finally {
    unpackLinears(model);
    model.dispose();
  }
}
