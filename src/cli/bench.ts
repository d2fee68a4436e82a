// `tlc bench kernels|train|infer`: benchmarks print a table (or one JSON object with
// --json; progress goes to stderr). Numbers are ratios against baselines measured in
// the same run, never against remembered values.
import { Option, type Command } from 'commander';
import { aliasOption, renamed } from './help.js';
import { TlcError } from '../util/errors.js';
import { systemInfo, systemLine } from '../engine/system-info.js';
import { num, positiveInt } from './common.js';
import { readRunConfig } from '../run/pretrained.js';
import { taskForRun } from '../run/task.js';
import type { EncodedExamples } from '../data/task-batches.js';
import { benchKernels } from '../../bench/kernels.js';
import { REFERENCE_TRAIN_CONFIG, benchTraining, modelConfig, type TrainBenchResult } from '../../bench/train.js';
import { availableMemory, checkTrainingFits } from '../train/memory-check.js';
import { benchRanks } from '../../bench/ranks.js';
import { benchPrepare } from '../../bench/prepare.js';
import { benchContention } from '../../bench/contention.js';
import { benchLatency } from '../../bench/latency.js';
import { parseBytes } from '../experiment/pareto.js';
import { hfModelDir } from '../import/import.js';
import { formatBytes } from '../util/format.js';
import { INFER_VARIANTS, benchInference, type InferRow, type InferVariant } from '../../bench/infer.js';
import { benchVersusOnnxruntime } from '../../bench/onnxruntime.js';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks (kernels, train, infer)');
  registerBenchKernels(bench);
  registerBenchTrain(bench);
  registerBenchContention(bench);
  registerBenchPrepare(bench);
  registerBenchLatency(bench);
  registerBenchInfer(bench);
}

function registerBenchKernels(bench: Command): void {
  bench
    .command('kernels')
    .description("GFLOP/s of tlc's linear forward/backward next to raw oneDNN matmuls of the same shapes")
    .option('--json', 'print one JSON object on stdout')
    .option('--tokens <n>', 'rows of the activation matrix (batch × sequence)', '4096')
    .option('--dims <list>', 'model widths d (shapes tokens × d × 4d)', '256,512,768')
    .action((opts: { json?: boolean; tokens: string; dims: string }) => {
      const dims = opts.dims.split(',').map((d) => num(d, '--dims', positiveInt));
      const tokens = num(opts.tokens, '--tokens', positiveInt);
      checkKernelShapes(tokens, dims);
      const result = benchKernels({ tokens, dims, log: (l) => process.stderr.write(l + '\n') });
      if (opts.json) {
        process.stdout.write(JSON.stringify({ rows: result.rows, system: systemInfo() }) + '\n');
        return;
      }
      console.log(systemLine());
      console.log(`threads: ${result.threads}`);
      console.log('| op | m × k × n | tlc GFLOP/s | oneDNN GFLOP/s | tlc / oneDNN |');
      console.log('|---|---|---:|---:|---:|');
      for (const r of result.rows) {
        console.log(`| ${r.op} | ${r.m} × ${r.k} × ${r.n} | ${r.gflops.toFixed(1)} | ${r.onednn_gflops.toFixed(1)} | ${(100 * r.gflops / r.onednn_gflops).toFixed(0)}% |`);
      }
    });
}

