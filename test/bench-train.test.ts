// The PyTorch baselines of `tlc bench train` run as real subprocesses (f32 and bf16 autocast) on
// the OpenBLAS kernel the CPU can run best, which OpenBLAS 0.3.21 does not find by itself on CPUs
// newer than it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchTorchTraining, openblasCoreType, type TrainBenchConfig } from '../bench/train.js';

test('the baseline names the OpenBLAS kernel of the newest instructions the CPU has', () => {
  const cpu = (flags: string) => `processor\t: 0\nflags\t\t: ${flags}\n`;
  assert.equal(openblasCoreType(cpu('sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16')), 'SkylakeX');
  assert.equal(openblasCoreType(cpu('sse2 avx avx2 fma')), 'Haswell');
  assert.equal(openblasCoreType(cpu('sse2 avx')), null, 'older CPUs are left to OpenBLAS');
  assert.equal(openblasCoreType(''), null);
});

test('PyTorch trains the benchmark model in f32 and under bf16 autocast', () => {
  const c: TrainBenchConfig = { objective: 'mlm', layers: 1, d_model: 64, heads: 1, seq_len: 32, batch: 4, vocab: 1000, steps: 2 };
  for (const precision of ['f32', 'bf16'] as const) {
    const r = benchTorchTraining(c, 1, 'targets', undefined, precision);
    assert.ok(r.tokens_per_s > 0, `${precision}: ${r.tokens_per_s} tokens/s`);
    assert.match(r.version, /^1\./);
    const expected = openblasCoreType();
    if (expected) assert.match(r.blas, new RegExp(`core ${expected}`), `${precision}: ${r.blas}`);
  }
});
