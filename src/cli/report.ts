// `tlc report <dir>`: figures and tables for every run and compression result under a directory.
import { join, relative } from 'node:path';
import { checkOutputDir, markOutputDir } from '../run/ownership.js';
import type { Command } from 'commander';
import { TlcError } from '../util/errors.js';

export function registerReport(program: Command): void {
  program
    .command('report <dir>')
    .description('figures (loss vs time, tokens and FLOPs; best size per budget; accuracy vs bytes) and tables as one self-contained HTML page')
    .option('--out <dir>', 'where to write the report (default: <dir>/report)')
    .option('--title <text>', 'heading of the page')
    .option('--force', 'write into an existing --out directory that holds something other than a report')
    .action(async (dir: string, o: { out?: string; title?: string; force?: boolean }) => {
      // Vega takes ~0.4 s to load: only this command pays for it
      if (o.title !== undefined && o.title.trim() === '') throw new TlcError('--title is empty: give the heading, or leave --title out for the default');
      const { writeReport, REPORT_DIR } = await import('../report/report.js');
      const out = o.out ?? join(dir, REPORT_DIR);
      checkOutputDir(out, 'report', { force: o.force });
      // marked once written: the report reads its input first, and a bad one leaves no directory
      const { html, svgs } = await writeReport(dir, { out, title: o.title });
      markOutputDir(out, 'report');
      const shown = (p: string) => {
        const rel = relative(process.cwd(), p);
        return rel && !rel.startsWith('..') ? rel : p;
      };
      console.log(`report: ${shown(html)}`);
      console.log(`figures (${svgs.length}): ${svgs.map(shown).join(', ')}`);
    });
}
