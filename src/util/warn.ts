// Warnings for a person: one line on stderr, whatever display the command runs with (a live
// progress bar's line is cleared first, and the bar redraws below).
import { clearLiveLine } from './progress.js';
export function warn(message: string): void {
  clearLiveLine(process.stderr);
  process.stderr.write(`tlc: warning: ${message}\n`);
}
