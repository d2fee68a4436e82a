// The PyTorch baseline of `tlc bench train` runs on the OpenBLAS kernel the CPU can run best,
// which OpenBLAS 0.3.21 does not find by itself on CPUs newer than it. (The baseline itself needs
// python3-torch, which scripts/setup-bench.sh installs; benchmarks are not part of the tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openblasCoreType } from '../bench/train.js';

test('the baseline names the OpenBLAS kernel of the newest instructions the CPU has', () => {
  const cpu = (flags: string) => `processor\t: 0\nflags\t\t: ${flags}\n`;
  assert.equal(openblasCoreType(cpu('sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16')), 'SkylakeX');
  assert.equal(openblasCoreType(cpu('sse2 avx avx2 fma')), 'Haswell');
  assert.equal(openblasCoreType(cpu('sse2 avx')), null, 'older CPUs are left to OpenBLAS');
  assert.equal(openblasCoreType(''), null);
});
