// Bad input, command by command: each case exits non-zero with one line that names the file,
// field, flag or line at fault (no stack trace), and leaves everything already written as it
// was — checked by hashing every file of the existing run, classifier, dataset and inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { finetuneArgs, preparedSyntheticData, pretrainedRun, writeTask } from './corpus-fixture.js';
import { finetune } from '../src/train/finetune.js';
import { readSafetensorsRaw, writeSafetensorsRaw } from '../src/engine/safetensors.js';
import { tempDir } from './temp-dir.js';

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

/** `tlc args…` to its end, stdin empty: its exit status and stderr. */
function runCli(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

test('at least 150 bad inputs: a clear one-line error naming what is wrong, a non-zero exit, nothing written changed', async () => {
  const root = tempDir('tlc-bad-input-');
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
  // a classifier with one NaN weight, written with a valid checksum
  const nanRun = join(root, 'nan-run');
  cpSync(clf, nanRun, { recursive: true });
  const raw = readSafetensorsRaw(join(nanRun, 'model.safetensors'));
  const [firstName, first] = [...raw.tensors].find(([, t]) => t.dtype === 'F32')!;
  (first.data as Float32Array)[3] = NaN;
  writeSafetensorsRaw(join(nanRun, 'model.safetensors'), raw.tensors, raw.metadata);
  const truncated = join(inputs, 'truncated.safetensors');
  writeFileSync(truncated, readFileSync(join(run, 'model.safetensors')).subarray(0, 100));

  const emptyText = file('empty.txt', '');
  const emptyDir = join(inputs, 'empty-dir');
  mkdirSync(emptyDir);
  const wrongKey = file('wrong-key.jsonl', '{"body": "some text"}\n');
  const arrayLine = file('array-line.jsonl', '[1, 2]\n');
  const notJson = file('not-json.jsonl', 'not json at all\n');
  const fakeGz = file('fake.txt.gz', 'this is not gzip');
  const nulText = file('nul.txt', 'abc\u0000def\n');
  const latin1 = join(inputs, 'latin1.txt');
  writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x61, 0x75, 0x20, 0x6c, 0x61, 0x69, 0x74, 0x0a]));
  const threeColumns = file('three-columns.tsv', 'a\tb\nc d\n');
  const onePair = file('one-pair.tsv', 'ein Haus\ta house\n');
  const emptySide = file('empty-side.tsv', 'ein Haus\t\n');
  const noLabel = file('no-label.jsonl', '{"text": "a cat"}\n');
  const emptyTextLabel = file('empty-text.jsonl', '{"text": "", "label": "cat"}\n');
  const emptyJsonl = file('empty.jsonl', '');
  const hyp1 = file('hyp1.txt', 'the cat sat\n'), ref1 = file('ref1.txt', 'the cat sat\n');
  const sweepTwoBudgets = file('two-budgets.yaml', `data: ${data}\nsizes: [L1-D32]\nsteps: 5\ntokens: 1000\n`);
  const sweepNoBudget = file('no-budget.yaml', `data: ${data}\nsizes: [L1-D32]\n`);
  const sweepFine = file('fine.yaml', `data: ${data}\nsizes: [L1-D32]\nsteps: 5\n`);
  const sweepTwice = file('twice.yaml', `data: ${data}\nsizes: [L1-D32, L1-D32]\nsteps: 5\n`);
  const sweepBadSize = file('bad-size.yaml', `data: ${data}\nsizes: [L1-D32, bogus]\nsteps: 5\n`);
  const sweepBoth = file('both.yaml', `data: ${data}\nsizes: [L1-D32]\nlayers: [1]\nwidths: [32]\nsteps: 5\n`);
  const sweepHuge = file('huge.yaml', `data: ${data}\nsizes: [L48-D8192]\nsteps: 5\n`);
  const pointsNan = file('nan.csv', 'params,tokens,loss\n1e6,1e9,NaN\n');
  const pointsHeaderOnly = file('header-only.csv', 'params,tokens,loss\n');
  const pointsObject = file('object.json', '{"params": 1}');

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
    [['pretrain', '--data', data, '--model', badConfig, '--steps', '5', '--seq-len', '32', '--out', fresh('p13b')], /bad-config\.json: invalid model config — n_heads/],
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
    [['sweep', join(inputs, 'nope.yaml'), '--out', fresh('s1')], /nope\.yaml: not found/],
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
    // data prepare: files that hold no usable text, every kind of wrong value
    [['data', 'prepare', '--input', emptyText, '--out', fresh('d8')], /no text found in .*empty\.txt/],
    [['data', 'prepare', '--input', emptyDir, '--out', fresh('d9')], /empty-dir: the directory holds no \.txt, \.jsonl/],
    [['data', 'prepare', '--input', wrongKey, '--out', fresh('d10')], /wrong-key\.jsonl:1: missing "text" field/],
    [['data', 'prepare', '--input', arrayLine, '--out', fresh('d11')], /array-line\.jsonl:1: expected a JSON object with a "text" field/],
    [['data', 'prepare', '--input', notJson, '--out', fresh('d12')], /not-json\.jsonl:1: invalid JSON/],
    [['data', 'prepare', '--input', fakeGz, '--out', fresh('d13')], /fake\.txt\.gz: not a valid gzip file/],
    [['data', 'prepare', '--input', nulText, '--out', fresh('d14')], /nul\.txt: looks like a binary file \(NUL byte at byte 3, line 1\)/],
    [['data', 'prepare', '--input', latin1, '--out', fresh('d15')], /latin1\.txt: not valid UTF-8 text \(at byte 3, line 1\)/],
    [['data', 'prepare', '--input', task, '--vocab-size', '300.5', '--out', fresh('d16')], /--vocab-size: expected an integer, got "300\.5"/],
    [['data', 'prepare', '--input', task, '--vocab-size', '-300', '--out', fresh('d17')], /--vocab-size must be an integer from 261/],
    [['data', 'prepare', '--input', task, '--vocab-size', 'Infinity', '--out', fresh('d18')], /--vocab-size: expected an integer, got "Infinity"/],
    [['data', 'prepare', '--input', task, '--valid-fraction', '1', '--out', fresh('d19')], /--valid-fraction: expected a number from 0 up to \(not including\) 1, got "1"/],
    [['data', 'prepare', '--input', task, '--valid-fraction', 'NaN', '--out', fresh('d20')], /--valid-fraction: expected a number .* got "NaN"/],
    [['data', 'prepare', '--input', task, '--task', 'mt', '--out', fresh('d21')], /--task: expected lm or translation, got "mt"/],
    [['data', 'prepare', '--input', 'example:nope', '--out', fresh('d22')], /unknown example "nope"; the examples are example:sotu/],
    [['data', 'prepare', '--input', task, '--tokenizer', emptyDir, '--out', fresh('d23')], /empty-dir\/tokenizer\.json: not found/],
    [['data', 'prepare', '--input', task, '--tokenizer', data, '--vocab-size', '300', '--out', fresh('d24')], /--vocab-size cannot be combined with --tokenizer/],
    [['data', 'prepare', '--input', task, '--task-seed', '1.5', '--out', fresh('d25')], /invalid --task-seed "1\.5"/],
    [['data', 'prepare', '--input', task, '--out', fresh('d26'), '--bogus-flag'], /unknown option '--bogus-flag'/],
    [['data', 'prepare', '--input', task], /required option '--out <dir>' not specified/],
    [['data', 'prepare', '--task', 'translation', '--input', threeColumns, '--out', fresh('d27')], /three-columns\.tsv:2: expected source<TAB>target \(exactly one tab\), found 0 tabs/],
    [['data', 'prepare', '--task', 'translation', '--input', onePair, '--out', fresh('d28')], /one-pair\.tsv: too few sentence pairs to fill a valid split/],
    [['data', 'prepare', '--task', 'translation', '--input', emptySide, '--out', fresh('d29')], /empty-side\.tsv:1: empty target sentence/],
    [['data', 'prepare', '--task', 'translation', '--input', 'example:sotu', '--out', fresh('d30')], /unknown translation example "example:sotu"/],
    [['data', 'prepare', '--task', 'translation', '--input', onePair, onePair, '--out', fresh('d31')], /--task translation takes one --input .* got 2/],
    // an output inside another tlc output; a thread count beyond reason
    [['data', 'prepare', '--input', task, '--out', join(run, 'data')], /--out .*run\/data is inside .*run, which holds a pretraining run/],
    [['--threads', '0', 'info'], /invalid --threads "0": expected an integer from 1 to 1024/],
    [['--threads', '100000', 'info'], /invalid --threads "100000": expected an integer from 1 to 1024/],
    [['--threads', '1.5', 'info'], /invalid --threads "1\.5"/],
    // pretrain: each number out of its range, budgets that cannot be, runs that are not there
    [[...pre, '--steps', '5', '--lr', 'NaN', '--out', fresh('p18')], /invalid --lr "NaN"/],
    [[...pre, '--steps', '5', '--lr', 'Infinity', '--out', fresh('p19')], /invalid --lr "Infinity"/],
    [[...pre, '--steps', '2.5', '--out', fresh('p20')], /--steps must be an integer, got 2\.5/],
    [[...pre, '--steps', '-3', '--out', fresh('p21')], /invalid step count "-3"/],
    [[...pre, '--steps', '5', '--budget', '5s', '--out', fresh('p22')], /pass exactly one budget, got --budget, --steps/],
    [[...pre, '--tokens', '0', '--out', fresh('p23')], /invalid token count "0": must be positive/],
    [[...pre, '--tokens', '-5M', '--out', fresh('p24')], /invalid token count "-5M"/],
    [[...pre, '--flops', 'NaN', '--out', fresh('p25')], /invalid FLOP count "NaN"/],
    [[...pre, '--budget', '1y', '--out', fresh('p26')], /invalid duration "1y"/],
    [[...pre, '--steps', '5', '--batch-size', '2.5', '--out', fresh('p28')], /invalid --batch-size "2\.5"/],
    [[...pre, '--steps', '5', '--micro-batch-size', '0', '--out', fresh('p29')], /invalid --micro-batch-size "0"/],
    [[...pre, '--steps', '5', '--warmup', '-0.1', '--out', fresh('p30')], /invalid --warmup "-0\.1"/],
    [[...pre, '--steps', '5', '--weight-decay', '-1', '--out', fresh('p31')], /invalid --weight-decay "-1"/],
    [[...pre, '--steps', '5', '--betas', '0.9,1', '--out', fresh('p32')], /invalid --betas "0\.9,1"/],
    [[...pre, '--steps', '5', '--eps', '0', '--out', fresh('p33')], /invalid --eps "0"/],
    [[...pre, '--steps', '5', '--clip', '-1', '--out', fresh('p34')], /invalid --clip "-1"/],
    [[...pre, '--steps', '5', '--dropout', '1', '--out', fresh('p35')], /invalid --dropout "1"/],
    [[...pre, '--steps', '5', '--seed', '99999999999', '--out', fresh('p36')], /invalid --seed "99999999999"/],
    [[...pre, '--steps', '5', '--save-every', '0', '--out', fresh('p37')], /invalid --save-every "0"/],
    [[...pre, '--steps', '5', '--keep', '0', '--out', fresh('p38')], /invalid --keep "0"/],
    [['pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '1', '--steps', '5', '--out', fresh('p39')], /invalid --seq-len "1"/],
    [[...pre, '--steps', '5', '--label-smoothing', '0.1', '--out', fresh('p40')], /--label-smoothing \(label_smoothing\) applies to objective seq2seq only/],
    [[...pre, '--steps', '5', '--save-at', '0.5,abc', '--out', fresh('p41')], /invalid --save-at "0\.5,abc"/],
    [[...pre, '--steps', '5', '--branches', '0.5', '--out', fresh('p42')], /branches fork from a wsd trunk: add --schedule wsd/],
    [[...pre, '--steps', '5', '--schedule', 'wsd', '--cooldown', '1.5', '--out', fresh('p43')], /invalid --cooldown "1\.5"/],
    [[...pre, '--steps', '5', '--norm', 'mid', '--out', fresh('p44')], /'--norm <kind>' argument 'mid' is invalid/],
    [['pretrain', '--data', run, '--model', 'L1-D32', '--steps', '5', '--out', fresh('p45')], /run\/data\.json: not found; is .*run a directory made by "tlc data prepare"/],
    [['pretrain', '--data', task, '--model', 'L1-D32', '--steps', '5', '--out', fresh('p46')], /animals\.jsonl is a file, not a directory/],
    [['pretrain', '--data', data, '--model', 'l1-d32', '--steps', '5', '--out', fresh('p47')], /unknown model preset "l1-d32"/],
    [['pretrain', '--data', data, '--model', join(clf, 'config.json'), '--steps', '5', '--out', fresh('p48')], /clf\/config\.json is a classifier's config/],
    [['pretrain', '--resume', run, '--out', clf, '--steps', '50'], /--resume .*run and --out .*clf name different directories/],
    [['pretrain', '--resume', clf, '--steps', '50'], /clf holds a finetune run; resume it with `tlc finetune --resume`/],
    [['pretrain', '--resume', data], /data: nothing to resume/],
    [[...pre, '--steps', '5', '--out', task], /--out .*animals\.jsonl: exists and is not a directory/],
    // finetune, evaluate, predict, bleu
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--max-examples', '0', '--out', fresh('f8')], /invalid --max-examples "0"/],
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--patience', '0', '--out', fresh('f9')], /invalid --patience "0"/],
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--schedule', 'wsd', '--out', fresh('f10')], /finetuning takes schedule linear, cosine or constant/],
    [['finetune', '--from', run, '--task', noLabel, '--steps', '5', '--out', fresh('f11')], /no-label\.jsonl line 1: missing "label" field/],
    [['finetune', '--from', run, '--task', emptyTextLabel, '--steps', '5', '--out', fresh('f12')], /empty-text\.jsonl line 1: empty text/],
    [['finetune', '--from', run, '--task', emptyJsonl, '--steps', '5', '--out', fresh('f13')], /empty\.jsonl: empty file/],
    [['finetune', '--from', run, '--task', emptyDir, '--steps', '5', '--out', fresh('f14')], /empty-dir: no training file; expected train\.jsonl/],
    [['finetune', '--from', run, '--task', hyp1, '--steps', '5', '--out', fresh('f15')], /hyp1\.txt: unknown task file format/],
    [['finetune', '--from', run, '--task', task, '--out', fresh('f16')], /no budget: pass one of --budget/],
    [['finetune', '--from', run, '--task', task, '--steps', '5', '--out', clf], /clf already holds a run; pass --resume/],
    [['finetune', '--resume', run, '--steps', '20'], /run holds a pretrain run; resume it with `tlc pretrain --resume`/],
    [['evaluate', clf, '--kernel', 'bogus'], /--kernel: unknown kernel "bogus"/],
    [['evaluate', data], /data: not a tlc run directory/],
    [['evaluate', clf, clf], /too many arguments for 'evaluate'/],
    [['predict', clf, '--input', latin1], /latin1\.txt: not valid UTF-8 text \(at byte 3\)/],
    [['predict', clf, '--input', nulText], /nul\.txt: holds NUL bytes — a binary file/],
    [['predict', run, '--input', hyp1], /run: not a classifier/],
    [['bleu', hyp1, ref1, '--tokenize', 'intl'], /--tokenize: expected 13a, none, got "intl"/],
    [['bleu', hyp1, ref1, '--smooth-method', 'bogus'], /--smooth-method: expected exp, floor, add-k, none/],
    [['bleu', hyp1, ref1, '--width', '1.5'], /invalid --width "1\.5"/],
    [['bleu', hyp1, emptyDir], /empty-dir is a directory: give a text file/],
    // compress, export, sweep, plan, auto: checked before anything is written
    [['compress', '--from', clf, '--sparsity', '0.5', '--out', join(run, 'compressed')], /--out .*run\/compressed is inside .*run, which holds a pretraining run/],
    [['export', run, '--format', 'onnx', '--out', join(run, 'onnx-out')], /--out .*run\/onnx-out is inside .*run, which holds a pretraining run/],
    [['sweep', sweepTwoBudgets, '--out', fresh('s7')], /sweep: run L1-D32: pass exactly one budget/],
    [['sweep', sweepNoBudget, '--out', fresh('s8')], /sweep: run L1-D32: no budget/],
    [['sweep', sweepTwice, '--out', fresh('s9')], /twice\.yaml: the sweep names L1-D32 more than once/],
    [['sweep', sweepBadSize, '--out', fresh('s10')], /bad-size\.yaml: unknown model preset "bogus"/],
    [['sweep', sweepBoth, '--out', fresh('s11')], /both\.yaml: give "sizes" or "layers" and "widths", not both/],
    [['sweep', sweepHuge, '--out', fresh('s12')], /sweep: run L48-D8192: the run needs about .* GiB of memory/],
    [['sweep', emptyDir, '--out', fresh('s13')], /empty-dir is a directory: give the sweep file/],
    [['plan', '--points', pointsNan, '--budget', '1e18flops'], /nan\.csv: row 1: loss must be a positive number, got "NaN"/],
    [['plan', '--points', pointsHeaderOnly, '--budget', '1e18flops'], /header-only\.csv: no points/],
    [['plan', '--points', pointsObject, '--budget', '1e18flops'], /object\.json: expected a JSON array of objects/],
    [['plan', '--points', emptyDir, '--budget', '1e18flops'], /empty-dir is a directory: give the points file/],
    [['plan', '--sweep', task, '--budget', '1h'], /animals\.jsonl is a file, not a directory/],
    [['auto', '--corpus', task, '--budget', '1h', '--sizes', 'bogus', '--out', fresh('a9')], /--sizes: unknown model preset "bogus"/],
    [['auto', '--corpus', task, '--budget', '1h', '--sizes', ',', '--out', fresh('a10')], /--sizes "," names no size/],
    [['auto', '--corpus', task, '--budget', '1h', '--probe', '0', '--out', fresh('a11')], /--probe: invalid duration "0"/],
    [['auto', '--corpus', task, '--budget', '1h', '--compress-budget', '-1', '--out', fresh('a12')], /--compress-budget: invalid duration "-1"/],
    [['auto', '--corpus', task, '--budget', '1h', '--max-bytes', '0', '--out', fresh('a13')], /--max-bytes: invalid size "0": a size must be at least one byte/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    // flags that would do nothing where they are given
    [[...pre, '--steps', '5', '--cooldown', '0.5', '--out', fresh('p49')], /--cooldown shapes the cooldown branches of a wsd run: add --schedule wsd/],
    [['compress', '--from', clf, '--sparsity', '0.5', '--steps', '5', '--out', fresh('c6')], /--steps sets the finetuning of --mode finetune or gradual; --mode oneshot \(the default\) trains nothing/],
    [['sweep', sweepFine, '--worker', '0/0', '--out', fresh('s14')], /--worker 0\/0: the number of workers must be at least 1/],
    [['inspect', join(run, 'run.json')], /run\.json: not a safetensors file \(it starts with text\)/],
    [['auto', '--corpus', task, '--budget', '1h', '--sizes', 'L1-D32,L1-D32', '--out', fresh('a14')], /--sizes names L1-D32 more than once/],
    [['generate', run, 'x', '--greedy', '--temperature', '0.5'], /--greedy takes the most likely token and samples nothing: --temperature would do nothing/],
    [['translate', clf, 'x', '--length-penalty', '-1'], /invalid --length-penalty "-1"/],
    // numbers and words that parsers describe badly
    [[...pre, '--steps', '5', '--betas', '0.9,0.98,0.5', '--out', fresh('p50')], /invalid --betas "0\.9,0\.98,0\.5": give two numbers b1,b2/],
    [[...pre, '--steps', '5', '--lr', '1e400', '--out', fresh('p51')], /invalid --lr "1e400": expected a finite number/],
    [['help', 'frobnicate'], /unknown command 'frobnicate'/],
    [['PRETRAIN', '--help'], /unknown command 'PRETRAIN' \(did you mean pretrain\?\)/],
    [['--version', 'extra'], /--version takes no arguments, got 'extra'/],
    [['bench', 'kernels', '--dims', 'abc'], /invalid --dims "abc"/],
    [['bench', 'kernels', '--tokens', '0'], /invalid --tokens "0"/],
    [['bench', 'train', '--layers', 'abc'], /invalid --layers "abc": expected a positive integer/],
    [['report', run, '--title', '', '--out', fresh('r1')], /--title is empty/],
    [['data', 'prepare', '--input', task, task, '--out', fresh('d50')], /--input names .*animals\.jsonl more than once: each of its documents would count twice/],
    [['data', 'prepare', '--input', 'example:sotu', '--vocab-size', '0x200', '--out', fresh('d51')], /--vocab-size: expected an integer, got "0x200"/],
    [['data', 'prepare', '--input', '', '--out', fresh('d52')], /--input is empty/],
    [['predict', clf, '--input', ''], /--input is empty/],
    [['translate', clf, '--input', ''], /--input is empty/],
    // a first step that diverges leaves no run behind (the check after the table)
    [[...pre, '--steps', '30', '--lr', '1e30', '--warmup', '0', '--save-every', '100', '--out', fresh('p52')], /training diverged at step \d+: .*non-finite gradient/],
    [['export', nanRun, '--format', 'onnx', '--out', fresh('x50')], new RegExp(`tensor ${firstName.replace(/\./g, '\\.')} holds a non-finite value \\(NaN\\) at flat index 3`)],
    [['evaluate', nanRun], /holds a non-finite value \(NaN\) at flat index 3/],
    [[...pre, '--steps', '5', '--eval-every', '2.5', '--out', fresh('p53')], /invalid --eval-every "2\.5"/],
    [['predict', clf, '--input', hyp1, '--max-len', '100000'], /--max-len 100000 is beyond the \d+ positions of .*clf's model/],
    [['finetune', '--from', run, '--task', task, '--steps', '2', '--max-examples', '2', '--out', fresh('f51')], /--max-examples must be a whole number of at least 3/],
    [['bench', 'train', '--steps', '0', '--no-torch'], /invalid --steps "0": expected a positive integer/],
    [['bench', 'kernels', '--tokens', '16', '--dims', '1000000000'], /more than one tensor can hold/],
    // flags that would do nothing
    [['compress', '--from', clf, '--mode', 'finetune', '--qat', '--bits', '32', '--out', fresh('c10')], /--qat finetunes with quantized weights, but every --bits setting is 32/],
    [['data', 'prepare', '--input', task, '--task-seed', '5', '--out', fresh('d53')], /--task-seed picks the split of --exclude-test-of, which is not given/],
    [['bleu', hyp1, ref1, '--smooth-method', 'none', '--smooth-value', '3'], /--smooth-value sets floor or add-k smoothing; --smooth-method none takes no value/],
    [['compress', '--from', clf, '--mode', 'finetune', '--distill-alpha', '0.3', '--out', fresh('c7')], /--distill-alpha shapes --distill, which is not given/],
    [['compress', '--from', clf, '--structured-units', 'heads', '--out', fresh('c8')], /--structured-units shapes --structured, which is not given/],
    [['compress', '--from', run, '--task', task, '--out', fresh('c9')], /is a language model \(no labels\): compress only sizes it, so --task would do nothing/],
    [['finetune', '--from', run, '--task', task, '--steps', '2', '--max-len', '5000', '--out', fresh('f50')], /--max-len 5000 is beyond the \d+ positions of .*run's model/],
    [['evaluate', clf, '--max-len', '5000'], /--max-len 5000 is beyond the \d+ positions of .*clf's model/],
  ];
  assert.ok(cases.length >= 150, `${cases.length} cases`);
  // every case runs, two at a time (each its own process and output folder); the failures are reported together
  const results: { status: number | null; stderr: string }[] = new Array(cases.length);
  let next = 0;
  await Promise.all([0, 1].map(async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCli(cases[i][0]);
    }
  }));
  const failures: string[] = [];
  for (const [i, [args, message]] of cases.entries()) {
    const r = results[i];
    const what = args.join(' ');
    const errors = r.stderr.split('\n').filter((l) => /error/i.test(l));
    const problem = r.status === 0 ? 'exit 0'
      : !message.test(r.stderr) ? `no match for ${message}`
        : /\n\s+at |internal error|RangeError|TypeError/.test(r.stderr) ? 'a stack trace'
          : errors.length !== 1 ? `${errors.length} error lines` : null;
    if (problem) failures.push(`${what}: ${problem}\n  ${r.stderr.trim().split('\n').join('\n  ')}`);
  }
  assert.deepEqual(failures, [], failures.join('\n'));
  for (const [dir, hashed] of before) assert.deepEqual(hashes(dir), hashed, `${dir} changed`);
  // no failed start left a directory behind
  assert.ok(!existsSync(join(root, 'new')) || readdirSync(join(root, 'new')).length === 0, `left behind: ${existsSync(join(root, 'new')) ? readdirSync(join(root, 'new')).join(', ') : ''}`);
});

test('inputs that do less than asked say so, and the command goes on', async () => {
  const data = await preparedSyntheticData();
  const root = tempDir('tlc-less-than-asked-');
  const task = join(root, 'animals.jsonl');
  writeTask(task, 120, 2);
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stderr;
  };
  const run = join(root, 'run');
  assert.match(cli('pretrain', '--data', data, '--model', 'L1-D32', '--seq-len', '32', '--tokens', '10', '--out', run),
    /warning: the budget, 1\.00e\+1 tokens, is less than half of one step \(1\.02e\+3 tokens\): the run is that one step/);
  const clf = join(root, 'clf');
  assert.match(cli('finetune', '--from', run, '--task', task, '--steps', '2', '--max-examples', '6', '--out', clf),
    /warning: --max-examples 6 leaves the valid split 1 example, none labelled "\w+", "\w+": its scores say little; give at least \d+/);
  assert.match(cli('evaluate', clf, '--task-seed', '4'),
    /warning: --task-seed 4 is not the seed .*clf was finetuned with \(0\): its splits differ/);
});
