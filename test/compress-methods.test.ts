// The compression methods' seam (src/experiment/compression/): every setting a method acts on is
// in the keys that decide what a rerun reuses, and outputs written before the methods declared
// their settings are still reused, their finetuning runs included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { presetConfig } from '../src/nn/config.js';
import { finetuneOptionsSchema } from '../src/train/args.js';
import { compressSweep, planCompression, type CompressSweepArgs } from '../src/experiment/compress-sweep.js';
import { readMetrics } from '../src/run/metrics.js';
import { finetuneKeyOf, resultKeyOf } from '../src/experiment/compression/older-outputs.js';
import { finetunedClassifier } from './corpus-fixture.js';
import { structuredText } from '../src/experiment/pareto.js';
import { tempDir } from './temp-dir.js';

test('every setting a method acts on, and the sweep\'s own, changes the keys; the bit width changes finetuning\'s only with QAT', () => {
  const config = presetConfig('L1-D32', { vocab_size: 320, max_len: 32, labels: ['cat', 'dog'] });
  const options = (lr: number) => finetuneOptionsSchema.parse({ from: 'run', task: 'task.jsonl', steps: 4, lr });
  const base: CompressSweepArgs = { model: 'run', out: 'out', mode: 'finetune', finetune: {}, seed: 0, sparsities: [0.5], bits: [4] };
  const keys = (change: Partial<CompressSweepArgs>, lr = 1e-4) => {
    const [s] = planCompression({ ...base, ...change }, config, change.mode === 'oneshot' ? null : options(lr));
    return { result: s.resultKey, finetune: s.finetuneKey, dir: s.dir };
  };
  const b = keys({});
  assert.equal(b.dir, join('out', 's0.5-b4'));
  const differ = (what: string, k: ReturnType<typeof keys>, finetuneToo: boolean) => {
    assert.notEqual(k.result, b.result, `${what}: the result key`);
    if (finetuneToo) assert.notEqual(k.finetune, b.finetune, `${what}: the finetuning key`);
    else assert.equal(k.finetune, b.finetune, `${what} does not enter finetuning`);
  };
  differ('--sparsity', keys({ sparsities: [0.6] }), true);
  differ('--pruning', keys({ pruning: 'global' }), true);
  differ('--bits', keys({ bits: [8] }), false);
  differ('--embedding-bits', keys({ embeddingBits: 8 }), false);
  differ('--qat', keys({ qat: true }), true);
  assert.notEqual(keys({ qat: true, bits: [8] }).finetune, keys({ qat: true }).finetune, 'with QAT the bit width shapes finetuning');
  differ('--distill', keys({ distill: { alpha: 0.5, temperature: 2 } }), true);
  assert.notEqual(keys({ distill: { alpha: 0.5, temperature: 3 } }).finetune, keys({ distill: { alpha: 0.5, temperature: 2 } }).finetune);
  differ('--seed', keys({ seed: 1 }), true);
  differ('--mode', keys({ mode: 'gradual' }), true);
  differ('--lr', keys({}, 3e-4), true);
  differ('--task-seed', keys({ taskSeed: 3 }), false);
  differ('--task', keys({ task: 'other.jsonl' }), false);
  // structured settings: the criterion is resolved against the model (a classifier's default is taylor)
  const structured = (more: Partial<CompressSweepArgs>) => keys({ sparsities: [], structured: [0.5], ...more });
  const s = structured({});
  assert.equal(s.dir, join('out', 'struct0.5-b4'));
  assert.equal(structured({ structuredCriterion: 'taylor' }).result, s.result, 'the default criterion is the one resolved');
  for (const other of [structured({ structuredCriterion: 'magnitude' }), structured({ structuredUnits: 'heads' }), structured({ structured: [0.25] })]) {
    assert.notEqual(other.result, s.result);
    assert.notEqual(other.finetune, s.finetune);
  }
  assert.equal(structured({ structuredUnits: 'heads' }).dir, join('out', 'struct0.5-heads-b4'));
  // without any pruning asked for there is nothing to do; a method that only acts by training needs a finetuning mode
  assert.throws(() => keys({ sparsities: [] }), /nothing to compress: give --sparsity or --structured fractions/);
  assert.throws(() => keys({ mode: 'oneshot', qat: true }), /--qat trains with the quantized weights, so it needs a finetuning mode/);
});

