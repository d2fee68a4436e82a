// User-facing errors. A TlcError carries a message meant for a person (what is wrong
// and where); the CLI prints it without a stack trace and exits non-zero.
export class TlcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlcError';
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
