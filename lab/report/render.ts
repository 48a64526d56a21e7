/**
 * The lab run as one self-contained HTML page: per incident its sentence, the summary table and
 * checks, a chart per quantity (bad and good side by side on the same scales), the alerts'
 * timeline, and for the slow request the trace waterfall. Charts are Vega-Lite rendered to inline
 * SVG here, in Node: the page has no script and loads nothing.
 */
import type { LabIncident, LabRun } from "../run-format.ts";
import { alertsFigure } from "./alerts-chart.ts";
import { escapeHtml } from "./html.ts";
import { PAGE_CSS } from "./page.css.ts";
import { chartsFor, seriesFigure } from "./series-chart.ts";
import { checksList, summaryTable } from "./summary-table.ts";
import { waterfallFigure } from "./waterfall-chart.ts";

const passed = (incident: LabIncident): boolean => incident.checks.every((c) => c.passed);

function contents(run: LabRun): string {
  const items = run.incidents.map(
    (i) => `<li class="${passed(i) ? "pass" : "fail"}"><a href="#${escapeHtml(i.id)}">${escapeHtml(i.title)}</a></li>`,
  );
  return `<nav><h2>Contents</h2><ol>${items.join("")}</ol></nav>`;
}

async function section(incident: LabIncident, run: LabRun): Promise<string> {
  const charts = await Promise.all(chartsFor(incident).map((chart) => seriesFigure(incident, chart)));
  const alerts = incident.variants.some((v) => v.alerts.length > 0)
    ? `<h3>Alerts</h3>${await alertsFigure(incident, run.secondsPerVariant)}`
    : "";
  const trace = incident.trace ? `<h3>Trace of the slowest request</h3>${await waterfallFigure(incident.trace)}` : "";
  const id = escapeHtml(incident.id);
  return [
    `<section id="${id}"><h2>${escapeHtml(incident.title)}</h2>`,
    `<p class="what">${escapeHtml(incident.what)}</p>`,
    `<p class="meta">Runbook: <code>docs/runbooks/${id}.md</code> · again: <code>npm run lab -- ${id}</code></p>`,
    `<h3>Summary</h3>${summaryTable(incident)}${checksList(incident)}`,
    charts.length > 0 ? `<h3>Over time</h3>${charts.join("")}` : "",
    alerts,
    trace,
    `</section>`,
  ].join("\n");
}

export async function renderReport(run: LabRun): Promise<string> {
  const sections = await Promise.all(run.incidents.map((incident) => section(incident, run)));
  const failed = run.incidents.filter((i) => !passed(i)).length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>clinic-edge incident lab, ${escapeHtml(run.startedAt)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<h1>clinic-edge incident lab</h1>
<p class="meta">Run ${escapeHtml(run.startedAt)} against ${escapeHtml(run.database)}; ${run.secondsPerVariant} s of the same load per variant. ${escapeHtml(run.timeCompression)}</p>
<p class="meta">${run.incidents.length} incidents, ${failed === 0 ? "every check passed" : `${failed} with a failed check`}.</p>
${contents(run)}
${sections.join("\n")}
</body>
</html>
`;
}
