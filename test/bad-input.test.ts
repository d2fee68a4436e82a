// Bad input, command by command: each case exits non-zero with one line that names the file,
// field, flag or line at fault (no stack trace), and leaves everything already written as it
// was — checked by hashing every file of the existing run, classifier, dataset and inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { finetuneArgs, preparedSyntheticData, pretrainedRun, writeTask } from './corpus-fixture.js';
import { finetune } from '../src/train/finetune.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');

/** sha256 of every file below `dir`, by relative path. */
function hashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

test('at least 40 bad inputs: a clear one-line error naming what is wrong, a non-zero exit, nothing written changed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tlc-bad-input-'));
  // what already exists: a dataset, a pretrained run, a classifier, input files — all copies of this test's own
  const data = join(root, 'data');
  cpSync(await preparedSyntheticData(), data, { recursive: true });
  const run = join(root, 'run');
  cpSync(await pretrainedRun(), run, { recursive: true });
  const task = join(root, 'inputs', 'animals.jsonl');
  mkdirSync(join(root, 'inputs'));
  writeTask(task, 120, 2);
  const clf = join(root, 'clf');
  await finetune(clf, finetuneArgs(run, task, { steps: 5 }));
  const inputs = join(root, 'inputs');
  const file = (name: string, text: string) => {
    const p = join(inputs, name);
    writeFileSync(p, text);
    return p;
  };
  const badTask = file('bad-task.jsonl', '{"text": "a cat", "label": "cat"}\n{"text": "a dog", "label": \n');
  const badText = file('bad-text.jsonl', '{"text": 5}\n');
  const badConfig = file('bad-config.json', JSON.stringify({ objective: 'mlm', vocab_size: 320, d_model: 64, n_layers: 1, n_heads: 3, d_ff: 128, max_len: 64 }));
  const unknownField = file('unknown-field.json', JSON.stringify({ objective: 'mlm', vocab_size: 320, d_model: 64, n_layers: 1, n_heads: 1, d_ff: 128, max_len: 64, heads: 2 }));
  const badSweepKey = file('bad-key.yaml', `data: ${data}\nsizes: [L1-D32]\nsteps: 5\nbogus_key: 1\n`);
  const noSizes = file('no-sizes.yaml', `data: ${data}\nsteps: 5\n`);
  const badYaml = file('bad.yaml', 'data: [unclosed\n');
  const emptySizes = file('empty-sizes.yaml', `data: ${data}\nsizes: []\nsteps: 5\n`);
  const badSweepValue = file('bad-value.yaml', `data: ${data}\nsizes: [L1-D32]\nsteps: 5\nlr: -1\n`);
  const hyp = file('hyp.txt', 'a b c\n'), refs = file('refs.txt', 'a b c\nd e f\n');
  const notCorpus = file('image.png', '\u0089PNG\r\n\u001a\n');
  const emptyTask = file('one-class.jsonl', '{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n{"text": "c", "label": "x"}\n');
  const aFile = file('a-file', 'x');
  const pointsNoLoss = file('no-loss.csv', 'params,tokens\n1e6,1e9\n');
  const pointsBadRow = file('bad-row.csv', 'params,tokens,loss\n1e6,1e9,3\n1e7,-5,3\n');
  const pointsTwoSizes = file('two-sizes.csv', 'params,tokens,loss\n1e6,1e9,3.1\n1e6,2e9,3\n1e7,1e9,2.9\n1e7,2e9,2.8\n');
  const pointsMixedGroup = file('mixed-group.csv', 'params,tokens,loss,group\n1e6,1e9,3.1,a\n2e6,2e9,3,a\n');
  // a classifier whose weights are bit-flipped (its checksum no longer matches)
  const flipped = join(root, 'flipped');
  cpSync(clf, flipped, { recursive: true });
  const weights = readFileSync(join(flipped, 'model.safetensors'));
  weights[weights.length - 10] ^= 0x40;
  writeFileSync(join(flipped, 'model.safetensors'), weights);
  const truncated = join(inputs, 'truncated.safetensors');
  writeFileSync(truncated, readFileSync(join(run, 'model.safetensors')).subarray(0, 100));

  const before = new Map([data, run, clf, inputs, flipped].map((d) => [d, hashes(d)]));
  const fresh = (name: string) => join(root, 'new', name);
  const pre = ['pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32'];
  const cases: [string[], RegExp][] = [
    // data prepare
    [['data', 'prepare', '--input', join(inputs, 'missing.txt'), '--out', fresh('d1')], /missing\.txt: input not found/],
    [['data', 'prepare', '--input', task, '--vocab-size', '10', '--out', fresh('d2')], /--vocab-size must be an integer from 261/],
    [['data', 'prepare', '--input', task, '--vocab-size', 'abc', '--out', fresh('d3')], /--vocab-size: expected an integer, got "abc"/],
    [['data', 'prepare', '--input', task, '--out', aFile], /--out .*a-file: exists and is not a directory/],
    [['data', 'prepare', '--input', badText, '--out', fresh('d4')], /bad-text\.jsonl:1: "text" must be a string/],
    [['data', 'prepare', '--input', task, '--exclude-test-of', 'example:nope', '--out', fresh('d5')], /unknown example task "nope"/],
    [['data', 'prepare', '--input', task, '--out', run], /--out .*run already holds .*pretraining run/],
    [['data', 'prepare', '--input', task, '--out', data], /--out .*data holds a dataset prepared from .*corpus\.jsonl \(data\.json\); preparing .*animals\.jsonl would replace it/],
    [['data', 'prepare', '--input', notCorpus, '--out', fresh('d6')], /image\.png/],
    // pretrain
    [['pretrain', '--data', join(root, 'nope'), '--model', 'L1-D32', '--steps', '5', '--out', fresh('p1')], /nope\/data\.json: not found/],
    [['pretrain', '--data', data, '--model', 'L0-D64', '--steps', '5', '--out', fresh('p2')], /preset L0-D64: invalid model config — n_layers/],
    [['pretrain', '--data', data, '--model', 'bogus', '--steps', '5', '--out', fresh('p3')], /unknown model preset "bogus"/],
    [[...pre, '--steps', '0', '--out', fresh('p4')], /invalid step count "0": must be positive/],
    [[...pre, '--budget', '0', '--out', fresh('p5')], /invalid duration "0": a budget must be positive/],
    [[...pre, '--steps', '5', '--lr', '-1', '--out', fresh('p6')], /invalid --lr "-1"/],
    [[...pre, '--steps', '5', '--batch-size', '0', '--out', fresh('p7')], /invalid --batch-size "0"/],
    [[...pre, '--steps', '5', '--batch-size', '8', '--micro-batch-size', '3', '--out', fresh('p8')], /micro-batch size 3 must divide the batch size 8/],
    [[...pre, '--out', fresh('p9')], /no budget: pass one of --budget/],
    [[...pre, '--steps', '5', '--schedule', 'foo', '--out', fresh('p10')], /'--schedule <kind>' argument 'foo' is invalid/],
    [[...pre, '--steps', '5', '--schedule', 'wsd', '--branches', '1.5', '--out', fresh('p11')], /invalid --branches "1\.5"/],
    [[...pre, '--steps', '5', '--precision', 'fp8', '--out', fresh('p12')], /'--precision <p>' argument 'fp8' is invalid/],
    [[...pre, '--steps', '5', '--seed', '-1', '--out', fresh('p13')], /invalid --seed "-1": must be an integer from 0 to 2147483647/],
    [[...pre, '--steps', '5', '--out', data], /--out .*data already holds a prepared dataset/],
    [[...pre, '--steps', '5', '--out', run], /run already holds a run; pass --resume/],
    [['pretrain', '--resume', fresh('nothing')], /nothing to resume/],
    [['pretrain', '--resume', run, '--lr', '1'], /these differ: --lr 1 \(the run has 0\.003\): drop them/],
    [['pretrain', '--data', data, '--model', badConfig, '--steps', '5', '--seq-len', '32', '--out', fresh('p13')], /bad-config\.json: invalid model config — n_heads/],
    [['pretrain', '--data', data, '--model', unknownField, '--steps', '5', '--seq-len', '32', '--out', fresh('p14')], /unknown-field\.json: invalid model config.*heads/],
    [[...pre, '--steps', '5', '--eval-every', 'bogus', '--out', fresh('p15')], /invalid --eval-every "bogus"/],
    [[...pre, '--steps', '5', '--warmup', '1', '--out', fresh('p16')], /invalid --warmup "1"/],
    [['pretrain', '--data', data, '--model', 'L48-D8192', '--steps', '5', '--out', fresh('p17')], /the run needs about .* GiB of memory/],
    // finetune, evaluate, predict
    [['finetune', '--from', join(root, 'nope'), '--task', task, '--steps', '5', '--out', fresh('f1')], /nope: not a tlc run directory \(.*config\.json is missing\)/],
    [['finetune', '--from', run, '--task', join(inputs, 'nope.jsonl'), '--steps', '5', '--out', fresh('f2')], /nope\.jsonl: task file or directory not found/],
    [['finetune', '--from', run, '--task', badTask, '--steps', '5', '--out', fresh('f3')], /bad-task\.jsonl line 2: invalid JSON/],
    [['finetune', '--from', data, '--task', task, '--steps', '5', '--out', fresh('f4')], /data: not a tlc run directory/],
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--max-len', '2', '--out', fresh('f5')], /invalid --max-len "2"/],
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--out', run], /--out .*run already holds a pretraining run/],
    [['finetune', '--from', run, '--task', emptyTask, '--steps', '5', '--out', fresh('f6')], /one-class\.jsonl: every training example has the label "x"/],
    [['finetune', '--from', flipped, '--task', task, '--steps', '5', '--out', fresh('f7')], /flipped\/model\.safetensors.*(checksum|CRC)/i],
    [['evaluate', run, '--task', task], /run: not a classifier/],
    [['evaluate', clf, '--task', task, '--split', 'bogus'], /'--split <name>' argument 'bogus' is invalid/],
    [['evaluate', flipped, '--task', task], /flipped\/model\.safetensors.*(checksum|CRC)/i],
    [['predict', clf, '--input', join(inputs, 'missing.txt')], /missing\.txt/],
    [['predict', clf, '--input', badText], /bad-text\.jsonl:1: a JSON input needs a "text" string/],
    // output files never land on a run's files, the command's own input, or a directory
    [['evaluate', clf, '--task', task, '--predictions', join(clf, 'model.safetensors')], /--predictions .*model\.safetensors is inside .*clf, which holds a finetuning run/],
    [['evaluate', clf, '--task', task, '--predictions', join(data, 'preds.jsonl')], /--predictions .* is inside .*data, which holds a prepared dataset/],
    [['evaluate', clf, '--task', task, '--predictions', task], /--predictions .*animals\.jsonl is this command's own input/],
    [['evaluate', clf, '--task', task, '--predictions', inputs], /--predictions .*inputs is a directory/],
    // compress, export, inspect, generate, import
    [['compress', '--from', clf, '--sparsity', '1.5', '--out', fresh('c1')], /--sparsity: sparsity must be a number in \[0, 1\), got 1\.5/],
    [['compress', '--from', clf, '--bits', '9', '--out', fresh('c2')], /bits must be 2…8 or 32/],
    [['compress', '--from', join(root, 'nope'), '--out', fresh('c3')], /nope: not a tlc run directory/],
    [['compress', '--from', clf, '--seed', '-1', '--out', fresh('c4')], /invalid --seed "-1": must be an integer from 0 to 2147483647/],
    [['compress', '--from', clf, '--mode', 'finetune', '--distill', '--distill-alpha', '2', '--out', fresh('c5')], /invalid --distill-alpha "2"/],
    [['data', 'prepare', '--input', task, '--seed', '-3', '--out', fresh('d7')], /invalid --seed "-3": must be an integer/],
    [['export', run, '--format', 'tflite', '--out', fresh('e1')], /argument 'tflite' is invalid. Allowed choices are hf, onnx/],
    [['export', run, '--format', 'onnx', '--out', run], /is the run directory itself/],
    [['export', run, '--format', 'onnx', '--out', clf], /--out .*clf already holds a finetuning run/],
    [['inspect', join(inputs, 'nope.safetensors')], /nope\.safetensors: no such file or directory/],
    [['inspect', truncated], /truncated\.safetensors/],
    [['generate', run, 'x'], /generate needs a causal language model/],
    [['import', join(root, 'nope'), '--out', fresh('i1')], /nope: not a Hugging Face model folder/],
    // sweep, plan, bleu
    [['sweep', join(inputs, 'nope.yaml'), '--out', fresh('s1')], /nope\.yaml: cannot read the sweep/],
    [['sweep', badSweepKey, '--out', fresh('s2')], /bad-key\.yaml: invalid sweep — \(root\): Unrecognized key: "bogus_key"/],
    [['sweep', noSizes, '--out', fresh('s3')], /no-sizes\.yaml: give "sizes"/],
    [['sweep', badYaml, '--out', fresh('s4')], /bad\.yaml: cannot read the sweep/],
    [['sweep', emptySizes, '--out', fresh('s6')], /empty-sizes\.yaml: the sweep names no size/],
    [['sweep', badSweepValue, '--out', fresh('s5')], /bad-value\.yaml: invalid sweep — lr/],
    [['plan', '--sweep', join(root, 'nope'), '--budget', '1h'], /nope\/sweep\.json: not found/],
    [['plan', '--sweep', join(root, 'nope'), '--budget', '3600'], /--budget "3600" names no unit/],
    [['plan', '--budget', '1h'], /give either --sweep <dir> or --points <file>/],
    [['plan', '--points', pointsNoLoss, '--budget', '1e18flops'], /no-loss\.csv: the header must name params, loss and tokens or flops .*missing loss/],
    [['plan', '--points', pointsBadRow, '--budget', '1e18flops'], /bad-row\.csv: row 2: tokens must be a positive number, got "-5"/],
    [['plan', '--points', pointsTwoSizes, '--budget', '1e18flops'], /2 distinct parameter count\(s\): the fit needs at least three sizes/],
    [['plan', '--points', pointsMixedGroup, '--budget', '1e18flops'], /row 2: group a has params 2000000, but an earlier row of it has 1000000; a group is one size/],
    [['plan', '--points', pointsTwoSizes, '--budget', '2h'], /--points carry no throughput/],
    [['plan', '--points', pointsTwoSizes, '--sweep', data, '--budget', '2B'], /give either --sweep <dir> or --points <file>/],
    [['plan', '--points', pointsTwoSizes, '--budget', '2B', '--holdout'], /--holdout refits a sweep/],
    // auto
    [['auto', '--budget', '1h', '--out', fresh('a1')], /--corpus is required/],
    [['auto', '--corpus', task, '--budget', 'lots', '--out', fresh('a2')], /invalid --budget "lots"/],
    [['auto', '--corpus', task, '--budget', '1h', '--explore', '1.5', '--out', fresh('a3')], /invalid --explore "1\.5"/],
    [['auto', '--corpus', task, '--budget', '1h', '--objective', 'seq2seq', '--out', fresh('a4')], /--objective must be mlm or clm/],
    [['auto', '--corpus', task, '--task', task, '--objective', 'clm', '--budget', '1h', '--out', fresh('a5')], /--task finetunes a classifier on a masked LM/],
    [['auto', '--corpus', task, '--budget', '1h', '--finetune-budget', 'soon', '--out', fresh('a6')], /invalid duration "soon"/],
    [['auto', '--corpus', task, '--budget', '1h', '--max-bytes', 'big', '--out', fresh('a7')], /--max-bytes: invalid size "big"/],
    [['auto', '--corpus', join(inputs, 'missing.txt'), '--budget', '1h', '--out', fresh('a8')], /missing\.txt: input not found/],
    [['auto', '--corpus', task, '--budget', '1h', '--out', run], /--out .*run already holds .*pretraining run/],
    [['bleu', hyp, refs], /refs\.txt has 2 lines but .*hyp\.txt has 1/],
  ];
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    const what = args.join(' ');
    assert.notEqual(r.status, 0, `${what} should fail:\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, what);
    assert.doesNotMatch(r.stderr, /\n\s+at |internal error|RangeError|TypeError/, `${what}: a stack trace`);
    const errors = r.stderr.split('\n').filter((l) => /error/i.test(l));
    assert.ok(errors.length === 1, `${what}: one error line, got ${errors.length}:\n${r.stderr}`);
  }
  for (const [dir, hashed] of before) assert.deepEqual(hashes(dir), hashed, `${dir} changed`);
  // no failed start left a directory behind
  assert.ok(!existsSync(join(root, 'new')) || readdirSync(join(root, 'new')).length === 0, `left behind: ${existsSync(join(root, 'new')) ? readdirSync(join(root, 'new')).join(', ') : ''}`);
});
