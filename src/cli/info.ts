// `tlc info`: the CPU, the instruction-set tier and build tlc runs at and oneDNN's, the kernel
// each precision and inference variant uses here and why, threads, MPI and versions.
import type { Command } from 'commander';
import { systemInfo, systemLine, type KernelChoice } from '../engine/system-info.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show this CPU, the instruction-set tier and kernels tlc uses on it (and why), threads, MPI and versions')
    .option('--json', 'print one JSON object')
    .action((flags: { json?: boolean }) => {
      const s = systemInfo({ measureAuto: true });
      if (flags.json) {
        process.stdout.write(JSON.stringify(s) + '\n');
        return;
      }
      const kernel = (k: KernelChoice): string => `${k.kernel ?? 'cannot run here'} — ${k.why}`;
      const lines = [
        systemLine(s),
        '',
        `cpu        ${s.cpu.brand || '(no brand string)'} (${s.cpu.vendor ? `${s.cpu.vendor}, ` : ''}${s.cpu.arch}` +
          `${s.cpu.family !== undefined ? `, family ${s.cpu.family} model ${s.cpu.model}` : ''}), ${s.cpu.cores} cores`,
        `features   ${s.cpu.features.join(' ')}`,
        `tier       ${s.isa.tier}${s.isa.cap ? ` (TLC_MAX_ISA=${s.isa.cap}; the CPU supports ${s.isa.host})` : ' (the highest this CPU supports; TLC_MAX_ISA lowers it)'}`,
        `build      ${s.isa.build} (${s.isa.target})`,
        `oneDNN     ${s.onednn.version}, dispatching to ${s.onednn.isa}`,
        `threads    ${s.threads}; OpenMP wait policy ${s.wait_policy.policy} (${s.wait_policy.why})`,
        `mpi        addon ${s.mpi.addon ? 'built' : 'not built'}, mpirun ${s.mpi.launcher ? 'found' : 'not found'}`,
        `versions   tlc ${s.tlc}, Node ${s.node}, oneDNN ${s.onednn.version}`,
        '',
        'training',
        ...Object.entries(s.training).map(([name, k]) => `  ${name.padEnd(8)} ${kernel(k)}`),
        'inference',
        ...Object.entries(s.inference).map(([name, k]) => `  ${name.padEnd(8)} ${kernel(k)}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