test('outputs written before the methods declared their settings are reused, finetuning runs included; a changed setting is not', async () => {
  const { run } = await finetunedClassifier();
  const out = join(tempDir('tlc-older-'), 'cmp');
  const args: CompressSweepArgs = {
    model: run, out, sparsities: [0.5], structured: [0.5], structuredUnits: 'heads', bits: [4], mode: 'gradual', qat: true,
    finetune: { steps: 4, batch_size: 16, lr: 1e-4, precision: 'f32' }, seed: 0,
  };
  await compressSweep(args);
  const older = join(out, '..', 'older');
  cpSync(out, older, { recursive: true });
  // the keys as they were written before: flat fields, the bit width in finetuning's only with QAT
  const finetune = JSON.parse(readFileSync(join(out, 's0.5-b4', 'result.json'), 'utf8')).settings.finetune;
  const flat = (dir: string, f: Record<string, unknown>) => {
    const setting = { sparsity: 0, bits: 4, pruning: 'layer', mode: 'gradual', qat: true, distill: null, seed: 0, ...f };
    const path = join(older, dir, 'result.json');
    const result = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({
      ...result, settings: { model: run, embeddingBits: null, finetune, task: null, taskSeed: null, scoredOn: 'inference kernels', ...setting },
    }));
    writeFileSync(join(older, dir, 'finetune-settings.json'), JSON.stringify({ ...setting, finetune }));
  };
  flat('s0.5-b4', { sparsity: 0.5 });
  flat('struct0.5-heads-b4', { structured: 0.5, structured_criterion: 'taylor', structured_units: 'heads' });
  const rerun = async (change: Partial<CompressSweepArgs> = {}) => {
    const log: string[] = [];
    await compressSweep({ ...args, out: older, ...change }, (l) => log.push(l));
    return log;
  };
  assert.equal((await rerun()).filter((l) => /done before with the same settings, reused/.test(l)).length, 2);
  // without its result, the setting's finetuning run is still its own: not trained again
  rmSync(join(older, 'struct0.5-heads-b4', 'result.json'));
  const again = await rerun();
  assert.ok(!again.some((l) => /finetuning again/.test(l)), again.join('\n'));
  const starts = readMetrics(join(older, 'struct0.5-heads-b4', 'finetune', 'metrics.jsonl')).filter((e) => e.event === 'start');
  assert.equal(starts.length, 1, 'the older finetuning run was kept');
  assert.ok(again.some((l) => /^structured 0\.5, 4 bits/.test(l)), 'the setting was compressed again from it');
  // flat keys of other shapes come from versions that computed otherwise: never reused
  const saved = JSON.parse(readFileSync(join(out, '..', 'older', 's0.5-b4', 'result.json'), 'utf8')).settings as Record<string, unknown>;
  assert.ok(resultKeyOf(saved) !== null);
  const { distill: _distill, ...beforeDistillation } = saved;
  assert.equal(resultKeyOf(beforeDistillation), null);
  const text = JSON.stringify(saved);
  assert.equal(finetuneKeyOf(text), null, 'a finetuning key that held the result\'s fields is an earlier version\'s');
  // another pruning threshold is another setting: the older result is neither served for it nor replaced by it
  await assert.rejects(rerun({ pruning: 'global' }), /s0\.5-b4 holds a result made with other settings \(methods\.magnitude\.pruning: "layer" → "global"\)/);
});

test('a structured setting says what it removed, and says so when it removed nothing', () => {
  const row = { model: 'm', params: 1000, sparsity: 0, bits: 32, mode: 'oneshot' as const, bytes: 1, file: 'f', accuracy: null, macro_f1: null, measured_sparsity: 0, structured: 0.5 };
  assert.equal(structuredText({ ...row, layer_heads: [2, 2] }), '50% of heads and FFN neurons removed');
  assert.equal(structuredText(row), '50% of FFN neurons removed', 'one head per block stays');
  assert.equal(structuredText({ ...row, structured_units: 'heads', layer_heads: [2, 2] }), '50% of heads removed');
  assert.equal(structuredText({ ...row, structured_units: 'heads' }), 'nothing removed (every block keeps its one head)');
  assert.equal(structuredText({ ...row, structured_units: 'neurons' }), '50% of FFN neurons removed');
});
