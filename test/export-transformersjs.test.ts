// transformers.js runs what `tlc export --format onnx` writes, offline from a local folder:
// fill-mask gives tlc's top token, text-classification tlc's labels on a test split, and the
// int8 graph (dtype "q8") is as accurate as tlc's own 8-bit model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { env, pipeline } from '@huggingface/transformers';
import { tidy } from '../src/engine/tensor.js';
import { noGrad } from '../src/engine/autograd.js';
import { loadTask } from '../src/data/tasks.js';
import { loadTokenizer } from '../src/data/tokenizer-json.js';
import { BOS_ID, EOS_ID, MASK_ID } from '../src/data/tokenizer.js';
import { classificationBatches } from '../src/data/task-batches.js';
import { readModelConfig } from '../src/nn/config.js';
import { TransformerLM } from '../src/nn/transformer.js';
import { TransformerClassifier } from '../src/nn/classifier.js';
import { loadWeights } from '../src/nn/weights.js';
import { packLinears } from '../src/infer/pack.js';
import { compressModel } from '../src/compress/compress.js';
import { evaluateClassifier } from '../src/train/classify.js';
import { finetune } from '../src/train/finetune.js';
import { encodeTask } from '../src/run/task.js';
import { exportRun, ONNX_FILES } from '../src/export/export.js';
import { finetuneArgs, pretrainedRun, syntheticDocuments, writeTask } from './corpus-fixture.js';
import { argmax, onnxFeeds, randomRun, tinyConfig } from './export-fixture.js';
import { tempDir } from './temp-dir.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

/** Sentences with one word masked: the text transformers.js gets, and the ids tlc gets. */
function maskedSentences(count: number, tokenizerPath: string): { text: string; ids: Int32Array }[] {
  const sentences = syntheticDocuments(20, 99).flatMap((d) => d.split(/(?<=\.) /));
  const tokenizer = loadTokenizer(tokenizerPath);
  const out: { text: string; ids: Int32Array }[] = [];
  for (let i = 0; out.length < count; i++) {
    const words = sentences[i].split(' ');
    const k = 1 + (i % (words.length - 1)); // never the first word
    const before = words.slice(0, k).join(' '), after = words.slice(k + 1).join(' ');
    const tail = ' ' + after + (words[k].endsWith('.') ? '.' : '');
    // "<mask>" takes the space before it (lstrip), as RoBERTa's tokenizer does
    const ids = [BOS_ID, ...tokenizer.encode(before), MASK_ID, ...(after ? tokenizer.encode(tail) : []), EOS_ID];
    out.push({ text: `${before} <mask>${after ? tail : ''}`, ids: Int32Array.from(ids) });
  }
  return out;
}

async function checkFillMask(run: string, label: string): Promise<void> {
  const out = join(tempDir('tlc-tjs-mlm-'), 'export');
  exportRun(run, { format: 'onnx', out });
  const config = readModelConfig(join(run, 'config.json'));
  const model = new TransformerLM(config);
  loadWeights(model, join(run, 'model.safetensors'));
  const fill = await pipeline('fill-mask', out, { dtype: 'fp32' });
  const cases = maskedSentences(24, join(run, 'tokenizer.json'));
  let same = 0;
  for (const { text, ids } of cases) {
    const expected = noGrad(() => tidy(() => {
      const logits = model.logits({ batchSize: 1, seqLen: ids.length, inputIds: ids }).toFloat32Array();
      const at = ids.indexOf(MASK_ID);
      return argmax(logits, at * config.vocab_size, (at + 1) * config.vocab_size);
    }));
    const [top] = (await fill(text)) as { token: number }[];
    if (top.token === expected) same++;
    else assert.fail(`${label}: "${text}": transformers.js predicts token ${top.token}, tlc ${expected}`);
  }
  assert.equal(same, cases.length);
  await fill.dispose();
  model.dispose();
}

test('transformers.js fill-mask predicts the top token tlc predicts (trained pre-LN masked LM)', async () => {
  await checkFillMask(await pretrainedRun(), 'trained pre-LN');
});

test('transformers.js fill-mask predicts the top token tlc predicts (post-LN masked LM)', async () => {
  const { dir, model } = randomRun(tinyConfig({ norm: 'post', vocab_size: 320, max_len: 64 }), 7);
  model.dispose();
  // the random run's tokenizer has no merges; the sentences are encoded with it
  await checkFillMask(dir, 'random post-LN');
});

