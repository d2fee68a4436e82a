// tlc's tokenizer files are real Hugging Face files: transformers.js loads them from a
// local folder (no network) and encodes 1,000 lines of the bundled corpora to the same ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { Rng } from '../src/engine/random.js';
import { trainBpe } from '../src/data/bpe-train.js';
import { readCorpus, type Document } from '../src/data/corpus.js';
import { saveTokenizer } from '../src/data/tokenizer-json.js';
import { tempDir } from './temp-dir.js';

async function collect(input: string): Promise<Document[]> {
  const docs: Document[] = [];
  for await (const d of readCorpus([input])) docs.push(d);
  return docs;
}

/** `count` lines drawn with `rng`; long lines (a State of the Union address is one) are cut to a window. */
function sampleLines(docs: Document[], count: number, rng: Rng): string[] {
  const lines: string[] = [];
  while (lines.length < count) {
    const docLines = docs[rng.int(docs.length)].text.split('\n');
    const line = docLines[rng.int(docLines.length)];
    const start = line.length > 600 ? rng.int(line.length - 600) : 0;
    lines.push(line.slice(start, start + 1 + rng.int(600)));
  }
  return lines;
}

test('transformers.js loads the saved tokenizer offline and encodes exactly as tlc does', async () => {
  const [sotu, brown] = await Promise.all([collect('example:sotu'), collect('example:brown')]);
  const rng = new Rng(2020);
  const trainTexts = [...sotu.filter((_, i) => i % 8 === 0), ...brown.filter((_, i) => i % 8 === 0)].map((d) => d.text);
  const tok = trainBpe(trainTexts, { vocabSize: 2000 });

  const root = tempDir('tlc-hf-');
  try {
    saveTokenizer(join(root, 'tlc-tokenizer'), tok);
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = root + '/';
    const hf = await AutoTokenizer.from_pretrained('tlc-tokenizer');

    const lines = [
      ...sampleLines(sotu, 500, rng), ...sampleLines(brown, 500, rng),
      '', ' ', '  leading and trailing  ', "it's we'll they'd I'M", 'tabs\tand\nnewlines\r\n', 'ünïcödé 中文 😀👍🏽', '$1,234.56 -- 3rd',
    ];
    let tokens = 0;
    for (const line of lines) {
      const ours = Array.from(tok.encode(line));
      assert.deepEqual(hf.encode(line, { add_special_tokens: false }), ours, `line ${JSON.stringify(line.slice(0, 60))}`);
      assert.deepEqual(hf.encode(line), Array.from(tok.encodeWithSpecial(line)));
      if (ours.length > 0) assert.equal(hf.decode(ours), tok.decode(ours));
      tokens += ours.length;
    }
    assert.ok(tokens > 50_000, `the sample is substantial (${tokens} tokens)`);

    // Pairs of non-empty lines (transformers.js reads an empty text_pair as no pair at all).
    const nonEmpty = lines.filter((l) => l !== '');
    for (let i = 0; i < 50; i++) {
      const [a, b] = [nonEmpty[i], nonEmpty[i + 500]];
      const ours = Array.from(tok.encodePairWithSpecial(a, b));
      assert.deepEqual(hf.encode(a, { text_pair: b }), ours, `pair ${i}`);
      assert.equal(hf.decode(ours, { skip_special_tokens: true }), a + b);
    }
    assert.equal(hf.mask_token_id, 4);
    assert.equal(hf.pad_token_id, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
