// Compression benchmark: node dist/bench/compress.js [layers d]   (default 2 256)
//
// Builds the linear weights of a random L-layer, width-d Transformer (qkv, out, fc1, fc2 per
// layer, N(0, 0.02²)), then for sparsity {0, 0.5, 0.9} × bits {32, 8, 4}: compresses them
// (compressModel), writes the file (writeCompressed), reads it back (readCompressed), and
// reports the real file size next to the plain float32 safetensors file. Also times the
// fake-quantization kernel (forward) at each weight shape. Times are medians.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, fakeQuantize, getThreads, noGrad, tensor, tidy, writeSafetensors, type Tensor } from '../src/engine/index.js';
import { compressModel, readCompressed, writeCompressed } from '../src/compress/index.js';
import { timeIt } from './timing.js';

const args = process.argv.slice(2).map(Number);
const [L, D] = args.length === 2 ? args : [2, 256];

function linearWeights(): Map<string, Tensor> {
  const rng = new Rng(1);
  const out = new Map<string, Tensor>();
  for (let l = 0; l < L; l++) {
    for (const [name, shape] of [['attn.qkv', [3 * D, D]], ['attn.out', [D, D]], ['mlp.fc1', [4 * D, D]], ['mlp.fc2', [D, 4 * D]]] as const) {
      const v = new Float32Array(shape[0] * shape[1]);
      for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.02;
      out.set(`blocks.${l}.${name}.weight`, tensor(v, shape));
    }
  }
  return out;
}

const ms = (s: number): string => (s * 1e3).toFixed(1).padStart(7);

tidy(() => {
  const params = linearWeights();
  const elements = [...params.values()].reduce((a, t) => a + t.size, 0);
  const dir = mkdtempSync(join(tmpdir(), 'tlc-bench-compress-'));
  try {
    const f32Path = join(dir, 'f32.safetensors');
    writeSafetensors(f32Path, params);
    const f32 = statSync(f32Path).size;
    console.log(`linear weights of a random ${L}-layer d=${D} model: ${elements.toLocaleString('en-US')} weights, `
      + `plain float32 safetensors ${f32.toLocaleString('en-US')} bytes; ${getThreads()} threads`);
    console.log('sparsity  bits  encodings          file bytes  vs f32  compress ms  write ms  read ms');
    for (const sparsity of [0, 0.5, 0.9]) {
      for (const bits of [32, 8, 4]) {
        const path = join(dir, `c-${sparsity}-${bits}.safetensors`);
        let sizeBytes = 0, encodings = '';
        const compress = timeIt(() => tidy(() => { compressModel(params, { sparsity, bits }); }), { warmup: 1, minRuns: 3, minTimeS: 0.3 });
        const c = compressModel(params, { sparsity, bits });
        const write = timeIt(() => {
          const r = writeCompressed(path, c.params, c.plan);
          sizeBytes = r.totalBytes;
          encodings = [...new Set(r.rows.map((row) => row.encoding))].join(',');
        }, { warmup: 1, minRuns: 3, minTimeS: 0.3 });
        const read = timeIt(() => tidy(() => { readCompressed(path); }), { warmup: 1, minRuns: 3, minTimeS: 0.3 });
        if (sizeBytes !== statSync(path).size) throw new Error('reported size differs from the file size');
        for (const t of c.params.values()) t.dispose();
        console.log(`${sparsity.toFixed(1).padStart(8)}  ${String(bits).padStart(4)}  ${encodings.padEnd(17)}  ${sizeBytes.toLocaleString('en-US').padStart(10)}  `
          + `${(f32 / sizeBytes).toFixed(2).padStart(5)}x  ${ms(compress.medianS)}      ${ms(write.medianS)}  ${ms(read.medianS)}`);
      }
    }
    console.log('fakeQuantize forward (native kernel, 4 bits):');
    for (const t of [...params.values()].slice(0, 4)) {
      noGrad(() => {
        const r = timeIt(() => tidy(() => { fakeQuantize(t, 4); }), { warmup: 3, minRuns: 20, minTimeS: 0.3 });
        const gbs = (2 * t.size * 4) / r.medianS / 1e9;
        console.log(`  [${t.shape.join(', ')}]: ${(r.medianS * 1e6).toFixed(0)} us, ${gbs.toFixed(1)} GB/s (read + write)`);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
