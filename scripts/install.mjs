// `npm install`'s install step, where install scripts are allowed (without it npm would compile
// every install from source, since the package has a binding.gyp). The package ships its addons
// prebuilt, with oneDNN and OpenMP's runtime beside them (scripts/bundle-runtime.sh): when they
// load on this machine there is nothing to do. Otherwise (another architecture, or a checkout
// of the sources) the addons are built from source, which needs a C++ compiler and oneDNN's
// headers (scripts/setup.sh installs both on Debian).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BASELINE = { x64: 'tlc_native_sse41.node', arm64: 'tlc_native_armv8.node' };

/** Why the shipped addons cannot run here, or null when they load. */
async function prebuiltProblem() {
  const finder = join(root, 'dist', 'src', 'engine', 'addon-dir.js');
  if (!existsSync(finder)) return 'this is a source checkout (no dist/)';
  const baseline = BASELINE[process.arch];
  if (!baseline) return `no prebuilt addon for ${process.platform}-${process.arch}`;
  const { findAddonDir } = await import(pathToFileURL(finder).href);
  const found = findAddonDir(root);
  if (found.dir === null) return found.why;
  // in a child process: a library that fails to resolve must not take this one down
  const probe = spawnSync(process.execPath, ['-e',
    `require(${JSON.stringify(join(found.dir, 'tlc_cpu.node'))}); require(${JSON.stringify(join(found.dir, baseline))}).onednnInfo()`],
  { encoding: 'utf8' });
  return probe.status === 0 ? null : `the prebuilt addon does not load here: ${probe.stderr.trim().split('\n').find((l) => /Error/.test(l)) ?? probe.stderr.trim()}`;
}

const problem = await prebuiltProblem();
if (problem === null) {
  console.log('tlc: the prebuilt native addon loads here; nothing to build');
} else {
  console.log(`tlc: building the native addon from source (${problem})`);
  // configure and build, not rebuild: a clean would also delete build/linux-arm64 (the cross build)
  const gyp = process.env.npm_config_node_gyp;
  const nodeGyp = (step) => (gyp
    ? spawnSync(process.execPath, [gyp, step], { cwd: root, stdio: 'inherit' })
    : spawnSync('npx', ['--no-install', 'node-gyp', step], { cwd: root, stdio: 'inherit' }));
  let r = nodeGyp('configure');
  if (r.status === 0) r = nodeGyp('build');
  if (r.status !== 0) {
    console.error('tlc: the native addon could not be built: it needs a C++ compiler and oneDNN (on Debian: apt-get install g++ make libdnnl-dev)');
    process.exit(r.status ?? 1);
  }
}
