// Paths a user never gave, shown as the ones they did: a Hugging Face folder is read through its
// import in tlc's cache, and a message about it names the folder, not the cache entry.

const shownAs = new Map<string, string>();

/** From now on, messages show `path` as `shown`. */
export function showPathAs(path: string, shown: string): void {
  shownAs.set(path, shown);
}

/** `message` with every registered path replaced by the name it is shown as. */
export function withShownNames(message: string): string {
  let out = message;
  for (const [path, shown] of shownAs) out = out.split(path).join(shown);
  return out;
}