function registerBenchTrain(bench: Command): void {
  bench
    .command('train')
    .description('tokens/s and GFLOP/s of a full training step (f32 and bf16) vs PyTorch (python3-torch) and the f32 and bf16 matmul peaks')
    .option('--json', 'print one JSON object on stdout')
    .addOption(new Option('--objective <kind>', 'training objective').choices(['mlm', 'clm']).default(REFERENCE_TRAIN_CONFIG.objective))
    .option('--layers <n>', 'layers', String(REFERENCE_TRAIN_CONFIG.layers))
    .option('--d-model <n>', 'width', String(REFERENCE_TRAIN_CONFIG.d_model))
    .option('--heads <n>', 'attention heads', String(REFERENCE_TRAIN_CONFIG.heads))
    .option('--seq-len <n>', 'sequence length', String(REFERENCE_TRAIN_CONFIG.seq_len))
    .option('--batch-size <n>', 'sequences per step', String(REFERENCE_TRAIN_CONFIG.batch))
    .addOption(aliasOption('--batch <n>', '--batch-size'))
    .option('--vocab-size <n>', 'vocabulary size', String(REFERENCE_TRAIN_CONFIG.vocab))
    .addOption(aliasOption('--vocab <n>', '--vocab-size'))
    .option('--steps <n>', 'timed steps', String(REFERENCE_TRAIN_CONFIG.steps))
    .option('--no-torch', 'skip the PyTorch baseline')
    .option('--ranks <n>', 'instead: data-parallel training with n ranks × 1 thread under mpirun against 1 rank × 1 thread, and the all-reduce bandwidth')
    .action((o: Record<string, string | boolean>, cmd: Command) => {
      const c = {
        objective: o.objective === 'clm' ? 'clm' as const : 'mlm' as const,
        layers: count(o.layers, '--layers'), d_model: count(o.dModel, '--d-model'), heads: count(o.heads, '--heads'), seq_len: count(o.seqLen, '--seq-len'),
        batch: count(renamed(cmd, 'batchSize', 'batch'), '--batch-size'), vocab: count(renamed(cmd, 'vocabSize', 'vocab'), '--vocab-size'),
        steps: count(o.steps, '--steps'),
      };
      checkTrainingFits(modelConfig(c), c.batch, c.seq_len, false);
      if (o.ranks !== undefined) {
        const n = num(String(o.ranks), '--ranks', (v) => Number.isInteger(v) && v >= 2);
        let ranks;
        try {
          ranks = benchRanks(c, n, (l) => process.stderr.write(l + '\n'));
        } catch (e) {
          throw new TlcError((e as Error).message);
        }
        if (o.json) {
          process.stdout.write(JSON.stringify({ config: c, ranks, system: systemInfo() }) + '\n');
          return;
        }
        console.log(`${c.objective} L${c.layers} d=${c.d_model} T=${c.seq_len} B=${c.batch} (${c.batch / n} per rank) V=${c.vocab}, ${(ranks.params / 1e6).toFixed(1)}M params`);
        console.log('| | tokens/s | efficiency |\n|---|---:|---:|');
        console.log(`| 1 rank × 1 thread | ${ranks.single_tokens_per_s.toFixed(0)} | |`);
        console.log(`| ${n} ranks × 1 thread | ${ranks.tokens_per_s.toFixed(0)} | ${ranks.efficiency.toFixed(2)} |`);
        console.log(`all-reduce of ${formatBytes(4 * ranks.params)} of gradients: ${ranks.allreduce_ms.toFixed(1)} ms, ` +
          `${ranks.allreduce_gb_per_s.toFixed(2)} GB/s bus bandwidth`);
        return;
      }
      const r = benchTraining(c, { withTorch: o.torch !== false, log: (l) => process.stderr.write(l + '\n') });
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...r, system: systemInfo() }) + '\n');
        return;
      }
      printTrainBench(r);
    });
}

function registerBenchContention(bench: Command): void {
  bench
    .command('contention')
    .description('training tokens/s and batch-1 inference latency alone and next to a busy process, under OpenMP\'s default wait policy, passive waiting and a bounded spin')
    .option('--json', 'print one JSON object on stdout')
    .option('--steps <n>', 'timed training steps', '4')
    .action((o: { json?: boolean; steps: string }) => {
      const rows = benchContention({ ...REFERENCE_TRAIN_CONFIG, steps: num(o.steps, '--steps', positiveInt) }, (l) => process.stderr.write(l + '\n'));
      if (o.json) {
        process.stdout.write(JSON.stringify({ rows, system: systemInfo() }) + '\n');
        return;
      }
      const alone = (p: string) => rows.find((r) => r.policy === p && !r.competitor)!;
      console.log('| OpenMP wait policy | competitor | training tokens/s | vs alone | fp32 latency | int8 latency |\n|---|---|---:|---:|---:|---:|');
      for (const r of rows) {
        console.log(`| ${r.policy} | ${r.competitor ? 'one busy process' : 'none'} | ${r.train_tokens_per_s.toFixed(0)} | ` +
          `${(r.train_tokens_per_s / alone(r.policy).train_tokens_per_s).toFixed(2)} | ${r.infer_latency_ms.fp32.toFixed(2)} ms | ${r.infer_latency_ms.int8.toFixed(2)} ms |`);
      }
    });
}

