// The package as people install it: `npm pack`, installed into a fresh folder (its
// dependencies linked from this checkout, so nothing is fetched), then imported by entry
// point from JavaScript and type-checked from TypeScript.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countParams, presetConfig } from '../src/nn/config.js';
import { tempDir } from './temp-dir.js';

const REPO = process.cwd();

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack, installed in a fresh folder: every entry point imports, types check, the bin runs, internals stay private', () => {
  const root = tempDir('tlc-package-');
  const tarball = run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', root], REPO).trim().split('\n').pop()!;
  // it ships the addons of every build made here: each x86-64 level, and arm64 where cross-built
  const files = run('tar', ['-tzf', join(root, tarball)], root).split('\n');
  const shipped = (dir: string): string[] => files.filter((f) => f.startsWith(`package/${dir}/`) && f.endsWith('.node')).map((f) => f.slice(`package/${dir}/`.length)).sort();
  if (process.arch === 'x64') {
    assert.deepEqual(shipped('build/Release').filter((f) => f !== 'tlc_mpi.node'), ['tlc_cpu.node', 'tlc_native_avx2.node', 'tlc_native_avx512.node', 'tlc_native_sse41.node']);
    assert.deepEqual(shipped('build/linux-arm64/Release'), ['tlc_cpu.node', 'tlc_mpi.node', 'tlc_native_armv8.node']);
  }
  assert.ok(!files.some((f) => f.includes('/sysroot/') || f.includes('/node/bin/')), 'no build tools or sysroot in the package');
  // with oneDNN and OpenMP's runtime beside the addons, and their licences
  const libs = process.arch === 'x64' ? ['libOpenCL.so.1', 'libdnnl.so.2', 'libgomp.so.1'] : ['libdnnl.so.2', 'libgomp.so.1'];
  for (const dir of process.arch === 'x64' ? ['build/Release', 'build/linux-arm64/Release'] : ['build/Release']) {
    const here = files.filter((f) => f.startsWith(`package/${dir}/lib/`)).map((f) => f.slice(`package/${dir}/lib/`.length)).sort();
    const want = dir.includes('arm64') ? ['libdnnl.so.2', 'libgomp.so.1'] : libs;
    for (const lib of want) assert.ok(here.includes(lib), `${dir}/lib lacks ${lib}: ${here.join(', ')}`);
    assert.ok(here.includes('licences/libdnnl2.copyright') && here.includes('licences/libgomp1.copyright'), here.join(', '));
  }
  const proj = join(root, 'proj');
  mkdirSync(join(proj, 'node_modules'), { recursive: true });
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module' }));
  // package by package, scopes as real folders: npm unlinks the links it does not need, and
  // must never reach into this checkout's node_modules through a linked folder
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    if (!entry.startsWith('@')) {
      symlinkSync(join(REPO, 'node_modules', entry), join(proj, 'node_modules', entry));
      continue;
    }
    mkdirSync(join(proj, 'node_modules', entry));
    for (const pkg of readdirSync(join(REPO, 'node_modules', entry))) {
      symlinkSync(join(REPO, 'node_modules', entry, pkg), join(proj, 'node_modules', entry, pkg));
    }
  }
  run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', join(root, tarball)], proj);

  writeFileSync(join(proj, 'use.mjs'), `
    import { pretrain, plan, fitChinchilla, presetConfig, countParams, pretrainOptionsSchema } from 'tlc';
    import { tensor, add } from 'tlc/engine';
    import { TransformerLM } from 'tlc/nn';
    import { Tokenizer } from 'tlc/data';
    import * as compress from 'tlc/compress';
    import * as exporting from 'tlc/export';
    const x = tensor([1, 2, 3], [3]);
    const sum = add(x, x).toArray();
    const cfg = presetConfig('L2-D128', { vocab_size: 8192 });
    console.log(JSON.stringify({
      functions: [pretrain, plan, fitChinchilla, TransformerLM, Tokenizer].map((f) => typeof f),
      sum: Array.from(sum), params: countParams(cfg).total, schema: typeof pretrainOptionsSchema.parse,
      compress: Object.keys(compress).length > 0, exporting: Object.keys(exporting).length > 0,
    }));
  `);
  const out = JSON.parse(run(process.execPath, ['use.mjs'], proj));
  assert.deepEqual(out.functions, ['function', 'function', 'function', 'function', 'function']);
  assert.deepEqual(out.sum, [2, 4, 6]);
  assert.equal(out.params, countParams(presetConfig('L2-D128', { vocab_size: 8192 })).total);
  assert.ok(out.compress && out.exporting);

  // the types resolve through the exports map, and a wrong use is a type error
  writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: [] } }));
  writeFileSync(join(proj, 'typed.ts'), `
    import { countParams, presetConfig, type PretrainOptions } from 'tlc';
    import { type Tensor, zeros } from 'tlc/engine';
    const t: Tensor = zeros([2, 2]);
    const n: number = countParams(presetConfig('L1-D64', { vocab_size: 100 })).nonEmbedding;
    const o: Partial<PretrainOptions> = { batch_size: 8 };
    export { t, n, o };
  `);
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  run(process.execPath, [tsc, '-p', 'tsconfig.json'], proj);
  writeFileSync(join(proj, 'typed.ts'), `import { countParams } from 'tlc';\nconst s: string = countParams;\nexport { s };\n`);
  const bad = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: proj, encoding: 'utf8' });
  assert.notEqual(bad.status, 0, 'a type error went unnoticed: the types are not resolved');

  assert.match(run(join(proj, 'node_modules', '.bin', 'tlc'), ['--help'], proj), /Usage: tlc/);
  const internal = spawnSync(process.execPath, ['--input-type=module', '-e', "await import('tlc/dist/src/train/loop.js')"], { cwd: proj, encoding: 'utf8' });
  assert.match(internal.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
});

