// What this CPU can run, and which build of the kernels tlc loads for it.
//
// The native kernels are compiled once per x86-64 level, and once for arm64 (binding.gyp);
// this module reads the CPU's features (cpuid and the OS's saved register state on x86-64, the
// kernel's hardware capabilities on arm64, through the tiny baseline addon tlc_cpu), ranks them
// as an instruction-set tier, lowers the tier to TLC_MAX_ISA when that is set, and names the
// build to load and the cap to give oneDNN. It runs before any kernel is loaded: oneDNN reads
// its cap once, when it first dispatches.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TlcError } from '../util/errors.js';
import { findAddonDir } from './addon-dir.js';

/** x86-64 instruction-set tiers, lowest first. Each includes the ones before it. */
export const ISA_TIERS = ['sse41', 'avx2', 'avx512', 'avx512_vnni', 'avx512_bf16', 'amx'] as const;
/**
 * arm64 tiers: Advanced SIMD (NEON), which every ARMv8-A CPU has. oneDNN 2.6 takes no cap on
 * arm64 and tlc's arm64 kernels have one build, so there is nothing below it to choose.
 */
export const ARM64_TIERS = ['neon'] as const;
export type IsaTier = (typeof ISA_TIERS)[number] | (typeof ARM64_TIERS)[number];

/** The tiers of an architecture, lowest first (none where tlc has no build). */
export function tiersOf(arch: CpuProbe['arch']): readonly IsaTier[] {
  return arch === 'x86_64' ? ISA_TIERS : arch === 'arm64' ? ARM64_TIERS : [];
}

/** The architecture this process runs on, in CpuProbe's names. */
export function processArch(): CpuProbe['arch'] {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : 'other';
}

/** What cpuid and xgetbv report (a register file the OS does not save counts as absent). */
export interface CpuProbe {
  arch: 'x86_64' | 'arm64' | 'other';
  vendor: string;
  brand: string;
  family?: number;
  model?: number;
  stepping?: number;
  features: Record<string, boolean>;
}

/** A build of the kernels: the file, and the tier its code needs. */
export interface KernelBuild {
  name: 'sse41' | 'avx2' | 'avx512' | 'armv8';
  /** The least tier a CPU must have to run it. */
  needs: IsaTier;
  /** The compiler's target, for `tlc info`. */
  target: string;
}

const X86_BUILDS: readonly KernelBuild[] = [
  { name: 'sse41', needs: 'sse41', target: 'x86-64-v2' },
  { name: 'avx2', needs: 'avx2', target: 'x86-64-v3' },
  { name: 'avx512', needs: 'avx512', target: 'x86-64-v4' },
];
const ARM64_BUILDS: readonly KernelBuild[] = [{ name: 'armv8', needs: 'neon', target: 'armv8-a' }];

/** oneDNN's name (ONEDNN_MAX_CPU_ISA) for the cap of each x86-64 tier. */
export const ONEDNN_ISA_OF_TIER: Partial<Record<IsaTier, string>> = {
  sse41: 'SSE41', avx2: 'AVX2', avx512: 'AVX512_CORE', avx512_vnni: 'AVX512_CORE_VNNI',
  avx512_bf16: 'AVX512_CORE_BF16', amx: 'AVX512_CORE_AMX',
};

function isArm64Tier(t: IsaTier): boolean {
  return (ARM64_TIERS as readonly string[]).includes(t);
}

/** A tier's rank among its architecture's tiers. */
export function tierRank(t: IsaTier): number {
  return isArm64Tier(t) ? (ARM64_TIERS as readonly string[]).indexOf(t) : (ISA_TIERS as readonly string[]).indexOf(t);
}

/**
 * The highest tier whose every instruction the CPU has (and its OS saves the registers of);
 * null below x86-64-v2, on an arm64 CPU without Advanced SIMD, and on other architectures.
 */
export function hostTier(p: CpuProbe): IsaTier | null {
  const f = (name: string): boolean => p.features[name] === true;
  if (p.arch === 'arm64') return f('asimd') ? 'neon' : null;
  if (p.arch !== 'x86_64') return null;
  if (!(f('sse3') && f('ssse3') && f('sse4_1') && f('sse4_2') && f('popcnt') && f('cx16') && f('lahf'))) return null;
  if (!(f('avx2') && f('fma') && f('f16c') && f('bmi1') && f('bmi2') && f('lzcnt') && f('movbe'))) return 'sse41';
  if (!(f('avx512f') && f('avx512bw') && f('avx512dq') && f('avx512vl') && f('avx512cd'))) return 'avx2';
  if (!f('avx512_vnni')) return 'avx512';
  if (!f('avx512_bf16')) return 'avx512_vnni';
  if (!(f('amx_tile') && f('amx_bf16') && f('amx_int8'))) return 'avx512_bf16';
  return 'amx';
}

