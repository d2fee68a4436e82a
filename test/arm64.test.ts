// The arm64 build under emulation: scripts/build-arm64.sh (run by scripts/setup.sh on x86-64)
// cross-compiles the addons into build/linux-arm64 and fetches Node's arm64 build; here that Node
// runs under qemu-aarch64 and loads them. The kernel, engine, parity and inference tests run
// there as they run natively, on two emulated CPUs:
//   cortex-a53  ARMv8.0-A, NEON and nothing newer: the build holds no instruction above its
//               baseline, and oneDNN runs its Advanced SIMD path (what Graviton 2 and 3,
//               Ampere Altra and a Raspberry Pi get from oneDNN 2.6)
//   max         every extension qemu has, SVE at 512 bits: oneDNN's SVE-512 JIT (A64FX class)
// Left out: tests that start a child `node` (qemu-user runs one process; without a binfmt
// handler a child arm64 binary cannot start), and onnxruntime (its arm64 binary crashes at load
// under qemu-user 7.2). On an arm64 host none of this applies: the suite runs there natively.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { elfMachine, findAddonDir } from '../src/engine/addon-dir.js';
import { tempDir } from './temp-dir.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = join(DIST, '..');
const ARM = join(ROOT, 'build', 'linux-arm64');
const NODE = join(ARM, 'node', 'bin', 'node');
const QEMU = ['/usr/bin/qemu-aarch64', '/usr/local/bin/qemu-aarch64'].find((p) => existsSync(p));

/** Why the emulated run does not apply here, or null where it must run. */
function notHere(): string | null {
  if (process.arch === 'arm64') return 'this host is arm64: the suite runs on it natively';
  if (process.arch !== 'x64' || process.platform !== 'linux') return `the arm64 cross build is made on x86-64 Linux; this is ${process.platform}-${process.arch}`;
  return null;
}

/** The newest modification time of the native sources and the build file. */
function newestSource(): number {
  let newest = statSync(join(ROOT, 'binding.gyp')).mtimeMs;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else newest = Math.max(newest, statSync(join(d, e.name)).mtimeMs);
    }
  };
  walk(join(ROOT, 'native'));
  return newest;
}

function requireBuild(): void {
  const addon = join(ARM, 'Release', 'tlc_native_armv8.node');
  const missing = [NODE, join(ARM, 'Release', 'tlc_cpu.node'), addon].filter((p) => !existsSync(p));
  assert.deepEqual(missing, [], 'the arm64 build is missing: run bash scripts/build-arm64.sh (scripts/setup.sh runs it)');
  assert.ok(statSync(addon).mtimeMs >= newestSource(), 'the arm64 build is older than the native sources: run npm run build:arm64');
  assert.ok(QEMU, 'qemu-aarch64 is missing: apt-get install qemu-user (scripts/setup.sh installs it)');
}

