// One portable build on every CPU: the tier rules, TLC_MAX_ISA, the kernel and engine tests
// once per tier below the host's, and the builds run on emulated CPUs of the lower tiers
// (qemu-user), which proves they hold no instruction those CPUs lack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARM64_TIERS, ISA_TIERS, buildForTier, hostTier, requestedCap, tierRank, tiersOf, type CpuProbe, type IsaTier } from '../src/engine/cpu.js';
import { isa } from '../src/engine/native.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const TOUR = join(DIST, 'tools', 'kernel-tour.js');

function probe(features: string[]): CpuProbe {
  return { arch: 'x86_64', vendor: 'AuthenticAMD', brand: 'test', features: Object.fromEntries(features.map((f) => [f, true])) };
}
const V2 = ['sse3', 'ssse3', 'sse4_1', 'sse4_2', 'popcnt', 'cx16', 'lahf'];
const V3 = [...V2, 'avx', 'avx2', 'fma', 'f16c', 'bmi1', 'bmi2', 'lzcnt', 'movbe'];
const V4 = [...V3, 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512cd'];

test('tiers: what the CPU and its OS support, each tier needing all of the one below', () => {
  assert.equal(hostTier(probe(['sse4_1'])), null, 'below x86-64-v2');
  assert.equal(hostTier(probe(V2.filter((f) => f !== 'lahf'))), null, 'x86-64-v2 needs LAHF/SAHF in 64-bit mode');
  assert.equal(hostTier(probe(V2)), 'sse41');
  assert.equal(hostTier(probe([...V2, 'avx2', 'fma'])), 'sse41', 'x86-64-v3 needs BMI2, F16C, LZCNT, MOVBE too');
  assert.equal(hostTier(probe(V3)), 'avx2');
  assert.equal(hostTier(probe([...V3, 'avx512f'])), 'avx2', 'AVX-512F alone is not x86-64-v4');
  assert.equal(hostTier(probe(V4)), 'avx512');
  assert.equal(hostTier(probe([...V4, 'avx512_bf16'])), 'avx512', 'bf16 without VNNI does not skip a tier');
  assert.equal(hostTier(probe([...V4, 'avx512_vnni'])), 'avx512_vnni');
  assert.equal(hostTier(probe([...V4, 'avx512_vnni', 'avx512_bf16'])), 'avx512_bf16');
  assert.equal(hostTier(probe([...V4, 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'amx_int8'])), 'amx');
  assert.equal(hostTier({ ...probe(V4), arch: 'arm64' }), null, 'x86 features on arm64 are not NEON');
  assert.equal(hostTier({ ...probe(['asimd', 'sve']), arch: 'arm64' }), 'neon');
  assert.equal(hostTier({ ...probe(V4), arch: 'other' }), null);
  assert.deepEqual(ISA_TIERS.map((t) => buildForTier(t).name), ['sse41', 'avx2', 'avx512', 'avx512', 'avx512', 'avx512']);
  assert.deepEqual(ARM64_TIERS.map((t) => buildForTier(t).name), ['armv8']);
  assert.deepEqual([tiersOf('x86_64'), tiersOf('arm64'), tiersOf('other')], [ISA_TIERS, ARM64_TIERS, []]);
});

test('TLC_MAX_ISA: a tier name caps the choice; anything else is refused by name', () => {
  assert.equal(requestedCap({}), undefined);
  assert.equal(requestedCap({ TLC_MAX_ISA: 'AVX2' }, 'x86_64'), 'avx2');
  assert.throws(() => requestedCap({ TLC_MAX_ISA: 'avx3' }, 'x86_64'), /TLC_MAX_ISA="avx3" is not a tier: use one of sse41, avx2/);
  assert.throws(() => requestedCap({ TLC_MAX_ISA: 'neon' }, 'x86_64'), /is not a tier: use one of sse41/, 'an arm64 tier on x86-64');
  assert.equal(requestedCap({ TLC_MAX_ISA: 'NEON' }, 'arm64'), 'neon');
  assert.throws(() => requestedCap({ TLC_MAX_ISA: 'avx512' }, 'arm64'), /TLC_MAX_ISA="avx512" is not a tier of arm64: use one of neon$/);
  const r = spawnSync(process.execPath, [join(DIST, 'src', 'cli', 'main.js'), 'info'], { encoding: 'utf8', env: { ...process.env, TLC_MAX_ISA: 'pentium' } });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /TLC_MAX_ISA="pentium" is not a tier/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

/** The tiers at or below the host's, lowest first. */
function tiersHere(): IsaTier[] {
  return tiersOf(isa.probe.arch).filter((t) => tierRank(t) <= tierRank(isa.host));
}

test('each tier loads its build and caps oneDNN to match', () => {
  for (const tier of tiersHere()) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e',
      `const m = await import(${JSON.stringify(join(DIST, 'src', 'engine', 'native.js'))});` +
      'console.log(JSON.stringify({ tier: m.isa.tier, build: m.native.buildInfo().level, onednn: m.native.onednnInfo().isa }))'],
    { encoding: 'utf8', env: { ...process.env, TLC_MAX_ISA: tier } });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.equal(got.tier, tier);
    assert.equal(got.build, buildForTier(tier).name);
    const onednn: Partial<Record<IsaTier, string>> = {
      sse41: 'sse41', avx2: 'avx2', avx512: 'avx512_core', avx512_vnni: 'avx512_core_vnni', avx512_bf16: 'avx512_core_bf16', amx: 'avx512_core_amx',
    };
    // below the host's tier oneDNN is capped to match; at it, oneDNN keeps all it finds (AVX2-VNNI on an AVX2 CPU that has it)
    if (onednn[tier] === undefined) continue; // arm64: oneDNN 2.6 takes no cap there
    if (tierRank(tier) < tierRank(isa.host)) assert.equal(got.onednn, onednn[tier], `oneDNN at ${tier}`);
    else assert.ok(got.onednn.startsWith(onednn[tier]!), `oneDNN at the host's tier: ${got.onednn}`);
  }
});

