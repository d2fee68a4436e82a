// Attention kernel throughput: node dist/bench/attention.js [B T H Dh]   (default 32 128 8 64)
//
// Flops counted: forward 4·B·H·T²·Dh (Q·Kᵀ and P·V); backward twice that (dV, dP, dK, dQ;
// the recomputation of Q·Kᵀ is not counted). Causal attention needs about half of these:
// its rate is given on half the count, and on the dense count in parentheses.
// Each figure is the fastest of REPS calls (default 20): on a shared machine the minimum
// is the least disturbed. TLC_THREADS sets the thread count.
import { native } from '../src/engine/native.js';
import { Rng, empty, getThreads, tensor, tidy, type Tensor } from '../src/engine/index.js';

const args = process.argv.slice(2).map(Number);
const [B, T, H, Dh] = args.length === 4 ? args : [32, 128, 8, 64];
const C = H * Dh;
const reps = Number(process.env.REPS ?? 20);

function randn(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return tensor(data, shape);
}

tidy(() => {
  const qkv = randn([B, T, 3 * C], 1), q = randn([B, T, C], 2), k = randn([B, T, C], 3), v = randn([B, T, C], 4);
  const dOut = randn([B, T, C], 5);
  const out = empty([B, T, C]), lse = empty([B, H, T]);
  const dq = empty([B, T, C]), dk = empty([B, T, C]), dv = empty([B, T, C]), dqkv = empty([B, T, 3 * C]);
  const scale = 1 / Math.sqrt(Dh);
  const flopsFwd = 4 * B * H * T * T * Dh, flopsBwd = 2 * flopsFwd;
  const rate = (flops: number, s: number) => (flops / s / 1e9).toFixed(1);

  console.log(`attention B=${B} T=${T} H=${H} Dh=${Dh}, ${getThreads()} threads, fastest of ${reps}`);
  interface Config { packed: boolean; causal: boolean; fwd: number; bwd: number }
  const configs: Config[] = [];
  for (const packed of [false, true]) for (const causal of [false, true]) configs.push({ packed, causal, fwd: Infinity, bwd: Infinity });
  const seconds = (fn: () => void) => {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  // configurations interleaved, so that a busy spell on the machine does not favour one
  for (let r = 0; r <= reps; r++) {
    for (const c of configs) {
      const [hq, hk, hv] = c.packed ? [qkv.handle, qkv.handle, qkv.handle] : [q.handle, k.handle, v.handle];
      const [gq, gk, gv] = c.packed ? [dqkv.handle, dqkv.handle, dqkv.handle] : [dq.handle, dk.handle, dv.handle];
      // (offset, stride) of q, k, v token rows
      const rows = c.packed
        ? { qOffset: 0, qStride: 3 * C, kOffset: C, kStride: 3 * C, vOffset: 2 * C, vStride: 3 * C }
        : { qOffset: 0, qStride: C, kOffset: 0, kStride: C, vOffset: 0, vStride: C };
      const shape = { batch: B, tq: T, tk: T, heads: H, headSize: Dh, ...rows, causal: c.causal, scale };
      const fwd = seconds(() => native.attentionForward({ q: hq, k: hk, v: hv, out: out.handle, lse: lse.handle, keyMask: null, ...shape }));
      const bwd = seconds(() => native.attentionBackward({
        dOut: dOut.handle, q: hq, k: hk, v: hv, out: out.handle, lse: lse.handle, keyMask: null, dq: gq, dk: gk, dv: gv,
        ...shape, accumulateDq: false, accumulateDk: false, accumulateDv: false,
      }));
      if (r > 0) { // the first round warms up
        c.fwd = Math.min(c.fwd, fwd);
        c.bwd = Math.min(c.bwd, bwd);
      }
    }
  }
  for (const { packed, causal, fwd, bwd } of configs) {
    const part = causal ? 0.5 : 1;
    const dense = (f: number, s: number) => (causal ? ` (dense ${rate(f, s)})` : '');
    console.log(`${packed ? 'packed qkv' : 'q, k, v   '} ${causal ? 'causal' : 'full  '}` +
      `  forward ${(fwd * 1e3).toFixed(2)} ms ${rate(part * flopsFwd, fwd)} GFLOP/s${dense(flopsFwd, fwd)}` +
      `  backward ${(bwd * 1e3).toFixed(2)} ms ${rate(part * flopsBwd, bwd)} GFLOP/s${dense(flopsBwd, bwd)}`);
  }
  const mm = native.benchMatmul({ m: B * T, k: C, n: C, transA: false, transB: false, iterations: 10 });
  console.log(`for scale: oneDNN matmul [${B * T}, ${C}]·[${C}, ${C}] ${rate(2 * B * T * C * C, mm)} GFLOP/s`);
});
