/** The few HTML helpers the report's modules share: every run value reaches the page escaped. */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => ENTITIES[ch] ?? ch);
}

/** A chart's frame: the SVG inline, a caption, and a data-chart kind the browser test finds it by. */
export function figure(kind: string, caption: string, svg: string): string {
  return `<figure class="chart" data-chart="${escapeHtml(kind)}">${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}
