// Warnings for a person: one line on stderr, whatever display the command runs with.
export function warn(message: string): void {
  process.stderr.write(`tlc: warning: ${message}\n`);
}
