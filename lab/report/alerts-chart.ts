/**
 * The alerts as Prometheus saw them: per variant, one lane per shipped alert, silent until it went
 * pending, pending until it fired, firing to the end of the variant.
 */
import type { TopLevelSpec } from "vega-lite";
import type { LabAlert, LabIncident, LabVariant } from "../run-format.ts";
import { figure } from "./html.ts";
import { vegaLiteToSvg } from "./vega-svg.ts";

type State = "silent" | "pending" | "firing";

interface Band {
  variant: string;
  alert: string;
  state: State;
  from: number;
  to: number;
}

/** The variant's length: its last sample, or the run's configured seconds if later. */
function variantEnd(variant: LabVariant, seconds: number): number {
  return Math.max(seconds, ...variant.series.map((p) => p.t), ...variant.alerts.flatMap(alertTimes));
}

function alertTimes(alert: LabAlert): number[] {
  return [alert.pendingAt, alert.firedAt].filter((t): t is number => t !== null);
}

/** An alert's lane cut into its states; Prometheus reports firing without pending when `for:` is 0. */
export function bands(variant: LabVariant, alert: LabAlert, end: number): Band[] {
  const base = { variant: variant.name, alert: alert.name };
  const pending = alert.pendingAt ?? alert.firedAt;
  const firing = alert.firedAt;
  const out: Band[] = [{ ...base, state: "silent", from: 0, to: pending ?? end }];
  if (pending !== null) out.push({ ...base, state: "pending", from: pending, to: firing ?? end });
  if (firing !== null) out.push({ ...base, state: "firing", from: firing, to: end });
  return out.filter((b) => b.to > b.from || b.state === "firing");
}

export function alertsSpec(incident: LabIncident, secondsPerVariant: number): TopLevelSpec {
  const values = incident.variants.flatMap((variant) => {
    const end = variantEnd(variant, secondsPerVariant);
    return variant.alerts.flatMap((alert) => bands(variant, alert, end));
  });
  const alerts = [...new Set(values.map((b) => b.alert))].sort();
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values },
    facet: {
      column: { field: "variant", type: "nominal", sort: incident.variants.map((v) => v.name), title: null },
    },
    spec: {
      // The lanes' labels take about 130 px of the page's 900 on the first column.
      width: Math.max(180, Math.floor(700 / Math.max(1, incident.variants.length)) - 60),
      height: { step: 18 },
      mark: { type: "bar", cornerRadius: 2 },
      encoding: {
        y: { field: "alert", type: "nominal", sort: alerts, title: null },
        x: { field: "from", type: "quantitative", title: "seconds into the variant" },
        x2: { field: "to" },
        color: {
          field: "state",
          type: "nominal",
          title: "alert state",
          scale: { domain: ["silent", "pending", "firing"], range: ["#e5e7eb", "#f59e0b", "#dc2626"] },
        },
      },
    },
    resolve: { scale: { x: "shared" } },
    config: { view: { stroke: "#ddd" }, font: "sans-serif" },
  };
}

export function firedAlerts(variant: LabVariant): string[] {
  return variant.alerts.filter((a) => a.firedAt !== null).map((a) => a.name);
}

export async function alertsFigure(incident: LabIncident, secondsPerVariant: number): Promise<string> {
  const fired = incident.variants.map((v) => `${v.name}: ${firedAlerts(v).join(", ") || "none fired"}`).join("; ");
  const svg = await vegaLiteToSvg(alertsSpec(incident, secondsPerVariant));
  return figure("alerts", `Alerts (grey silent, amber pending, red firing). ${fired}`, svg);
}