test('transformers.js text-classification gives tlc\'s labels; the int8 graph is as accurate as tlc\'s 8-bit model', async () => {
  const from = await pretrainedRun();
  const root = tempDir('tlc-tjs-cls-');
  const taskFile = join(root, 'animals.jsonl');
  writeTask(taskFile, 1000, 5);
  const run = join(root, 'clf');
  await finetune(run, finetuneArgs(from, taskFile));
  const out = join(root, 'export');
  exportRun(run, { format: 'onnx', out });

  const config = readModelConfig(join(run, 'config.json'));
  const task = await loadTask(taskFile, { seed: 0 });
  const encoded = encodeTask(task, join(run, 'tokenizer.json'), config.labels!, 24).test;
  const model = new TransformerClassifier(config);
  loadWeights(model, join(run, 'model.safetensors'));
  const ours = evaluateClassifier(model, encoded);
  const texts = task.splits.test.map((e) => e.text);
  assert.ok(texts.length >= 90, `${texts.length} test examples`);

  const classify = await pipeline('text-classification', out, { dtype: 'fp32' });
  const theirs = (await classify(texts)) as { label: string }[];
  const disagreements = theirs.filter((r, i) => r.label !== config.labels![ours.predictions[i]]).length;
  assert.equal(disagreements, 0, 'transformers.js and tlc predict the same label for every test example');
  await classify.dispose();

  // tlc's int8 model: every weight matrix and embedding quantized per row to 8 bits, the
  // linear layers on the int8 kernel (activations quantized per token, docs/inference.md)
  const eight = new TransformerClassifier(config);
  tidy(() => {
    const c = compressModel(model.namedParameters(), { sparsity: 0, bits: 8 });
    for (const [n, p] of eight.namedParameters()) p.copyFrom(c.params.get(n)!);
  });
  packLinears(eight, () => ({ kind: 'int8' }));
  const eval8 = evaluateClassifier(eight, encoded);
  const tlc8 = eval8.accuracy;
  // the int8 graph in onnxruntime, on the same padded batches
  const session = await ort.InferenceSession.create(join(out, ONNX_FILES.int8));
  let correct = 0, agree = 0, at = 0;
  for (const batch of classificationBatches(encoded, { batchSize: 32, shuffle: false, seed: 0, epoch: 0 })) {
    const logits = (await session.run(onnxFeeds(batch))).logits.data as Float32Array;
    const K = config.labels!.length;
    for (let b = 0; b < batch.batchSize; b++, at++) {
      const predicted = argmax(logits, b * K, (b + 1) * K);
      if (predicted === batch.labels[b]) correct++;
      if (predicted === eval8.predictions[at]) agree++;
    }
  }
  const onnx8 = correct / encoded.labelIds.length;
  assert.ok(Math.abs(onnx8 - tlc8) <= 0.01, `int8 ONNX accuracy ${onnx8} vs tlc 8-bit ${tlc8}`);
  assert.ok(agree >= 0.99 * encoded.labelIds.length, `int8 ONNX and tlc 8-bit agree on ${agree} of ${encoded.labelIds.length} predictions`);
  assert.ok(tlc8 > 0.9, `tlc's 8-bit model learned the task (${tlc8})`);
  // and transformers.js picks the int8 file for dtype "q8"
  const classify8 = await pipeline('text-classification', out, { dtype: 'q8' });
  const q8 = (await classify8(texts)) as { label: string }[];
  const q8Accuracy = q8.filter((r, i) => r.label === task.splits.test[i].label).length / texts.length;
  assert.ok(Math.abs(q8Accuracy - onnx8) <= 0.01, `transformers.js q8 accuracy ${q8Accuracy} vs onnxruntime ${onnx8}`);
  await classify8.dispose();
  // and the 4-bit file for dtype "q4"
  const classify4 = await pipeline('text-classification', out, { dtype: 'q4' });
  const q4 = (await classify4(texts)) as { label: string }[];
  const q4Accuracy = q4.filter((r, i) => r.label === task.splits.test[i].label).length / texts.length;
  assert.ok(q4Accuracy > 0.9, `transformers.js q4 accuracy ${q4Accuracy}`);
  await classify4.dispose();
  console.log(`test accuracy (${texts.length} examples): tlc float32 ${ours.accuracy}, tlc int8 ${tlc8}, `
    + `ONNX int8 ${onnx8}, transformers.js q8 ${q8Accuracy}, transformers.js q4 ${q4Accuracy}`);
  model.dispose();
  eight.dispose();
});
