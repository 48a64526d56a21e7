/** The incident's numbers as a table (one column per variant, one row per summary field) and its checks. */
import type { LabIncident } from "../run-format.ts";
import { escapeHtml } from "./html.ts";
import { firedAlerts } from "./alerts-chart.ts";

function cell(value: number | string | undefined): string {
  if (value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(2);
  return value;
}

export function summaryTable(incident: LabIncident): string {
  const fields = [...new Set(incident.variants.flatMap((v) => Object.keys(v.summary)))];
  const head = incident.variants.map((v) => `<th scope="col" class="${v.kind}">${escapeHtml(v.name)}</th>`).join("");
  const rows = fields.map(
    (field) =>
      `<tr><th scope="row">${escapeHtml(field)}</th>${incident.variants
        .map((v) => `<td>${escapeHtml(cell(v.summary[field]))}</td>`)
        .join("")}</tr>`,
  );
  const alerts = `<tr><th scope="row">alerts fired</th>${incident.variants
    .map((v) => `<td>${escapeHtml(firedAlerts(v).join(", ") || "none")}</td>`)
    .join("")}</tr>`;
  return `<table class="summary"><thead><tr><th></th>${head}</tr></thead><tbody>${rows.join("")}${alerts}</tbody></table>`;
}

export function checksList(incident: LabIncident): string {
  const items = incident.checks.map(
    (c) =>
      `<li class="${c.passed ? "pass" : "fail"}"><span class="mark">${c.passed ? "✔" : "✘"}</span> <strong>${escapeHtml(c.name)}</strong>: ${escapeHtml(c.detail)}</li>`,
  );
  return `<ul class="checks">${items.join("")}</ul>`;
}
