// `tlc inspect <model>`: per-tensor shape, encoding, bits, sparsity and bytes of a
// compressed file, a model.safetensors or a run directory; the total is the file size.
import type { Command } from 'commander';
import { inspectModel } from '../compress/inspect.js';
import type { InspectResult } from '../compress/format.js';
import { formatBytes } from '../util/progress.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show the tensors of a model file (tlc-compressed or plain safetensors) with their encoding, bits, sparsity and bytes')
    .argument('<model>', 'a .safetensors file (compressed or not), or a run directory holding model.safetensors')
    .option('--json', 'print one JSON object instead of a table')
    .action((model: string, flags: { json?: boolean }) => {
      const result = inspectModel(model);
      if (flags.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
        return;
      }
      process.stdout.write(formatInspect(result));
    });
}

export function formatInspect(r: InspectResult): string {
  const header = ['tensor', 'shape', 'encoding', 'bits', 'sparsity', 'bytes'];
  const body = r.rows.map((row) => [
    row.name, `[${row.shape.join(', ')}]`, row.encoding, String(row.bits),
    `${(row.sparsity * 100).toFixed(1)}%`, row.bytes.toLocaleString('en-US'),
  ]);
  const dataBytes = r.rows.reduce((a, row) => a + row.bytes, 0);
  const other = r.totalBytes - r.headerBytes - dataBytes;
  const footer = [['(header)', '', '', '', '', r.headerBytes.toLocaleString('en-US')]];
  if (other !== 0) footer.push(['(unused)', '', '', '', '', other.toLocaleString('en-US')]);
  footer.push(['total', '', '', '', '', r.totalBytes.toLocaleString('en-US')]);
  const all = [header, ...body, ...footer];
  const widths = header.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  const right = new Set([3, 4, 5]);
  const line = (row: string[]): string => row.map((cell, c) => (right.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const elements = r.rows.reduce((a, row) => a + row.shape.reduce((x, y) => x * y, 1), 0);
  const zeros = r.rows.reduce((a, row) => a + row.sparsity * row.shape.reduce((x, y) => x * y, 1), 0);
  const lines = [
    `${r.path} (${r.format}${r.settings ? `, ${JSON.stringify(r.settings)}` : ''})`,
    line(header), rule, ...body.map(line), rule, ...footer.map(line),
    `${r.rows.length} tensors, ${elements.toLocaleString('en-US')} elements, ${elements ? ((zeros / elements) * 100).toFixed(1) : '0.0'}% zeros; `
      + `${formatBytes(r.totalBytes)} on disk, ${formatBytes(elements * 4)} as float32 (${r.totalBytes ? ((elements * 4) / r.totalBytes).toFixed(2) : '-'}x)`,
    ...(r.checksum === 'verified' ? ['checksum: CRC-32 of the tensor data verified']
      : r.checksum === 'absent' ? ['checksum: none recorded (not written by tlc); the data could not be verified'] : []),
  ];
  return lines.join('\n') + '\n';
}
