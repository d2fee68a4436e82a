// Progress reporting without a terminal, and atomic file writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { progress, formatBytes } from '../src/util/progress.js';
import { AtomicFile, writeFileAtomic } from '../src/util/atomic.js';
import { tempDir } from './temp-dir.js';

function fakeStream(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = { isTTY: false, write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split('\n').filter((l) => l !== '') };
}

test('progress without a terminal: occasional lines, then one final line', () => {
  const { stream, lines } = fakeStream();
  const p = progress({ label: 'encoding', total: 2_000_000, unit: 'B', stream, intervalMs: 0 });
  p.update(1_000_000, { tokens: 1234 });
  assert.match(lines()[0], /^encoding: 1 MB of 2 MB \(50%\) \| .*\/s \| tokens 1,234$/);
  p.done();
  p.update(5); // ignored after done
  assert.equal(lines().length, 2);
  assert.match(lines()[1], /^encoding: 1 MB in \d+\.\d s/);

  const counted = fakeStream();
  const q = progress({ label: 'merging', total: 10, unit: 'merges', stream: counted.stream, intervalMs: 0 });
  q.increment(3);
  assert.match(counted.lines()[0], /^merging: 3 of 10 merges \(30%\)/);

  const quiet = fakeStream();
  const r = progress({ label: 'x', stream: quiet.stream, enabled: false, intervalMs: 0 });
  r.update(1);
  r.done();
  assert.deepEqual(quiet.lines(), []);
  assert.equal(formatBytes(1536), '1.54 kB');
  assert.equal(formatBytes(1.5e6), '1.5 MB');
  assert.equal(formatBytes(543300), '543 kB');
  assert.equal(formatBytes(2e9), '2 GB');
});

test('atomic writes: the file appears only on commit; abort leaves the old one and no temporary file', () => {
  const dir = tempDir('tlc-atomic-');
  try {
    const path = join(dir, 'f.bin');
    writeFileSync(path, 'old');
    const f = new AtomicFile(path);
    f.write('new ');
    f.write(new Uint16Array([0x6261]));
    assert.equal(readFileSync(path, 'utf8'), 'old');
    f.commit();
    assert.equal(readFileSync(path, 'utf8'), 'new ab');
    const g = new AtomicFile(path);
    g.write('half');
    g.abort();
    assert.equal(readFileSync(path, 'utf8'), 'new ab');
    assert.deepEqual(readdirSync(dir), ['f.bin']);
    writeFileAtomic(join(dir, 'g.txt'), 'whole');
    assert.equal(readFileSync(join(dir, 'g.txt'), 'utf8'), 'whole');
    assert.throws(() => writeFileAtomic(join(dir, 'no', 'such', 'dir.txt'), 'x'), /cannot write/);
    assert.ok(!existsSync(join(dir, 'no')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