function registerBenchPrepare(bench: Command): void {
  bench
    .command('prepare')
    .description('tlc data prepare on one large generated text file: peak resident memory and MB/s')
    .option('--size <bytes>', 'bytes of text, e.g. 1GB', '1GB')
    .option('--pool <n>', 'distinct words the text draws from (Zipf)', '5000000')
    .option('--vocab-size <n>', 'vocabulary size', '8192')
    .addOption(aliasOption('--vocab <n>', '--vocab-size'))
    .option('--json', 'print one JSON object on stdout')
    .action((o: { size: string; pool: string; json?: boolean }, cmd: Command) => {
      const r = benchPrepare({
        bytes: parseBytes(o.size), pool: num(o.pool, '--pool', positiveInt), vocab: num(renamed(cmd, 'vocabSize', 'vocab'), '--vocab-size', positiveInt),
        log: (l) => process.stderr.write(l + '\n'),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...r, system: systemInfo() }) + '\n');
        return;
      }
      console.log(`${formatBytes(r.input_bytes)} in one file (words from a pool of ${r.distinct_word_pool.toLocaleString('en-US')}): ` +
        `${r.seconds.toFixed(1)} s, ${r.mb_per_s.toFixed(1)} MB/s, peak RSS ${formatBytes(r.peak_rss_bytes)}; ` +
        `${r.train_tokens.toLocaleString('en-US')} train tokens, word counts low by at most ${r.word_count_error_bound}`);
    });
}

function registerBenchLatency(bench: Command): void {
  bench
    .command('latency <dirs...>')
    .description('batch-1 latency of finished models in interleaved rounds of one run: `tlc compress` settings (or whole outputs) on the ' +
      'kernels they ship with, runs on the f32 kernel; --write puts the numbers into the settings\' result.json and compress.json')
    .option('--seq-len <n>', 'tokens per sequence (at most each model\'s max_len)', '128')
    .option('--rounds <n>', 'interleaved timing rounds (5 timed passes per model each)', '7')
    .option('--write', 'record the new latencies in the compression outputs (for `tlc pareto --max-latency`)')
    .option('--json', 'print one JSON object on stdout')
    .action((dirs: string[], o: { seqLen: string; rounds: string; write?: boolean; json?: boolean }) => {
      const rows = benchLatency(dirs, {
        seqLen: num(o.seqLen, '--seq-len', positiveInt), rounds: num(o.rounds, '--rounds', positiveInt), write: o.write === true,
        log: (l) => process.stderr.write(l + '\n'),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify({ rows, system: systemInfo() }) + '\n');
        return;
      }
      console.log('| model | kernels | tokens | latency, batch 1 | recorded before |\n|---|---|---:|---:|---:|');
      for (const r of rows) {
        const before = r.recorded_ms === null ? '-' : `${r.recorded_ms.toFixed(2)} ms${r.recorded_seq_len !== r.seq_len ? ` (at ${r.recorded_seq_len} tokens)` : ''}`;
        console.log(`| ${r.dir} | ${r.kernels} | ${r.seq_len} | ${r.latency_ms.toFixed(2)} ms | ${before} |`);
      }
    });
}

