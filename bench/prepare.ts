// Data preparation benchmark (`tlc bench prepare`): one large text file — the case that must
// stream — with a long-tailed vocabulary far larger than the word counter's capacity, prepared
// by `tlc data prepare` in a fresh process; its peak resident memory (VmHWM) and throughput.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/engine/random.js';

export interface PrepareBenchResult {
  input_bytes: number;
  distinct_word_pool: number;
  seconds: number;
  mb_per_s: number;
  peak_rss_bytes: number;
  train_tokens: number;
  valid_tokens: number;
  word_count_error_bound: number;
}

const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** A word of the pool by its rank: letters only (the pre-tokenizer splits digits off). */
function word(rank: number): string {
  let w = '';
  for (let r = rank + 1; r > 0; r = Math.floor(r / 23)) w += 'abcdefghijklmnoprstuvwy'[r % 23];
  return w;
}

/** Writes `bytes` of text: sentences of Zipf-distributed words from a pool of `pool` words, one file. */
export function writeCorpus(path: string, bytes: number, pool: number, seed = 1): void {
  const rng = new Rng(seed);
  const fd = openSync(path, 'w');
  try {
    let written = 0;
    while (written < bytes) {
      const parts: string[] = [];
      for (let s = 0; s < 2000; s++) {
        const n = 8 + rng.int(16);
        const words: string[] = [];
        // Zipf(1) over the pool: rank = pool^u − 1
        for (let i = 0; i < n; i++) words.push(word(Math.floor(Math.pow(pool, rng.uniform())) - 1));
        parts.push(words.join(' ') + '.');
      }
      const chunk = Buffer.from(parts.join(' ') + '\n');
      writeSync(fd, chunk);
      written += chunk.length;
    }
  } finally {
    closeSync(fd);
  }
}

export function benchPrepare(opts: { bytes: number; pool: number; vocab: number; log: (l: string) => void }): PrepareBenchResult {
  const dir = mkdtempSync(join(tmpdir(), 'tlc-bench-prepare-'));
  try {
    const input = join(dir, 'corpus.txt');
    opts.log(`writing ${(opts.bytes / 1e9).toFixed(2)} GB of text (a pool of ${opts.pool.toLocaleString('en-US')} words) ...`);
    writeCorpus(input, opts.bytes, opts.pool);
    const size = statSync(input).size;
    opts.log('tlc data prepare, in a fresh process ...');
    // the child reports its own peak resident memory when it is done
    const script = `import('${CLI.replace(/\\/g, '/')}'.replace(/main\\.js$/, '../data/prepare.js')).then(async ({ prepareData }) => {
      const t0 = performance.now();
      const r = await prepareData({ inputs: [${JSON.stringify(input)}], outDir: ${JSON.stringify(join(dir, 'data'))}, vocabSize: ${opts.vocab}, showProgress: false });
      const hwm = /VmHWM:\\s+(\\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'));
      console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, hwm: hwm ? Number(hwm[1]) * 1024 : null, meta: r.meta }));
    })`;
    const r = spawnSync(process.execPath, ['--input-type=commonjs', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) {
      // the child's own message, not the last lines of its stack
      const message = /^\w*Error: (.+)$/m.exec(r.stderr)?.[1] ?? r.stderr.trim().split('\n')[0];
      throw new Error(`data prepare failed: ${message}`);
    }
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; hwm: number; meta: { train: { tokens: number }; valid: { tokens: number }; word_count_error_bound?: number } };
    return {
      input_bytes: size, distinct_word_pool: opts.pool, seconds: out.seconds, mb_per_s: size / 1e6 / out.seconds, peak_rss_bytes: out.hwm,
      train_tokens: out.meta.train.tokens, valid_tokens: out.meta.valid.tokens, word_count_error_bound: out.meta.word_count_error_bound ?? 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
