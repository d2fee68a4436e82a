// `tlc generate <run> [prompt]`: text from a causal LM, streamed to stdout as it is chosen.
import { warn } from '../util/warn.js';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';
import { readRunConfig } from '../run/pretrained.js';
import { runFile } from '../run/layout.js';
import { loadTokenizer } from '../data/tokenizer-json.js';
import { loadModelDir } from '../infer/load.js';
import { TransformerLM } from '../nn/transformer.js';
import { generateTokens } from '../generate/generate.js';
import { DEFAULT_SAMPLING } from '../generate/sampling.js';
import { hfModelDir } from '../import/import.js';
import { num, seedFlag } from './common.js';

export function registerGenerate(program: Command): void {
  program
    .command('generate <run> [prompt]')
    .description('continue a prompt with a causal LM (objective clm) on a key/value cache, streaming the text to stdout')
    .option('--max-new-tokens <n>', 'tokens to generate at most', '50')
    .option('--greedy', 'always take the most likely token (no sampling)')
    .option('--temperature <t>', 'divide the logits by t before sampling', String(DEFAULT_SAMPLING.temperature))
    .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', String(DEFAULT_SAMPLING.topK))
    .option('--top-p <p>', 'sample among the most likely tokens whose probability reaches p', String(DEFAULT_SAMPLING.topP))
    .option('--repetition-penalty <r>', 'divide the logits of tokens already in the text by r (1: none)', String(DEFAULT_SAMPLING.repetitionPenalty))
    .option('--seed <n>', 'seed of the sampling', '0')
    .option('--json', 'print one JSON object (prompt, text, token ids) instead of streaming')
    .action((given: string, prompt: string | undefined, o: Record<string, string | boolean | undefined>, cmd: Command) => {
      // greedy decoding draws nothing: the sampling flags would do nothing
      const sampling = (['temperature', 'topK', 'topP', 'seed'] as const).filter((k) => cmd.getOptionValueSource(k) === 'cli');
      if (o.greedy === true && sampling.length > 0) {
        const flags = sampling.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        throw new TlcError(`--greedy takes the most likely token and samples nothing: ${flags.join(', ')} would do nothing; drop ${flags.length > 1 ? 'them' : 'it'} or --greedy`);
      }
      const run = hfModelDir(given);
      const config = readRunConfig(run);
      if (config.objective !== 'clm' || config.labels) {
        throw new TlcError(`${run}: generate needs a causal language model (pretrain with --objective clm); this is ${config.labels ? 'a classifier' : `objective ${config.objective}`}`);
      }
      const options = {
        maxNewTokens: num(String(o.maxNewTokens), '--max-new-tokens', (v) => Number.isInteger(v) && v >= 1),
        greedy: o.greedy === true,
        temperature: num(String(o.temperature), '--temperature'),
        topK: num(String(o.topK), '--top-k'),
        topP: num(String(o.topP), '--top-p'),
        repetitionPenalty: num(String(o.repetitionPenalty), '--repetition-penalty'),
        seed: seedFlag(String(o.seed)),
        onLimit: (message: string) => warn(`--max-new-tokens: ${message}`),
      };
      const tokenizer = loadTokenizer(runFile(run, 'tokenizer'));
      const promptIds = Array.from(tokenizer.encode(prompt ?? ''));
      const { model } = loadModelDir(run);
      try {
        const ids: number[] = [];
        let shown = '';
        for (const id of generateTokens(model as TransformerLM, promptIds, options)) {
          ids.push(id);
          if (o.json) continue;
          // a character split across tokens decodes to U+FFFD until its last byte arrives
          const text = tokenizer.decode(ids);
          const stable = text.endsWith('\uFFFD') ? text.slice(0, text.lastIndexOf('\uFFFD')) : text;
          if (stable.length > shown.length && stable.startsWith(shown)) {
            process.stdout.write(stable.slice(shown.length));
            shown = stable;
          }
        }
        const text = tokenizer.decode(ids);
        if (o.json) {
          process.stdout.write(JSON.stringify({ prompt: prompt ?? '', prompt_ids: promptIds, ids, text }) + '\n');
          return;
        }
        process.stdout.write(text.slice(shown.length) + '\n');
      } finally {
        model.dispose();
      }
    });
}