function registerBenchInfer(bench: Command): void {
  bench
    .command('infer [model]')
    .description('latency (batch 1) and throughput (batch 32) of fp32, bf16, int8, 4-bit and 50/70/90% sparse kernels on one model ' +
      '(a run or compressed-model directory; default: a random L4-D512 classifier)')
    .option('--json', 'print one JSON object on stdout')
    .option('--seq-len <n>', 'tokens per sequence', '128')
    .option('--batch-size <n>', 'sequences per batch for throughput', '32')
    .addOption(aliasOption('--batch <n>', '--batch-size'))
    .option('--rounds <n>', 'interleaved timing rounds', '7')
    .option('--variants <list>', `comma-separated subset of ${INFER_VARIANTS.join(',')}`)
    .option('--task <file|dir|example:NAME>', "also score each variant on this task's test split (a finetuned classifier run)")
    .addOption(new Option('--versus <engine>', 'instead: tlc against another engine on the same model (its ONNX export), fp32 and int8, interleaved').choices(['onnxruntime']))
    .action(async (given: string | undefined, o: { json?: boolean; seqLen: string; rounds: string; variants?: string; task?: string; versus?: string }, cmd: Command) => {
      const model = given === undefined ? undefined : hfModelDir(given);
      if (model !== undefined) {
        const config = readRunConfig(model);
        if (config.objective === 'seq2seq') throw new TlcError(`${given} is an encoder–decoder (seq2seq) run: bench infer times encoders and decoders of one stack (language models, classifiers)`);
        // the default length is cut to the model's positions; a length asked for is not
        const seqLen = num(o.seqLen, '--seq-len', positiveInt);
        if (cmd.getOptionValueSource('seqLen') === 'cli' && seqLen > config.max_len) throw new TlcError(`--seq-len ${seqLen} is beyond the ${config.max_len} positions of ${given}'s model: give at most ${config.max_len}`);
      }
      if (o.versus) {
        if (o.variants || o.task) throw new TlcError('--versus times fp32 and int8 on both engines: leave out --variants and --task');
        const v = await benchVersusOnnxruntime({
          model, seqLen: num(o.seqLen, '--seq-len', positiveInt), batch: num(renamed(cmd, 'batchSize', 'batch'), '--batch-size', positiveInt),
          rounds: num(o.rounds, '--rounds', positiveInt), log: (l) => process.stderr.write(l + '\n'),
        });
        if (o.json) {
          process.stdout.write(JSON.stringify({ versus: v, system: systemInfo() }) + '\n');
          return;
        }
        const m = v.model;
        console.log(systemLine());
        console.log(`${m.source}: L${m.layers} d=${m.d_model} V=${m.vocab}, ${(m.params / 1e6).toFixed(1)}M params, T=${m.seq_len}, ${v.threads} threads; ` +
          `${v.onnxruntime.package} ${v.onnxruntime.version} on the same model's ONNX export`);
        console.log('| variant | batch | tlc | onnxruntime | tlc / onnxruntime |');
        console.log('|---|---:|---:|---:|---:|');
        for (const r of v.rows) {
          const [a, b] = r.batch === 1 ? [`${r.tlc_latency_ms.toFixed(2)} ms`, `${r.onnxruntime_latency_ms.toFixed(2)} ms`]
            : [`${r.tlc_seq_per_s.toFixed(1)} seq/s`, `${r.onnxruntime_seq_per_s.toFixed(1)} seq/s`];
          console.log(`| ${r.variant} | ${r.batch} | ${a} | ${b} | ${r.speedup.toFixed(2)}× |`);
        }
        return;
      }
      const variants = o.variants ? o.variants.split(',').map((v) => v.trim()) : [...INFER_VARIANTS];
      for (const v of variants) {
        if (!(INFER_VARIANTS as readonly string[]).includes(v)) throw new TlcError(`--variants: unknown variant "${v}" (${INFER_VARIANTS.join(', ')})`);
      }
      let test: EncodedExamples | undefined;
      if (o.task) {
        if (!model) throw new TlcError('--task needs a model: a finetuned classifier run');
        test = (await taskForRun(model, readRunConfig(model), o.task)).data.test;
      }
      const r = benchInference({
        model, test, seqLen: num(o.seqLen, '--seq-len', positiveInt), batch: num(renamed(cmd, 'batchSize', 'batch'), '--batch-size', positiveInt), rounds: num(o.rounds, '--rounds', positiveInt),
        variants: variants as InferVariant[], log: (l) => process.stderr.write(l + '\n'),
      });
      if (o.json) {
        // the contract's fields, plus the test accuracy when --task asked for it
        process.stdout.write(JSON.stringify({ rows: r.rows, system: systemInfo() }) + '\n');
        return;
      }
      const m = r.model;
      console.log(systemLine());
      console.log(`${m.source}: L${m.layers} d=${m.d_model}, ${(m.params / 1e6).toFixed(1)}M params, T=${m.seq_len}, ${r.threads} threads`);
      const timed = r.rows.filter((x) => x.latency_ms !== null);
      const base = (batch: number): InferRow => timed.find((x) => x.variant === 'fp32' && x.batch === batch) ?? timed.find((x) => x.batch === batch)!;
      const b = Number(renamed(cmd, 'batchSize', 'batch'));
      const scored = r.rows.some((x) => x.accuracy !== undefined);
      console.log(`| variant | kernel | linear weights | latency, batch 1 | speed-up | throughput, batch ${b} | speed-up |${scored ? ' test accuracy |' : ''}`);
      console.log(`|---|---|---:|---:|---:|---:|---:|${scored ? '---:|' : ''}`);
      for (const v of variants as InferVariant[]) {
        const one = r.rows.find((x) => x.variant === v && x.batch === 1)!, many = r.rows.find((x) => x.variant === v && x.batch === b)!;
        if (one.latency_ms === null || many.seq_per_s === null) {
          console.log(`| ${v} | cannot run here: ${one.unavailable} | | | | | |${scored ? ' |' : ''}`);
          continue;
        }
        console.log(`| ${v} | ${r.kernels[v]} | ${formatBytes(r.packed_bytes[v])} | ${one.latency_ms.toFixed(2)} ms | ` +
          `${(base(1).latency_ms! / one.latency_ms).toFixed(2)}× | ${many.seq_per_s.toFixed(1)} seq/s | ${(many.seq_per_s / base(b).seq_per_s!).toFixed(2)}× |` +
          (scored ? ` ${(100 * one.accuracy!).toFixed(2)}% |` : ''));
      }
    });
}

