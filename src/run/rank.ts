// This process's part in writing run directories. In a data-parallel job every rank trains
// the same run, and rank 0 alone writes it (run.json, metrics, checkpoints, branches, the
// lock); the other ranks compute beside it and only read what rank 0 wrote.
let writer = true;

/** Whether this process writes run directories (false on ranks other than 0). */
export function writesRuns(): boolean {
  return writer;
}

export function setWritesRuns(value: boolean): void {
  writer = value;
}
