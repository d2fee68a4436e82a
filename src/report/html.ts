// HTML pieces every page of the report uses: escaping, tables, and the sections and figures pages are made of.
import type { TopLevelSpec } from 'vega-lite';

export interface Figure {
  /** File name without extension; also the anchor in the page. */
  id: string;
  spec: TopLevelSpec;
  caption: string;
}

export interface Section {
  title: string;
  table: string;
  figures: Figure[];
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function table(head: string[], body: string[][], numeric: number[]): string {
  const cls = (i: number) => (numeric.includes(i) ? ' class="num"' : '');
  return `<table>\n<thead><tr>${head.map((h, i) => `<th${cls(i)}>${esc(h)}</th>`).join('')}</tr></thead>\n<tbody>\n` +
    body.map((row) => `<tr>${row.map((c, i) => `<td${cls(i)}>${c}</td>`).join('')}</tr>`).join('\n') + '\n</tbody>\n</table>\n';
}
