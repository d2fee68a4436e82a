// `tlc report <dir>`: figures and tables for every run and compression result under a directory.
import { relative } from 'node:path';
import type { Command } from 'commander';

export function registerReport(program: Command): void {
  program
    .command('report <dir>')
    .description('figures (loss vs time, tokens and FLOPs; best size per budget; accuracy vs bytes) and tables as one self-contained HTML page')
    .option('--out <dir>', 'where to write the report (default: <dir>/report)')
    .option('--title <text>', 'heading of the page')
    .action(async (dir: string, o: { out?: string; title?: string }) => {
      // Vega takes ~0.4 s to load: only this command pays for it
      const { writeReport } = await import('../report/report.js');
      const { html, svgs } = await writeReport(dir, { out: o.out, title: o.title });
      const shown = (p: string) => {
        const rel = relative(process.cwd(), p);
        return rel && !rel.startsWith('..') ? rel : p;
      };
      console.log(`report: ${shown(html)}`);
      console.log(`figures (${svgs.length}): ${svgs.map(shown).join(', ')}`);
    });
}
