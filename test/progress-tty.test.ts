// Training progress on a real (pseudo-)terminal 80 columns wide: the live line fits, keeping
// the losses and the time left; Ctrl-C prints on a line of its own, saves, and exits 130.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { preparedSyntheticData } from './corpus-fixture.js';
import { loggedSteps } from './processes.js';
import { readMetrics } from '../src/run/metrics.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
const PTY = join(process.cwd(), 'test', 'fixtures', 'pty-run.py');

test('at 80 columns the progress line fits and keeps loss, validation loss and time left; Ctrl-C saves and exits 130', async () => {
  const data = await preparedSyntheticData();
  const run = join(tempDir('tlc-tty-'), 'run');
  const r = spawnSync('/usr/bin/python3', [PTY, '80', 'loss', process.execPath, CLI, 'pretrain', '--data', data, '--model', 'L2-D64',
    '--seq-len', '32', '--batch-size', '8', '--steps', '1000000', '--eval-tokens', '512', '--eval-every', '50', '--out', run], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { output, status, interrupted } = JSON.parse(r.stdout) as { output: string; status: number; interrupted: boolean };
  assert.ok(interrupted, `the bar never showed a loss:\n${output}`);
  // what the terminal shows: lines and carriage-return redraws, escape sequences removed
  // redraws start at column 1 (ESC[1G) or at the saved cursor (ESC 8); other escape sequences draw nothing
  // eslint-disable-next-line no-control-regex
  const shown = output.replace(/\x1b\[1G|\x1b8/g, '\n').replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '').split(/\r\n|\r|\n/).filter((l) => l.trim() !== '');
  const bars = shown.filter((l) => /% of budget \|/.test(l));
  assert.ok(bars.length > 0, output);
  for (const line of bars) {
    assert.ok(line.length <= 80, `${line.length} columns: ${line}`);
    assert.match(line, /loss [\d.]+, valid loss [\d.-]+.*left /, line);
  }
  assert.ok(bars.some((l) => !/ lr /.test(l)), 'the learning rate went first');
  // the interrupt message on its own line, then the checkpoint, the resume hint, exit 130
  assert.ok(shown.some((l) => l.startsWith('tlc: stopping after this step and saving a checkpoint')), output);
  assert.equal(status, 130);
  const events = readMetrics(join(run, 'metrics.jsonl'));
  assert.ok(events.some((e) => e.event === 'interrupted'));
  assert.ok(loggedSteps(run).length > 0);
  assert.ok(shown.some((l) => /interrupted: .* — continue with --resume/.test(l)), output);
});
