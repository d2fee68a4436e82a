// `tlc export` as a real process: a compressed setting of `tlc compress` exported to ONNX
// and run by onnxruntime; bad input fails with one clear line and a non-zero exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { onnxLogits, paddedBatch, randomRun, tinyConfig } from './export-fixture.js';
import { tempDir } from './temp-dir.js';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function tlc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

test('tlc compress, then tlc export of the compressed setting: onnxruntime runs it', async () => {
  const { dir, model } = randomRun(tinyConfig({ norm: 'post' }), 60);
  model.dispose();
  const root = tempDir('tlc-export-cli-');
  let r = tlc('compress', '--from', dir, '--sparsity', '0.5', '--bits', '8', '--out', join(root, 'compressed'));
  assert.equal(r.status, 0, r.stderr);
  const out = join(root, 'export');
  r = tlc('export', join(root, 'compressed', 's0.5-b8'), '--format', 'onnx', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /as RobertaForMaskedLM: config\.json, tokenizer\.json, tokenizer_config\.json, model\.safetensors, onnx\/model\.onnx/);
  assert.match(r.stderr, /tlc-compressed; exporting its decoded weights/);
  const session = await ort.InferenceSession.create(join(out, 'onnx', 'model.onnx'));
  const logits = await onnxLogits(session, paddedBatch([6, 4], 300, 61));
  assert.deepEqual(logits.dims, [2, 6, 300]);
  assert.ok(logits.data.every(Number.isFinite));
});

test('tlc export rejects bad input with one clear line and a non-zero exit', () => {
  const root = tempDir('tlc-export-cli-bad-');
  const pre = randomRun(tinyConfig({ norm: 'pre' }), 62);
  pre.model.dispose();
  const clm = randomRun(tinyConfig({ objective: 'clm', activation: 'gelu' }), 63);
  clm.model.dispose();
  const postClm = randomRun(tinyConfig({ objective: 'clm', norm: 'post', activation: 'gelu_tanh' }), 64);
  postClm.model.dispose();
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const out = join(root, 'out');
  const cases: [string[], RegExp][] = [
    [['export', pre.dir, '--format', 'hf', '--out', out], /norm "pre" \(pre-LN\) has no Hugging Face equivalent/],
    [['export', clm.dir, '--format', 'hf', '--out', out], /activation "gelu" \(erf\) has no GPT-2 equivalent/],
    [['export', postClm.dir, '--format', 'onnx', '--out', out], /norm "post": tlc's ONNX decoder graph is GPT-2's pre-LN computation/],
    [['export', join(root, 'missing'), '--format', 'onnx', '--out', out], /missing: no such run directory/],
    [['export', empty, '--out', out], /empty: not a tlc run directory \(.*config\.json is missing\)/],
    [['export', pre.dir, '--format', 'tflite', '--out', out], /argument 'tflite' is invalid. Allowed choices are hf, onnx/],
    [['export', pre.dir, '--format', 'onnx'], /missing --out/],
    [['export', pre.dir, '--format', 'onnx', '--out', pre.dir], /is the run directory itself/],
  ];
  for (const [args, message] of cases) {
    const r = tlc(...args);
    assert.notEqual(r.status, 0, `${args.join(' ')} should fail`);
    assert.match(r.stderr, /^tlc: error: /, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, 'no stack trace');
  }
  assert.ok(!existsSync(out), 'nothing was written');
});
