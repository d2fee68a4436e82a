// How tlc writes sizes for people: one formatter, decimal units (kB, MB, GB as file managers
// and `ls -h --si` do), three significant digits.
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  const [value, unit] = bytes < 1e6 ? [bytes / 1e3, 'kB'] : bytes < 1e9 ? [bytes / 1e6, 'MB'] : [bytes / 1e9, 'GB'];
  const digits = value.toPrecision(3);
  return `${digits.includes('.') ? digits.replace(/\.?0+$/, '') : digits} ${unit}`;
}
