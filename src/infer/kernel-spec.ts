// What an inference kernel is, how it is shown, and how it is named in files and on the command
// line (`--kernel`, a compressed file's recorded choices).
import { TlcError } from '../util/errors.js';

/**
 * int8 runs u8 activations × s8 weight codes on the integer kernel; with `bits` < 8 the codes
 * are k-bit ones (|code| ≤ 2^(k−1) − 1), which fit int8: "w<k>a8", k-bit weights on the integer
 * kernel, unpacked once at load into its int8 layout (1 byte per weight resident — 2 for 8-bit
 * codes on a CPU without VNNI, whose exact kernel keeps them as 16 bits — against k/8 for the
 * weight-only kbit kernel, which expands its codes per call).
 */
export type KernelSpec =
  | { kind: 'f32' | 'bf16' | 'sparse' }
  | { kind: 'int8'; bits?: number }
  | { kind: 'kbit'; bits: number };

/** For people: int8, w4a8, 4-bit, sparse, f32, bf16. */
export function describeKernel(spec: KernelSpec): string {
  if (spec.kind === 'int8' && spec.bits !== undefined && spec.bits < 8) return `w${spec.bits}a8`;
  return spec.kind === 'kbit' ? `${spec.bits}-bit` : spec.kind;
}

/** For files and `--kernel`: f32, bf16, int8, sparse, w<k>a8 (integer kernel), w<k> (weight-only). */
export function kernelName(spec: KernelSpec): string {
  if (spec.kind === 'int8') return spec.bits !== undefined && spec.bits < 8 ? `w${spec.bits}a8` : 'int8';
  return spec.kind === 'kbit' ? `w${spec.bits}` : spec.kind;
}

/** The kernel a name stands for (kernelName's inverse); null for a name that is none. */
export function kernelOfName(name: string): KernelSpec | null {
  if (name === 'f32' || name === 'bf16' || name === 'int8' || name === 'sparse') return { kind: name };
  const wa = /^w([2-7])a8$/.exec(name);
  if (wa) return { kind: 'int8', bits: Number(wa[1]) };
  const w = /^w([2-8])$/.exec(name);
  if (w) return { kind: 'kbit', bits: Number(w[1]) };
  return null;
}

/** kernelOfName, or a TlcError naming where the name came from. */
export function parseKernelName(name: string, where: string, choices: string): KernelSpec {
  const spec = kernelOfName(name);
  if (!spec) throw new TlcError(`${where}: unknown kernel "${name}" (${choices})`);
  return spec;
}
