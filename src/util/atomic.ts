// Atomic file writes: data goes to a temporary file beside the target, is fsynced and
// renamed over it, so a crash leaves either the old file or the complete new one.
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { TlcError } from './errors.js';

/** The temporary file an atomic write of `path` goes to: .<name>.<pid>.<random>.tmp beside it. */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const TEMPORARY_NAME = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;

/** Whether `name` is the temporary file of an atomic write in progress (or left by a killed writer). */
export function isAtomicTemporary(name: string): boolean {
  return TEMPORARY_NAME.test(name);
}

/**
 * Removes the temporary files of atomic writes in `dir` (not below it) that a killed writer
 * left; returns their paths. Only for a directory no other process is writing.
 */
export function removeAtomicTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed = names.filter((n) => TEMPORARY_NAME.test(n)).map((n) => join(dir, n));
  for (const p of removed) rmSync(p, { force: true });
  return removed;
}

/** Files being written by this process, dropped should it exit first (a signal, an error). */
const unfinished = new Set<AtomicFile>();
let exitHookInstalled = false;

/** A file being written; it appears under its name only on commit(). */
export class AtomicFile {
  private fd: number | null;
  private readonly tempPath: string;
  bytesWritten = 0;

  constructor(readonly path: string) {
    this.tempPath = temporaryPathFor(path);
    try {
      this.fd = openSync(this.tempPath, 'wx');
    } catch (e) {
      throw new TlcError(`${path}: cannot write (${whyNot(e, path)})`);
    }
    unfinished.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const f of unfinished) f.abort();
      });
    }
  }

  write(data: string | ArrayBufferView): void {
    if (this.fd === null) throw new Error(`${this.path}: write after commit or abort`);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let offset = 0;
    try {
      while (offset < bytes.length) offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
    } catch (e) {
      this.abort();
      throw new TlcError(`${this.path}: write failed (${(e as Error).message})`);
    }
    this.bytesWritten += bytes.length;
  }

  /** Flushes the data to disk and moves the file into place. */
  commit(): void {
    if (this.fd === null) throw new Error(`${this.path}: commit after commit or abort`);
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
      renameSync(this.tempPath, this.path);
    } catch (e) {
      this.abort();
      throw new TlcError(`${this.path}: cannot write (${(e as Error).message})`);
    }
    unfinished.delete(this);
    fsyncDirectory(dirname(this.path));
  }

  /** Drops the temporary file; the target is left as it was. */
  abort(): void {
    unfinished.delete(this);
    if (this.fd !== null) {
      try { closeSync(this.fd); } catch { /* already failing; the unlink below is what matters */ }
      this.fd = null;
    }
    try { unlinkSync(this.tempPath); } catch { /* never created, or already renamed */ }
  }
}

/** What an errno means for writing `path`, in words (the temporary name never shows). */
function whyNot(e: unknown, path: string): string {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT': return `the folder ${dirname(path)} does not exist`;
    case 'ENOTDIR': return 'a part of the path is not a folder';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EROFS': return 'the file system is read-only';
    case 'ENOSPC': return 'no space left on the device';
    default: return (e as Error).message;
  }
}

/**
 * Writes a whole file atomically from one or more chunks. A device, FIFO or socket in its place
 * (/dev/stdout, /dev/null) is written through, as a shell redirection would, never replaced.
 */
export function writeFileAtomic(path: string, ...chunks: (string | ArrayBufferView)[]): void {
  const fd = descriptorNamed(path);
  if (fd !== null) {
    // this process's own descriptor (a socket, a pipe or a file opened for appending): written, never reopened
    writeAll(fd, chunks, path);
    return;
  }
  if (isSpecialFile(path)) {
    writeThrough(path, chunks);
    return;
  }
  const file = new AtomicFile(path);
  for (const c of chunks) file.write(c);
  file.commit();
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** Makes a rename durable; some file systems cannot fsync a directory, and then the rename is all we get. */
export function fsyncDirectory(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // not supported here
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Copies a file so that `dest` is, at every instant, either its old self or the full copy. */
export function copyFileAtomic(src: string, dest: string): void {
  writeFileAtomic(dest, readFileSync(src));
}

function isSpecialFile(path: string): boolean {
  try {
    const stat = statSync(path);
    return !stat.isFile() && !stat.isDirectory();
  } catch {
    return false;
  }
}

/** The descriptor a path names: /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N; else null. */
function descriptorNamed(path: string): number | null {
  if (path === '/dev/stdout') return 1;
  if (path === '/dev/stderr') return 2;
  const m = /^\/(?:dev\/fd|proc\/self\/fd)\/(\d+)$/.exec(path);
  return m ? Number(m[1]) : null;
}

function writeAll(fd: number, chunks: (string | ArrayBufferView)[], path: string): void {
  try {
    for (const c of chunks) {
      const bytes = typeof c === 'string' ? Buffer.from(c, 'utf8') : new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
      for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    }
  } catch (e) {
    throw new TlcError(`${path}: cannot write (${whyNot(e, path)})`);
  }
}

function writeThrough(path: string, chunks: (string | ArrayBufferView)[]): void {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new TlcError(`${path}: cannot write (${whyNot(e, path)})`);
  }
  try {
    writeAll(fd, chunks, path);
  } finally {
    closeSync(fd);
  }
}