/** Runs a script of dist/ with arm64 Node on an emulated CPU. */
function emulated(cpu: string, args: string[], timeoutMs = 300_000): { status: number | null; stdout: string; stderr: string } {
  // without NODE_TEST_CONTEXT (a nested runner would skip its tests) and without x86 tier caps
  const { NODE_TEST_CONTEXT: _, TLC_MAX_ISA: __, ONEDNN_MAX_CPU_ISA: ___, ...env } = process.env;
  const r = spawnSync(QEMU!, ['-cpu', cpu, '-L', '/', NODE, ...args],
    { encoding: 'utf8', env: { ...env, OMP_NUM_THREADS: '2' }, cwd: ROOT, timeout: timeoutMs, maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the loader takes the addons built for this architecture: build/Release, else build/linux-<arch>/Release', (t) => {
  const skip = notHere();
  if (skip) return t.skip(skip);
  requireBuild();
  const x86 = join(ROOT, 'build', 'Release', 'tlc_cpu.node'), arm = join(ARM, 'Release', 'tlc_cpu.node');
  assert.deepEqual([elfMachine(x86), elfMachine(arm), elfMachine(join(ROOT, 'package.json'))], [62, 183, null]);
  const root = tempDir('tlc-addons-');
  try {
    const place = (name: string, from: string, dir: string): string => {
      const d = join(root, name, ...dir.split('/'));
      mkdirSync(d, { recursive: true });
      copyFileSync(from, join(d, 'tlc_cpu.node'));
      return d;
    };
    // a checkout built here and cross-built for arm64
    const both = place('both', x86, 'build/Release');
    const bothArm = place('both', arm, 'build/linux-arm64/Release');
    assert.equal(findAddonDir(join(root, 'both'), 'x64').dir, both);
    assert.equal(findAddonDir(join(root, 'both'), 'arm64').dir, bothArm);
    // a checkout built on an arm64 machine
    const native = place('arm', arm, 'build/Release');
    assert.equal(findAddonDir(join(root, 'arm'), 'arm64').dir, native);
    const wrong = findAddonDir(join(root, 'arm'), 'x64');
    assert.equal(wrong.dir, null);
    assert.match(wrong.why, /tlc_cpu\.node is built for arm64, not x64/);
    mkdirSync(join(root, 'none'));
    assert.match(findAddonDir(join(root, 'none'), 'x64').why, /build\/Release\/tlc_cpu\.node or .*build\/linux-x64\/Release\/tlc_cpu\.node is missing/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('on an emulated arm64 CPU tlc loads its arm64 build and says what runs there', (t) => {
  const skip = notHere();
  if (skip) return t.skip(skip);
  requireBuild();
  const info = (cpu: string): Record<string, any> => {
    const r = emulated(cpu, [join(DIST, 'src', 'cli', 'main.js'), 'info', '--json']);
    assert.equal(r.status, 0, `${cpu}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const a53 = info('cortex-a53');
  assert.equal(a53.cpu.arch, 'arm64');
  assert.ok(a53.cpu.features.includes('asimd'), a53.cpu.features.join(' '));
  assert.ok(!a53.cpu.features.includes('sve') && !a53.cpu.features.includes('asimddp'), 'an ARMv8.0 CPU has no SVE or dot product');
  assert.deepEqual([a53.isa.tier, a53.isa.build, a53.isa.target], ['neon', 'armv8', 'armv8-a']);
  assert.equal(a53.onednn.isa, 'asimd');
  assert.match(a53.training.f32.kernel, /own kernels NEON/);
  assert.equal(a53.training.bf16.kernel, null, 'oneDNN 2.6 has no bf16 products on arm64');
  assert.equal(a53.training.auto.kernel, 'f32');
  assert.match(a53.inference.int8.kernel, /exact s32 sums/);
  // bf16 is refused before anything is allocated, naming the CPU's tier and the alternative
  const refusal = emulated('cortex-a53', ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(join(DIST, 'src', 'engine', 'mixed.js'))}); console.log(m.bf16Unavailable('--precision bf16'))`]);
  assert.equal(refusal.status, 0, refusal.stderr);
  assert.match(refusal.stdout, /^--precision bf16: this CPU cannot multiply in bf16: .*runs tlc at the neon tier and oneDNN \(asimd\) has bf16 products on x86-64 AVX-512 and above only; use f32/);
  const max = info('max');
  assert.ok(max.cpu.features.includes('sve') && max.cpu.features.includes('asimddp'));
  assert.equal(max.onednn.isa, 'sve_512');
  assert.equal(max.isa.build, 'armv8');
});

test('TLC_MAX_ISA on arm64 takes its tiers and refuses x86-64 ones by name', (t) => {
  const skip = notHere();
  if (skip) return t.skip(skip);
  requireBuild();
  const cli = join(DIST, 'src', 'cli', 'main.js');
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const run = (cap: string) => spawnSync(QEMU!, ['-cpu', 'cortex-a53', '-L', '/', NODE, cli, 'info', '--json'], { encoding: 'utf8', env: { ...env, TLC_MAX_ISA: cap }, cwd: ROOT });
  const bad = run('avx2');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /TLC_MAX_ISA="avx2" is not a tier of arm64: use one of neon/);
  const good = run('neon');
  assert.equal(good.status, 0, good.stderr);
  assert.equal(JSON.parse(good.stdout).isa.tier, 'neon');
});

test('every kernel computes on arm64 what it computes on this x86-64 CPU', { timeout: 600_000 }, (t) => {
  const skip = notHere();
  if (skip) return t.skip(skip);
  requireBuild();
  const TOUR = join(DIST, 'tools', 'kernel-tour.js');
  const arm = emulated('cortex-a53', [TOUR]);
  assert.equal(arm.status, 0, arm.stderr);
  const here = spawnSync(process.execPath, [TOUR], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(here.status, 0, here.stderr);
  const a = JSON.parse(arm.stdout), x = JSON.parse(here.stdout);
  assert.equal(a.build, 'armv8');
  // bf16 runs on x86-64 AVX-512 only; every other family must be there on both
  const families = Object.keys(x.results).filter((name) => !/bf16/i.test(name));
  assert.ok(families.length >= 9, families.join(', '));
  for (const name of families) {
    const want = x.results[name], got = a.results[name];
    assert.ok(got, `${name} did not run on arm64`);
    // The builds contract and order their float sums differently, so activations differ in
    // their last bits; where they are quantized to 8 bits, a value that close to a rounding
    // boundary takes the next code (seen: 1.5e-4 of the largest summary number for int8).
    const tolerance = /^infer_(int8|w4a8)$/.test(name) ? 1e-3 : 1e-4;
    const scale = Math.max(1e-6, ...want.map(Math.abs));
    const diff = Math.max(...want.map((v: number, i: number) => Math.abs(v - got[i])));
    assert.ok(diff <= tolerance * scale, `${name}: arm64 ${got} vs x86-64 ${want}`);
  }
});

// The test files that run on arm64 as they are, and the emulated CPUs each runs on.
const SUITE: { file: string; cpus: string[]; only?: string }[] = [
  ...['activation', 'attention', 'bad-input', 'bf16', 'crossentropy', 'distillation', 'dropout', 'embedding', 'layernorm', 'linear', 'optim', 'quantize']
    .map((f) => ({ file: `engine-${f}`, cpus: ['cortex-a53'] })),
  { file: 'parity', cpus: ['cortex-a53', 'max'] },
  { file: 'infer-packed', cpus: ['cortex-a53'] },
  // oneDNN's SVE-512 int8 products, against the exact integer reference
  { file: 'infer-packed', cpus: ['max'], only: '^(int8|w<k>a8)' },
  { file: 'seq2seq-model', cpus: ['cortex-a53'] },
  { file: 'compress-quantize', cpus: ['cortex-a53'] },
];

for (const { file, cpus, only } of SUITE) {
  for (const cpu of cpus) {
    test(`arm64 (${cpu}): test/${file}${only ? ` /${only}/` : ''} passes`, { timeout: 600_000 }, (t) => {
      const skip = notHere();
      if (skip) return t.skip(skip);
      requireBuild();
      const r = emulated(cpu, [...(only ? [`--test-name-pattern=${only}`] : []), join(DIST, 'test', `${file}.test.js`)], 600_000);
      const count = (what: string): number => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? NaN);
      const failed = r.stdout.split('\n').filter((l) => /^not ok /.test(l)).join('\n');
      assert.equal(r.status, 0, `${count('fail')} failed\n${failed}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      assert.ok(count('pass') >= 1, `no test passed:\n${r.stdout.slice(-2000)}`);
      t.diagnostic(`${count('pass')} passed, ${count('skipped')} skipped`);
    });
  }
}
