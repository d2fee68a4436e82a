// One command-line grammar: every command's help says defaults one way ("default: x", never
// quoted, never "default x"), marks its required flags and shows closed sets as choices; the
// same meaning has the same flag name everywhere, and renamed flags keep working under their
// old names (the command-line contract).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function allCommands(c: Command, path: string[] = []): { path: string; cmd: Command }[] {
  return c.commands.flatMap((sub) => [{ path: [...path, sub.name()].join(' '), cmd: sub }, ...allCommands(sub, [...path, sub.name()])]);
}

test('every command states defaults one way, without quotes, and shows closed sets as choices', async () => {
  const commands = allCommands(await buildProgram());
  assert.ok(commands.length >= 24, `${commands.length} commands`);
  for (const { path, cmd } of commands) {
    const help = cmd.helpInformation();
    assert.doesNotMatch(help, /\(default [^:]/, `${path}: "(default x)" instead of "(default: x)"`);
    assert.doesNotMatch(help, /default: "/, `${path}: a quoted default`);
  }
  const option = (path: string, flag: string) => commands.find((c) => c.path === path)!.cmd.options.find((o) => o.long === flag)!;
  for (const [path, flag] of [['export', '--format'], ['bench train', '--objective'], ['compress', '--mode'], ['pretrain', '--precision']]) {
    assert.ok(option(path, flag).argChoices, `${path} ${flag} offers its choices`);
  }
});

test('a command line loads only the module of the command it names, and every name loads its own', async () => {
  const all = (await buildProgram()).commands.map((c) => c.name());
  for (const name of all) {
    for (const before of [[], ['--threads', '1'], ['--threads=1']]) {
      const loaded = (await buildProgram([...before, name, '--help'])).commands.map((c) => c.name());
      assert.ok(loaded.includes(name) && loaded.length < all.length, `tlc ${[...before, name].join(' ')} loads ${loaded.join(', ')}`);
    }
  }
  assert.deepEqual((await buildProgram(['--version'])).commands, [], 'a bare --version loads no command');
  // `-h plan` is commander's general help, and an unknown flag's error shows it too
  for (const args of [[], ['--help'], ['help', 'plan'], ['pretrian'], ['-h', 'plan'], ['--help', 'plan'], ['--bogus', 'plan']]) {
    assert.deepEqual((await buildProgram(args)).commands.map((c) => c.name()), all, `tlc ${args.join(' ')} sees every command`);
  }
});

test('required flags are marked in help', async () => {
  const byPath = new Map(allCommands(await buildProgram()).map(({ path, cmd }) => [path, cmd]));
  /** The help text of one flag, as help prints it (before wrapping). */
  const line = (path: string, flag: string): string => {
    const cmd = byPath.get(path)!;
    const option = cmd.options.find((o) => o.long === flag);
    assert.ok(option, `${path} has ${flag}`);
    return cmd.createHelp().optionDescription(option);
  };
  for (const flag of ['--data', '--model', '--out']) assert.match(line('pretrain', flag), /required unless --resume/, `pretrain ${flag}`);
  for (const flag of ['--from', '--task', '--out']) assert.match(line('finetune', flag), /required unless --resume/, `finetune ${flag}`);
  assert.match(line('plan', '--sweep'), /required unless --points/);
  assert.match(line('plan', '--points'), /required unless --sweep/);
  for (const [path, flag] of [['compress', '--from'], ['compress', '--out'], ['export', '--out'], ['import', '--out'],
    ['plan', '--budget'], ['sweep', '--out'], ['auto', '--corpus'], ['auto', '--budget'], ['auto', '--out'], ['data prepare', '--input'], ['data prepare', '--out'], ['predict', '--input']]) {
    assert.match(line(path, flag), /\(required/, `${path} ${flag}`);
  }
  assert.doesNotMatch(line('finetune', '--lr'), /required/);
});

test('one name per meaning: batch sizes are --batch-size, vocabularies --vocab-size, the run compress starts from --from', async () => {
  const commands = allCommands(await buildProgram());
  for (const { path, cmd } of commands) {
    for (const o of cmd.options.filter((x) => !x.hidden)) {
      assert.notEqual(o.long, '--batch', `${path} shows --batch`);
      assert.notEqual(o.long, '--vocab', `${path} shows --vocab`);
    }
  }
  const compress = commands.find((c) => c.path === 'compress')!.cmd;
  assert.ok(compress.options.some((o) => o.long === '--from' && !o.hidden));
});

test('renamed flags still work under their old names, and both names at once are refused', () => {
  const root = tempDir('tlc-grammar-');
  const tlc = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  // --model is compress's old --from: it is read (the missing run is named), and both at once are an error
  const old = tlc('compress', '--model', join(root, 'nope'), '--out', join(root, 'a'));
  assert.equal(old.status, 1);
  assert.match(old.stderr, /nope: not a tlc run directory/);
  const both = tlc('compress', '--model', join(root, 'nope'), '--from', join(root, 'nope'), '--out', join(root, 'b'));
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--model is the old name of --from: give one of them/);
  const unknown = tlc('finetune', '--lerning-rate', '1e-3');
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /^tlc: error: unknown option '--lerning-rate'/, 'commander\'s errors read like tlc\'s');
  const batch = tlc('bench', 'infer', '--batch', '2', '--batch-size', '3', '--json');
  assert.equal(batch.status, 1);
  assert.match(batch.stderr, /--batch is the old name of --batch-size/);
});

test('a flag that takes one value, given again, keeps the last value and says which it dropped', () => {
  const dir = tempDir('tlc-repeat-');
  const hyp = join(dir, 'hyp.txt'), ref = join(dir, 'ref.txt');
  writeFileSync(hyp, 'the cat sat on the mat\n');
  writeFileSync(ref, 'the cat sat on the mat\n');
  const r = spawnSync(process.execPath, [CLI, 'bleu', hyp, ref, '--width', '1', '--width', '3'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, / = 100\.000 /, 'the last --width, 3 decimals');
  assert.match(r.stderr, /warning: --width is given more than once: using the last value, 3 \(not 1\)/);
  const same = spawnSync(process.execPath, [CLI, 'bleu', hyp, ref, '--width', '2', '--width', '2'], { encoding: 'utf8' });
  assert.equal(same.stderr, '', 'the same value twice changes nothing and says nothing');
});
