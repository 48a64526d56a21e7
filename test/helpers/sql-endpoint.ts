import { inject } from "vitest";
import type { SqlAppStats } from "../../dev/sql-endpoint.ts";

export type { SqlAppStats } from "../../dev/sql-endpoint.ts";

/** What reached the local HTTP /sql endpoint for one application_name (`clinic-edge:<request id>`). */
export async function sqlEndpointStats(
  applicationName: string,
  endpoint = inject("sqlEndpoint"),
): Promise<SqlAppStats> {
  const url = new URL("/stats", endpoint);
  url.searchParams.set("application_name", applicationName);
  return (await fetch(url)).json<SqlAppStats>();
}
