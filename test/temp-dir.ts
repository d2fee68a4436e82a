// Temporary folders for tests, removed when the test process exits (each test file runs in its
// own process), so that repeated runs do not fill the disk. TLC_KEEP_TEST_DIRS=1 keeps them for
// a post-mortem.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];

process.on('exit', () => {
  if (process.env.TLC_KEEP_TEST_DIRS === '1') return;
  for (const dir of created) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // a folder that cannot be removed fails no test
    }
  }
});

/** A new empty folder under the system's temporary folder, named `<prefix>XXXXXX`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}