function printTrainBench(r: TrainBenchResult): void {
  const cfg = r.config;
  console.log(systemLine());
  console.log(`${cfg.objective} L${cfg.layers} d=${cfg.d_model} h=${cfg.heads} T=${cfg.seq_len} B=${cfg.batch} V=${cfg.vocab}, ` +
    `${(cfg.params / 1e6).toFixed(1)}M params, ${cfg.threads} threads`);
  console.log('| | tokens/s | GFLOP/s | % of matmul peak | activation peak |');
  console.log('|---|---:|---:|---:|---:|');
  const peakOf = (t: { activation_peak_bytes?: number }): string => t.activation_peak_bytes ? formatBytes(t.activation_peak_bytes) : '';
  // a bf16 row is a share of the bf16 peak
  const row = (name: string, t: { tokens_per_s: number | null; gflops: number | null; activation_peak_bytes?: number; unavailable?: string }, bf16 = false): void => {
    if (t.tokens_per_s === null || t.gflops === null) {
      console.log(`| ${name} | cannot run here: ${t.unavailable ?? ''} | | | |`);
      return;
    }
    const peak = bf16 ? r.bf16_matmul_peak_gflops : r.matmul_peak_gflops;
    console.log(`| ${name} | ${t.tokens_per_s.toFixed(0)} | ${t.gflops.toFixed(1)} | ` +
      `${peak ? (100 * t.gflops / peak).toFixed(0) : '–'}%${bf16 ? ' of the bf16 peak' : ''} | ${peakOf(t)} |`);
  };
  const bf16Row = (name: string, t: Parameters<typeof row>[1]): void => row(name, t, true);
  row('tlc', r.tlc);
  bf16Row('tlc, bf16 mixed precision', r.tlc_bf16);
  bf16Row('tlc, bf16, activations kept in f32', r.tlc_bf16_f32_activations);
  if (r.pytorch) row(`PyTorch ${r.pytorch.version}, same algorithm`, r.pytorch);
  if (r.pytorch_bf16) bf16Row(`PyTorch ${r.pytorch_bf16.version}, bf16 autocast`, r.pytorch_bf16);
  if (r.pytorch_all_positions) row(`PyTorch ${r.pytorch_all_positions.version}, logits at all positions`, r.pytorch_all_positions);
  console.log(`| oneDNN f32 matmul peak | | ${r.matmul_peak_gflops.toFixed(1)} | 100% | |`);
  if (r.bf16_matmul_peak_gflops !== null) console.log(`| oneDNN bf16 matmul peak | | ${r.bf16_matmul_peak_gflops.toFixed(1)} | | |`);
  const b = r.tlc_bf16, b32 = r.tlc_bf16_f32_activations;
  if (b.tokens_per_s !== null && 'activation_peak_bytes' in b && b32.tokens_per_s !== null && 'activation_peak_bytes' in b32) {
    console.log(`tlc bf16 / tlc f32: ${(b.tokens_per_s / r.tlc.tokens_per_s).toFixed(2)}×`);
    console.log(`tlc bf16, activations in bf16 / in f32: ${(b.tokens_per_s / b32.tokens_per_s).toFixed(2)}× ` +
      `the tokens/s, ${(b.activation_peak_bytes / b32.activation_peak_bytes).toFixed(2)}× the activation peak ` +
      `(f32 training: ${(b.activation_peak_bytes / r.tlc.activation_peak_bytes).toFixed(2)}×)`);
    if (r.pytorch_bf16) console.log(`tlc bf16 / PyTorch bf16 autocast: ${(b.tokens_per_s / r.pytorch_bf16.tokens_per_s).toFixed(2)}×`);
  }
  if (r.pytorch?.blas) console.log(`PyTorch BLAS: ${r.pytorch.blas}`);
  if (r.pytorch) console.log(`tlc / PyTorch (same algorithm): ${(r.tlc.tokens_per_s / r.pytorch.tokens_per_s).toFixed(2)}×`);
  if (r.pytorch_all_positions) console.log(`tlc / PyTorch (logits at all positions): ${(r.tlc.tokens_per_s / r.pytorch_all_positions.tokens_per_s).toFixed(2)}×`);
}

/** A positive integer flag: `invalid --layers "abc": expected a positive integer`. */
function count(v: unknown, flag: string): number {
  const x = Number(v);
  if (String(v).trim() === '' || !positiveInt(x)) throw new TlcError(`invalid ${flag} "${String(v)}": expected a positive integer`);
  return x;
}

/** The kernels' tensors (tokens × d, 4d × d, tokens × 4d, and their gradients) fit one tensor each and this machine's memory. */
function checkKernelShapes(tokens: number, dims: number[]): void {
  for (const d of dims) {
    const largest = Math.max(tokens * 4 * d, 4 * d * d);
    if (largest > 2 ** 31 - 1) {
      throw new TlcError(`--tokens ${tokens} × --dims ${d}: a ${largest.toExponential(2)}-element tensor, more than one tensor can hold (2^31 − 1)`);
    }
    const bytes = 4 * 2 * (tokens * d + 4 * d * d + 2 * tokens * 4 * d);
    if (bytes > availableMemory()) {
      throw new TlcError(`--tokens ${tokens} × --dims ${d} needs about ${formatBytes(bytes)}, more than the ${formatBytes(availableMemory())} available`);
    }
  }
}
