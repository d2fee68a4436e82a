// One way to validate outside input with zod: every failure becomes a TlcError that names
// the source (file or flag set) and each offending field.
import type { z } from 'zod';
import { TlcError } from './errors.js';

/** "field.path: message; other: message" for a failed parse. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parses `raw` with `schema`; on failure throws `<source>: invalid <what> — <issues>`. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, source: string, what: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new TlcError(`${source}: invalid ${what} — ${describeIssues(r.error)}`);
  return r.data;
}
