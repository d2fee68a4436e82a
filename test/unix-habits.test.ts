// Habits of a command-line tool: a reader that stops reading ends the command quietly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finetunedClassifier } from './corpus-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

test('tlc predict … | head -1: the command ends quietly when its reader stops reading (EPIPE)', async () => {
  const { run } = await finetunedClassifier();
  const input = join(tempDir('tlc-epipe-'), 'lines.txt');
  writeFileSync(input, Array.from({ length: 3000 }, (_, i) => `The old cat ${i} sees the river every morning.`).join('\n') + '\n');
  const child = spawn(process.execPath, [CLI, 'predict', run, '--input', input], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  child.stdout.once('data', () => child.stdout.destroy()); // as `head -1` does after its line
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (c, s) => resolve({ code: c, signal: s })));
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|internal error|\n\s+at /, 'no stack trace');
});

test('a directory where a text file is expected, and a FIFO where a model file is, each give one clear line and exit 1 (no EISDIR, no hang)', async () => {
  const { run } = await finetunedClassifier();
  const dir = tempDir('tlc-odd-files-');
  const once = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  const predict = once(['predict', run, '--input', dir]);
  assert.equal(predict.status, 1, predict.stderr);
  assert.match(predict.stderr, /^tlc: error: --input .* is a directory: give a text file/);
  assert.doesNotMatch(predict.stderr, /EISDIR/);
  const fifo = join(dir, 'model.safetensors');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const inspect = once(['inspect', fifo]);
  assert.equal(inspect.signal, null, 'inspect must not wait on a FIFO');
  assert.equal(inspect.status, 1, inspect.stderr);
  assert.match(inspect.stderr, /^tlc: error: .*model\.safetensors: not a regular file/);
});

test('output that cannot be written (a full disk) is one line and exit 1, not a stack trace or a silent exit 0', () => {
  for (const args of [['info'], ['--help'], ['--version']]) {
    const r = spawnSync('sh', ['-c', `exec "${process.execPath}" "${CLI}" ${args.join(' ')} > /dev/full`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, 'tlc: error: cannot write the output: no space left on the device (ENOSPC)\n', args.join(' '));
  }
});

test('too few file descriptors (ulimit -n) is one line naming the limit to raise, not a module path', () => {
  // below about 20 Node itself cannot start; above it, `auto` (the command that loads the most modules) cannot load them all
  for (const limit of [30]) {
    const r = spawnSync('sh', ['-c', `ulimit -n ${limit} && exec "${process.execPath}" "${CLI}" auto --help`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `ulimit -n ${limit}: ${r.stderr}`);
    assert.match(r.stderr, /^tlc: error: too many open files: .*raise the limit \(e\.g\. ulimit -n 4096\) and run it again\n$/, `ulimit -n ${limit}`);
  }
});

test('an output that cannot be created, and a FIFO where data prepare reads its input, are one clear line (no errno, no hang)', () => {
  const root = tempDir('tlc-cannot-create-');
  const text = join(root, 'a.txt');
  writeFileSync(text, 'some text\n');
  const fifo = join(root, 'fifo');
  spawnSync('mkfifo', [fifo]);
  const cases: [string[], RegExp][] = [
    // Node's own recursive mkdir loops forever here
    [['data', 'prepare', '--input', text, '--out', '/proc/tlc-test-out'], /^tlc: error: cannot create the folder \/proc\/tlc-test-out: it, or a folder on its way, does not exist\n$/],
    [['data', 'prepare', '--input', text, '--out', join(text, 'sub')], /^tlc: error: cannot create the folder .*a\.txt\/sub: .*a\.txt is a file, not a directory\n$/],
    [['data', 'prepare', '--input', fifo, '--out', join(root, 'out')], /^tlc: error: .*fifo is a FIFO: give a text, \.jsonl or \.gz file \(a regular file\)\n$/],
    [['data', 'prepare', '--input', text, '--tokenizer', fifo, '--out', join(root, 'out')], /^tlc: error: .*fifo is a FIFO: give a tokenizer\.json \(a regular file\)\n$/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  assert.ok(!existsSync(join(root, 'out')), 'nothing was created');
});

test('an output file that is a device or this process\'s own output is written through, never replaced', async () => {
  const { run } = await finetunedClassifier();
  const root = tempDir('tlc-write-through-');
  // a parent's pipe (a socket here), and a shell redirection to a file, both reached as /dev/stdout
  const piped = spawnSync(process.execPath, [CLI, 'evaluate', run, '--predictions', '/dev/stdout', '--json'], { encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  const lines = piped.stdout.trim().split('\n');
  assert.ok(lines.length > 2 && lines.slice(0, -1).every((l) => 'predicted' in (JSON.parse(l) as object)), piped.stdout);
  const file = join(root, 'out.jsonl');
  const redirected = spawnSync('sh', ['-c', `exec "${process.execPath}" "${CLI}" evaluate "${run}" --predictions /dev/stdout > "${file}"`], { encoding: 'utf8' });
  assert.equal(redirected.status, 0, redirected.stderr);
  assert.ok(readFileSync(file, 'utf8').split('\n').some((l) => l.includes('"predicted"')));
  // a device in a file's place: the device stays, the write fails in words
  const full = spawnSync(process.execPath, [CLI, 'evaluate', run, '--predictions', '/dev/full'], { encoding: 'utf8' });
  assert.equal(full.status, 1);
  assert.match(full.stderr, /^tlc: error: \/dev\/full: cannot write \(no space left on the device\)\n$/);
  assert.ok(statSync('/dev/full').isCharacterDevice(), '/dev/full is still a device');
});
