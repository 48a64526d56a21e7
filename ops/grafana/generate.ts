/**
 * `npm run ops:dashboard`: writes the fleet dashboard's JSON (ops/grafana/clinic-edge-dashboard.json)
 * from the code; `--check` only compares and exits 1 if the file is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { format, resolveConfig } from "prettier";
import { buildDashboard } from "./dashboard.ts";

export const DASHBOARD_FILE = fileURLToPath(new URL("./clinic-edge-dashboard.json", import.meta.url));

/** As `npm run format` would leave it, so `prettier --check` passes on the generated file. */
export async function dashboardJson(): Promise<string> {
  const options = { ...(await resolveConfig(DASHBOARD_FILE)), filepath: DASHBOARD_FILE };
  return format(JSON.stringify(buildDashboard()), options);
}

if (import.meta.main) {
  const json = await dashboardJson();
  if (process.argv.includes("--check")) {
    if (readFileSync(DASHBOARD_FILE, "utf8") !== json) {
      console.error(`${DASHBOARD_FILE} is stale: run npm run ops:dashboard`);
      process.exit(1);
    }
    console.log(`${DASHBOARD_FILE} is up to date`);
  } else {
    writeFileSync(DASHBOARD_FILE, json);
    console.log(`wrote ${DASHBOARD_FILE}`);
  }
}
