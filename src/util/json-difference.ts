// What differs between two JSON values, briefly, for messages that refuse to mix results made
// with other settings: "steps: 5 → 10; lr: none → 0.001".

/** Up to `most` differing fields as `path: old → new`, or '' when the values are equal. */
export function jsonDifference(old: unknown, now: unknown, most = 3): string {
  const diffs: string[] = [];
  const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (isObject(a) && isObject(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], path ? `${path}.${k}` : k);
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      diffs.push(`${path}: ${a === undefined ? 'none' : JSON.stringify(a)} → ${b === undefined ? 'none' : JSON.stringify(b)}`);
    }
  };
  walk(old, now, '');
  return diffs.slice(0, most).join('; ') + (diffs.length > most ? `; … ${diffs.length - most} more` : '');
}
