// `tlc import <hf folder> --out <run>`: a Hugging Face RoBERTa or GPT-2 folder as a tlc run.
import type { Command } from 'commander';
import { importHfFolder } from '../import/import.js';
import { withOutputDir } from '../run/ownership.js';
import { required } from './common.js';
import { markRequired } from './help.js';

export function registerImport(program: Command): void {
  const cmd = program
    .command('import <folder>')
    .description('write a Hugging Face model folder (RoBERTa masked LM or classifier, GPT-2 causal LM: config.json, model.safetensors, ' +
      'tokenizer.json) as a tlc run; commands that take a run also take such a folder directly')
    .option('--out <run>', 'run directory to create')
    .option('--force', 'write into an existing --out directory that holds something else')
    .option('--json', 'print the result as one JSON object on stdout');
  markRequired(cmd, ['--out']);
  cmd.action(async (folder: string, o: { out?: string; force?: boolean; json?: boolean }) => {
      const out = required(o.out, '--out');
      const r = await withOutputDir(out, 'import', { force: o.force, source: folder, lock: true }, () => importHfFolder(folder, out));
      if (o.json) {
        process.stdout.write(JSON.stringify({ folder, ...r }) + '\n');
        return;
      }
      console.log(`imported ${folder} (${r.architecture}, ${(r.params / 1e6).toFixed(2)}M parameters) into ${r.out}`);
    });
}