// The system's copies of the libraries the package bundles, which a mount namespace hides.
const SYSTEM_LIBS = ['libdnnl.so.2', 'libgomp.so.1', 'libOpenCL.so.1'];

test('the package installs without scripts and trains a step where no oneDNN is installed: the bundled libraries load', () => {
  const root = tempDir('tlc-package-bare-');
  const tarball = run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', root], REPO).trim().split('\n').pop()!;
  const proj = join(root, 'proj');
  mkdirSync(join(proj, 'node_modules'), { recursive: true });
  writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module' }));
  for (const entry of readdirSync(join(REPO, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    if (!entry.startsWith('@')) {
      symlinkSync(join(REPO, 'node_modules', entry), join(proj, 'node_modules', entry));
      continue;
    }
    mkdirSync(join(proj, 'node_modules', entry));
    for (const pkg of readdirSync(join(REPO, 'node_modules', entry))) symlinkSync(join(REPO, 'node_modules', entry, pkg), join(proj, 'node_modules', entry, pkg));
  }
  run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', join(root, tarball)], proj);
  // the install step, where scripts are allowed, keeps the prebuilt addon
  assert.match(run(process.execPath, [join(proj, 'node_modules', 'tlc', 'scripts', 'install.mjs')], proj), /the prebuilt native addon loads here; nothing to build/);

  writeFileSync(join(proj, 'step.mjs'), `
    import { readFileSync } from 'node:fs';
    import { presetConfig } from 'tlc';
    import { AdamW, backward, tidy, zeroGrad } from 'tlc/engine';
    import { TransformerLM } from 'tlc/nn';
    const model = new TransformerLM(presetConfig('L1-D64', { vocab_size: 50, max_len: 16 }), { seed: 1 });
    const n = 2 * 16, inputIds = new Int32Array(n), targets = new Int32Array(n), attentionMask = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) { inputIds[i] = (i * 7) % 50; targets[i] = (i * 3 + 1) % 50; }
    const batch = { batchSize: 2, seqLen: 16, inputIds, targets, attentionMask };
    const params = model.parameters();
    const opt = new AdamW(params, { lr: 1e-2 });
    const losses = [];
    for (let step = 0; step < 2; step++) {
      tidy(() => { const { loss } = model.loss(batch, { training: true }); losses.push(loss.toFloat32Array()[0]); backward(loss); });
      opt.step();
      zeroGrad(params);
    }
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).filter((p) => p && /lib(dnnl|gomp|OpenCL)/.test(p));
    console.log(JSON.stringify({ losses, libs: [...new Set(maps)] }));
  `);
  // hide the system's copies (bind-mount an empty file over each) where a mount namespace can be
  // made; where it cannot, the loaded paths below still show which copies ran
  const hidden = SYSTEM_LIBS.map((l) => spawnSync('sh', ['-c', `readlink -f $(ldconfig -p | awk '$1 == "${l}" { print $NF; exit }')`], { encoding: 'utf8' }).stdout.trim())
    .filter((p) => p.startsWith('/'));
  const mounts = hidden.map((p) => `mount --bind /dev/null ${p}`).join(' && ');
  const canHide = spawnSync('unshare', ['-m', 'sh', '-c', `${mounts || 'true'}`], { encoding: 'utf8' }).status === 0;
  const r = canHide
    ? spawnSync('unshare', ['-m', 'sh', '-c', `${mounts || 'true'} && exec "$0" step.mjs`, process.execPath], { cwd: proj, encoding: 'utf8' })
    : spawnSync(process.execPath, ['step.mjs'], { cwd: proj, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { losses: number[]; libs: string[] };
  assert.ok(out.losses.every(Number.isFinite) && out.losses[1] < out.losses[0], `a training step: ${out.losses}`);
  const pkg = join(proj, 'node_modules', 'tlc', 'build');
  assert.ok(out.libs.some((p) => p.endsWith('libdnnl.so.2')), out.libs.join('\n'));
  for (const p of out.libs) assert.ok(p.startsWith(pkg), `${p} is not the package's copy${canHide ? '' : ' (the system copies could not be hidden here)'}`);
  if (!canHide) console.log('# the system libraries could not be hidden (no mount namespace here); checked which copies loaded');
});
