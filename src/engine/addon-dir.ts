// Where this process's native addons are: build/Release when they were built for this
// machine's architecture (npm run build:native), else build/linux-<arch>/Release (a cross
// build, scripts/build-arm64.sh). The ELF header says which architecture a build is for, so
// a checkout that holds both an x86-64 and an arm64 build loads the right one on each.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** ELF e_machine of each architecture Node names (process.arch). */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

/** e_machine of an ELF file, or null when it is not one (or cannot be read). */
export function elfMachine(path: string): number | null {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(20);
    if (readSync(fd, head, 0, 20, 0) < 20 || head.readUInt32BE(0) !== 0x7f454c46) return null;
    return head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The folders addons are looked for in, in order. */
export function addonDirs(root: string, arch: string = process.arch): string[] {
  return [join(root, 'build', 'Release'), join(root, 'build', `linux-${arch}`, 'Release')];
}

/**
 * The folder whose addons run here: the first of addonDirs whose tlc_cpu.node is built for this
 * architecture. Null when none is; `why` then says what was found instead.
 */
export function findAddonDir(root: string, arch: string = process.arch): { dir: string | null; why: string } {
  const want = ELF_MACHINE[arch];
  if (want === undefined || process.platform !== 'linux') {
    return { dir: null, why: `tlc's addons are built for Linux on x64 and arm64; this is ${process.platform}-${arch}` };
  }
  const seen: string[] = [];
  for (const dir of addonDirs(root, arch)) {
    const probe = join(dir, 'tlc_cpu.node');
    if (!existsSync(probe)) continue;
    const machine = elfMachine(probe);
    if (machine === want) return { dir, why: '' };
    const name = Object.keys(ELF_MACHINE).find((a) => ELF_MACHINE[a] === machine) ?? `ELF machine ${machine}`;
    seen.push(`${probe} is built for ${name}`);
  }
  const tried = addonDirs(root, arch).map((d) => join(d, 'tlc_cpu.node')).join(' or ');
  return { dir: null, why: seen.length > 0 ? `${seen.join('; ')}, not ${arch}` : `${tried} is missing` };
}
