/**
 * Vega-Lite spec → SVG markup, in Node: compile to Vega, run a headless View (renderer "none": no
 * canvas, no DOM) and serialise its scenegraph. The SVG is self-contained (no fonts, images or
 * scripts), so the page needs no network to show it.
 */
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