/** TLC_MAX_ISA, checked: one of the architecture's tiers, or undefined when unset. */
export function requestedCap(env: NodeJS.ProcessEnv = process.env, arch: CpuProbe['arch'] = processArch()): IsaTier | undefined {
  const v = env.TLC_MAX_ISA?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  const tiers = tiersOf(arch);
  if (!(tiers as readonly string[]).includes(v)) {
    throw new TlcError(`TLC_MAX_ISA="${env.TLC_MAX_ISA}" is not a tier${arch === 'x86_64' ? '' : ` of ${arch}`}: use one of ${tiers.join(', ')}`);
  }
  return v as IsaTier;
}

/** The build for a tier: the highest one of its architecture whose needs the tier meets. */
export function buildForTier(tier: IsaTier): KernelBuild {
  const builds = isArm64Tier(tier) ? ARM64_BUILDS : X86_BUILDS;
  let best = builds[0];
  for (const b of builds) if (tierRank(b.needs) <= tierRank(tier)) best = b;
  return best;
}

/** Where this process's kernels come from and why. */
export interface IsaChoice {
  probe: CpuProbe;
  /** What the CPU has. */
  host: IsaTier;
  /** TLC_MAX_ISA, if set. */
  cap?: IsaTier;
  /** The tier tlc runs at: the host's, lowered to the cap. */
  tier: IsaTier;
  build: KernelBuild;
  /** The cap given to oneDNN (ONEDNN_MAX_CPU_ISA), when TLC_MAX_ISA is below the host's tier. */
  onednnCap?: string;
}

/** The folder of the addons built for this machine's architecture. */
export function addonDir(root: string): string {
  const found = findAddonDir(root);
  if (found.dir === null) {
    throw new Error(`tlc: the native addon is not built for this machine (${found.why}); run "npm run build:native"`);
  }
  return found.dir;
}

function loadProbe(dir: string): CpuProbe {
  const addon = createRequire(import.meta.url)(join(dir, 'tlc_cpu.node')) as { cpuFeatures(): CpuProbe };
  return addon.cpuFeatures();
}

/**
 * Chooses the kernels' build for this CPU and TLC_MAX_ISA, and caps oneDNN to match (through
 * ONEDNN_MAX_CPU_ISA, which it reads when it first dispatches). A cap above the host's tier
 * changes nothing; a CPU below x86-64-v2 is refused with the reason.
 */
export function chooseIsa(root: string): IsaChoice & { path: string } {
  const dir = addonDir(root);
  const probe = loadProbe(dir);
  const host = hostTier(probe);
  if (host === null) {
    throw new TlcError(
      probe.arch === 'x86_64'
        ? `this CPU (${probe.brand || probe.vendor}) lacks SSE4.2/POPCNT: tlc needs an x86-64-v2 CPU or later`
        : probe.arch === 'arm64'
          ? `this CPU (${probe.brand || probe.vendor || 'arm64'}) lacks Advanced SIMD: tlc needs an ARMv8-A CPU with NEON`
          : `tlc's kernels are built for x86-64 and arm64; this is ${probe.arch}`);
  }
  const cap = requestedCap(process.env, probe.arch);
  const tier = cap !== undefined && tierRank(cap) < tierRank(host) ? cap : host;
  const build = buildForTier(tier);
  const path = join(dir, `tlc_native_${build.name}.node`);
  if (!existsSync(path)) {
    throw new Error(`tlc: the native addon is not built (${path} is missing); run "npm run build:native"`);
  }
  // oneDNN is capped only below the host's tier: at it, oneDNN keeps what lies between tlc's
  // tiers (AVX2-VNNI on an AVX2 CPU that has it)
  let onednnCap: string | undefined;
  if (cap !== undefined && tierRank(cap) < tierRank(host)) {
    onednnCap = ONEDNN_ISA_OF_TIER[tier];
    if (onednnCap !== undefined) process.env.ONEDNN_MAX_CPU_ISA = onednnCap;
  }
  return { probe, host, ...(cap !== undefined ? { cap } : {}), tier, build, path, ...(onednnCap ? { onednnCap } : {}) };
}