// The kernel, engine, parity, inference and export tests at every tier below the host's (the
// whole suite runs at the host's own).
const TIER_SUITE = (): string[] => readdirSync(__dirnameTest()).filter((f) =>
  /^(engine-.*|parity|infer-packed|export-onnx|seq2seq-model|pretrain-bf16)\.test\.js$/.test(f)).map((f) => join(__dirnameTest(), f));
function __dirnameTest(): string {
  return dirname(fileURLToPath(import.meta.url));
}

for (const tier of ISA_TIERS) {
  test(`the kernel, engine, parity, inference and export tests pass at TLC_MAX_ISA=${tier}`, { timeout: 600_000 }, (t) => {
    if (isa.probe.arch !== 'x86_64') return t.skip(`an x86-64 tier; this host is ${isa.probe.arch}`);
    if (tierRank(tier) >= tierRank(isa.host)) return t.skip(`the host's tier is ${isa.host}: the whole suite runs there`);
    // without NODE_TEST_CONTEXT, which makes a nested runner skip its files
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const files = TIER_SUITE();
    assert.ok(files.length >= 10, `the tier suite: ${files.join(', ')}`);
    // two files at a time: most are short, and one's process start overlaps the other's work
    const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=tap', ...files],
      { encoding: 'utf8', env: { ...env, TLC_MAX_ISA: tier }, maxBuffer: 256 << 20 });
    const count = (what: string): number => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
    const failed = r.stdout.split('\n').filter((l) => /^not ok /.test(l)).join('\n');
    assert.equal(r.status, 0, `at ${tier}: ${count('fail')} failed\n${failed}\n${r.stderr.slice(-2000)}`);
    assert.ok(count('pass') >= 50, `at ${tier}: only ${count('pass')} tests ran`);
    t.diagnostic(`${tier}: ${count('pass')} passed, ${count('skipped')} skipped`);
  });
}

// qemu-user's TCG runs x86-64 up to AVX2 (no AVX-512), refusing any instruction its -cpu model
// lacks; its cpuid reports that model, so tlc picks the build of that tier by itself.
const QEMU = ['/usr/bin/qemu-x86_64', '/usr/local/bin/qemu-x86_64'].find((p) => existsSync(p));
const EMULATED: { cpu: string; tier: IsaTier }[] = [{ cpu: 'Haswell-v4', tier: 'avx2' }, { cpu: 'Nehalem-v2', tier: 'sse41' }];

