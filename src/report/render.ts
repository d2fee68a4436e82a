// Vega-Lite spec → Vega spec → SVG text, in Node with no browser and no canvas (text widths
// are estimated), so the same spec always gives the same bytes.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { TlcError } from '../util/errors.js';

/** Renders a Vega-Lite spec as an SVG document; `idPrefix` keeps its ids unique when several SVGs share a page. */
export async function renderSvg(spec: TopLevelSpec, idPrefix = 'fig'): Promise<string> {
  let vgSpec;
  try {
    vgSpec = compile(spec, { logger: quietLogger() }).spec;
  } catch (e) {
    throw new TlcError(`figure "${titleOf(spec)}": invalid Vega-Lite spec (${(e as Error).message})`);
  }
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logger: quietLogger() });
  try {
    return uniqueIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

/**
 * Renames the ids an SVG defines (clip paths, gradients) and the references to them, in the
 * order they appear: inline SVGs share one id space in an HTML page, and renderers number
 * their ids with process-wide counters.
 */
export function uniqueIds(svg: string, prefix: string): string {
  const renamed = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!renamed.has(m[1])) renamed.set(m[1], `${prefix}-${renamed.size + 1}`);
  if (renamed.size === 0) return svg;
  return svg
    .replace(/(\sid=")([^"]+)(")/g, (all, a: string, id: string, b: string) => `${a}${renamed.get(id) ?? id}${b}`)
    .replace(/url\(#([^)]+)\)/g, (all, id: string) => (renamed.has(id) ? `url(#${renamed.get(id)})` : all))
    .replace(/(href=")#([^"]+)(")/g, (all, a: string, id: string, b: string) => (renamed.has(id) ? `${a}#${renamed.get(id)}${b}` : all));
}

function titleOf(spec: TopLevelSpec): string {
  const t = (spec as { title?: unknown }).title;
  return typeof t === 'string' ? t : 'untitled';
}

/** Vega-Lite's warnings (e.g. a log scale over data with zeros, already filtered out) are not the user's concern. */
function quietLogger() {
  return vega.logger(vega.Error);
}
