// What this machine is and what tlc runs on it: the CPU, the instruction-set tier and build
// tlc dispatches to and oneDNN's, the kernel each precision and inference variant uses here
// and why, threads and wait policy, MPI, versions. `tlc info` prints it; every benchmark's
// JSON carries it, and its one-line form heads each README table (as llama.cpp's system-info
// line and torch.__config__.show() do).
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { isa, native, packageRoot, waitPolicy } from './native.js';
import { cpuFeatures, autoPrecision, type AutoPrecision } from './mixed.js';
import { getThreads } from './threads.js';
import { addonDir } from './cpu.js';

/** The kernel a precision or inference variant runs on here: `null` kernel where it cannot run. */
export interface KernelChoice {
  kernel: string | null;
  why: string;
}

export interface SystemInfo {
  tlc: string;
  node: string;
  cpu: { brand: string; vendor: string; arch: string; family?: number; model?: number; cores: number; features: string[] };
  isa: {
    /** The tier the CPU supports. */
    host: string;
    /** TLC_MAX_ISA, when set. */
    cap: string | null;
    /** The tier tlc runs at. */
    tier: string;
    /** The build of the kernels loaded, and its compiler target. */
    build: string;
    target: string;
  };
  onednn: { version: string; isa: string };
  threads: number;
  wait_policy: { policy: string; why: string };
  mpi: { addon: boolean; launcher: boolean };
  training: { f32: KernelChoice; bf16: KernelChoice; auto: KernelChoice };
  inference: Record<'fp32' | 'bf16' | 'int8' | 'w4' | 'w4a8' | 'sparse' | 'struct', KernelChoice>;
}

function tlcVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** The own kernels' vector width at this build. */
function vectorPaths(build: string): string {
  return build === 'avx512' ? 'AVX-512' : build === 'avx2' ? 'AVX2+FMA' : build === 'armv8' ? 'NEON' : 'SSE4 (portable)';
}

/**
 * Everything `tlc info` shows. `measureAuto` times what `--precision auto` decides (about
 * 0.1 s, once per process); without it `auto` is described from the CPU alone.
 */
export function systemInfo(opts: { measureAuto?: boolean } = {}): SystemInfo {
  const f = cpuFeatures();
  const o = native.onednnInfo();
  const build = isa.build.name;
  const own = vectorPaths(build);
  const bf16Kernel = f.bf16Matmul
    ? { kernel: `oneDNN bf16 (${f.nativeBf16 ? 'native bf16 dot products' : 'emulated on AVX-512'})`, why: `oneDNN ${o.isa}` }
    : { kernel: null, why: `oneDNN ${o.isa} has no bf16 products (oneDNN ${o.version} has them on x86-64 AVX-512 and above only)` };
  let auto: KernelChoice;
  if (opts.measureAuto) {
    const a: AutoPrecision = autoPrecision();
    auto = { kernel: a.precision, why: a.why };
  } else {
    auto = f.nativeBf16
      ? { kernel: 'bf16 or f32', why: 'measured when a run starts: bf16 where its products are ≥ 1.2× faster' }
      : { kernel: 'f32', why: f.bf16Matmul ? 'bf16 is emulated here' : 'no bf16 products here' };
  }
  const k8 = native.int8Kernel();
  const arm64 = isa.probe.arch === 'arm64';
  const int8 = k8.vnni
    ? { kernel: `oneDNN u8×s8 (${arm64 ? o.isa : o.isa.includes('amx') ? 'AMX' : 'VNNI'}: exact s32 sums)`, why: `oneDNN ${o.isa}` }
    : k8.wide
      ? { kernel: `tlc u8×s8 on 16-bit lanes (${own})`, why: `no VNNI (oneDNN ${o.isa} would saturate 8-bit codes): exact, 16 products per instruction` }
      : { kernel: 'oneDNN u8×s8 on split codes', why: `no VNNI, no AVX2: 8-bit codes multiply as two halves in [−64, 64], exact, twice the products` };
  const features = Object.entries(isa.probe.features).filter(([, on]) => on).map(([name]) => name);
  return {
    tlc: tlcVersion(),
    node: process.versions.node,
    cpu: {
      brand: isa.probe.brand, vendor: isa.probe.vendor, arch: isa.probe.arch,
      ...(isa.probe.family !== undefined ? { family: isa.probe.family, model: isa.probe.model } : {}),
      cores: availableParallelism(), features,
    },
    isa: { host: isa.host, cap: isa.cap ?? null, tier: isa.tier, build, target: isa.build.target },
    onednn: { version: o.version, isa: o.isa },
    threads: getThreads(),
    wait_policy: { ...waitPolicy },
    mpi: { addon: existsSync(join(addonDir(packageRoot()), 'tlc_mpi.node')), launcher: hasCommand('mpirun') },
    training: {
      f32: { kernel: `oneDNN f32 (${o.isa}); own kernels ${own}`, why: 'every CPU' },
      bf16: bf16Kernel,
      auto,
    },
    inference: {
      fp32: { kernel: `oneDNN f32 (${o.isa})`, why: 'every CPU' },
      bf16: bf16Kernel,
      int8,
      w4: { kernel: `4-bit codes expanded per call into oneDNN f32 (${o.isa})`, why: 'weight-only: memory-bound at small batches' },
      w4a8: { kernel: 'oneDNN u8×s8 on 4-bit codes', why: 'codes within [−64, 64] sum exactly with or without VNNI' },
      sparse: { kernel: `CSR × dense panels (${own})`, why: 'own kernel, FMAs on nonzero weights only' },
      struct: { kernel: `a smaller dense model on oneDNN f32 (${o.isa})`, why: 'removed heads and neurons are gone from the shapes' },
    },
  };
}

function int8Label(s: SystemInfo): string {
  const k = s.inference.int8.kernel ?? '';
  if (k.includes('split')) return 'split codes';
  if (k.includes('16-bit')) return '16-bit lanes';
  if (s.cpu.arch === 'arm64') return `s32 sums (${s.onednn.isa})`;
  return k.includes('AMX') ? 'AMX' : 'VNNI';
}

/** One line for benchmark headers and README tables. */
export function systemLine(s: SystemInfo = systemInfo()): string {
  const cap = s.isa.cap ? ` (TLC_MAX_ISA=${s.isa.cap}, host ${s.isa.host})` : '';
  return `tlc ${s.tlc} | ${s.cpu.brand || s.cpu.vendor || 'unnamed CPU'} (${s.cpu.arch}, ${s.cpu.cores} cores) | tier ${s.isa.tier}${cap}, ` +
    `build ${s.isa.build} (${s.isa.target}) | oneDNN ${s.onednn.version} ${s.onednn.isa} | ` +
    `bf16 ${s.training.bf16.kernel ? (s.training.bf16.kernel.includes('native') ? 'native' : 'emulated') : 'no'} | ` +
    `int8 ${int8Label(s)} | ` +
    `threads ${s.threads}, wait ${s.wait_policy.policy} | Node ${s.node}`;
}