function tour(env: NodeJS.ProcessEnv, qemuCpu?: string): { tier: string; build: string; results: Record<string, number[]> } {
  const cmd = qemuCpu ? QEMU! : process.execPath;
  const args = qemuCpu ? ['-cpu', qemuCpu, process.execPath, TOUR] : [TOUR];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...env, OMP_NUM_THREADS: '1' }, timeout: 300_000 });
  assert.equal(r.status, 0, `${qemuCpu ?? 'native'}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr.split('\n').filter((l) => !/warning: TCG/.test(l)).join('\n')}`);
  return JSON.parse(r.stdout);
}

for (const { cpu, tier } of EMULATED) {
  test(`on an emulated ${cpu} (${tier}) every kernel runs and computes what it computes natively at that tier`, { timeout: 600_000 }, (t) => {
    if (process.arch !== 'x64') return t.skip(`emulates x86-64 CPUs with this host's x86-64 Node; this host is ${process.arch}`);
    if (!QEMU) return t.skip('qemu-user is not installed (scripts/setup.sh installs it)');
    const { TLC_MAX_ISA: _, ONEDNN_MAX_CPU_ISA: __, ...env } = process.env;
    const emulated = tour(env, cpu);
    assert.equal(emulated.tier, tier, 'the emulated CPU is seen as its tier');
    assert.equal(emulated.build, buildForTier(tier).name);
    const native = tour({ ...env, TLC_MAX_ISA: tier });
    assert.deepEqual(Object.keys(emulated.results), Object.keys(native.results));
    for (const [name, values] of Object.entries(native.results)) {
      const got = emulated.results[name];
      const scale = Math.max(1e-6, ...values.map(Math.abs));
      const diff = Math.max(...values.map((v, i) => Math.abs(v - got[i])));
      assert.ok(diff <= 1e-4 * scale, `${name}: emulated ${got} vs native ${values}`);
    }
  });
}

test('the benchmarks run at a tier without bf16: a row says why instead of an abort, and the JSON carries tlc info', () => {
  const CLI = join(DIST, 'src', 'cli', 'main.js');
  // an x86-64 tier below AVX-512; arm64 has no bf16 products at its one tier
  const low = isa.probe.arch === 'arm64' ? { tier: 'neon', build: 'armv8' } : { tier: 'avx2', build: 'avx2' };
  const env = { ...process.env, TLC_MAX_ISA: low.tier };
  const infer = spawnSync(process.execPath, [CLI, 'bench', 'infer', '--variants', 'fp32,bf16,int8', '--rounds', '1', '--seq-len', '16', '--batch-size', '2', '--json'],
    { encoding: 'utf8', env });
  assert.equal(infer.status, 0, infer.stderr);
  const i = JSON.parse(infer.stdout);
  assert.equal(i.system.isa.tier, low.tier);
  const bf16 = i.rows.filter((r: { variant: string }) => r.variant === 'bf16');
  assert.equal(bf16.length, 2);
  for (const r of bf16) {
    assert.equal(r.latency_ms, null);
    assert.match(r.unavailable, /cannot multiply in bf16/);
  }
  assert.ok(i.rows.filter((r: { variant: string; latency_ms: number | null }) => r.variant !== 'bf16').every((r: { latency_ms: number }) => r.latency_ms > 0));
  const train = spawnSync(process.execPath, [CLI, 'bench', 'train', '--no-torch', '--steps', '1', '--layers', '1', '--d-model', '64', '--heads', '2',
    '--seq-len', '16', '--batch-size', '2', '--vocab-size', '128', '--json'], { encoding: 'utf8', env });
  assert.equal(train.status, 0, train.stderr);
  const t = JSON.parse(train.stdout);
  assert.ok(t.tlc.tokens_per_s > 0);
  assert.equal(t.tlc_bf16.tokens_per_s, null);
  assert.match(t.tlc_bf16.unavailable, /cannot multiply in bf16/);
  assert.equal(t.bf16_matmul_peak_gflops, null);
  assert.equal(t.system.isa.build, low.build);
});
