// `tlc import`: Hugging Face folders (tlc's own exports: RoBERTa masked LM and classifier,
// GPT-2) back into tlc runs with the same weights and logits; commands take the folders
// directly; what does not map is refused with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { preparedSyntheticData, writeTask } from './corpus-fixture.js';
import { readSafetensorsRaw, writeSafetensorsRaw, type SafetensorsRawTensor } from '../src/engine/safetensors.js';
import { loadModelDir } from '../src/infer/load.js';
import { noGrad } from '../src/engine/autograd.js';
import { tidy } from '../src/engine/tensor.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { tempDir } from './temp-dir.js';

const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'main.js');
// the on-the-fly imports go to a cache of the test's own
const CACHE = tempDir('tlc-import-cache-');

function tlc(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: CACHE } });
  assert.equal(r.status, 0, `tlc ${args.join(' ')} exited with ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

function tlcFails(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: CACHE } });
  assert.equal(r.status, 1, `tlc ${args.join(' ')} should have failed:\n${r.stdout}${r.stderr}`);
  return r.stderr;
}

/** The same tensor names, shapes and bits. */
function assertSameWeights(a: string, b: string): void {
  const [ta, tb] = [readSafetensorsRaw(join(a, 'model.safetensors')).tensors, readSafetensorsRaw(join(b, 'model.safetensors')).tensors];
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  for (const [name, x] of ta) {
    const y = tb.get(name)!;
    assert.deepEqual(y.shape, x.shape, name);
    assert.ok(Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength).equals(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength)), `${name} differs`);
  }
}

/** Logits of both runs' models on the same padded batch. */
function logitsOf(dir: string): Float32Array {
  const { model } = loadModelDir(dir);
  try {
    const ids = Int32Array.from({ length: 2 * 12 }, (_, i) => 5 + ((i * 37) % 200));
    const attentionMask = Uint8Array.from({ length: 24 }, (_, i) => (i >= 20 ? 0 : 1));
    const batch = { batchSize: 2, seqLen: 12, inputIds: ids, attentionMask };
    return noGrad(() => tidy(() => (model instanceof TransformerClassifier
      ? model.logits(batch, { training: false })
      : (model as TransformerLM).logits(batch, { training: false })).toFloat32Array()));
  } finally {
    model.dispose();
  }
}

async function trained(root: string, name: string, flags: string[]): Promise<string> {
  const data = await preparedSyntheticData();
  const run = join(root, name);
  tlc(['pretrain', '--data', data, '--model', 'L2-D32', '--seq-len', '32', '--batch-size', '8', '--steps', '15', '--eval-tokens', '512',
    '--lr', '3e-3', '--out', run, ...flags]);
  return run;
}

test('RoBERTa masked LM and classifier, exported and imported: the same weights and logits; commands take the folder itself', async () => {
  const root = tempDir('tlc-import-');
  const mlm = await trained(root, 'mlm', ['--norm', 'post']);
  tlc(['export', mlm, '--format', 'hf', '--out', join(root, 'hf-mlm')]);
  assert.match(tlc(['import', join(root, 'hf-mlm'), '--out', join(root, 'back-mlm')]), /RobertaForMaskedLM/);
  assertSameWeights(mlm, join(root, 'back-mlm'));
  assert.deepEqual(logitsOf(join(root, 'back-mlm')), logitsOf(mlm));

  // finetune straight from the Hugging Face folder, export the classifier, import it back
  const task = join(root, 'animals.jsonl');
  writeTask(task, 200, 3);
  const clf = join(root, 'clf');
  tlc(['finetune', '--from', join(root, 'hf-mlm'), '--task', task, '--steps', '20', '--batch-size', '8', '--max-len', '24', '--out', clf]);
  tlc(['export', clf, '--format', 'hf', '--out', join(root, 'hf-clf')]);
  assert.match(tlc(['import', join(root, 'hf-clf'), '--out', join(root, 'back-clf')]), /RobertaForSequenceClassification/);
  assertSameWeights(clf, join(root, 'back-clf'));
  assert.deepEqual(logitsOf(join(root, 'back-clf')), logitsOf(clf));
  const scores = (dir: string) => JSON.parse(tlc(['evaluate', dir, '--task', task, '--json'])) as { accuracy: number; labels: string[] };
  const direct = scores(join(root, 'hf-clf'));
  assert.equal(direct.accuracy, scores(clf).accuracy);
  assert.deepEqual(direct.labels, ['bird', 'cat', 'dog']);
});

test('GPT-2, exported and imported: the same weights and logits', async () => {
  const root = tempDir('tlc-import-gpt2-');
  const clm = await trained(root, 'clm', ['--objective', 'clm']);
  tlc(['export', clm, '--format', 'hf', '--out', join(root, 'hf')]);
  assert.match(tlc(['import', join(root, 'hf'), '--out', join(root, 'back')]), /GPT2LMHeadModel/);
  assertSameWeights(clm, join(root, 'back'));
  assert.deepEqual(logitsOf(join(root, 'back')), logitsOf(clm));
  // a checkpoint without the "transformer." prefix and with BF16 weights imports too (widened exactly)
  const bf16 = join(root, 'hf-bf16');
  mkdirSync(bf16);
  for (const f of ['config.json', 'tokenizer.json']) copyFileSync(join(root, 'hf', f), join(bf16, f));
  const { tensors } = readSafetensorsRaw(join(root, 'hf', 'model.safetensors'));
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let at = 0;
  for (const [name, t] of tensors) {
    const f32 = new Uint32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
    const bits = Uint16Array.from(f32, (v) => v >>> 16); // truncation: exactly representable after widening
    const bytes = Buffer.from(bits.buffer);
    header[name.replace(/^transformer\./, '')] = { dtype: 'BF16', shape: t.shape, data_offsets: [at, at + bytes.length] };
    parts.push(bytes);
    at += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(join(bf16, 'model.safetensors'), Buffer.concat([len, json, ...parts]));
  tlc(['import', bf16, '--out', join(root, 'back-bf16')]);
  const w = readSafetensorsRaw(join(root, 'back-bf16', 'model.safetensors')).tensors.get('blocks.0.attn.qkv.weight')!.data as Float32Array;
  const orig = readSafetensorsRaw(join(clm, 'model.safetensors')).tensors.get('blocks.0.attn.qkv.weight')!.data as Float32Array;
  const bits = new Uint32Array(Float32Array.from(orig).buffer).map((b) => b & 0xffff0000);
  assert.deepEqual(w, new Float32Array(bits.buffer));
});

test('what does not map is refused with the reason', async () => {
  const root = tempDir('tlc-import-bad-');
  const mlm = await trained(root, 'mlm', ['--norm', 'post']);
  const hf = join(root, 'hf');
  tlc(['export', mlm, '--format', 'hf', '--out', hf]);
  const config = JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')) as Record<string, unknown>;
  const variant = (name: string, change: Record<string, unknown>, drop: string[] = []): string => {
    const dir = join(root, name);
    mkdirSync(dir);
    for (const f of ['model.safetensors', 'tokenizer.json']) if (!drop.includes(f)) copyFileSync(join(hf, f), join(dir, f));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...change }));
    return dir;
  };
  const cases: [string, Record<string, unknown>, string[], RegExp][] = [
    ['bert', { model_type: 'bert' }, [], /model_type "bert" does not map onto a tlc model/],
    ['prenorm', { model_type: 'roberta-prelayernorm' }, [], /RoBERTa-PreLayerNorm normalizes the embedding sum/],
    ['relu', { hidden_act: 'relu' }, [], /hidden_act "relu"/],
    ['rotary', { position_embedding_type: 'relative_key' }, [], /position_embedding_type "relative_key"/],
    ['tanh-head', { hidden_act: 'gelu_new' }, [], /RobertaLMHead applies the erf GELU/],
    ['untied', { tie_word_embeddings: false }, [], /tie_word_embeddings false/],
    ['deeper', { num_hidden_layers: 3 }, [], /tensor roberta\.encoder\.layer\.2\..* is missing/],
    ['no-weights', {}, ['model.safetensors'], /model\.safetensors is missing/],
    ['no-tokenizer', {}, ['tokenizer.json'], /tokenizer\.json is missing/],
  ];
  for (const [name, change, drop, expected] of cases) {
    assert.match(tlcFails(['import', variant(name, change, drop), '--out', join(root, `out-${name}`)]), expected, name);
  }
  // a tensor no part of the model holds is refused, not dropped; buffers and the unused pooler are not parameters
  const extra = variant('extra', {});
  const raw = readSafetensorsRaw(join(hf, 'model.safetensors')).tensors;
  const gate: SafetensorsRawTensor = { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) };
  writeSafetensorsRaw(join(extra, 'model.safetensors'), new Map([...raw, ['roberta.encoder.layer.0.attention.self.gate.weight', gate],
    ['roberta.embeddings.position_ids', gate], ['roberta.pooler.dense.bias', gate]]));
  assert.match(tlcFails(['import', extra, '--out', join(root, 'out-extra')]),
    /tensors that no part of a tlc RobertaForMaskedLM holds: roberta\.encoder\.layer\.0\.attention\.self\.gate\.weight; importing would drop them/);
  const buffers = variant('buffers', {});
  writeSafetensorsRaw(join(buffers, 'model.safetensors'), new Map([...raw, ['roberta.embeddings.position_ids', gate], ['roberta.pooler.dense.bias', gate]]));
  tlc(['import', buffers, '--out', join(root, 'out-buffers')]);
  const pickle = variant('pickle', {}, ['model.safetensors']);
  writeFileSync(join(pickle, 'pytorch_model.bin'), 'not read');
  assert.match(tlcFails(['import', pickle, '--out', join(root, 'out-pickle')]), /pytorch_model\.bin, a pickle tlc does not read/);
  // a failed import leaves no run behind, and the folder is not touched
  assert.match(tlcFails(['evaluate', join(root, 'out-relu')]), /not a tlc run directory|no such/);
});
