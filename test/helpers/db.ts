import { Client, neonConfig } from "@neondatabase/serverless";
import { env } from "cloudflare:workers";
import { inject } from "vitest";

/**
 * A direct connection to the test database, for asserting what is really in Postgres
 * (rows, pg_stat_activity) rather than what the API says.
 */
export async function withSql<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const proxy = inject("wsProxy");
  neonConfig.wsProxy = (host, port) => `${proxy}/v2?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  const client = new Client({ connectionString: env.DATABASE_URL, application_name: "clinic-edge-test" });
  // The bridge may close the socket after Terminate; that late error is expected, not a failure.
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function count(sql: string, params: unknown[] = []): Promise<number> {
  return withSql(async (client) => {
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) AS q`, params);
    return rows[0]?.n ?? 0;
  });
}

export type { AppStats as BridgeStats } from "../../dev/bridge.ts";
import type { AppStats as BridgeStats } from "../../dev/bridge.ts";

/** What crossed the wire for one application_name, as counted by the WebSocket bridge. */
export async function bridgeStats(applicationName: string): Promise<BridgeStats> {
  const res = await fetch(`http://${inject("wsProxy")}/stats?application_name=${encodeURIComponent(applicationName)}`);
  return res.json<BridgeStats>();
}
