/**
 * The run's HTML page. The charted report is lab/report/render.ts' renderReport(); until it is
 * part of this checkout, a plain page with the summary tables and the checks stands in.
 */
import type { LabRun } from "./run-format.ts";

const escape = (s: string): string =>
  s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

export function placeholderReport(run: LabRun): string {
  const sections = run.incidents.map((incident) => {
    const columns = [...new Set(incident.variants.flatMap((v) => Object.keys(v.summary)))];
    const rows = incident.variants
      .map(
        (v) =>
          `<tr><th>${escape(v.name)}</th>${columns.map((c) => `<td>${escape(String(v.summary[c] ?? ""))}</td>`).join("")}</tr>`,
      )
      .join("");
    const checks = incident.checks
      .map((c) => `<li>${c.passed ? "✔" : "✘"} ${escape(c.name)}: ${escape(c.detail)}</li>`)
      .join("");
    return `<section><h2>${escape(incident.title)}</h2><p>${escape(incident.what)}</p><table><tr><th></th>${columns
      .map((c) => `<th>${escape(c)}</th>`)
      .join("")}</tr>${rows}</table><ul>${checks}</ul></section>`;
  });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>clinic-edge incident lab</title></head><body><h1>clinic-edge incident lab, ${escape(run.startedAt)}</h1><p>${escape(run.database)}; ${run.secondsPerVariant} s per variant. ${escape(run.timeCompression)}</p>${sections.join("")}</body></html>\n`;
}
